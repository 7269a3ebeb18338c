"""Each action does what its docstring says, including undo and root-cause-dependent success."""

from __future__ import annotations

import math

import pytest

from envs.sim.actions import ActionError, allowed
from envs.sim.actions import _state as audit_state
from envs.sim.oracle import verify
from envs.sim.records import BLOCKED, FAILED, QUARANTINED, WARN
from envs.sim.world import World

T0 = 24 * 60.0


def _asset(w: World, layer: str, pred=lambda a: True):
    return next(a for a in w.assets if a.layer == layer and pred(a))


def _failed(w: World, a) -> list[int]:
    return [k for k in a.records if a.state[k] == FAILED]


def _settle(w: World, aid: int) -> None:
    w.env.run(until=w.action_procs[aid])


def test_retry_fixes_a_transient_failure(quiet_world):
    w = quiet_world()
    a = _asset(w, "Ingestion")
    f = w.inject("transient_network", a.idx, T0)
    w.run(until=T0 + 70)
    assert _failed(w, a)
    aid = w.act("retry", a.idx)
    _settle(w, aid)
    assert not _failed(w, a)
    assert f.resolved and f.resolved_by == "agent" and f.resolving_action == aid
    v = verify(w, f.fid)
    assert v.success and v.open_damage == 0
    rec = w.actions[-1]
    assert rec.outcome == "fixed" and rec.cost > 0 and rec.fault_ids == (f.fid,)
    assert "failed=1" in rec.before and "failed=0" in rec.after


def test_retry_cannot_fix_expired_credentials_but_escalation_does(quiet_world):
    w = quiet_world()
    a = _asset(w, "Ingestion")
    f = w.inject("expired_credentials", a.idx, T0)
    w.run(until=T0 + 70)
    aid = w.act("retry", a.idx, attempts=3, backoff_min=2)
    _settle(w, aid)
    assert w.actions[-1].outcome == "failed" and not f.resolved
    assert f.active
    aid = w.act("escalate", a.idx)
    _settle(w, aid)
    rec = w.actions[-1]
    assert rec.human_min > 0 and rec.cost > 0
    if rec.outcome == "failed":  # the human got it wrong (fix_success_prob); a second try
        _settle(w, w.act("escalate", a.idx))
    w.run(until=w.now + 180)
    assert f.resolved and f.resolved_by == "human"
    assert verify(w, f.fid).success


def test_retry_during_an_outage_fails_and_waiting_past_it_succeeds(quiet_world):
    w = quiet_world()
    src = next(a for a in w.assets if a.layer == "Source" and a.downs)
    ing = next(d for d in src.downs if d.layer == "Ingestion")
    f = w.inject("source_outage", src.idx, T0, magnitude=3.0)  # ~270 min outage
    w.run(until=T0 + 130)
    assert _failed(w, ing)
    r = w.act("retry", ing.idx, attempts=1)
    _settle(w, r)
    assert w.actions[-1].outcome == "failed" and f.active
    wait = max(1.0, f.natural_end - w.now + 5)
    r = w.act("wait", ing.idx, minutes=wait)
    _settle(w, r)
    assert not f.active
    assert not _failed(w, ing)
    assert f.resolved and f.resolving_action == r


def test_dedupe_fixes_a_replayed_load(quiet_world):
    w = quiet_world()
    a = _asset(w, "Ingestion")
    f = w.inject("replayed_load", a.idx, T0)
    w.run(until=T0 + 70)
    assert f.damage
    fixed = False
    for _ in range(3):  # succeeds with probability 0.95 each time
        _settle(w, w.act("dedupe", a.idx))
        if f.resolved:
            fixed = True
            break
    assert fixed
    assert all(rec.duplicate_rate < 0.02 for k, rec in a.records.items() if k * a.every >= T0)


def test_dedupe_of_a_grain_change_deletes_valid_rows_until_a_human_fixes_it(quiet_world):
    # the keys repeat because the producer changed the grain: every row is valid, so a dedupe is
    # data loss (collateral on each window it touched) and fixes nothing; the owner's fix does
    w = quiet_world()
    a = _asset(w, "Ingestion")
    f = w.inject("grain_change", a.idx, T0)
    w.run(until=T0 + 130)
    windows = {k for ai, k in f.damage if ai == a.idx}
    assert len(windows) >= 2 and f.active  # every partition since the change, not one
    assert all(a.records[k].duplicate_rate >= 0.1 for k in windows)
    aid = w.act("dedupe", a.idx)
    _settle(w, aid)
    assert w.actions[-1].outcome == "collateral" and f.active and not f.resolved
    deleted = {c[2] for c in w.collateral if c[0] == aid and c[3] == "deleted_valid_rows"}
    assert windows <= deleted  # (and any window written during its ten minutes)
    v = verify(w, f.fid)
    assert not v.clean and any("deleted_valid_rows" in d for d in v.open_collateral)
    for _ in range(3):  # a human's fix succeeds with the scenario's fix_success_prob
        _settle(w, w.act("escalate", a.idx))
        if f.resolved:
            break
    assert f.resolved and f.resolved_by == "human"
    assert all(c[5] == c[5] for c in w.collateral if c[0] == aid)  # the reload cleared them


