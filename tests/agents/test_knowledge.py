from __future__ import annotations

import math
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from agents.knowledge import KnowledgeBase, ParetoRow, Pattern
from agents.records import IncidentSummary, RemediationStep
from tests.conftest import NAN, ROOT

REPO = ROOT
NOW = 10 * 1440.0  # weekly review at day 10: window [3 days, 10 days) = [4320, 14400)


def summary(i: int = 1, **kw: Any) -> IncidentSummary:
    base = IncidentSummary(
        incident_id=i,
        asset=0,
        asset_name="ingest_orders",
        layer="Ingestion",
        opened_at=100.0 + i,
        diagnosed_at=NAN,
        resolved_at=NAN,
        issue_type="late_arrival",
        severity="major",
        root_asset=-1,
        root_cause="",
        resolution="open",
        remediation_success=False,
        actions=(),
        alerts=1,
        fault_ids=(),
        classification_correct=None,
        time_to_resolution_min=NAN,
    )
    return base._replace(**kw)


def step(i: int, n: int, kind: str = "retry", **kw: Any) -> RemediationStep:
    base = RemediationStep(
        incident_id=i,
        step=n,
        action_id=100 * i + n,
        kind=kind,
        asset=0,
        asset_name="ingest_orders",
        params=(("attempts", 3), ("factor", 1.5), ("mode", "full")),
        issued_at=100.0 + i + n,
        done_at=NAN,
        outcome="fixed",
        verified=True,
        before="late 42 min",
        after="fresh",
        rollback_handle=-1,
        cost=0.25,
        reason="playbook rung 1",
    )
    return base._replace(**kw)


def assert_same(got: NamedTuple | None, want: NamedTuple) -> None:
    """Field by field, equal value and type (nan equals nan)."""
    assert got is not None and type(got) is type(want)
    for field, g, w in zip(want._fields, got, want, strict=True):
        both_nan = isinstance(w, float) and math.isnan(w) and isinstance(g, float) and math.isnan(g)
        assert both_nan or (g == w and type(g) is type(w)), (field, g, w)


# -- storage ----------------------------------------------------------------------------------


def test_round_trip_of_incident_and_steps() -> None:
    s = summary(
        7,
        diagnosed_at=110.5,
        resolved_at=130.0,
        root_asset=3,
        root_cause="expired_credentials",
        resolution="escalated",
        remediation_success=True,
        actions=("retry", "escalate"),
        alerts=4,
        fault_ids=(11, 12),
        classification_correct=True,
        time_to_resolution_min=23.0,
    )
    steps = [step(7, 1), step(7, 2, "escalate", verified=False, outcome="no_effect", params=())]
    with KnowledgeBase() as kb:
        kb.record_incident(s, steps, scenario="sc0001", seed=3, org="rules")
        assert_same(kb.incident(7, scenario="sc0001", seed=3, org="rules"), s)
        got = kb.steps(7, scenario="sc0001", seed=3, org="rules")
        assert len(got) == 2
        for g, w in zip(got, steps, strict=True):
            assert_same(g, w)
        assert kb.incident(7) is None  # another episode
        frame = kb.incidents_frame()
    assert list(frame.columns) == ["scenario", "seed", "org", *IncidentSummary._fields]
    row = frame.iloc[0]
    assert (row.scenario, row.seed, row.org, row.actions) == ("sc0001", 3, "rules", s.actions)


def test_open_incident_keeps_nan_and_unreviewed() -> None:
    with KnowledgeBase() as kb:
        kb.record_incident(summary(1), [])
        assert_same(kb.incident(1), summary(1))
        assert kb.steps(1) == []


def test_numpy_scalars_are_stored_as_plain_values() -> None:
    s = summary(np.int64(2), asset=np.int64(5), opened_at=np.float64(3.5), fault_ids=(np.int64(9),))
    with KnowledgeBase() as kb:
        kb.record_incident(s, [step(2, 1, asset=np.int64(5))])
        assert_same(kb.incident(2), summary(2, asset=5, opened_at=3.5, fault_ids=(9,)))
        assert kb.steps(2)[0].asset == 5


def test_rerecording_replaces_incident_and_steps() -> None:
    with KnowledgeBase() as kb:
        kb.record_incident(summary(1), [step(1, 1), step(1, 2), step(1, 3)], seed=4)
        kb.record_incident(summary(2), [step(2, 1)], seed=4)
        fixed = summary(1, resolution="auto", remediation_success=True, actions=("wait",))
        kb.record_incident(fixed, [step(1, 1, "wait")], seed=4)
        assert_same(kb.incident(1, seed=4), fixed)
        assert [s.kind for s in kb.steps(1, seed=4)] == ["wait"]
        assert len(kb.steps(2, seed=4)) == 1  # the other incident is untouched
        assert len(kb.incidents_frame()) == 2


