"""Analytics Support: the request workload, the access policy, answers and their scoring."""

from __future__ import annotations

import contextlib
import inspect
import math
import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agents.analytics.support
from agents.analytics.access_policy import DEFAULT_POLICY_PATH, AccessPolicy, AccessPolicyError
from agents.analytics.readiness import (
    OK_WARN,
    ReadinessOracle,
    ancestors,
    input_spans,
    inputs,
    latest_due,
)
from agents.analytics.support import (
    KINDS,
    READINESS_STATUSES,
    ROSTER,
    AnalystRequest,
    AnalyticsSupport,
    generate_requests,
    score_answers,
)
from agents.knowledge import KnowledgeBase
from envs.sim.actions import ActionError
from envs.sim.world import World
from scenarios import load_scenario
from scenarios.vocab import ACTION_KINDS
from tests.conftest import ROOT

POLICY = AccessPolicy.from_yaml()
INGEST = "ingest_pos_transactions"


def world(name: str = "nofault", seed: int = 0, days: float | None = None) -> World:
    return World(load_scenario(name), seed, days=days)


def every(w: World, names: list[str], step_min: float = 30.0) -> list[AnalystRequest]:
    """A readiness question about each of ``names`` every ``step_min`` minutes."""
    out: list[AnalystRequest] = []
    t = step_min
    while t < w.horizon - 5:
        for n in names:
            out.append(AnalystRequest(len(out), t, "readiness", "ana", "analyst", n, "ready?"))
        t += step_min
    return out


def delivery(w: World) -> list[str]:
    return [a.name for a in w.assets if a.layer == "Delivery"]


def run_support(w: World, requests=None, **kw) -> AnalyticsSupport:
    s = AnalyticsSupport(w, POLICY, **kw)
    s.start(requests)
    w.run()
    return s


# ------------------------------------------------------------------ workload
def test_requests_are_deterministic_per_seed_and_well_formed():
    a, b, c = (generate_requests(world(seed=s)) for s in (3, 3, 4))
    assert a == b
    assert a != c
    w = world()
    names = set(w.by_name)
    assert [r.request_id for r in a] == list(range(len(a)))
    assert [r.t for r in a] == sorted(r.t for r in a)
    assert all(0 <= r.t < w.horizon and r.kind in KINDS and r.dataset in names for r in a)
    assert all((r.analyst, r.role) in ROSTER and r.dataset in r.question for r in a)
    days = w.horizon / 1440
    assert 0.6 * 24 * days < len(a) < 1.4 * 24 * days
    readiness = [r for r in a if r.kind == "readiness"]
    on_delivery = sum(w.by_name[r.dataset].layer == "Delivery" for r in readiness)
    assert on_delivery / len(readiness) > 0.6
    assert {r.kind for r in a} == set(KINDS)


def test_requests_draw_only_from_their_stream_and_answering_changes_nothing():
    plain, served = world("sc0002"), world("sc0002")
    plain.run()
    s = run_support(served)
    assert s.answers and served.log == plain.log
    assert [f.record() for f in served.faults] == [f.record() for f in plain.faults]


def test_request_rate():
    assert generate_requests(world(), rate_per_day=0.0) == []
    with pytest.raises(ValueError, match="rate_per_day"):
        generate_requests(world(), rate_per_day=-1.0)


def test_answers_are_deterministic_and_take_one_to_two_minutes():
    runs = [run_support(world("sc0001")) for _ in range(2)]
    assert [repr(a) for a in runs[0].answers] == [repr(a) for a in runs[1].answers]
    by_id = {r.request_id: r for r in runs[0].requests}
    assert all(1.0 <= a.t - by_id[a.request_id].t <= 2.0 for a in runs[0].answers)
    assert len(runs[0].answers) >= len(runs[0].requests) - 2  # the last may fall past the horizon