@pytest.mark.parametrize(("variant", "lo", "hi"), [("full", 0.45, 0.5), ("partial", 0.1, 0.45)])
def test_a_replay_duplicates_a_whole_batch_or_part_of_one(quiet_world, variant, lo, hi):
    w = quiet_world()
    a = _asset(w, "Ingestion")
    f = w.inject("replayed_load", a.idx, T0, variant=variant)
    assert f.params["variant"] == variant and lo <= f.params["dup_add"] <= hi
    assert f.params["vol_factor"] == pytest.approx(1.0 / (1.0 - f.params["dup_add"]))


def test_dedupe_needs_duplicates_so_it_cannot_stand_in_for_a_wait(quiet_world):
    # a failed ingestion holds nothing to deduplicate: dedupe is refused (and masked for a
    # learned route), not a ten-minute pause followed by a rerun
    w = quiet_world()
    a = _asset(w, "Ingestion")
    w.inject("transient_network", a.idx, T0)
    w.run(until=T0 + 70)
    assert _failed(w, a)
    assert not allowed(w, "dedupe", a.idx)
    with pytest.raises(ActionError, match="no partition with duplicates"):
        w.act("dedupe", a.idx)
    b = _asset(w, "Ingestion", lambda x: x is not a)
    w.inject("replayed_load", b.idx, w.now)
    w.run(until=w.now + 70)
    assert allowed(w, "dedupe", b.idx)


def test_a_mapping_cannot_convert_a_retyped_column(quiet_world):
    w = quiet_world()
    a = _asset(w, "Ingestion")
    f = w.inject("type_changed", a.idx, T0)
    w.run(until=T0 + 70)
    aid = w.act("apply_schema_mapping", a.idx)
    _settle(w, aid)
    assert w.actions[-1].outcome == "collateral" and not f.resolved
    assert [g for g in w.faults if g.caused_by_action == aid]


def test_dedupe_rarely_fixes_a_bad_join_but_rerun_does(quiet_world):
    outcomes = []
    for seed in range(6):
        w = quiet_world(seed)
        a = _asset(w, "Transformation", lambda a: len(a.ups) >= 2)
        f = w.inject("bad_join", a.idx, T0)
        w.run(until=T0 + 100)
        _settle(w, w.act("dedupe", a.idx))
        dedupe_ok = f.resolved
        if not dedupe_ok:
            _settle(w, w.act("rerun", a.idx))
            if not f.resolved:
                _settle(w, w.act("rerun", a.idx))
        outcomes.append((dedupe_ok, f.resolved))
    assert sum(d for d, _ in outcomes) <= 3
    assert all(r for _, r in outcomes)


def test_unwarranted_schema_mapping_is_collateral_and_rollback_clears_it(quiet_world):
    w = quiet_world()
    a = _asset(w, "Transformation")
    w.run(until=T0)
    aid = w.act("apply_schema_mapping", a.idx)
    _settle(w, aid)
    rec = w.actions[-1]
    assert rec.outcome == "collateral"
    induced = [f for f in w.faults if f.caused_by_action == aid]
    assert len(induced) == 1 and induced[0].active
    w.run(until=w.now + 120)
    assert any(max(r.null_rates) > 0.3 for r in w.log if r.asset == a.idx and r.started_at > T0)
    undo = w.act("rollback", target=aid)
    _settle(w, undo)
    assert induced[0].resolved and not a.mapping
    assert w.actions[-1].outcome in ("undone", "fixed")
    with pytest.raises(ActionError, match="already undone"):
        w.act("rollback", target=aid)


def test_quarantine_withholds_and_rollback_restores(quiet_world):
    w = quiet_world()
    a = (
        _asset(w, "Delivery", lambda a: a.every == 60)
        if any(x.layer == "Delivery" and x.every == 60 for x in w.assets)
        else _asset(w, "Warehouse")
    )
    w.run(until=T0)
    k = max(a.records)
    before = a.state[k]
    aid = w.act("quarantine", a.idx, window=k)
    _settle(w, aid)
    assert a.state[k] == QUARANTINED
    assert w.actions[-1].outcome == "collateral"  # it was clean data
    assert any(c[0] == aid and math.isnan(c[5]) for c in w.collateral)
    _settle(w, w.act("rollback", target=aid))
    assert a.state[k] == before
    assert all(not math.isnan(c[5]) for c in w.collateral if c[0] == aid)


def test_block_downstream_stops_consumers_until_undone(quiet_world):
    w = quiet_world()
    a = _asset(w, "Ingestion", lambda a: bool(a.downs))
    w.run(until=T0)
    aid = w.act("block_downstream", a.idx)
    _settle(w, aid)
    d = a.downs[0]
    n = len([r for r in w.log if r.asset == d.idx])
    w.run(until=w.now + 240)
    assert len([r for r in w.log if r.asset == d.idx]) == n
    _settle(w, w.act("rollback", target=aid))
    w.run(until=w.now + 60)
    assert len([r for r in w.log if r.asset == d.idx]) > n