def test_bad_steps_are_refused_and_nothing_is_written() -> None:
    with KnowledgeBase() as kb:
        with pytest.raises(ValueError, match="another incident"):
            kb.record_incident(summary(1), [step(2, 1)])
        with pytest.raises(ValueError, match="duplicate step"):
            kb.record_incident(summary(1), [step(1, 1), step(1, 1)])
        assert kb.incident(1) is None


def test_mark_reviewed_sets_classification_and_faults() -> None:
    with KnowledgeBase() as kb:
        kb.record_incident(summary(1), [], org="rules")
        kb.mark_reviewed(1, False, fault_ids=[4, 5], org="rules")
        got = kb.incident(1, org="rules")
        assert got is not None
        assert (got.classification_correct, got.fault_ids) == (False, (4, 5))
        kb.mark_reviewed(1, True, org="rules")
        got = kb.incident(1, org="rules")
        assert got is not None
        assert (got.classification_correct, got.fault_ids) == (True, (4, 5))
        with pytest.raises(KeyError, match="no incident 1"):
            kb.mark_reviewed(1, True)  # org "" is another episode


def test_file_is_in_wal_mode_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite"
    with KnowledgeBase(path) as kb:
        kb.record_incident(summary(1), [step(1, 1)])
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    con.close()
    with KnowledgeBase(path, synchronous="FULL") as kb:
        assert_same(kb.incident(1), summary(1))


def test_refuses_foreign_files_and_versions(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="not a knowledge base"):
        KnowledgeBase(junk)
    old = tmp_path / "old.sqlite"
    KnowledgeBase(old).close()
    with sqlite3.connect(old) as con:
        con.execute("UPDATE schema_version SET version = 99")
    con.close()
    with pytest.raises(ValueError, match="schema version 99, expected 1"):
        KnowledgeBase(old)
    with pytest.raises(ValueError, match="synchronous"):
        KnowledgeBase(synchronous="OFF")


# -- recurrence -------------------------------------------------------------------------------


def test_recurrence_counts_earlier_incidents_in_window() -> None:
    week = 7 * 1440.0
    with KnowledgeBase() as kb:
        for i, (asset, issue, t) in enumerate(
            [
                (0, "late_arrival", 0.0),  # at the window start: counted
                (0, "late_arrival", 5000.0),
                (0, "quality_anomaly", 9000.0),
                (0, "late_arrival", week - 1),
                (0, "late_arrival", week),  # at `before`: not earlier
                (1, "late_arrival", 9000.0),  # another asset
            ]
        ):
            kb.record_incident(summary(i, asset=asset, issue_type=issue, opened_at=t), [])
        kb.record_incident(summary(99, opened_at=5000.0), [], scenario="other")
        assert kb.recurrence(0, before=week) == 5
        assert kb.recurrence(0, "late_arrival", before=week) == 4
        assert kb.recurrence(0, "late_arrival", before=week, scenario="") == 3
        window = week - 4000.0  # [4000, week): 5000 (both scenarios), 9000, week - 1
        assert kb.recurrence(0, before=week, window_min=window) == 4
        assert kb.recurrence(0, before=week, window_min=window, scenario="", seed=0, org="") == 3
        assert kb.recurrence(0, before=week, window_min=window, seed=1) == 0
        assert kb.recurrence(0, "performance_degradation", before=week) == 0
        assert kb.recurrence(1, before=9000.0) == 0