# ------------------------------------------------------------------ policy file
def test_default_policy_decisions():
    w = world()
    layer = {a.name: a.layer for a in w.assets}
    assert POLICY.decide("analyst", "exec_revenue_dashboard", "Delivery")[0]
    assert POLICY.decide("analyst", "fct_sales", "Warehouse")[0]
    assert not POLICY.decide("analyst", "stg_orders", "Transformation")[0]
    assert POLICY.decide("finance", "fct_sales", "Warehouse")[0]
    assert not POLICY.decide("finance", "dim_customer", "Warehouse")[0]
    assert POLICY.decide("marketing", "dim_customer", "Warehouse")[0]
    assert all(POLICY.decide("data_engineer", n, ly)[0] for n, ly in layer.items())
    ok, why = POLICY.decide("contractor", "fct_sales", "Warehouse")
    assert not ok and "unknown role 'contractor'" in why and "data_engineer" in why


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("roles: {analyst: {layers: [Delivery]}}\nrolez: {}\n", "rolez", "unknown field"),
        ("roles: {finance: {dataset: [fct_sales]}}", "roles.finance.dataset", "datasets, layers"),
        ("roles: {analyst: {layers: [Gold]}}", "roles.analyst.layers[0]", "'Delivery'"),
        ("roles: {analyst: {description: x}}", "roles.analyst", "grants nothing"),
        ("roles: {analyst: {layers: Delivery}}", "roles.analyst.layers", "tuple"),
        ("{}", "roles", "Field required"),
        ("roles:\n  a: {layers: [Delivery]}\n  a: {layers: [Source]}\n", "", "duplicate key 'a'"),
        ("- analyst\n", "", "expected a mapping"),
        ("roles: [unclosed\n", "", "invalid YAML"),
    ],
)
def test_policy_file_errors_name_the_file_and_field(tmp_path, text, field, words):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(AccessPolicyError) as e:
        AccessPolicy.from_yaml(path)
    assert str(e.value).startswith(f"{path}: {field}" if field else str(path))
    assert e.value.field == field and words in str(e.value)


def test_policy_missing_file_and_unknown_dataset(tmp_path):
    with pytest.raises(AccessPolicyError, match="cannot read file"):
        AccessPolicy.from_yaml(tmp_path / "nope.yaml")
    data = yaml.safe_load(Path(DEFAULT_POLICY_PATH).read_text())
    data["roles"]["finance"]["datasets"][1] = "fct_sale"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(AccessPolicyError) as e:
        AnalyticsSupport(world(), AccessPolicy.from_yaml(path))
    assert str(e.value).startswith(f"{path}: roles.finance.datasets[1]: unknown dataset")
    assert "did you mean 'fct_sales'?" in str(e.value)


# ------------------------------------------------------------------ answers
def test_nofault_answers_are_ready_except_honest_waits():
    w = world(days=4)
    s = run_support(w, every(w, [*delivery(w), "fct_sales", "dim_customer"], 37.0))
    oracle = ReadinessOracle(w)
    statuses = [a.status for a in s.answers]
    assert set(statuses) <= {"ready", "pending"}  # nothing is stale without faults
    settled = [a.status for a in s.answers if a.t > 1440 + 360]  # every daily output exists
    assert settled.count("ready") / len(settled) > 0.85
    for a in s.answers:
        if a.status != "ready":
            assert not oracle.ready(a.dataset, a.t), a  # an honest wait: the run is under way
            assert a.t < a.expected_by < a.t + 2 * 1440, a


def test_expired_credentials_make_affected_delivery_not_ready():
    w = world(days=3)
    w.inject("expired_credentials", INGEST, at=1440.0)
    affected = {w.assets[i].name for i in w.by_name[INGEST].descendants}
    s = run_support(w, every(w, delivery(w), 20.0))
    hit = [a for a in s.answers if a.dataset in affected and a.t > 1440 + 60]
    assert hit and all(a.status in ("stale", "pending") for a in hit)
    assert any(a.status == "stale" and "stale since" in a.text for a in hit)
    safe = [a for a in s.answers if a.dataset not in affected and a.t > 1440 + 60]
    assert safe and sum(a.status == "ready" for a in safe) / len(safe) > 0.8
    assert score_answers(w, s.answers)["answer_accuracy"] == 1.0


