"""The organization end to end: determinism, detection, triage, guardrails, no silent failures."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.incidents import Incident
from agents.org import Organization, org_config
from agents.scoring.scorecard import METRIC_NAMES, scorecard
from agents.slots.runner import run_episode
from agents.triage import Proposal
from envs.sim.faults import Fault
from envs.sim.world import World
from scenarios import load_scenario
from scenarios.vocab import ACTION_KINDS, DESTRUCTIVE_ACTIONS

T0 = 24 * 60.0


def _quiet(days: float = 3.0, seed: int = 0) -> World:
    return World(load_scenario("nofault"), seed, days=days)


def _ingestion(w: World) -> str:
    return next(a.name for a in w.assets if a.layer == "Ingestion")


def test_same_seed_same_organization_records():
    sc = load_scenario("sc0002")
    _, a = run_episode(sc, 1_000_001, "rules", days=3)
    _, b = run_episode(sc, 1_000_001, "rules", days=3)
    # repr: NaN fields (open incidents) compare unequal to themselves
    assert repr(a.alerts) == repr(b.alerts)
    assert repr(a.diagnoses) == repr(b.diagnoses)
    assert repr(a.remediations) == repr(b.remediations)
    assert repr(a.incidents) == repr(b.incidents)
    assert a.alerts, "a quality scenario must raise alerts"


@pytest.mark.parametrize(
    ("cause", "variant", "issue_type", "route", "seed"),
    [
        ("transient_network", "plain", "late_arrival", "retry", 0),
        # a proxy blip answers 403: retried (by the proxy's text or as a bare 403) and fixed
        ("transient_network", "proxy_auth", "late_arrival", "retry", 0),
        ("expired_credentials", "direct", "late_arrival", "escalate", 0),
        # behind the proxy the rules cannot tell a credential from a blip: one retry, then a human
        ("expired_credentials", "proxy", "late_arrival", "retry", 0),
        ("replayed_load", "full", "quality_anomaly", "dedupe", 0),
        # fewer repeated keys at a load: a partial replay or a grain change, so a backfill, which
        # clears a replay and deletes nothing valid (a grain change then goes to its owner)
        ("replayed_load", "partial", "quality_anomaly", "backfill", 0),
        ("grain_change", None, "quality_anomaly", "backfill", 0),
        # the schema test's message names the rename (world seed 5): mapped back
        ("column_renamed", None, "validation_failure", "apply_schema_mapping", 5),
        # it names nothing (seed 0): a retype is likelier, so a person decides
        ("column_renamed", None, "validation_failure", "escalate", 0),
    ],
)
def test_rules_triage_diagnoses_injected_faults(cause, variant, issue_type, route, seed):
    w = _quiet(seed=seed)
    asset = next(
        a.name for a in w.assets
        if a.layer == "Ingestion" and (cause != "column_renamed" or any(
            c.kind == "schema" for c in a.spec.checks))
    )  # fmt: skip
    f = w.inject(cause, asset, T0 + 10 * 60, variant=variant)  # 10:00, business hours
    _assert_handled(w, f, asset, issue_type, route)


def test_rules_wait_out_failures_at_night():
    # at night vendors maintain their systems and a retry into an outage prolongs it: the
    # rules wait a failing ingestion out instead of retrying, and a blip is fixed all the same
    w = _quiet()
    asset = _ingestion(w)
    f = w.inject("transient_network", asset, T0 + 2 * 60, variant="plain")  # 02:00
    _assert_handled(w, f, asset, "late_arrival", "wait")


def _assert_handled(w: World, f: Fault, asset: str, issue_type: str, route: str) -> None:
    org = Organization(w, org_config("rules"))
    w.run()
    ep = org.finish()
    mine = [d for d in ep.diagnoses if any(c.asset == f.root.idx for c in d.root_candidates)]
    assert mine, f"no diagnosis names {asset} for {f.cause}"
    d = mine[0]
    assert d.issue_type == issue_type
    assert d.route == route or d.guardrail  # a guardrail may only make it safer
    assert f.resolved, f"{f.cause} was not fixed: {ep.remediations}"


def test_freshness_timer_fires_for_late_data_and_not_for_on_time_data():
    w = _quiet()
    f = w.inject("expired_credentials", _ingestion(w), T0)
    org = Organization(w, org_config("manual"))
    w.run(until=T0 + 240)
    fresh = [a for a in org.monitor.alerts if a.signal == "freshness"]
    assert fresh and all(a.t >= T0 for a in fresh)
    late_assets = {a.asset for a in fresh}
    assert f.root.idx in late_assets
    # one alert per asset per incident (duplicates are counted, not emitted)
    keys = [(a.incident_id, a.asset, a.signal) for a in org.monitor.alerts]
    assert len(keys) == len(set(keys))


def test_quiet_world_is_nearly_silent():
    w = World(load_scenario("nofault"), 1_000_003)
    org = Organization(w, org_config("rules"))
    w.run()
    ep = org.finish()
    assert len(ep.alerts) / ep.days < 3.0  # false alarms per day of the tuned rules monitor
    assert not [s for s in ep.remediations if s.kind in DESTRUCTIVE_ACTIONS]


def test_no_silent_failures_every_incident_is_accounted_for():
    sc = load_scenario("sc0001")
    world, ep = run_episode(sc, 1_000_002, "rules")
    assert ep.incidents
    for inc in ep.incidents:
        assert inc.resolution in ("auto", "manual", "escalated", "benign", "dismissed", "open")
    ids = {i.incident_id for i in ep.incidents}
    assert {a.incident_id for a in ep.alerts} == ids
    for s in ep.remediations:
        assert s.incident_id in ids
        if s.action_id >= 0:
            rec = next(r for r in world.actions if r.action_id == s.action_id)
            assert rec.kind == s.kind and rec.before and rec.after
    for f in ep.faults:  # every fault is resolved or still counted open
        assert (f.resolved_at == f.resolved_at) or f.fault_id in ep.verdicts


class _RandomPolicy:
    """A route policy that proposes any action: the guardrails must keep it safe."""

    def __init__(self, picks: list[int]) -> None:
        self.picks = picks
        self.i = 0

    def choose(self, proposal: Proposal, incident: Incident) -> str:
        k = self.picks[self.i % len(self.picks)]
        self.i += 1
        return ACTION_KINDS[k % len(ACTION_KINDS)]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["sc0001", "sc0002", "sc0003", "nofault", "mixed"]),
    seed=st.integers(1_000_000, 1_000_199),
    picks=st.lists(st.integers(0, 100), min_size=1, max_size=20),
)
def test_guardrails_never_allow_destructive_actions_without_evidence(name, seed, picks):
    sc = load_scenario(name)
    world = World(sc, seed, days=3)
    org = Organization(world, org_config("rules"), route_policy=_RandomPolicy(picks))
    world.run()
    ep = org.finish()
    assert ep.unsafe_actions == ()
    for d in ep.diagnoses:
        if d.route in DESTRUCTIVE_ACTIONS:
            inc = org.monitor.book.incidents[d.incident_id]
            target = d.root_candidates[0].asset if d.root_candidates else -1
            assert org.triage.has_evidence(inc, d.route, target) or d.route == "kill_query"


def test_scorecard_has_every_contract_metric():
    sc = load_scenario("sc0003")
    eps = [run_episode(sc, s, "rules", days=3)[1] for s in (1_000_000, 1_000_001)]
    card = scorecard(eps)
    assert set(METRIC_NAMES) <= set(card["aggregate"])
    assert len(card["episodes"]) == 2
