"""Escalation appropriateness (SC-0003) on a hand-made ledger, every figure worked out below."""

from __future__ import annotations

import math

import pytest

from agents.records import Alert, Diagnosis, EpisodeResult, IncidentSummary, RemediationStep
from agents.scoring.escalation import escalation_metrics, escalation_outcomes
from agents.scoring.matching import incident_outcomes
from agents.scoring.scorecard import scorecard
from envs.sim.records import FaultRecord
from tests.agents.scoring.test_scorecard import LAYERS, NAMES, episode
from tests.conftest import NAN


def fault(fid: int, cause: str, best: str, onset: float, resolved: float) -> FaultRecord:
    return FaultRecord(
        fid, "late_arrival", "x", cause, 1, onset, "major", 1.0, (best, "escalate"), best, (1,),
        onset + 1.0, NAN, NAN, resolved, "human", -1, -1,
    )  # fmt: skip


def alert(aid: int, t: float, incident: int) -> Alert:
    return Alert(aid, t, 1, NAMES[1], LAYERS[1], "run_failure", 1.0, 0.5, "", incident, -1, 0)


def diag(incident: int, t: float) -> Diagnosis:
    return Diagnosis(
        incident, t, "late_arrival", "x", "Ingestion", "major", "auto_fix", "retry", "retry", 0.8,
        (), (), "",
    )  # fmt: skip


def step(incident: int, n: int, kind: str, t: float, verified: bool) -> RemediationStep:
    return RemediationStep(
        incident, n, n, kind, 1, NAMES[1], (), t, t + 1.0, "fixed" if verified else "no_effect",
        verified, "", "", -1, 0.0, "",
    )  # fmt: skip


def incident(iid: int, opened: float, resolution: str) -> IncidentSummary:
    return IncidentSummary(
        iid, 1, NAMES[1], LAYERS[1], opened, NAN, NAN, "late_arrival", "major", -1, "",
        resolution, False, (), 1, (), None, NAN,
    )  # fmt: skip


# F0 and F3 need a human by their cause (best fix escalate); F1, F2, F4 have automated fixes.
FAULTS = [
    fault(0, "expired_credentials", "escalate", 100.0, 300.0),
    fault(1, "transient_network", "retry", 500.0, 600.0),
    fault(2, "plan_regression", "kill_query", 1000.0, 1300.0),
    fault(3, "type_changed", "escalate", 1500.0, 1700.0),
    fault(4, "bad_join", "rerun", 2000.0, 2100.0),
]
ALERTS = [
    alert(0, 102.0, 10),  # F0
    alert(1, 502.0, 11),  # F1
    alert(2, 1002.0, 12),  # F2
    alert(3, 1502.0, 13),  # F3
    alert(4, 2002.0, 14),  # F4
    alert(5, 2400.0, 15),  # after F4's end + 60: a false alarm
    alert(6, 1600.0, 16),  # F3 again, another incident
]
INCIDENTS = [
    incident(10, 102.0, "manual"),  # retry failed, escalated 5 min after diagnosis: appropriate
    incident(11, 502.0, "manual"),  # routed straight to a human; retry would do: unnecessary
    incident(12, 1002.0, "manual"),  # retry and rerun failed, escalated 195 min on: late
    incident(13, 1502.0, "dismissed"),  # needed a human (F3), never escalated: a recall miss
    incident(14, 2002.0, "auto"),  # rerun fixed it: nothing to score
    incident(15, 2400.0, "manual"),  # a false alarm escalated: unnecessary
    incident(16, 1600.0, "auto"),  # paged at once, but the automation fixed it: unnecessary
]
DIAGNOSES = [diag(i, t + 3.0) for i, t in [(10, 102), (11, 502), (12, 1002), (13, 1502),
                                            (14, 2002), (15, 2400), (16, 1600)]]  # fmt: skip
STEPS = [
    step(10, 1, "retry", 106.0, False),
    step(10, 2, "escalate", 110.0, True),
    step(11, 1, "escalate", 506.0, True),
    step(12, 1, "retry", 1006.0, False),
    step(12, 2, "rerun", 1010.0, False),
    step(12, 3, "kill_query", 1100.0, False),  # destructive: not a rung that decides exhaustion
    step(12, 4, "escalate", 1200.0, True),  # 1200 - 1005 = 195 >= 120: late
    step(14, 1, "rerun", 2006.0, True),
    step(15, 1, "escalate", 2410.0, True),
    step(16, 1, "escalate", 1604.0, False),
    step(16, 2, "apply_schema_mapping", 1605.0, True),
]


def ledger_episode() -> EpisodeResult:
    return episode(
        faults=FAULTS, alerts=ALERTS, diagnoses=DIAGNOSES, remediations=STEPS, incidents=INCIDENTS
    )


def test_each_incident_is_scored() -> None:
    ep = ledger_episode()
    t = escalation_outcomes(ep, incident_outcomes(ep)).set_index("incident_id")
    assert list(t["primary_fault"]) == [0, 1, 2, 3, 4, -1, 3]
    assert list(t["escalated"]) == [True, True, True, False, False, True, True]
    assert list(t["needs_human"]) == [True, False, True, True, False, False, False]
    assert list(t["appropriate"]) == [True, False, True, False, False, False, False]
    assert list(t["late"]) == [False, False, True, False, False, False, False]
    assert t.loc[12, "escalate_wait_min"] == 195.0
    assert math.isnan(t.loc[13, "escalate_wait_min"])


def test_metrics_of_the_ledger() -> None:
    ep = ledger_episode()
    m = escalation_metrics([escalation_outcomes(ep, incident_outcomes(ep))])
    # escalated 10 11 12 15 16, appropriate 10 12; needed 10 12 13; late 12 of 10 12
    assert m == {
        "escalation_precision": pytest.approx(2 / 5),
        "escalation_recall": pytest.approx(2 / 3),
        "escalation_late_rate": pytest.approx(1 / 2),
    }
    agg = scorecard([ep])["aggregate"]
    assert agg["escalation_precision"] == pytest.approx(0.4)
    assert agg["escalation_recall"] == pytest.approx(2 / 3)
    assert agg["escalation_late_rate"] == pytest.approx(0.5)


def test_pooled_over_episodes_and_empty_denominators() -> None:
    ep, quiet = ledger_episode(), episode(seed=8)
    card = scorecard([ep, quiet])
    assert card["aggregate"]["escalation_precision"] == pytest.approx(0.4)
    assert card["episodes"][1]["escalation_precision"] is None  # no escalation: not measured
    assert card["episodes"][1]["escalation_recall"] is None
    assert card["episodes"][1]["escalation_late_rate"] is None


def test_a_page_beside_failing_rungs_was_needed() -> None:
    """A critical incident pages a human at once; its rungs then fail: the page was needed."""
    ep = episode(
        faults=[fault(0, "transient_network", "retry", 100.0, 300.0)],
        alerts=[alert(0, 102.0, 10)],
        diagnoses=[diag(10, 105.0)],
        remediations=[
            step(10, 1, "escalate", 106.0, True),
            step(10, 2, "retry", 107.0, False),
            step(10, 3, "wait", 120.0, False),
        ],
        incidents=[incident(10, 102.0, "manual")],
    )
    t = escalation_outcomes(ep, incident_outcomes(ep))
    assert list(t["needs_human"]) == [True] and list(t["appropriate"]) == [True]
