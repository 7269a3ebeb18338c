"""The Cost Optimizer's waste finder and cost measures on hand-made run logs, worked out by hand."""

from __future__ import annotations

import pytest

from agents.ideal.cost_report import EpisodeCost, Replay, cost_metrics
from agents.ideal.waste import (
    added_wait_min,
    episode_waste,
    idle_waste,
    recommend_size,
    run_waste,
    waste_by_kind,
)
from envs.sim.records import FAILED, OK, RunRecord


def run(rid, asset, window, attempt, trigger, start, end, status="success", *, cost=1.0,
        rows=100, err="", state=OK, ready=None):  # fmt: skip
    return RunRecord(
        rid, asset, window, attempt, trigger, start, start, end, status, rows, (0.0,), 0.0, 1,
        5.0, 1.0, cost, (), state if status == "success" else FAILED, err, "",
        start if ready is None else ready,
    )  # fmt: skip


LOG = [
    run(1, 0, 0, 0, "schedule", 0.0, 10.0),  # ok
    run(2, 0, 0, 1, "rerun", 20.0, 30.0, cost=2.0),  # same output as run 1: redundant (2.0)
    run(3, 0, 1, 0, "schedule", 60.0, 70.0, rows=50),  # ok, short volume
    run(4, 0, 1, 1, "backfill", 80.0, 90.0, cost=3.0),  # rows 100 != 50: it changed something
    run(5, 1, 0, 0, "schedule", 0.0, 1.0, "failed", cost=0.5, err="ConnectionError"),
    run(6, 1, 0, 1, "auto_retry", 5.0, 6.0, "failed", cost=0.5, err="ConnectionError"),  # repeat
    run(7, 1, 0, 2, "retry", 9.0, 10.0, "failed", cost=0.5, err="SourceTimeout"),  # new error
    run(8, 1, 1, 0, "schedule", 60.0, 61.0, "failed", cost=0.5, err="AuthError"),
    run(9, 1, 1, 1, "retry", 70.0, 71.0, "failed", cost=0.25, err="HTTP503"),  # new, retryable
    run(10, 1, 2, 1, "retry", 120.0, 121.0, "failed", cost=0.25, err="AuthError"),  # never retry
    run(11, 0, 2, 0, "schedule", 120.0, 160.0, "killed", cost=4.0),  # 40 min vs median 10
]


def test_run_waste_finds_each_kind() -> None:
    items = run_waste(LOG)
    assert [(i.kind, i.run_id, i.cost, i.saving) for i in items] == [
        ("futile_retry", 6, 0.5, 0.5),
        ("redundant_rerun", 2, 2.0, 2.0),
        ("futile_retry", 10, 0.25, 0.25),
        ("killed_run", 11, 4.0, pytest.approx(4.0 * (40.0 - 20.0) / 40.0)),  # kill at 2x10 min
    ]


def test_repacking_onto_fewer_slots() -> None:
    # three 30-minute runs all ready at 0 on one slot each; on 2 slots the third waits 30 min
    log = [run(i, 0, i, 0, "schedule", 0.0, 30.0) for i in range(3)]
    assert added_wait_min(log, [True], 3) == 0.0
    assert added_wait_min(log, [True], 2) == 30.0
    assert added_wait_min(log, [False], 1) == 0.0  # runs outside the warehouse hold no slot
    assert recommend_size(log, [True], 3) == 3  # 2 slots would add 30 > 10 minutes
    short = [run(i, 0, i, 0, "schedule", 0.0, 6.0) for i in range(3)]
    assert recommend_size(short, [True], 3) == 2  # on 1 slot the third waits 12 min, on 2: 6


def test_idle_slots_and_the_episode_total() -> None:
    # 8 slots for 24 h = 192 slot-hours; 3 recommended: 120 slot-hours idle at 2.0 = 240
    assert idle_waste(192.0, 24.0, 3, 2.0).cost == 240.0
    assert idle_waste(60.0, 24.0, 3, 2.0).cost == 0.0  # below the recommendation: none
    items = episode_waste(
        LOG, recommended_slots=3, provisioned_slot_hours=192.0, hours=24.0, price=2.0
    )
    by = waste_by_kind(items)
    assert by["idle_slots"] == (1, 240.0, 240.0)
    assert by["futile_retry"] == (2, 0.75, 0.75)
    assert by["peak_low_priority"] == (0, 0.0, 0.0)
    assert sum(i.cost for i in items) == 240.0 + 0.75 + 2.0 + 4.0


def test_cost_measures_are_means_per_episode() -> None:
    a = EpisodeCost(1, 7.0, idle_items(100.0), 8, 6, Replay(500.0, 2, 1.0), Replay(400.0, 2, 1.0))
    b = EpisodeCost(2, 7.0, idle_items(50.0), 8, 8, Replay(500.0, 3, 1.0), Replay(500.0, 3, 1.0))
    assert cost_metrics([a, b]) == {
        "waste_cost": 75.0,
        "waste_saving_replayed": 50.0,  # (100 + 0) / 2
        "waste_replay_breach_delta": 0.0,
    }


def idle_items(cost: float):
    return [idle_waste(cost / 2.0 + 24.0 * 3, 24.0, 3, 2.0)]
