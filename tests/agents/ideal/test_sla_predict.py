"""The SLA breach predictor: observable features only, and its scores pinned on hand-made data."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd
import pytest

from agents.ideal.sla_features import FEATURE_NAMES, breach_labels, sla_features
from agents.ideal.sla_predict import SlaPredictor, lead_times, prediction_metrics
from agents.slots.runner import run_episode
from envs.sim.ledger import faults_table
from scenarios import load_scenario


def samples(rows):
    """(asset, t) rows with zero features."""
    df = pd.DataFrame(rows, columns=["asset", "t"])
    for n in FEATURE_NAMES:
        df[n] = 0.0
    return df


def test_labels_look_ahead_over_the_horizon() -> None:
    x = samples([(5, 60.0), (5, 120.0), (5, 300.0), (6, 60.0)])
    parts = pd.DataFrame(
        {"asset": [5, 5, 6], "deadline": [240.0, 600.0, 200.0], "sla_breached": [True, True, False]}
    )
    # asset 5 breaches at 240 (within 180 of t=60 and t=120, not of t=300) and at 600 (> 300+180)
    assert list(breach_labels(x, parts, 180.0)) == [True, True, False, False]


def test_scores_of_hand_made_predictions() -> None:
    p = [np.array([0.9, 0.6, 0.2, 0.1]), np.array([0.7, 0.05])]
    y = [np.array([1, 0, 1, 0]), np.array([1, 0])]
    m = prediction_metrics(p, y, [120.0, 60.0, 180.0], threshold=0.5)
    assert m["sla_prediction_precision"] == pytest.approx(2 / 3)  # 0.9 ✓ 0.6 ✗ 0.7 ✓
    assert m["sla_prediction_recall"] == pytest.approx(2 / 3)  # the 0.2 breach is missed
    assert m["sla_prediction_lead_time_p50_min"] == 120.0
    sq = [0.01, 0.36, 0.64, 0.01, 0.09, 0.0025]
    assert m["sla_prediction_brier"] == pytest.approx(sum(sq) / 6)
    empty = prediction_metrics([np.array([0.1])], [np.array([0])], [], threshold=0.5)
    assert math.isnan(empty["sla_prediction_precision"])  # nothing alerted
    assert math.isnan(empty["sla_prediction_recall"])  # nothing breached
    assert math.isnan(empty["sla_prediction_lead_time_p50_min"])


def test_lead_time_is_from_the_earliest_alert_within_the_horizon() -> None:
    x = samples([(5, 60.0), (5, 120.0), (5, 180.0), (6, 60.0)])
    p = np.array([0.9, 0.8, 0.1, 0.9])
    events = pd.DataFrame({"asset": [5, 5, 6], "deadline": [200.0, 400.0, 60.0]})
    # event 5@200: alerts at 60 and 120 -> 140; 5@400: no alert in [220, 400); 6@60: alert at 60
    # is not before the deadline
    assert lead_times(x, p, events, 0.5) == [140.0]


def test_fit_is_transparent_and_chooses_its_threshold() -> None:
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for _ in range(2):
        x = samples([(5, 60.0 * i) for i in range(1, 201)])
        y = rng.random(200) < 0.2
        x["own_overdue"] = y * 1.0 + rng.normal(0, 0.3, 200)
        xs.append(x)
        ys.append(y)
    pr = SlaPredictor.fit(xs, ys, seeds=(1, 2))
    coef = pr.coefficients()
    assert list(coef) == list(FEATURE_NAMES)
    assert coef["own_overdue"] > 1.0 and abs(coef["weekend"]) < 1e-6  # a constant feature
    assert 0.05 <= pr.threshold <= 0.95 and pr.train_seeds == (1, 2)
    p = pr.predict(xs[0])
    assert p[ys[0]].mean() > 0.5 > p[~ys[0]].mean()
    flat = SlaPredictor.fit([xs[0]], [np.zeros(200, dtype=bool)], seeds=(1,))
    assert flat.model is None and list(flat.predict(xs[0][:3])) == [0.0, 0.0, 0.0]


def test_the_features_carry_no_ground_truth() -> None:
    """Inputs are the run log and the topology; nothing after t changes the features at t."""
    assert list(inspect.signature(sla_features).parameters) == [
        "log", "pipeline", "uses_slot", "horizon",
    ]  # fmt: skip
    sc = load_scenario("sc0003")
    world, _ = run_episode(sc, sc.spec.seeds.train.seeds()[0], "rules", days=2)
    truth = set(faults_table(world).columns) | {"fault", "cause", "breach", "label"}
    assert not any(t in n for n in FEATURE_NAMES for t in truth)
    uses = [a.uses_slot for a in world.assets]
    full = sla_features(world.log, sc.pipeline, uses, world.horizon)
    for t in (600.0, 1500.0, 2400.0):
        known = []
        for r in world.log:
            if (r.ready_at if not math.isnan(r.ready_at) else r.started_at) > t:
                continue  # not yet asked for: unknown at t
            if r.ended_at > t:  # running or waiting at t: its outcome is the future
                start = r.started_at if r.started_at <= t else r.started_at + 17.0
                r = r._replace(started_at=start, ended_at=r.ended_at + 29.0,
                               status="failed" if r.status == "success" else "success",
                               rows=r.rows + 1)  # fmt: skip
            known.append(r)
        part = sla_features(known, sc.pipeline, uses, world.horizon)
        at = full["t"] == t
        pd.testing.assert_frame_equal(
            full.loc[at].reset_index(drop=True), part.loc[part["t"] == t].reset_index(drop=True)
        )
