"""The scorecard against hand-made ledgers whose every metric is worked out by hand below."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from agents.records import (
    Alert,
    Diagnosis,
    EpisodeResult,
    IncidentSummary,
    RemediationStep,
    RootCandidate,
)
from agents.scoring.matching import GRACE_MIN, fault_outcomes, incident_outcomes, match_matrix
from agents.scoring.scorecard import (
    ESCALATION_METRIC_NAMES,
    METRIC_NAMES,
    aggregate,
    episode_metrics,
    match_alert,
    scorecard,
)
from envs.sim.records import ActionRecord, FaultRecord
from scenarios import vocab
from tests.conftest import NAN

NAMES = ["src_orders", "ingest_orders", "stg_orders", "fct_orders", "dash_sales"]
LAYERS = list(vocab.LAYERS)


def fault(fid, issue_type, cause, root, onset, affected, visible, resolved, by, **kw):
    return FaultRecord(
        fault_id=fid, issue_type=issue_type, subtype=kw.get("subtype", "x"), root_cause=cause,
        root_asset=root, onset=onset, severity="major", magnitude=1.0, acceptable_fixes=(),
        best_fix="retry", affected_assets=affected, first_visible_at=visible,
        delivery_exposed_at=kw.get("exposed", NAN), cause_ended_at=NAN, resolved_at=resolved,
        resolved_by=by, resolving_action=-1, caused_by_action=kw.get("caused_by", -1),
        first_symptom_at=kw.get("symptom", NAN),
    )  # fmt: skip


def alert(aid, t, asset, signal, incident):
    return Alert(aid, t, asset, NAMES[asset], LAYERS[asset], signal, 1.0, 0.5, "", incident, -1, 0)


def diag(incident, t, issue_type, layer, cands):
    return Diagnosis(
        incident, t, issue_type, "x", layer, "major", "auto_fix", "retry", "retry", 0.8, ("e",),
        tuple(RootCandidate(a, NAMES[a], 1.0, "lineage") for a in cands), "",
    )  # fmt: skip


def step(incident, n, aid, kind, outcome):
    return RemediationStep(
        incident, n, aid, kind, 1, NAMES[1], (), 0.0, 1.0, outcome, False, "", "", -1, 0.0, ""
    )


def action(aid, kind, outcome):
    return ActionRecord(aid, kind, 1, (), 0.0, 1.0, 0.0, 0.0, outcome, (), -1, "", "")


def incident(iid):
    return IncidentSummary(
        iid, 1, NAMES[1], LAYERS[1], 0.0, NAN, NAN, "late_arrival", "major", -1, "", "open",
        False, (), 1, (), None, NAN,
    )  # fmt: skip


PART_COLS = [
    "asset", "asset_name", "layer", "window", "window_end", "deadline", "state", "arrived_at",
    "late_min", "sla_breached",
]  # fmt: skip


def partitions(rows):
    return pd.DataFrame(
        [(a, NAMES[a], LAYERS[a], k, 0.0, 0.0, st, arr, late, late > 0)
         for a, k, st, arr, late in rows],
        columns=PART_COLS,
    )  # fmt: skip


def episode(**kw) -> EpisodeResult:
    base = dict(
        scenario="sc_test", seed=7, org="rules", days=2.0, horizon=2880.0, faults=[], alerts=[],
        diagnoses=[], remediations=[], incidents=[], actions=[], partitions=partitions([]),
        asset_names=NAMES, asset_layers=LAYERS, exposure_hours={}, warehouse_cost=0.0,
        human_minutes=0.0, verdicts={}, unsafe_actions=(),
    )  # fmt: skip
    base.update(kw)
    return EpisodeResult(**base)


# The main ledger (2 days, horizon 2880 min):
#   F0 transient_network at ingest (onset 100), visible, fixed by an agent at 130.
#   F1 bad_join at stg (onset 500), wrong data at Delivery 530..700, fixed by a human at 700.
#   F2 noisy_neighbor (warehouse-wide) at fct (onset 1000), never fixed (censored at 2880).
#   F3 collateral of action 2 at ingest (onset 2000), never visible, ended by itself at 2100.
# First observable symptoms: F0 its failed run at 102 (alert 103: 1 min), F1 a corrupted partition
# at 515 (alert 520: 5 min, not < 5), F2 a missed deadline at 1030, after its queue alert at 1010
# (an alert before the symptom counts 0); F3 none.
FAULTS = [
    fault(0, "late_arrival", "transient_network", 1, 100.0, (1, 2, 4), 102.0, 130.0, "agent",
          symptom=102.0),
    fault(1, "quality_anomaly", "bad_join", 2, 500.0, (2, 3, 4), 510.0, 700.0, "human",
          exposed=530.0, symptom=515.0),
    fault(2, "performance_degradation", "noisy_neighbor", 3, 1000.0, (3,), 1005.0, NAN, "",
          symptom=1030.0),
    fault(3, "quality_anomaly", "induced_by_action", 1, 2000.0, (1,), NAN, 2100.0, "self",
          caused_by=2),
]  # fmt: skip
ALERTS = [
    alert(0, 103.0, 1, "run_failure", 10),  # F0 (root), detect 3 min
    alert(1, 110.0, 4, "freshness", 10),  # F0 (affected)
    alert(2, 185.0, 2, "run_failure", 10),  # F0 within the 60-min grace (130 + 60)
    alert(3, 195.0, 2, "volume", 11),  # after the grace, before F1: false alarm
    alert(4, 520.0, 3, "duplicate_rate", 12),  # F1 (affected), detect 20 min
    alert(5, 1010.0, 2, "queue", 13),  # F2 warehouse-wide, non-Source: detect 10 min
    alert(6, 1020.0, 0, "queue", 13),  # Source asset: not warehouse-wide evidence → false
    alert(7, 2050.0, 1, "null_rate", 14),  # F3 (invisible: precision only)
]
DIAGNOSES = [
    diag(10, 108.0, "late_arrival", "Ingestion", [1, 2]),  # type ✓ layer ✓ AC@1 ✓ → 5
    diag(11, 200.0, "quality_anomaly", "Transformation", [2]),  # false alarm
    diag(12, 540.0, "quality_anomaly", "Warehouse", [3, 2, 1]),  # type ✓ layer ✗ AC@3 ✓ → 3
    diag(12, 600.0, "late_arrival", "Transformation", [2]),  # a later re-diagnosis: ignored
    diag(13, 1020.0, "late_arrival", "Warehouse", [3]),  # type ✗ layer ✓ AC@1 ✓ → 3
]  # incident 14 is never diagnosed → 1
STEPS = [
    step(10, 1, 0, "retry", "fixed"),
    step(11, 1, 2, "apply_schema_mapping", "collateral"),
    step(12, 1, 1, "dedupe", "no_effect"),
    step(12, 2, 3, "escalate", "mitigated"),  # escalation after a failed step → 1
    step(13, 1, 4, "escalate", "failed"),  # open → 1
]
ACTIONS = [
    action(0, "retry", "fixed"),
    action(1, "dedupe", "no_effect"),
    action(2, "apply_schema_mapping", "collateral"),
    action(3, "escalate", "mitigated"),
    action(4, "escalate", "failed"),
]
PARTS = partitions([
    (4, 1, "ok", 50.0, 0.0),  # 5
    (4, 2, "ok", 300.0, 30.0),  # late → 3
    (4, 3, "ok", 560.0, 0.0),  # arrived while F1 exposed wrong data at Delivery → 1
    (4, 4, "warn", 900.0, 0.0),  # 1
    (4, 5, "pending", NAN, 120.0),  # 1
    (3, 1, "failed", NAN, 600.0),  # not Delivery: ignored
])  # fmt: skip


def main_episode(**kw) -> EpisodeResult:
    base = dict(
        faults=FAULTS, alerts=ALERTS, diagnoses=DIAGNOSES, remediations=STEPS,
        incidents=[incident(i) for i in (10, 11, 12, 13, 14)], actions=ACTIONS, partitions=PARTS,
        exposure_hours={1: 1.5}, warehouse_cost=123.0, human_minutes=90.0,
        verdicts={0: (True, True), 1: (True, False), 2: (False, False)}, unsafe_actions=(2,),
    )  # fmt: skip
    base.update(kw)
    return episode(**base)


def test_every_metric_of_the_main_ledger() -> None:
    m = episode_metrics(main_episode())
    assert list(m) == list(METRIC_NAMES)
    precision, recall = 6 / 8, 3 / 3
    mttr = [30.0, 200.0, 2880.0 - 1000.0, 100.0]  # F2 censored at the horizon
    expected = {
        "mttd_p50_min": 10.0,
        "mttd_p90_min": 10.0 + 0.8 * (20.0 - 10.0),  # linear, position 0.9 * 2 = 1.8
        "mttd_observable_p50_min": 1.0,  # [1, 5, 0]
        "mttd_observable_p90_min": 1.0 + 0.8 * (5.0 - 1.0),
        "mttr_p50_min": (100.0 + 200.0) / 2,
        "mttr_p90_min": 200.0 + 0.7 * (1880.0 - 200.0),  # position 0.9 * 3 = 2.7
        "sla_detect_met": 2 / 3,  # from the symptom: 1 ✓, 5 ✗, 0 ✓ (from onset: 3, 20, 10)
        "sla_diagnose_met": 2 / 3,  # 108-103=5 ✓, 540-520=20 ✗, 1020-1010=10 ✓
        "sla_autofix_met": 1.0,  # F0: 130-108 = 22 < 30
        "sla_manual_met": 0.0,  # F1: 700-540 = 160 ≥ 120
        "alert_precision": precision,
        "alert_recall": recall,
        "alert_f1": 2 * precision * recall / (precision + recall),
        "alerts_per_incident": 8 / 5,
        "false_alarms_per_day": 2 / 2.0,
        "diagnosis_type_accuracy": 2 / 4,  # 10 ✓, 12 ✓, 13 ✗, 14 undiagnosed ✗
        "diagnosis_layer_accuracy": 2 / 4,  # 10 ✓, 12 ✗, 13 ✓, 14 ✗
        "rca_ac1": 2 / 4,
        "rca_ac3": 3 / 4,
        "fix_success_rate": 1 / 4,  # only F0 fixed and clean; F3 has no verdict
        "auto_resolved_rate": 1 / 4,
        "escalation_rate": 2 / 5,
        "unsafe_action_rate": 1 / 5,
        "collateral_damage_rate": 1 / 5,
        "data_downtime_hours": (30.0 + 120.0) / 60.0,
        "bad_data_exposure_hours": 1.5,
        "warehouse_cost": 123.0,
        "human_hours": 1.5,
        "rubric_data_quality": (5 + 3 + 1 + 1 + 1) / 5,
        "rubric_classification": (5 + 3 + 3 + 1) / 4,
        "rubric_remediation": (5 + 1 + 1 + 3) / 4,  # agent; rework; open; ended by itself
    }
    assert m == pytest.approx(expected, abs=1e-12)
    assert expected["mttr_p90_min"] == pytest.approx(np.percentile(mttr, 90))


def test_match_alert_window_and_assets() -> None:
    f0 = FAULTS[0]
    assert match_alert(alert(0, 100.0, 1, "run_failure", 1), f0, 2880.0)  # at onset
    assert not match_alert(alert(0, 99.9, 1, "run_failure", 1), f0, 2880.0)
    assert match_alert(alert(0, 130.0 + GRACE_MIN, 2, "volume", 1), f0, 2880.0)
    assert not match_alert(alert(0, 130.1 + GRACE_MIN, 2, "volume", 1), f0, 2880.0)
    assert not match_alert(alert(0, 110.0, 3, "queue", 1), f0, 2880.0)  # not warehouse-wide
    f2 = FAULTS[2]  # open: lasts until the horizon (+ grace)
    assert match_alert(alert(0, 2880.0 + GRACE_MIN, 4, "freshness", 1), f2, 2880.0)
    assert match_alert(alert(0, 1500.0, 1, "runtime", 1), f2, 2880.0)
    assert not match_alert(alert(0, 1500.0, 1, "volume", 1), f2, 2880.0)  # wrong signal
    assert not match_alert(alert(0, 1500.0, 0, "queue", 1), f2, 2880.0)  # Source layer


def test_match_matrix_agrees_with_match_alert() -> None:
    ep = main_episode()
    m = match_matrix(ep)
    want = [[match_alert(a, f, ep.horizon) for f in ep.faults] for a in ep.alerts]
    assert m.tolist() == want


def test_censoring_and_fault_facts() -> None:
    f = fault_outcomes(main_episode()).set_index("fault_id")
    assert f.loc[2, "censored"] and f.loc[2, "ttr_min"] == 1880.0
    assert not f.loc[3, "visible"] and math.isnan(f.loc[3, "sla_detect"])
    assert f.loc[3, "collateral"]
    assert f.loc[1, "fix_min"] == 160.0  # from its first diagnosis, not the re-diagnosis


def test_detection_sla_is_measured_from_the_first_observable_symptom() -> None:
    # G0: outage at 100, invisible until its first failed run at 160; alert at 163 → 3 min from
    #     the symptom (met) but 63 from the onset.
    # G1: observable at 400 (a missed deadline), never alerted → missed, not in mttd_observable.
    # G2: visible (reached at 600) but no observable symptom → outside the SLA's population.
    # G3: observable at 900 and 902; alerts at 906 and 908: the first alert counts → 6 min, missed.
    g = [
        fault(0, "late_arrival", "source_outage", 1, 100.0, (1, 2), 150.0, 300.0, "agent",
              symptom=160.0),
        fault(1, "late_arrival", "source_outage", 1, 390.0, (1,), 395.0, 500.0, "agent",
              symptom=400.0),
        fault(2, "performance_degradation", "data_skew", 3, 600.0, (3,), 600.0, 650.0, "agent"),
        fault(3, "quality_anomaly", "bad_join", 4, 880.0, (4,), 890.0, 950.0, "agent",
              symptom=900.0),
    ]  # fmt: skip
    alerts = [
        alert(0, 163.0, 1, "run_failure", 1),
        alert(1, 610.0, 3, "runtime", 2),
        alert(2, 906.0, 4, "volume", 3),
        alert(3, 908.0, 4, "null_rate", 3),
    ]
    ep = main_episode(faults=g, alerts=alerts, diagnoses=[], remediations=[], verdicts={},
                      incidents=[incident(i) for i in (1, 2, 3)])  # fmt: skip
    f = fault_outcomes(ep).set_index("fault_id")
    assert f["observable"].tolist() == [True, True, False, True]
    assert f["detect_observable_min"].tolist() == pytest.approx([3.0, NAN, NAN, 6.0], nan_ok=True)
    assert f["sla_detect"].tolist() == pytest.approx([1.0, 0.0, NAN, 0.0], nan_ok=True)
    m = episode_metrics(ep)
    assert m["mttd_observable_p50_min"] == pytest.approx(4.5)  # [3, 6]
    assert m["mttd_observable_p90_min"] == pytest.approx(3.0 + 0.9 * 3.0)
    assert m["sla_detect_met"] == pytest.approx(1 / 3)  # G0 ✓, G1 ✗ (undetected), G3 ✗
    assert m["mttd_p50_min"] == pytest.approx(26.0)  # from the onset: [63, 10, 26]


def test_sla_fix_clock_falls_back_to_first_alert_then_onset() -> None:
    ep = main_episode(diagnoses=[])  # nothing diagnosed
    f = fault_outcomes(ep).set_index("fault_id")
    assert f.loc[0, "fix_min"] == 130.0 - 103.0  # from the first matching alert
    assert f.loc[0, "sla_diagnose"] == 0.0  # undiagnosed = missed
    ep = main_episode(alerts=[], diagnoses=[])
    assert fault_outcomes(ep).set_index("fault_id").loc[1, "fix_min"] == 700.0 - 500.0


@pytest.mark.parametrize(
    ("first_outcome", "resolved_by", "points"),
    [("fixed", "human", 3), ("no_effect", "human", 1), ("fixed", "agent", 3)],
)
def test_rubric_remediation_escalation(first_outcome: str, resolved_by: str, points: int) -> None:
    faults = [FAULTS[0], FAULTS[1]._replace(resolved_by=resolved_by)]
    steps = [step(12, 1, 1, "dedupe", first_outcome), step(12, 2, 3, "escalate", "mitigated")]
    ep = main_episode(faults=faults, remediations=steps, incidents=[incident(12)])
    assert incident_outcomes(ep)["rubric_remediation"].tolist() == [points]


def test_primary_fault_is_earliest_onset_then_lowest_id() -> None:
    a = fault(5, "late_arrival", "transient_network", 1, 100.0, (1,), 101.0, 200.0, "agent")
    b = fault(4, "quality_anomaly", "replayed_load", 1, 100.0, (1,), 101.0, 200.0, "agent")
    ep = main_episode(
        faults=[a, b], alerts=[alert(0, 150.0, 1, "volume", 1)], diagnoses=[],
        remediations=[], incidents=[incident(1)],
    )  # fmt: skip
    row = incident_outcomes(ep).iloc[0]
    assert row["fault_ids"] == (4, 5) and row["primary_fault"] == 4


def test_wrong_data_column_overrides_the_proxy() -> None:
    parts = PARTS.assign(wrong_data=[False, False, False, False, False, True])
    m = episode_metrics(main_episode(partitions=parts))
    assert m["rubric_data_quality"] == pytest.approx((5 + 3 + 5 + 1 + 1) / 5)


def test_no_fault_episode() -> None:
    ep = episode(
        days=3.0, alerts=[alert(i, 100.0 * i, 2, "volume", 1) for i in range(3)],
        incidents=[incident(1)], partitions=partitions([(4, 1, "ok", 50.0, 0.0)]),
        warehouse_cost=10.0,
    )  # fmt: skip
    m = episode_metrics(ep)
    assert m["false_alarms_per_day"] == 1.0
    assert m["alert_precision"] == 0.0
    assert m["alerts_per_incident"] == 3.0
    assert m["unsafe_action_rate"] == 0.0 and m["collateral_damage_rate"] == 0.0
    assert m["rubric_data_quality"] == 5.0
    assert m["data_downtime_hours"] == 0.0 and m["warehouse_cost"] == 10.0
    empty = [
        "mttd_p50_min", "mttd_p90_min", "mttd_observable_p50_min", "mttd_observable_p90_min",
        "mttr_p50_min", "mttr_p90_min", "sla_detect_met",
        "sla_diagnose_met", "sla_autofix_met", "sla_manual_met", "alert_recall", "alert_f1",
        "diagnosis_type_accuracy", "diagnosis_layer_accuracy", "rca_ac1", "rca_ac3",
        "fix_success_rate", "auto_resolved_rate", "rubric_classification", "rubric_remediation",
    ]  # fmt: skip
    assert all(math.isnan(m[k]) for k in empty), {k: m[k] for k in empty}


def test_quiet_episode_has_nan_rates_and_f1_zero_when_both_zero() -> None:
    ep = episode(partitions=None)
    m = episode_metrics(ep)
    assert math.isnan(m["alert_precision"]) and math.isnan(m["alerts_per_incident"])
    assert math.isnan(m["escalation_rate"]) and math.isnan(m["rubric_data_quality"])
    assert m["false_alarms_per_day"] == 0.0
    missed = main_episode(alerts=[alert(0, 2500.0, 0, "volume", 1)], incidents=[incident(1)])
    assert episode_metrics(missed)["alert_f1"] == 0.0  # precision 0 and recall 0


def test_aggregate_pools_events_and_averages_costs() -> None:
    quiet = episode(
        seed=8, days=3.0, alerts=[alert(i, 100.0 * i, 2, "volume", 1) for i in range(3)],
        incidents=[incident(1)], warehouse_cost=10.0, human_minutes=30.0,
    )  # fmt: skip
    main = main_episode()
    agg = aggregate([main, quiet])
    assert agg["alert_precision"] == pytest.approx(6 / 11)
    assert agg["false_alarms_per_day"] == pytest.approx((2 + 3) / (2.0 + 3.0))
    assert agg["alerts_per_incident"] == pytest.approx(11 / 6)
    assert agg["escalation_rate"] == pytest.approx(2 / 6)
    assert agg["mttd_p50_min"] == 10.0 and agg["alert_recall"] == 1.0
    assert agg["warehouse_cost"] == pytest.approx((123.0 + 10.0) / 2)
    assert agg["human_hours"] == pytest.approx((1.5 + 0.5) / 2)
    assert agg["data_downtime_hours"] == pytest.approx((2.5 + 0.0) / 2)
    assert agg["rubric_data_quality"] == pytest.approx(2.2)  # the quiet one has no windows
    single = aggregate([main])
    assert single == pytest.approx(episode_metrics(main), nan_ok=True)
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])


def test_scorecard_is_json_with_protocol() -> None:
    quiet = episode(seed=8, days=3.0)
    card = scorecard([main_episode(), quiet])
    text = json.dumps(card, allow_nan=False)
    assert json.loads(text) == card
    p = card["protocol"]
    assert p["scenario"] == "sc_test" and p["org"] == "rules"
    assert p["seeds"] == [7, 8] and p["n_episodes"] == 2 and p["definitions"] == "scorecard-v3"
    assert [e["seed"] for e in card["episodes"]] == [7, 8]
    assert card["episodes"][1]["alert_recall"] is None  # NaN → None
    extra = {"analytics_answer_accuracy", "access_violations", *ESCALATION_METRIC_NAMES}
    assert set(card["aggregate"]) == set(METRIC_NAMES) | extra
    assert card["aggregate"]["analytics_answer_accuracy"] is None  # no analyst workload here
    assert card["aggregate"]["access_violations"] is None  # not measured: the agent was off
    assert card["agents_off"] == ["analytics_support"]
    assert card["episodes"][0]["rca_ac3"] == 0.75
