"""A window the organization's own kill_query cancelled as collateral is re-executed, not left."""

from __future__ import annotations

import math

from agents.incidents import Incident
from agents.remediation import AutoRemediation
from envs.sim.world import World
from scenarios import load_scenario

SEED = 1_000_000


def _kill_a_healthy_query(seed: int) -> tuple[World, Incident, int]:
    """A world without faults; on day 1 the playbook kills a healthy model's running query."""
    w = World(load_scenario("nofault"), seed, days=3.0)
    target = w.asset("int_orders_customers").idx
    inc = Incident(1, 1440.0)
    inc.assets = {target}
    rem = AutoRemediation(w)

    def playbook():
        yield w.env.timeout(1440.0)
        yield from rem.run(inc, [("kill_query", {})], target, {target})

    w.env.process(playbook())
    w.run()
    return w, inc, target


def test_a_window_killed_as_collateral_is_rerun_and_delivered():
    w, inc, target = _kill_a_healthy_query(SEED)
    (coll,) = w.collateral  # the kill cancelled a healthy query: collateral, on one window
    aid, asset, k, what, _, cleared = coll
    assert (asset, what) == (target, "killed_healthy")
    runs = [r for r in w.log if r.asset == target and r.window == k]
    assert [r.status for r in runs] == ["killed", "success"]
    assert runs[1].trigger == "retry" and not math.isnan(cleared)  # repaired, damage cleared
    assert w.assets[target].done_until >= k  # delivered: downstream no longer waits on it
    kinds = [(s.kind, s.outcome) for s in inc.steps]
    assert kinds == [("kill_query", "collateral"), ("retry", "mitigated")]
    assert f"repair collateral of action {aid}" in inc.steps[1].reason
    # nothing downstream stalls: every asset ran its last windows of the run
    last = {r.asset: r.ended_at for r in w.log}
    assert all(t > w.horizon - 1440.0 for t in last.values())


def test_the_repair_is_deterministic():
    a, inc_a, _ = _kill_a_healthy_query(SEED)
    b, inc_b, _ = _kill_a_healthy_query(SEED)
    assert a.collateral == b.collateral and inc_a.steps == inc_b.steps
