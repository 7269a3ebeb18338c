"""Simulator invariants under random scenarios, seeds and action sequences (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.sim.actions import ActionError
from envs.sim.actions import _state as audit_state
from envs.sim.ledger import partitions_table, summary
from envs.sim.records import BLOCKED, FAILED, PARTITION_STATES, QUARANTINED
from envs.sim.world import World
from scenarios import load_scenario
from scenarios.vocab import ACTION_KINDS

PARAMS = {
    "retry": st.fixed_dictionaries({}, optional={"attempts": st.integers(1, 4)}),
    "wait": st.fixed_dictionaries({"minutes": st.floats(1, 300)}),
    "scale_warehouse": st.fixed_dictionaries({"slots": st.integers(1, 40)}),
    "reprioritize": st.fixed_dictionaries({"priority": st.integers(0, 2)}),
    "rollback": st.fixed_dictionaries({"target": st.integers(0, 6)}),
    "quarantine": st.fixed_dictionaries({}, optional={"window": st.integers(1, 60)}),
}

action = st.tuples(
    st.floats(10, 600),  # minutes until the action
    st.sampled_from(ACTION_KINDS),
    st.integers(-1, 27),
).flatmap(lambda t: st.tuples(st.just(t), PARAMS.get(t[1], st.just({}))))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    name=st.sampled_from(["sc0001", "sc0002", "sc0003", "nofault", "mixed"]),
    seed=st.integers(0, 10**6),
    actions=st.lists(action, max_size=8),
)
def test_invariants_hold_under_random_actions(name, seed, actions):
    w = World(load_scenario(name), seed, days=2.5)
    t = w.scenario.spec.warmup_days * 1440.0
    refused = 0
    for (dt, kind, asset), params in actions:
        t = min(t + dt, w.horizon)
        w.run(until=t)
        try:
            w.act(kind, asset, **params)
        except ActionError as e:
            refused += 1
            assert str(e)  # a refusal always says why
    w.run()

    # the clock never goes back
    ends = [r.ended_at for r in w.log]
    assert ends == sorted(ends)
    assert all(r.started_at >= r.scheduled_at - 1e-9 or r.trigger != "schedule" for r in w.log)
    assert all(r.ended_at >= r.started_at for r in w.log)
    assert all(a.done_at >= a.issued_at for a in w.actions)
    # costs are non-negative
    assert all(r.cost >= 0 for r in w.log)
    assert all(a.cost >= 0 and a.human_min >= 0 for a in w.actions)
    assert w.warehouse.cost >= 0
    # no partition is lost: every due window has a known final state, and the summary counts it
    parts = partitions_table(w)
    assert set(parts["state"]) <= set(PARTITION_STATES)
    s = summary(w)
    assert sum(s["partitions_by_state"].values()) == s["partitions"] == len(parts)
    never = parts[parts["state"] == "pending"]
    assert (never["sla_breached"] | (never["deadline"] >= w.now)).all()  # missing = flagged
    # every fault ends resolved or open-and-counted; resolution implies a clean state
    started = [f for f in w.faults if f.started]
    assert s["faults"] == len(started)
    assert s["faults_open"] == sum(1 for f in started if not f.resolved)
    for f in started:
        if f.resolved:
            assert not f.active and not f.damage
            assert f.resolved_at >= f.onset
            assert f.resolved_by in ("agent", "human", "self")
        for key in f.damage:
            assert f.fid in w.window_faults[key]
    # exposures are well-formed intervals
    for _fid, _ai, _k, start, end in w.exposures:
        assert math.isnan(end) or end >= start
    # the audit trail's view of an asset counts its written windows (without passing over them)
    for a in w.assets:
        assert a.check_failures == {k for k, r in a.records.items() if r.failed_checks}
        written = [(a.state[k], r) for k, r in a.records.items()]
        counts = (
            f"failed={sum(s == FAILED for s, _ in written)} "
            f"blocked={sum(s == BLOCKED for s, _ in written)} "
            f"quarantined={sum(s == QUARANTINED for s, _ in written)} "
            f"failing_checks={sum(bool(r.failed_checks) and s != QUARANTINED for s, r in written)}"
        )
        assert f"delivered_through={a.done_until} {counts}" in audit_state(w, a)