def test_scale_warehouse_fixes_undersized_warehouse_and_costs_more(quiet_world):
    w = quiet_world()
    a = _asset(w, "Warehouse")
    f = w.inject("undersized_warehouse", a.idx, T0)
    w.run(until=T0 + 60)
    slots = w.warehouse.capacity
    aid = w.act("scale_warehouse", slots=2 * slots)
    _settle(w, aid)
    assert w.warehouse.capacity == 2 * slots
    assert f.resolved or f.active  # success is drawn with probability 0.95
    c1 = w.warehouse.cost
    w.run(until=w.now + 60)
    assert w.warehouse.cost - c1 == pytest.approx(2 * slots * 2.0, rel=1e-6)
    _settle(w, w.act("rollback", target=aid))
    assert w.warehouse.capacity == slots


def test_kill_query_ends_a_noisy_neighbor(quiet_world):
    w = quiet_world()
    a = _asset(w, "Warehouse")
    f = w.inject("noisy_neighbor", a.idx, T0)
    w.run(until=T0 + 10)
    assert allowed(w, "kill_query", -1)
    for _ in range(3):
        _settle(w, w.act("kill_query"))
        if not f.active:
            break
    assert not f.active and f.resolved
    assert not allowed(w, "kill_query", -1)


def test_killing_a_healthy_query_is_collateral(quiet_world):
    w = quiet_world()
    w.run(until=T0)
    while True:
        running = [a for a in w.assets if a.running]
        if running:
            break
        w.run(until=w.now + 1)
    a = running[0]
    k = next(iter(a.running))
    aid = w.act("kill_query", a.idx)
    _settle(w, aid)
    assert w.actions[-1].outcome == "collateral"
    assert a.state[k] == FAILED
    _settle(w, w.act("retry", a.idx))
    assert all(not math.isnan(c[5]) for c in w.collateral if c[0] == aid)


@pytest.mark.parametrize(
    ("kind", "asset", "params", "match"),
    [
        ("teleport", 0, {}, "unknown action"),
        ("retry", 999, {}, "out of range"),
        ("retry", 0, {}, "no failed or blocked partition"),
        ("rerun", 0, {}, "is a Source"),
        ("scale_warehouse", -1, {"slots": 10_000}, "expected 1"),
        ("scale_warehouse", -1, {}, "needs slots"),
        ("reprioritize", 8, {"priority": 7}, "expected 0"),
        ("rollback", -1, {"target": 0}, "no action 0"),
        ("wait", 6, {"minutes": "soon"}, "expected a number"),
        ("retry", 6, {"tries": 2}, "takes no parameter 'tries'"),
        ("kill_query", -1, {}, "no external workload"),
    ],
)
def test_refused_actions_name_what_is_wrong_and_change_nothing(
    quiet_world, kind, asset, params, match
):
    w = quiet_world()
    w.run(until=T0)
    n_actions, n_log = len(w.book.kinds), len(w.log)
    with pytest.raises(ActionError, match=match):
        w.act(kind, asset, **params)
    assert len(w.book.kinds) == n_actions and len(w.log) == n_log


def _audit_counts(a) -> str:
    """The audit trail's partition counts of ``a`` by their definition: a pass over its records."""
    written = [(a.state[k], r) for k, r in a.records.items()]
    n_checks = sum(bool(r.failed_checks) and s != QUARANTINED for s, r in written)
    return (
        f"failed={sum(s == FAILED for s, _ in written)} "
        f"blocked={sum(s == BLOCKED for s, _ in written)} "
        f"quarantined={sum(s == QUARANTINED for s, _ in written)} failing_checks={n_checks}"
    )


def test_audit_counts_follow_reruns_quarantines_and_rollbacks(quiet_world):
    """A clean rerun clears a window's failing checks; a rollback restores the quarantined state."""
    w = quiet_world()
    w.inject("source_nulls", "ingest_ecommerce_orders", at=T0)
    w.run(until=T0 + 260)
    ing, stg = w.asset("ingest_ecommerce_orders"), w.asset("stg_orders")
    assert {25, 26} <= stg.check_failures  # the nulls failed stg_orders' checks
    q = w.act("quarantine", stg.idx, window=25)
    _settle(w, q)
    w.end_cause(w.faults[-1])
    for a in (ing, stg):
        _settle(w, w.act("backfill", a.idx, start=24, end=27))
    assert not {25, 26} & stg.check_failures  # clean reruns replaced the failing records
    _settle(w, w.act("rollback", target=q))  # window 25's quarantined state comes back
    # the restored state is the failing one, the record in force the clean rerun's
    assert stg.state[25] in (WARN, BLOCKED) and not stg.records[25].failed_checks
    for a in w.assets:
        assert a.check_failures == {k for k, r in a.records.items() if r.failed_checks}
        assert _audit_counts(a) in audit_state(w, a)