def test_open_incident_answers_under_incident_with_eta():
    w = world(days=3)
    w.inject("expired_credentials", INGEST, at=1440.0)
    idx = w.by_name[INGEST].idx
    incidents = lambda: [(7, {idx}, 2000.0)] if w.now >= 1450 else []  # noqa: E731
    affected = {w.assets[i].name for i in w.by_name[INGEST].descendants}
    s = run_support(w, every(w, delivery(w), 20.0), open_incidents=incidents)
    hit = [a for a in s.answers if a.dataset in affected and a.t > 1450]
    assert all(a.status == "under_incident" and a.expected_by == 2000.0 for a in hit)
    assert all("incident 7" in a.text and INGEST in a.text for a in hit)
    safe = [a for a in s.answers if a.dataset not in affected]
    assert "under_incident" not in {a.status for a in safe}


def test_incident_opened_after_the_partition_was_built_does_not_hold_it_back():
    w = world(days=2)
    s = AnalyticsSupport(w, POLICY, open_incidents=lambda: [(1, {0, 6}, math.nan, w.now - 1)])
    w.run(until=1440 + 600)
    a = s.answer(
        AnalystRequest(0, w.now, "readiness", "ana", "analyst", "finance_daily_report", "")
    )
    assert a.status == "ready"
    s.open_incidents = lambda: [(1, {0, 6}, math.nan, 0.0)]
    a = s.answer(
        AnalystRequest(1, w.now, "readiness", "ana", "analyst", "finance_daily_report", "")
    )
    assert (
        a.status == "under_incident" and "no estimate yet" in a.text and math.isnan(a.expected_by)
    )


def test_failed_quality_checks_are_not_ready():
    w = world(days=3)
    w.inject("source_nulls", "ingest_ecommerce_orders", at=1440.0)  # warns its way to Delivery
    s = run_support(w, every(w, delivery(w), 20.0))
    flagged = [
        a for a in s.answers if a.status == "not_ready" and "quality checks failed" in a.text
    ]
    assert flagged and all("not_null" in a.text for a in flagged)
    oracle = ReadinessOracle(w)
    assert not any(oracle.ready(a.dataset, a.t) for a in flagged)


def test_lineage_status_unknown_and_knowledge():
    w = world(days=2)
    with KnowledgeBase(":memory:") as kb:
        s = AnalyticsSupport(w, POLICY, kb)
        w.run(until=1500)
        ask = lambda k, d: s.answer(AnalystRequest(0, w.now, k, "ana", "analyst", d, ""))  # noqa: E731
        lin = ask("lineage", "fct_sales")
        assert lin.status == "answered"
        assert all(
            n in lin.text for n in ("stg_payments", "exec_revenue_dashboard", "payments_gateway")
        )
        st_ = ask("status", "fct_sales")
        assert st_.status in READINESS_STATUSES and "owner analytics-engineering" in st_.text
        assert "0 incident(s)" in st_.text
        unknown = ask("readiness", "fct_sale")
        assert unknown.status == "unknown_dataset" and "did you mean 'fct_sales'" in unknown.text
        assert ask("access", "fct_sale").status == "refused"
    assert len(s.audit) == len(s.answers) == 4 and all(e.reason for e in s.audit)


def test_the_agent_reads_no_hidden_state():
    src = inspect.getsource(agents.analytics.support.AnalyticsSupport)
    for hidden in ("window_faults", ".faults", ".bad", "damage", "exposure", "ReadinessOracle"):
        assert hidden not in src


