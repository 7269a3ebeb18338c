"""RCA deep dives on hand-made incident records and run logs, every figure worked out below."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from agents.ideal.deep_dive import deep_dives, dive_metrics, dive_scores
from agents.records import IncidentSummary
from envs.sim.records import FAILED, OK, RunRecord
from scenarios import load_scenario
from tests.agents.scoring.test_scorecard import episode, fault
from tests.conftest import NAN

PIPE = load_scenario("sc0001").pipeline  # 6 ingest_pos_transactions <- 0 pos_transactions
INGEST, SOURCE = 6, 0


def incident(iid: int, asset: int, opened: float, cause: str) -> IncidentSummary:
    return IncidentSummary(
        iid, asset, PIPE.assets[asset].name, "Ingestion", opened, opened + 5.0, NAN,
        "late_arrival", "major", asset, cause, "manual", True, (), 1, (), None, NAN,
    )  # fmt: skip


def run(rid: int, asset: int, window: int, end: float, status: str = "success", err: str = ""):
    return RunRecord(
        rid, asset, window, 0, "schedule", end - 1.0, end - 1.0, end, status, 100, (0.0,), 0.0, 1,
        5.0, 1.0, 0.1, (), OK if status == "success" else FAILED, err, "", end - 1.0,
    )  # fmt: skip


def test_a_recurring_issue_opens_one_dive_with_the_teams_answers() -> None:
    incs = [
        incident(1, INGEST, 100.0, "transient_failure"),
        incident(2, INGEST, 400.0, "transient_failure"),  # 2nd: the dive opens at 405
        incident(3, INGEST, 700.0, "transient_failure"),  # same issue: no second dive
        incident(4, 7, 500.0, "transient_failure"),  # another asset, once: no dive
    ]
    log = [
        run(1, INGEST, 2, 100.0, "failed", "AuthError"),  # the error says credentials
        run(2, INGEST, 2, 110.0),
        run(3, SOURCE, 2, 90.0),
    ]
    (d,) = deep_dives(incs, log, PIPE)
    assert (d.root_asset, d.cause_class, d.incident_ids) == (INGEST, "transient_failure", (1, 2))
    assert d.root_cause == "expired_credentials" and d.kind == "escalate"
    # two teams: data-platform (its one asset) and store-systems (the source): 20 + 10 each
    assert sorted(a.team for a in d.answers) == ["data-platform", "store-systems"]
    assert d.opened_at == 405.0 and d.recommended_at == 405.0 + 30.0
    own = next(a for a in d.answers if a.team == "data-platform")
    assert own.failures == {"AuthError": 1} and own.recovery_min == 10.0


def test_late_data_is_told_apart_by_how_fast_it_came_back() -> None:
    incs = [
        incident(1, INGEST, 100.0, "upstream_outage"),
        incident(2, INGEST, 300.0, "upstream_outage"),
    ]
    quick = [run(1, INGEST, 2, 100.0, "failed", "HTTP503"), run(2, INGEST, 2, 120.0)]
    slow = [run(1, INGEST, 2, 100.0, "failed", "HTTP503"), run(2, INGEST, 2, 200.0)]
    assert deep_dives(incs, quick, PIPE)[0].root_cause == "transient_network"  # back in 20 min
    assert deep_dives(incs, slow, PIPE)[0].root_cause == "source_outage"  # 100 min
    assert deep_dives(incs[:1], slow, PIPE) == []  # once is not a recurrence


def test_scores_against_the_ledger() -> None:
    incs = [
        incident(1, INGEST, 100.0, "upstream_outage"),
        incident(2, INGEST, 300.0, "upstream_outage"),
    ]
    dives = deep_dives(
        incs, [run(1, INGEST, 2, 100.0, "failed", "HTTP503"), run(2, INGEST, 2, 200.0)], PIPE
    )
    ep = episode(faults=[
        fault(0, "late_arrival", "source_outage", INGEST, 90.0, (INGEST,), 95.0, 250.0, "human"),
        fault(1, "late_arrival", "transient_network", INGEST, 290.0, (INGEST,), 295.0, 320.0,
              "agent"),
    ])  # fmt: skip
    truth = pd.DataFrame({"incident_id": [1, 2], "primary_fault": [0, 1]})
    (row,) = dive_scores(dives, ep, truth)
    # a tie (one of each): the earliest incident's cause, source_outage
    assert row == {"true_root_cause": "source_outage", "correct": 1.0,
                   "time_to_recommendation_min": 30.0}  # fmt: skip
    wrong = dict(row, correct=0.0, time_to_recommendation_min=50.0)
    assert dive_metrics([row, wrong]) == {
        "deep_dive_cause_accuracy": 0.5,
        "deep_dive_time_to_recommendation_p50_min": pytest.approx(40.0),
    }
    assert all(math.isnan(v) for v in dive_metrics([]).values())


def test_slow_runs_everywhere_point_at_the_warehouse() -> None:
    """Slow queries on one asset, but every warehouse run slowed since: undersized warehouse."""
    stg = next(i for i, a in enumerate(PIPE.assets) if a.layer == "Transformation")
    incs = [incident(1, stg, 1500.0, "slow_query"), incident(2, stg, 1800.0, "slow_query")]
    slot_assets = [i for i, a in enumerate(PIPE.assets) if a.slots > 0][:4]
    log, rid = [], 0
    for a in slot_assets:
        for k, end in enumerate((600.0, 900.0, 1200.0, 1600.0, 1700.0), start=1):
            rid += 1
            r = run(rid, a, k, end)
            log.append(r._replace(started_at=end - (4.0 if end > 1500 else 1.0)))  # 4x slower
    (d,) = deep_dives(incs, log, PIPE)
    wide = next(a for a in d.answers if a.team == "warehouse")
    assert wide.slow_share == 1.0 and d.root_cause == "undersized_warehouse"
    assert d.kind == "preventive"
    own = deep_dives(incs, [r for r in log if r.asset == stg or r.ended_at < 1500], PIPE)
    assert own[0].root_cause == "plan_regression"  # only its own runs slowed, rows unchanged
