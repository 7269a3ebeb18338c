"""The ideal agents of ``org=ideal``, run beside the rules organization episode by episode.

``IdealAgents(scenario, cfg, days)`` is told each finished episode (``observe(world, ep)``);
at the end ``extend(card)`` adds their measures to the scorecard (pooled in ``aggregate``, one
entry per episode in ``episodes``) and ``write(out, title)`` writes their artifacts. They read
what the organization observed — the run log, the audit trail, the bill — and act on nothing:
the world of ``org=ideal`` is the world of ``org=rules``.

=================  ==================================================  ==========================
agent              measures                                             artifact
=================  ==================================================  ==========================
Cost Optimizer     waste_cost, waste_saving_replayed,                   09_learning/cost-report.md
                   waste_replay_breach_delta (``agents.ideal.cost_report``)
SLA Optimizer      sla_prediction_precision, _recall,                   09_learning/
                   _lead_time_p50_min, _brier                           sla-predictions.md,
                   (``agents.ideal.sla_predict``; fitted on the         predictive_alerts.csv
                   scenario's training-split seeds when built)
Root Cause         deep_dive_cause_accuracy,                            09_learning/
Analyzer (deep     deep_dive_time_to_recommendation_p50_min             rca-deep-dives.md
dives)             (``agents.ideal.deep_dive``)
=================  ==================================================  ==========================

The scorecard also gets ``ideal.sla_predictor``: threshold, training seeds, horizon and the
coefficients by feature name.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from agents.ideal.cost_report import EpisodeCost, cost_metrics, cost_report_md, episode_cost
from agents.ideal.deep_dive import DeepDive, deep_dives, deep_dives_md, dive_metrics, dive_scores
from agents.ideal.sla_features import HORIZON_MIN
from agents.ideal.sla_predict import (
    EpisodePrediction,
    PredictiveAlert,
    episode_prediction_metrics,
    predict_episode,
    predictions_md,
    train_predictor,
)
from agents.org import OrgConfig
from agents.records import EpisodeResult
from agents.scoring.matching import incident_outcomes
from envs.sim.world import World
from scenarios.spec import Scenario


def _safe(x: float) -> float | None:
    return None if isinstance(x, float) and not math.isfinite(x) else x


class IdealAgents:
    """The ideal agents for one ``run_org`` run.

    Args:
        scenario: the run's scenario.
        cfg: the organization's config (the replays run it).
        days: the run's horizon override in days.
        train_episodes: training-split episodes the SLA predictor is fitted on.
    """

    def __init__(
        self, scenario: Scenario, cfg: OrgConfig, days: float | None, train_episodes: int = 10
    ) -> None:
        self.scenario = scenario
        self.cfg = cfg
        self.days = days
        self.costs: list[EpisodeCost] = []
        self.predictor = train_predictor(scenario, cfg, days, train_episodes)
        self.predictions: list[EpisodePrediction] = []
        self.dives: list[list[tuple[int, DeepDive, dict[str, Any]]]] = []
        self.names: list[str] = [a.name for a in scenario.pipeline.assets]

    def observe(self, world: World, ep: EpisodeResult) -> None:
        """Take in one finished episode (its world and the organization's records)."""
        self.costs.append(episode_cost(world, self.cfg, self.days))
        self.predictions.append(predict_episode(self.predictor, world, ep.partitions))
        dives = deep_dives(ep.incidents, world.log, world.scenario.pipeline)
        rows = dive_scores(dives, ep, incident_outcomes(ep))
        self.dives.append([(ep.seed, d, r) for d, r in zip(dives, rows, strict=True)])

    def extend(self, card: dict[str, Any]) -> dict[str, Any]:
        """Add the ideal agents' measures to ``card`` (in place; returned for convenience)."""
        th = self.predictor.threshold
        pooled = cost_metrics(self.costs) | episode_prediction_metrics(self.predictions, th)
        pooled |= dive_metrics([r for ep in self.dives for _, _, r in ep])
        card["aggregate"].update({k: _safe(v) for k, v in pooled.items()})
        per = zip(card["episodes"], self.costs, self.predictions, self.dives, strict=True)
        for row, c, p, dv in per:
            one = cost_metrics([c]) | episode_prediction_metrics([p], th)
            one |= dive_metrics([r for _, _, r in dv])
            row.update({k: _safe(v) for k, v in one.items()})
        pr = self.predictor
        card["ideal"] = {
            "sla_predictor": {
                "model": "StandardScaler + LogisticRegression (scikit-learn)",
                "threshold": th,
                "horizon_min": HORIZON_MIN,
                "train_seeds": list(pr.train_seeds),
                "train_samples": pr.n_samples,
                "train_positive": pr.n_positive,
                "coefficients": pr.coefficients(),
            }
        }
        return card

    def write(self, out: Path, title: str) -> list[Path]:
        """Write the ideal agents' artifacts into the run folder ``out``."""
        seeds = ", ".join(str(c.seed) for c in self.costs)
        header = [
            "# Cost report",
            "",
            f"Run: **{title}** · organization `ideal` · {len(self.costs)} episode(s), seeds "
            f"{seeds}. Cost Optimizer (`agents/ideal/cost_report.py`): waste with its price, "
            "and recommendations with the saving each would have made.",
            "",
        ]
        p = Path(out) / "09_learning/cost-report.md"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(cost_report_md(self.costs, header)).rstrip() + "\n")
        q = Path(out) / "09_learning/sla-predictions.md"
        head = [
            "# SLA breach predictions",
            "",
            f"Run: **{title}** · organization `ideal` · {len(self.predictions)} episode(s), seeds "
            f"{seeds}. SLA Optimizer (`agents/ideal/sla_predict.py`): a freshness-SLA breach of "
            f"each Delivery asset predicted {HORIZON_MIN:g} min ahead, every hour.",
            "",
        ]
        q.write_text(
            "\n".join(predictions_md(self.predictor, self.predictions, head)).rstrip() + "\n"
        )
        rows = [(e.seed, *a) for e in self.predictions for a in e.alerts]
        csv = Path(out) / "predictive_alerts.csv"
        pd.DataFrame(rows, columns=["seed", *PredictiveAlert._fields]).to_csv(csv, index=False)
        dd = Path(out) / "09_learning/rca-deep-dives.md"
        head = [
            "# RCA deep dives",
            "",
            f"Run: **{title}** · organization `ideal` · {len(self.dives)} episode(s), seeds "
            f"{seeds}. Root Cause Analyzer deep dives (`agents/ideal/deep_dive.py`): a recurring "
            "issue, the owners' teams asked, one remediation recommended.",
            "",
        ]
        flat = [x for ep in self.dives for x in ep]
        dd.write_text("\n".join(deep_dives_md(flat, self.names, head)).rstrip() + "\n")
        return [p, q, csv, dd]