# ------------------------------------------------------------------ access fuzz
ROLES = [*POLICY.roles, "contractor", "", "Finance", "analyst "]
NAMES = [a.name for a in world().assets]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    asks=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(ROLES), st.text(max_size=12)),
            st.one_of(st.sampled_from([*NAMES, "fct_sale", "FCT_SALES"]), st.text(max_size=12)),
            st.floats(0.0, 2880.0),
        ),
        max_size=25,
    )
)
def test_no_grant_outside_policy_and_every_decision_audited(asks):
    w = world(days=2)
    raw = yaml.safe_load(Path(DEFAULT_POLICY_PATH).read_text())["roles"]
    s = AnalyticsSupport(w, POLICY)
    for i, (role, name, t) in enumerate(sorted(asks, key=lambda x: x[2])):
        w.run(until=t)
        a = s.answer(AnalystRequest(i, t, "access", "x", role, name, ""))
        grant = raw.get(role, {})
        layer = w.by_name[name].layer if name in w.by_name else None
        allowed = name in grant.get("datasets", ()) or layer in grant.get("layers", ())
        assert a.status == ("granted" if allowed else "refused")
        entry = s.audit[-1]
        assert (entry.request_id, entry.role, entry.dataset, entry.decision) == (
            i,
            role,
            name,
            a.status,
        )
        assert entry.reason
    assert len(s.audit) == len(asks)
    sc = score_answers(w, s.answers)
    assert sc["access_violations"] == 0 and sc["grants"] + sc["refusals"] == len(asks)


# ------------------------------------------------------------------ scoring
def test_score_nofault_accuracy():
    w = world()
    s = run_support(w)
    sc = score_answers(w, s.answers)
    assert sc["answer_accuracy"] >= 0.95
    assert sc["access_violations"] == 0 and sc["requests"] == len(s.answers)
    assert sc["grants"] > 0 and sc["refusals"] > 0


def test_score_counts_a_grant_outside_policy_as_a_violation():
    w = world(days=1)
    s = run_support(w)
    bad = s.answers[0]._replace(kind="access", status="granted", role="contractor")
    assert score_answers(w, [bad])["access_violations"] == 1
    said_ready = s.answers[0]._replace(status="ready", t=1.0)  # nothing is due at minute 1
    sc = score_answers(w, [said_ready])
    assert sc["false_ready"] == 1 and sc["answer_accuracy"] == 0.0


@pytest.mark.parametrize("name", ["sc0001", "sc0003", "mixed"])
def test_input_spans_are_the_inputs_window_by_window(name):
    w = world(name, days=2.0)
    anc = ancestors(w.assets)
    for a in w.assets:
        for k in range(1, a.n_windows + 1):
            spans = input_spans(a, k, anc[a.idx])
            assert all(first < stop for _, first, stop in spans)
            flat = tuple((v, j) for v, first, stop in spans for j in range(first, stop))
            assert flat == inputs(a, k, anc[a.idx])


def live_probe(w: World, every_min: float = 23.7) -> list[tuple[str, float, bool]]:
    """Sample readiness from the live hidden state (partition states and wrong data) as it runs."""
    anc, out = ancestors(w.assets), []

    def probe():
        while True:
            yield w.env.timeout(every_min)
            for a in w.assets:
                k = latest_due(a, w.now)
                ok = k > 0 and all(
                    v.state[j] in OK_WARN and (v.idx, j) not in w.window_faults
                    for v, j in inputs(a, k, anc[a.idx])
                )
                out.append((a.name, w.now, ok))

    w.env.process(probe())
    return out


def assert_replay_matches(w: World, live: list[tuple[str, float, bool]]) -> None:
    oracle = ReadinessOracle(w)
    assert live and [oracle.ready(n, t) for n, t, _ in live] == [ok for _, _, ok in live]
    # ready() skips the inputs settled before t; every input judged in full says the same
    for n, t, _ in live:
        a = w.asset(n)
        k = latest_due(a, t)
        full = k > 0 and all(
            oracle._good(v, j, t) for v, j in inputs(a, k, oracle.ancestors[a.idx])
        )
        assert oracle.ready(n, t) == full, (n, t)