def test_recurrence_query_uses_the_index(tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite"
    KnowledgeBase(path).close()
    con = sqlite3.connect(path)
    plan = con.execute(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM incidents "
        "WHERE asset = ? AND opened_at >= ? AND opened_at < ? AND issue_type = ?",
        (0, 0.0, 1.0, "late_arrival"),
    ).fetchall()
    con.close()
    assert "incidents_recurrence" in str(plan)


# -- learning and the weekly review on a crafted history ---------------------------------------

ASSETS = {0: "ingest_orders", 1: "ingest_customers", 2: "stg_orders", 3: "fct_sales", 4: "dash"}
# (asset, issue type, opened_at, actions, fixed, resolution, ttr, classification_correct)
HISTORY = [
    # in the window [4320, 14400)
    (0, "late_arrival", 5000, ("retry", "escalate"), True, "escalated", 90, True),
    (0, "late_arrival", 6000, ("retry", "escalate"), True, "escalated", 150, True),
    (0, "late_arrival", 7000, ("escalate",), True, "escalated", 60, True),
    (0, "late_arrival", 8000, ("retry",), False, "open", NAN, None),  # open, overdue
    (1, "late_arrival", 9000, ("retry",), True, "auto", 10, True),
    (2, "quality_anomaly", 9500, ("dedupe",), True, "auto", 20, True),
    (2, "quality_anomaly", 10000, ("dedupe",), True, "auto", 45, True),
    (2, "quality_anomaly", 11000, ("rerun",), True, "auto", 25, False),
    (3, "performance_degradation", 12000, ("kill_query",), True, "manual", 100, True),
    (4, "validation_failure", 13000, ("apply_schema_mapping",), True, "auto", 15, None),
    # before the window: learned from, not reviewed this week
    (0, "late_arrival", 1000, ("escalate",), True, "escalated", 200, True),
    (0, "late_arrival", 2000, ("retry",), False, "open", NAN, True),
    (1, "late_arrival", 100, ("wait",), True, "auto", 5, None),  # unreviewed: not learned
    (1, "late_arrival", 200, ("wait",), True, "auto", 5, None),
    (1, "late_arrival", 300, ("wait",), True, "auto", 5, None),
    (2, "quality_anomaly", 400, ("rerun",), True, "auto", 5, False),  # misclassified
    (2, "quality_anomaly", 500, ("rerun",), True, "auto", 5, False),
    # at `now`: after the window
    (0, "late_arrival", NOW, ("retry",), False, "open", NAN, None),
]


@pytest.fixture
def history() -> KnowledgeBase:
    kb = KnowledgeBase()
    for i, (asset, issue, t, actions, fixed, resolution, ttr, correct) in enumerate(HISTORY):
        s = summary(
            i,
            asset=asset,
            asset_name=ASSETS[asset],
            opened_at=float(t),
            issue_type=issue,
            actions=actions,
            remediation_success=fixed,
            resolution=resolution,
            time_to_resolution_min=float(ttr),
            resolved_at=t + ttr,
            classification_correct=correct,
        )
        kb.record_incident(s, [step(i, n + 1, kind) for n, kind in enumerate(actions)])
    return kb


def test_best_first_action_learns_from_reviewed_correct_incidents_only(
    history: KnowledgeBase,
) -> None:
    # retry was tried first twice and never fixed (the escalation did): escalate wins
    assert history.best_first_action(0, "late_arrival") == "escalate"
    # three unreviewed `wait` wins would beat the one reviewed `retry` win
    assert history.best_first_action(1, "late_arrival") == "retry"
    # three misclassified `rerun` wins would beat the two `dedupe` wins
    assert history.best_first_action(2, "quality_anomaly") == "dedupe"
    assert history.best_first_action(4, "validation_failure") is None  # never reviewed
    assert history.best_first_action(0, "quality_anomaly") is None
    history.mark_reviewed(9, True)
    assert history.best_first_action(4, "validation_failure") == "apply_schema_mapping"


def test_resolution_patterns(history: KnowledgeBase) -> None:
    assert history.resolution_patterns() == [
        Pattern("ingest_orders", "late_arrival", 5, 0.8, "escalate", 120.0, "escalate", 4),
        Pattern("stg_orders", "quality_anomaly", 2, 1.0, "dedupe", 32.5, "dedupe", 2),
        Pattern(
            "fct_sales", "performance_degradation", 1, 1.0, "kill_query", 100.0, "kill_query", 1
        ),
        Pattern("ingest_customers", "late_arrival", 1, 1.0, "retry", 10.0, "retry", 1),
    ]
    assert [p.asset_name for p in history.resolution_patterns(min_count=2)] == [
        "ingest_orders",
        "stg_orders",
    ]


def test_preventive_suggestions_name_the_fix_and_the_prevention(history: KnowledgeBase) -> None:
    assert history.preventive_suggestions() == [
        "ingest_orders: late_arrival recurred 5 times, 4 fixed only by escalation — "
        "rotate credentials on a schedule, alert before expiry",
        "stg_orders: quality_anomaly recurred 2 times, 2 fixed by dedupe — "
        "make the load idempotent (merge on batch id)",
    ]
    assert len(history.preventive_suggestions(top=1)) == 1


def test_weekly_review_20_80_and_sla(history: KnowledgeBase) -> None:
    review = history.weekly_review(NOW)
    assert (review.n_incidents, review.open_incidents) == (10, 1)
    assert review.issue_types == (
        ParetoRow("late_arrival", 5, 0.5, 0.5),
        ParetoRow("quality_anomaly", 3, 0.3, 0.8),
        ParetoRow("performance_degradation", 1, 0.1, 0.9),
        ParetoRow("validation_failure", 1, 0.1, 1.0),
    )
    assert review.vital_issue_types == ("late_arrival", "quality_anomaly")  # exactly 80%
    assert [(r.key, r.n_incidents) for r in review.assets] == [
        ("ingest_orders", 4),
        ("stg_orders", 3),
        ("dash", 1),
        ("fct_sales", 1),
        ("ingest_customers", 1),
    ]
    assert review.vital_assets == ("ingest_orders", "stg_orders", "dash")
    assert review.prevention == (
        "ingest_orders: late_arrival recurred 3 times, 3 fixed only by escalation — "
        "rotate credentials on a schedule, alert before expiry",
        "stg_orders: quality_anomaly recurred 2 times, 2 fixed by dedupe — "
        "make the load idempotent (merge on batch id)",
    )
    assert review.sla_autofix_met == pytest.approx(4 / 5)  # 45 min misses
    assert review.sla_manual_met == pytest.approx(3 / 5)  # 150 min and the overdue open miss
    assert history.reviews() == [review]
    assert review.review_id == 1


def test_weekly_review_of_an_empty_window(history: KnowledgeBase) -> None:
    review = history.weekly_review(NOW, scenario="unknown")
    assert (review.n_incidents, review.issue_types, review.vital_assets) == (0, (), ())
    assert math.isnan(review.sla_autofix_met) and math.isnan(review.sla_manual_met)
    assert [r.review_id for r in history.reviews()] == [1]


# -- crash safety -----------------------------------------------------------------------------


def crash_summary(i: int) -> IncidentSummary:
    """The incident the crash-test child writes as number ``i`` (the parent checks against it)."""
    return summary(
        i,
        asset=i % 7,
        asset_name=f"asset_{i % 7}",
        opened_at=i * 1.25,
        diagnosed_at=NAN if i % 3 else i * 1.25 + 2.0,
        issue_type=("late_arrival", "quality_anomaly")[i % 2],
        actions=("retry", "rerun", "escalate")[: 1 + i % 3],
        fault_ids=tuple(range(i % 4)),
        classification_correct=(None, True, False)[i % 3],
        time_to_resolution_min=i / 3,
    )


def crash_steps(i: int) -> list[RemediationStep]:
    return [step(i, n, before="x" * 500, reason=f"rung {n} of {i}") for n in range(1, 6)]


CHILD = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("knowledge_test", sys.argv[2])
tests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tests)
from agents.knowledge import KnowledgeBase

