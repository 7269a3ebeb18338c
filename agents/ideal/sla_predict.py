"""The SLA Optimizer's breach predictor: a logistic regression on named observable features.

**Model.** ``StandardScaler`` then ``LogisticRegression`` (scikit-learn) on
``agents.ideal.sla_features.FEATURE_NAMES``, one sample per Delivery asset per hour; the target
is a freshness-SLA breach of that asset within ``HORIZON_MIN``. It is trained on **training-split
episodes only** (``train_predictor``: the organization on the scenario's first train seeds, no
knowledge base) and its coefficients are reported by name. The alert threshold is the one that
maximizes F1 on the training samples (grid 0.05, 0.10, ..., 0.95).

**Predictive alerts.** A sample at or above the threshold raises a ``PredictiveAlert`` — a
signal of its own, written to ``predictive_alerts.csv`` and ``09_learning/sla-predictions.md``,
never added to the monitor's alerts, so it is never counted as a detection.

**Scores** (``prediction_metrics``, pooled over samples of many episodes):

==================================  ===========================================================
sla_prediction_precision            samples alerted whose asset breached within the horizon /
                                    samples alerted (NaN if none)
sla_prediction_recall               breaching samples alerted / breaching samples (NaN if none)
sla_prediction_lead_time_p50_min    median over breach events (a breached Delivery window's
                                    deadline) alerted ahead — an alert on the asset in
                                    ``[deadline - HORIZON_MIN, deadline)`` — of deadline minus the
                                    earliest such alert (NaN if no event was alerted ahead)
sla_prediction_brier                mean squared error of the probabilities (NaN if no samples)
==================================  ===========================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from agents.ideal.sla_features import (
    FEATURE_NAMES,
    HORIZON_MIN,
    breach_labels,
    sla_features,
)
from agents.org import Organization, OrgConfig
from envs.sim.world import World
from scenarios.spec import Scenario

PREDICTION_METRIC_NAMES: Final[tuple[str, ...]] = (
    "sla_prediction_precision", "sla_prediction_recall", "sla_prediction_lead_time_p50_min",
    "sla_prediction_brier",
)  # fmt: skip
TRAIN_EPISODES: Final[int] = 10
"""Training-split episodes the predictor is fitted on."""
THRESHOLDS: Final[np.ndarray] = np.round(np.arange(0.05, 0.96, 0.05), 2)


class PredictiveAlert(NamedTuple):
    """A predicted freshness-SLA breach: when, on which Delivery asset, with what probability."""

    t: float
    asset: int
    asset_name: str
    probability: float
    horizon_min: float


@dataclass(frozen=True)
class SlaPredictor:
    """A fitted breach predictor (``fit``), its threshold and where it was trained.

    Attributes:
        model: the scikit-learn pipeline (scaler, logistic regression).
        threshold: probability at or above which a predictive alert is raised.
        train_seeds: the training-split seeds it was fitted on.
        n_samples, n_positive: training samples and breaching ones among them.
        base_rate: the share of breaching samples in training.
    """

    model: Pipeline | None
    threshold: float
    train_seeds: tuple[int, ...]
    n_samples: int
    n_positive: int
    base_rate: float

    @classmethod
    def fit(
        cls, samples: Sequence[pd.DataFrame], labels: Sequence[np.ndarray], seeds: Sequence[int]
    ) -> SlaPredictor:
        """Fit on training episodes' samples and labels; choose the threshold by F1 on them.

        With a single class in the training labels no model is fitted: every probability is
        the training base rate (and no alert is raised unless it reaches the threshold 0.5).
        """
        x = pd.concat(samples, ignore_index=True)[list(FEATURE_NAMES)].to_numpy(dtype=float)
        y = np.concatenate(labels).astype(bool)
        rate = float(y.mean()) if y.size else 0.0
        if y.size == 0 or y.all() or not y.any():
            return cls(None, 0.5, tuple(seeds), int(y.size), int(y.sum()), rate)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        model.fit(x, y)
        p = model.predict_proba(x)[:, 1]
        f1 = [_f1(p >= th, y) for th in THRESHOLDS]
        th = float(THRESHOLDS[int(np.argmax(f1))])
        return cls(model, th, tuple(seeds), int(y.size), int(y.sum()), rate)

    def predict(self, samples: pd.DataFrame) -> np.ndarray:
        """Breach probability of each sample."""
        if self.model is None:
            return np.full(len(samples), self.base_rate)
        x = samples[list(FEATURE_NAMES)].to_numpy(dtype=float)
        return np.asarray(self.model.predict_proba(x)[:, 1], dtype=float)

    def coefficients(self) -> dict[str, float]:
        """Feature name -> coefficient on the standardized feature (the model's reasons)."""
        if self.model is None:
            return dict.fromkeys(FEATURE_NAMES, 0.0)
        coef = self.model[-1].coef_[0]
        return {n: float(c) for n, c in zip(FEATURE_NAMES, coef, strict=True)}


def _f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp = float((pred & y).sum())
    den = float(pred.sum() + y.sum())
    return 2 * tp / den if den else 0.0


def episode_samples(world: World, partitions: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """One finished episode's samples (observable features) and their labels (ground truth)."""
    uses = [a.uses_slot for a in world.assets]
    x = sla_features(world.log, world.scenario.pipeline, uses, world.horizon)
    return x, breach_labels(x, partitions)


def train_predictor(
    scenario: Scenario, cfg: OrgConfig, days: float | None, episodes: int = TRAIN_EPISODES
) -> SlaPredictor:
    """Fit the predictor on the organization's first ``episodes`` training-split seeds."""
    seeds = list(scenario.spec.seeds.train.seeds())[:episodes]
    xs, ys = [], []
    for seed in seeds:
        world = World(scenario, seed, days=days)
        org = Organization(world, cfg)
        world.run()
        x, y = episode_samples(world, org.finish().partitions)
        xs.append(x)
        ys.append(y)
    return SlaPredictor.fit(xs, ys, seeds)


def predictive_alerts(
    samples: pd.DataFrame, p: np.ndarray, threshold: float, names: Sequence[str]
) -> list[PredictiveAlert]:
    """The predictive alerts of one episode: samples at or above ``threshold``."""
    hit = np.flatnonzero(p >= threshold)
    return [
        PredictiveAlert(
            float(samples["t"].iat[i]),
            int(samples["asset"].iat[i]),
            names[int(samples["asset"].iat[i])],
            float(p[i]),
            HORIZON_MIN,
        )
        for i in hit
    ]


def breach_events(partitions: pd.DataFrame, assets: Sequence[int]) -> pd.DataFrame:
    """Breached windows of ``assets``: columns asset, deadline."""
    if len(partitions) == 0:
        return pd.DataFrame(columns=["asset", "deadline"])
    br = partitions.loc[partitions["sla_breached"].astype(bool) & partitions["asset"].isin(assets)]
    return br[["asset", "deadline"]].reset_index(drop=True)


def lead_times(
    samples: pd.DataFrame, p: np.ndarray, events: pd.DataFrame, threshold: float
) -> list[float]:
    """Lead time of each breach event alerted ahead (minutes; see the module docstring)."""
    out = []
    alerted = samples.loc[p >= threshold, ["asset", "t"]]
    for a, dl in zip(events["asset"], events["deadline"], strict=True):
        ts = alerted.loc[(alerted["asset"] == a), "t"].to_numpy(dtype=float)
        ts = ts[(ts >= dl - HORIZON_MIN) & (ts < dl)]
        if ts.size:
            out.append(float(dl - ts.min()))
    return out


def prediction_metrics(
    p: Sequence[np.ndarray], y: Sequence[np.ndarray], leads: Sequence[float], threshold: float
) -> dict[str, float]:
    """The four scores (module docstring), pooled over episodes' probabilities and labels."""
    pp = np.concatenate(p) if p else np.zeros(0)
    yy = np.concatenate(y).astype(bool) if y else np.zeros(0, dtype=bool)
    alert = pp >= threshold
    tp = int((alert & yy).sum())
    return {
        "sla_prediction_precision": tp / int(alert.sum()) if alert.any() else math.nan,
        "sla_prediction_recall": tp / int(yy.sum()) if yy.any() else math.nan,
        "sla_prediction_lead_time_p50_min": float(np.median(leads)) if leads else math.nan,
        "sla_prediction_brier": float(np.mean((pp - yy) ** 2)) if pp.size else math.nan,
    }


class EpisodePrediction(NamedTuple):
    """One episode's predictions: probabilities, labels, lead times and predictive alerts."""

    seed: int
    p: np.ndarray
    y: np.ndarray
    leads: list[float]
    alerts: list[PredictiveAlert]
    n_events: int


def predict_episode(
    predictor: SlaPredictor, world: World, partitions: pd.DataFrame
) -> EpisodePrediction:
    """Run the fitted predictor over one finished episode and score it against what happened."""
    x, y = episode_samples(world, partitions)
    p = predictor.predict(x)
    ev = breach_events(partitions, sorted(set(x["asset"])))
    names = [a.name for a in world.assets]
    leads = lead_times(x, p, ev, predictor.threshold)
    alerts = predictive_alerts(x, p, predictor.threshold, names)
    return EpisodePrediction(world.seed, p, y, leads, alerts, len(ev))


def episode_prediction_metrics(eps: Sequence[EpisodePrediction], threshold: float) -> dict:
    """``prediction_metrics`` pooled over ``eps``."""
    leads = [v for e in eps for v in e.leads]
    return prediction_metrics([e.p for e in eps], [e.y for e in eps], leads, threshold)


def predictions_md(
    predictor: SlaPredictor, eps: Sequence[EpisodePrediction], header: list[str]
) -> list[str]:
    """``09_learning/sla-predictions.md``: the model, its scores and the predictive alerts."""
    m = episode_prediction_metrics(eps, predictor.threshold)
    lines = [*header, "## Model", ""]
    lines += [
        f"Logistic regression on standardized features, trained on {len(predictor.train_seeds)} "
        f"training-split episode(s) (seeds {predictor.train_seeds[0]}.."
        f"{predictor.train_seeds[-1]}): {predictor.n_samples} samples, {predictor.n_positive} "
        f"breaching within {HORIZON_MIN:g} min. Alert threshold {predictor.threshold:.2f} "
        "(best F1 on the training samples).",
        "",
        "| Feature | Coefficient |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:+.3f} |" for k, v in predictor.coefficients().items()]
    lines += ["", "## Scores (this run's episodes)", "", "| Measure | Value |", "|---|---:|"]
    lines += [f"| {k} | {'n/a' if math.isnan(v) else f'{v:.3f}'} |" for k, v in m.items()]
    lines += [
        "",
        "Predictive alerts are their own signal: they are not in the alert record and never count "
        "as a detection.",
        "",
        "## Per episode",
        "",
        "| Seed | Samples | Breaching samples | Predictive alerts | Breach events | Alerted ahead "
        "|",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for e in eps:
        lines.append(
            f"| {e.seed} | {e.p.size} | {int(e.y.sum())} | {len(e.alerts)} | {e.n_events} | "
            f"{len(e.leads)} |"
        )
    return [*lines, ""]
