"""The learning cycle's parts on their own: labels, reviewer, classifier, autonomy, store, plans."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from agents.knowledge import KnowledgeBase
from agents.learning import classifier as clf
from agents.learning.autonomy import AUTONOMOUS, PROPOSE, Autonomy
from agents.learning.config import LearningConfig
from agents.learning.labels import CAUSES, FALSE_ALARM, cause_of_key, complexity_of, key_of_cause
from agents.learning.prevention import plan_measures, review_measures
from agents.learning.review import Reviewer, Triaged
from agents.learning.store import LearningStore


def test_every_cause_maps_to_a_playbook_key_and_back():
    for cause in CAUSES:
        assert cause_of_key(key_of_cause(cause)) == cause
    assert cause_of_key("credentials_expired/unconfirmed") == "expired_credentials"
    assert cause_of_key("benign") == "" and cause_of_key("unknown") == ""
    assert complexity_of("expired_credentials") == "manual"
    assert complexity_of("replayed_load") == "auto_fix"
    assert complexity_of(FALSE_ALARM) == "none"
    with pytest.raises(KeyError, match="expected one of"):
        key_of_cause("gremlins")


@pytest.mark.parametrize("accuracy", [0.0, 0.7, 1.0])
def test_reviewer_is_right_with_its_configured_probability(accuracy):
    r = Reviewer(accuracy, np.random.default_rng(3))
    named = [r.judge("replayed_load") for _ in range(2000)]
    right = sum(n == "replayed_load" for n in named) / len(named)
    assert right == pytest.approx(accuracy, abs=0.04)
    wrong = {n for n in named if n != "replayed_load"}
    assert wrong <= {*CAUSES, FALSE_ALARM} and "expired_credentials" not in wrong  # same type


def test_config_refuses_bad_settings_with_the_field_named():
    with pytest.raises(ValueError, match="learning: expected on or raw"):
        LearningConfig("off")
    with pytest.raises(ValueError, match="reviewer_accuracy"):
        LearningConfig(reviewer_accuracy=1.5)
    with pytest.raises(ValueError, match="cycle_hour"):
        LearningConfig(cycle_hour=24)


def test_classifier_learns_separable_causes_and_scores_held_out_labels():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (60, 4))
    y = ["replayed_load" if v[0] > 0 else "bad_join" for v in x]
    model = clf.fit(x[:40], y[:40], version=1, c=10.0)
    acc = clf.holdout_accuracy(model, x[40:], y[40:])
    assert acc["n_holdout"] == 20 and acc["cause"] >= 0.9 and acc["type"] == 1.0
    cause, p = model.predict(np.array([0.9, 0, 0, 0]))
    assert cause == "replayed_load" and 0.5 < p <= 1.0
    back = clf.from_json(1, model.to_json())  # what the knowledge base stores predicts the same
    assert back.predict(np.array([-0.9, 0, 0, 0]))[0] == "bad_join"
    with pytest.raises(ValueError, match="at least two causes"):
        clf.fit(x[:5], ["bad_join"] * 5, version=1, c=1.0)
    assert math.isnan(clf.holdout_accuracy(model, x[:1], [FALSE_ALARM])["cause"])


def _closed(iid, ok, kinds, outcome="fixed"):
    s = SimpleNamespace(incident_id=iid, resolution="auto" if ok else "escalated",
                        remediation_success=ok)  # fmt: skip
    steps = [SimpleNamespace(kind=k, outcome=outcome) for k in kinds]
    return s, steps


def test_autonomy_promotes_after_verified_successes_and_demotes_after_a_failure():
    a = Autonomy(LearningConfig(promote_after=2))
    tri = {i: Triaged(i, "upstream_rename", "nulls/upstream_rename", "quality_anomaly", 0.9, 3, ())
           for i in range(5)}  # fmt: skip
    assert a.needs_approval("upstream_rename", ["apply_schema_mapping"]) == ["apply_schema_mapping"]
    assert a.needs_approval("upstream_rename", ["retry", "wait"]) == []  # never destructive
    rows = a.propose([_closed(0, True, ["apply_schema_mapping"])], tri, 1, 0.0)
    a.apply()
    assert rows == [] and a.needs_approval("upstream_rename", ["apply_schema_mapping"])
    rows = a.propose([_closed(1, True, ["apply_schema_mapping"])], tri, 2, 0.0)
    a.apply()
    assert [(r["from_state"], r["to_state"]) for r in rows] == [(PROPOSE, AUTONOMOUS)]
    assert a.needs_approval("upstream_rename", ["apply_schema_mapping"]) == []
    rows = a.propose([_closed(2, True, ["apply_schema_mapping", "rollback"])], tri, 3, 0.0)
    a.apply()
    assert [(r["to_state"], r["reason"]) for r in rows] == [(PROPOSE, "incident 2: rolled back")]
    assert a.needs_approval("upstream_rename", ["apply_schema_mapping"])


def test_the_store_writes_only_inside_a_cycle_and_a_failed_cycle_leaves_nothing():
    with KnowledgeBase() as kb:
        st = LearningStore(kb.connection, scenario="s", seed=1, org="rules")
        row = {"day": 1, "t": 0.0, "n_labels": 0, "review_minutes": 0.0, "classifier_version": 0}
        with pytest.raises(RuntimeError, match="inside cycle"):
            st.insert("learning_cycles", [row])
        with pytest.raises(ZeroDivisionError), st.cycle():
            st.insert("learning_cycles", [row])
            _ = 1 / 0
        assert st.last_day() == 0 and st.frame("learning_cycles").empty
        with st.cycle():
            st.insert("learning_cycles", [row])
        assert st.last_day() == 1
        with pytest.raises(ValueError, match="unknown 'secrets'"):
            st.frame("secrets")


def _world(layers):
    assets = [SimpleNamespace(name=f"a{i}", layer=layer) for i, layer in enumerate(layers)]
    return SimpleNamespace(assets=assets)


def test_prevention_takes_a_measure_for_a_learned_recurrence_on_an_eligible_asset():
    w = _world(["Source", "Ingestion", "Transformation"])
    labels = pd.DataFrame({
        "incident_id": [1, 2, 3, 4, 5], "opened_at": [100.0, 2000.0, 3000.0, 100.0, 200.0],
        "cause": ["expired_credentials"] * 3 + ["bad_join", "bad_join"],
        "root_asset": [1, 1, 1, 2, 2],
    })  # fmt: skip
    none = pd.DataFrame(columns=["measure", "asset"])
    cfg = LearningConfig(prevent_after=2)
    plans = plan_measures(labels, w, none, cfg, now=4000.0)
    assert [(p["measure"], p["asset"], p["cause"]) for p in plans] == [
        ("rotate_credentials", 1, "expired_credentials")
    ]  # bad_join has no measure: nothing is taken for it
    taken = pd.DataFrame({"measure": ["rotate_credentials"], "asset": [1]})
    assert plan_measures(labels, w, taken, cfg, now=4000.0) == []  # active or retired: not again
    old = plan_measures(labels, w, none, cfg, now=4000.0 + 20 * 1440.0)
    assert old == []  # outside the window: no longer recurring


def test_the_weekly_review_retires_a_measure_that_did_not_pay():
    labels = pd.DataFrame({
        "incident_id": [1, 2, 3], "opened_at": [1000.0, 2000.0, 12000.0],
        "cause": ["expired_credentials"] * 3, "root_asset": [1, 1, 1],
    })  # fmt: skip
    active = pd.DataFrame({"measure_id": [0], "measure": ["rotate_credentials"], "asset": [1],
                           "started_at": [3000.0]})  # fmt: skip
    cheap = SimpleNamespace(measures=[SimpleNamespace(cost=10.0, started_at=3000.0)])
    dear = SimpleNamespace(measures=[SimpleNamespace(cost=10_000.0, started_at=3000.0)])
    cfg = LearningConfig(min_measure_days=7.0)
    now = 3000.0 + 8 * 1440.0
    (kept,) = review_measures(labels, active, cheap, cfg, now)
    (gone,) = review_measures(labels, active, dear, cfg, now)
    assert not kept["retire"] and gone["retire"] and "does not pay" in gone["reason"]
    assert kept["recurrence_after"] < kept["recurrence_before"]
    assert review_measures(labels, active, cheap, cfg, 3000.0 + 1440.0) == []  # too young


def _alert(asset, signal):
    return SimpleNamespace(asset=asset, signal=signal)


def test_thresholds_move_per_asset_and_signal_within_bounds_with_reasons():
    from agents.learning.thresholds import ThresholdTuner

    sens = {}
    monitor = SimpleNamespace(
        world=_world(["Ingestion", "Transformation", "Warehouse"]),
        asset_sensitivity=lambda a, s: sens.get((a, s), 3.0),
        set_asset_sensitivity=lambda a, s, v: sens.__setitem__((a, s), v),
    )
    tuner = ThresholdTuner(monitor, LearningConfig(threshold_step=0.5, threshold_max=3.5))
    tri = Triaged(1, "", "unknown", "unknown", 0.3, 1, ())

    def lab(iid, cause, root):
        from agents.learning.review import Label

        return Label(iid, 0.0, "review", cause, root, tri, True)

    alerts = {
        1: [_alert(1, "volume"), _alert(1, "freshness")],  # a false alarm on asset 1's volume
        2: [_alert(1, "null_rate")],  # nulls rooted at asset 0 seen only downstream: a miss
        3: [_alert(2, "runtime")],  # a slow plan rooted at 1 seen at 2: not a miss
    }
    labels = [lab(1, FALSE_ALARM, -1), lab(2, "source_nulls", 0), lab(3, "plan_regression", 1)]
    rows = tuner.propose(labels, alerts, day=1, t=0.0)
    assert [(r["asset"], r["signal"], r["old"], r["new"]) for r in rows] == [
        (0, "null_rate", 3.0, 2.5),
        (1, "volume", 3.0, 3.5),
    ]
    assert "false alarm" in rows[1]["reason"] and "incidents 1" in rows[1]["reason"]
    tuner.apply(rows)
    assert tuner.propose(labels[:1], alerts, day=2, t=0.0) == []  # at its bound: no change


def test_a_carried_measure_gets_back_the_parameters_it_was_planned_with():
    from agents.learning.prevention import carried_params

    w = _world(["Warehouse"])
    labels = pd.DataFrame({
        "incident_id": [1, 2, 3], "opened_at": [600.0, 1440.0 + 900.0, 300.0],
        "cause": ["noisy_neighbor"] * 3, "root_asset": [0, 0, 0], "day": [1, 2, 3],
    })  # fmt: skip
    cfg = LearningConfig(prevent_after=2)
    now = 2 * 1440.0 + 360.0  # day 2's cycle: incident 3 is not labelled yet
    none = pd.DataFrame(columns=["measure", "asset"])
    (plan,) = plan_measures(labels[labels["day"] <= 2], w, none, cfg, now)
    assert plan["measure"] == "reserved_capacity" and plan["params"]["hours"] == (9, 10, 14, 15)
    row = SimpleNamespace(measure="reserved_capacity", asset=0, cause="noisy_neighbor",
                          started_day=2, started_at=now)  # fmt: skip
    assert carried_params(row, labels, cfg) == plan["params"]  # day 3's label is left out
    back = 14 * 1440.0  # carried into a later run: times and days shifted by whole days
    moved = labels.assign(opened_at=labels["opened_at"] - back, day=labels["day"] - 14)
    row2 = SimpleNamespace(**{**vars(row), "started_day": -12, "started_at": now - back})
    assert carried_params(row2, moved, cfg) == plan["params"]
    with pytest.raises(ValueError, match="cannot be read back"):
        carried_params(row, labels.iloc[0:0], cfg)