def stall_mid_transaction(sql):
    # the incident row is written, its steps are not, nothing is committed: tell the parent
    if sql.startswith("INSERT INTO actions"):
        print("mid-transaction", flush=True)
        time.sleep(60)

kb = KnowledgeBase(sys.argv[1])
for i in range(1_000_000):
    if i == tests.COMMITTED:
        kb._conn.set_trace_callback(stall_mid_transaction)
    kb.record_incident(tests.crash_summary(i), tests.crash_steps(i), scenario="crash", seed=1)
    print(i, flush=True)
"""
COMMITTED = 50


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_transaction_loses_no_committed_incident(tmp_path: Path) -> None:
    # Deterministic: the child commits COMMITTED incidents, reporting each, then stalls inside the
    # next incident's transaction and says so; the parent SIGKILLs it there.
    path = tmp_path / "kb.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), __file__],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        lines = []
        for line in child.stdout:
            lines.append(line.strip())
            if lines[-1] == "mid-transaction":
                break
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=10)
    finally:
        child.kill()
    assert lines == [*map(str, range(COMMITTED)), "mid-transaction"], err
    assert child.returncode == -signal.SIGKILL

    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()
    with KnowledgeBase(path) as kb:
        # every reported incident, intact; the one killed mid-transaction, not even in part
        assert kb.incidents_frame().incident_id.tolist() == list(range(COMMITTED))
        assert kb.steps(COMMITTED, scenario="crash", seed=1) == []
        for i in range(COMMITTED):
            assert_same(kb.incident(i, scenario="crash", seed=1), crash_summary(i))
            got = kb.steps(i, scenario="crash", seed=1)
            for g, want in zip(got, crash_steps(i), strict=True):
                assert_same(g, want)