def test_replayed_truth_equals_live_truth_through_quarantine_rollback_and_repair():
    w = world(days=3)
    w.inject("source_nulls", "ingest_ecommerce_orders", at=1440.0)
    live = live_probe(w)
    for t, kind, asset, params in [
        (1700, "quarantine", "exec_revenue_dashboard", {}),
        (1800, "rollback", -1, {"target": 0}),
        (1900, "quarantine", "stg_orders", {}),
        (2300, "backfill", "ingest_ecommerce_orders", {}),
        (2500, "rerun", "fct_sales", {}),
    ]:
        w.run(until=t)
        w.act(kind, asset, **params)
    w.run()
    assert {r.kind for r in w.actions} == {"quarantine", "rollback", "backfill", "rerun"}
    assert_replay_matches(w, live)


@pytest.mark.parametrize("name", ["sc0001", "sc0002", "sc0003", "nofault", "mixed"])
def test_replayed_truth_equals_live_truth_under_random_actions(name):
    """The oracle replays past readiness from records; check it against the live hidden state."""
    rnd = random.Random(name)
    w = world(name, rnd.randrange(10**6), days=2.5)
    live = live_probe(w)
    params = {
        "wait": lambda: {"minutes": 30},
        "rollback": lambda: {"target": rnd.randrange(8)},
        "scale_warehouse": lambda: {"slots": rnd.randrange(2, 20)},
        "reprioritize": lambda: {"priority": rnd.randrange(3)},
    }
    t = 1440.0
    for _ in range(20):
        t += rnd.uniform(10, 120)
        w.run(until=t)
        kind = rnd.choice(ACTION_KINDS)
        with contextlib.suppress(ActionError):  # a refused action changes nothing
            w.act(kind, rnd.randrange(-1, len(w.assets)), **params.get(kind, dict)())
    w.run()
    assert_replay_matches(w, live)


# ---------------------------------------------------------------- any topology; off is said, not 0
def test_analytics_support_runs_on_a_generated_topology(tmp_path):
    from experiments.run_org import run

    card = run(str(ROOT / "tests/golden/generated.yaml"), "rules", 1, "eval", tmp_path, days=2)
    assert card["agents_off"] == []
    ep = card["episodes"][0]
    assert ep["analytics_answer_accuracy"] is not None and ep["access_violations"] == 0.0
    assert "off in this run" not in (tmp_path / "00_governance/file-ownership.md").read_text()


def test_the_derived_policy_follows_layers_and_owners():
    sc = load_scenario(ROOT / "tests/golden/generated.yaml")
    policy = AccessPolicy.derived(sc.pipeline)
    policy.check_datasets([a.name for a in sc.pipeline.assets])
    delivery = next(a for a in sc.pipeline.assets if a.layer == "Delivery")
    source = next(a for a in sc.pipeline.assets if a.layer == "Source")
    assert policy.decide("finance", delivery.name, "Delivery")[0]
    assert not policy.decide("finance", source.name, "Source")[0]
    assert policy.decide("data_engineer", source.name, "Source")[0]
    assert policy.decide(source.owner, source.name, "Source")[0]
    assert not policy.decide("contractor", delivery.name, "Delivery")[0]


def test_an_agent_that_did_not_run_reports_no_metric(tmp_path):
    from dataclasses import replace

    from agents.org import org_config
    from agents.scoring.artifacts import write_artifacts
    from agents.scoring.scorecard import scorecard
    from agents.slots.runner import run_episode

    cfg = replace(org_config("rules"), analytics=False)
    _, ep = run_episode(load_scenario("sc0002"), 1_000_000, cfg, days=1)
    card = scorecard([ep])
    assert card["agents_off"] == ["analytics_support"]
    assert card["aggregate"]["access_violations"] is None
    assert card["aggregate"]["analytics_answer_accuracy"] is None
    write_artifacts(tmp_path, [ep], card, scenario_title="t", org="rules")
    ownership = (tmp_path / "00_governance/file-ownership.md").read_text()
    assert "Analytics Support" in ownership and "**off in this run**" in ownership
