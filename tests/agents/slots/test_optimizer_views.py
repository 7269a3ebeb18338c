"""The views a deployed policy shares with training: route mask, SLA and cost optimizers."""

from __future__ import annotations

import numpy as np
import pytest

from agents.org import Organization, org_config
from agents.playbooks import ROUTES
from agents.records import Alert
from agents.slots.cost_optimizer import COST_FEATURES, SIZE_FACTORS, CostOptimizer
from agents.slots.route_mask import ALWAYS_ALLOWED, route_mask
from agents.slots.sla_optimizer import (
    FAMILIES,
    GRACE_MAX,
    SLA_ACTIONS,
    SLA_FEATURES,
    Z_MAX,
    Z_MIN,
    SlaOptimizer,
)
from agents.triage import Proposal
from envs.sim.world import World
from scenarios import load_scenario


def _org(name: str = "sc0003", days: float = 1.0) -> Organization:
    w = World(load_scenario(name), 0, days=days)
    return Organization(w, org_config("rules"), prime=False, allow_scaling=False)


def test_route_mask_always_allows_the_routes_that_touch_nothing():
    org = _org()
    warehouse_wide = Proposal("unknown", "unknown", -1, "escalate", 0.0, ())
    mask = route_mask(org.world, warehouse_wide)
    assert mask.dtype == bool and mask.shape == (len(ROUTES),)
    for r in ALWAYS_ALLOWED:
        assert mask[ROUTES.index(r)]
    # no target asset: nothing asset-specific can run
    for r in ("rerun", "backfill", "dedupe", "reprioritize"):
        assert not mask[ROUTES.index(r)]


def test_route_mask_refuses_scaling_a_full_warehouse():
    org = _org()
    w = org.world
    p = Proposal("unknown", "unknown", -1, "scale_warehouse", 0.0, ())
    assert route_mask(w, p)[ROUTES.index("scale_warehouse")]
    w.act("scale_warehouse", slots=w.warehouse.max_slots)
    w.run(until=w.now + 5.0)  # a resize takes 2 minutes
    assert not route_mask(w, p)[ROUTES.index("scale_warehouse")]


def test_sla_optimizer_moves_thresholds_one_step_within_bounds():
    org = _org("sc0001")
    opt = SlaOptimizer(org.monitor, org.world)
    obs = opt.observe()
    assert obs.shape == (len(SLA_FEATURES),) and obs.dtype == np.float32
    assert np.all((obs >= -1) & (obs <= 1))
    before = org.monitor.sensitivities
    opt.apply(np.full(len(SLA_ACTIONS), 2))
    after = org.monitor.sensitivities
    assert all(after[f] == min(Z_MAX, before[f] + 0.5) for f in before)
    for _ in range(20):
        opt.apply(np.zeros(len(SLA_ACTIONS), dtype=np.int64))
    assert all(v == Z_MIN for v in org.monitor.sensitivities.values())
    assert org.monitor.grace == 0.0
    for _ in range(20):
        opt.apply([2] * len(SLA_ACTIONS))
    assert org.monitor.grace == GRACE_MAX
    with pytest.raises(ValueError, match=r"sla action: expected 7 values in 0\.\.2"):
        opt.apply([1, 1])
    with pytest.raises(ValueError, match="sla action"):
        opt.apply([3] * len(SLA_ACTIONS))


def test_sla_optimizer_counts_the_alerts_of_the_last_period_and_day_in_any_order():
    org = _org("sc0001", days=3.0)
    w, mon = org.world, org.monitor
    opt = SlaOptimizer(mon, w, period_min=60.0)
    w.run(until=2 * 1440.0)
    rng = np.random.default_rng(0)
    signals = [*FAMILIES, "run_failure", "check_failure"]  # the last two are not counted

    def alert(t: float) -> Alert:
        s = signals[int(rng.integers(len(signals)))]
        return Alert(len(mon.alerts), t, 0, "a", "Source", s, 1.0, 0.0, "", -1, -1, 1)

    def naive(now: float) -> list[float]:  # the observation's definition, alert by alert
        day = [al for al in mon.alerts if al.t >= now - 1440.0]
        return [
            min(1.0, sum(al.signal == s and al.t >= now - span for al in day) / scale)
            for span, scale in ((60.0, 5.0), (1440.0, 20.0))
            for s in FAMILIES
        ]

    counts = [SLA_FEATURES.index(f"alerts_{p}_{s}") for p in ("period", "24h") for s in FAMILIES]
    for step in range(6):
        now = w.now
        # alerts in no particular time order, some older than a day, some right at the limits
        times = [now - 1440.0, now - 60.0, now, now - 3000.0, *rng.uniform(now - 2000, now, 40)]
        for t in rng.permutation(times):
            mon.alerts.append(alert(float(t)))
        obs = opt.observe()
        want = np.asarray(naive(now), dtype=np.float32)
        assert np.array_equal(obs[counts], want), step
        assert want.max() > 0
        w.run(until=now + 37.0)


def test_cost_optimizer_resizes_defers_and_reports_the_period():
    org = _org("sc0003")
    w = org.world
    opt = CostOptimizer(w, org.monitor)
    assert opt.observe().shape == (len(COST_FEATURES),)
    big = SIZE_FACTORS.index(2.0)
    opt.apply([big, 1])
    assert opt.defer and opt.observe()[COST_FEATURES.index("deferring")] == 1.0
    w.run(until=w.now + 60.0)
    assert w.warehouse.capacity == opt.size_for(big)  # a resize takes 2 minutes
    period_cost, breaches = opt.close_period()
    assert period_cost > 0 and breaches >= 0
    assert opt.observe()[COST_FEATURES.index("period_cost")] > 0
    with pytest.raises(ValueError, match="cost action: expected"):
        opt.apply([len(SIZE_FACTORS), 0])


def test_cost_optimizer_defers_around_assets_the_organization_already_reprioritized():
    # a remediation that moved a low-criticality asset to priority 2 must not make deferral
    # fail: the world refuses a reprioritize to the priority an asset already has
    org = _org("mixed")
    w = org.world
    low = [x for x in w.assets if x.spec.criticality == "low" and x.uses_slot]
    assert len(low) >= 2
    w.act("reprioritize", low[0].idx, priority=2)
    w.run(until=w.now + 5.0)
    assert low[0].priority == 2
    opt = CostOptimizer(w, org.monitor)
    opt.apply([SIZE_FACTORS.index(1.0), 1])
    w.run(until=w.now + 5.0)
    assert all(x.priority == 2 for x in low)
    opt.apply([SIZE_FACTORS.index(1.0), 0])
    w.run(until=w.now + 5.0)
    assert all(x.priority == 1 for x in low)
