"""Ambiguous evidence (envs/sim/causal.py): variants, retry load, lockout, renames, nulls."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from envs.sim.causal import (
    CAUSES,
    LOCKOUT_AFTER,
    LOCKOUT_DELAY_MIN,
    RETRY_LOAD_CAP_MIN,
    RETRY_LOAD_MIN,
)
from envs.sim.world import World
from scenarios import load_scenario

T0 = 24 * 60.0 + 7.0  # day 1, between two hourly runs


def _ingestion_of(w: World, source: str = "pos_transactions"):
    src = w.asset(source)
    return src, next(d for d in src.downs if d.layer == "Ingestion")


@pytest.mark.parametrize(
    ("scenario", "causes"),
    [
        ("sc0001", ("source_outage", "transient_network", "expired_credentials")),
        ("sc0002", ("upstream_rename",)),
    ],
)
def test_each_fault_is_drawn_as_one_of_its_variants_with_their_shares(scenario, causes):
    seen: dict[str, Counter[str]] = {c: Counter() for c in causes}
    for seed in range(60):
        w = World(load_scenario(scenario), seed, days=7)
        for f in w.faults:
            if f.cause in seen:
                seen[f.cause][f.params["variant"]] += 1
                v = next(v for v in f.model.variants if v.name == f.params["variant"])
                assert f.profile is v
                assert all(f.params[k] == x for k, x in v.overrides)
    for cause, counts in seen.items():
        n = sum(counts.values())
        assert n >= 40, cause
        for v in CAUSES[cause].variants:  # within 4 standard errors of the documented share
            assert abs(counts[v.name] / n - v.prob) < 4 * math.sqrt(v.prob * (1 - v.prob) / n)


def test_variants_add_up_and_only_outages_may_leave_the_source_on_time():
    for cause, model in CAUSES.items():
        if model.variants:
            assert sum(v.prob for v in model.variants) == pytest.approx(1.0), cause
        for v in model.variants:
            assert v.held or model.effect == "sensor_fail", (cause, v.name)


def test_an_api_outage_lands_the_files_and_fails_the_ingestion_like_a_blip(quiet_world):
    w = quiet_world()
    src, ing = _ingestion_of(w)
    f = w.inject("source_outage", src.idx, T0, magnitude=2.0, variant="api")
    w.run()
    during = [r for r in w.log if r.asset == src.idx and T0 <= r.ended_at <= f.cause_ended_at]
    assert during and all(r.ended_at - r.window * src.every < src.sla for r in during)  # on time
    failed = [r for r in w.log if r.asset == ing.idx and r.status == "failed"]
    assert failed and {r.error_class for r in failed} <= {
        "ConnectionError",
        "SourceTimeout",
        "HTTP503",
    }
    assert all("sensor" not in r.error_message for r in failed)
    assert all(r.started_at >= T0 and r.started_at <= f.cause_ended_at for r in failed)
    assert ing.idx in f.affected


def test_a_landing_outage_holds_the_source_and_the_sensor_says_so(quiet_world):
    w = quiet_world()
    src, ing = _ingestion_of(w)
    w.inject("source_outage", src.idx, T0, magnitude=2.0, variant="landing")
    w.run()
    failed = [r for r in w.log if r.asset == ing.idx and r.status == "failed"]
    assert failed and all("sensor" in r.error_message for r in failed)


@pytest.mark.parametrize("variant", ["api", "landing"])
def test_retries_against_an_outage_extend_it_and_a_wait_does_not(quiet_world, variant):
    ends = {}
    for kind, params in (
        ("retry", {"attempts": 3, "backoff_min": 2.0}),
        ("wait", {"minutes": 5.0}),
    ):
        w = quiet_world()
        src, ing = _ingestion_of(w)
        f = w.inject("source_outage", src.idx, T0, magnitude=3.0, variant=variant)
        planned = f.natural_end
        w.run(until=T0 + 150.0)  # the ingestion has failed by now; the outage still acts
        assert f.active and any(r.status == "failed" for r in w.log if r.asset == ing.idx)
        w.act(kind, ing.idx, **params)
        w.run()
        ends[kind] = f.cause_ended_at - planned
        # the re-executions that met the outage (a held source may come back during one)
        met = [
            r for r in w.log if r.asset == ing.idx and r.trigger == kind and r.status == "failed"
        ]
        assert met
        if kind == "retry":
            retried = len(met)
    assert ends["wait"] == 0.0
    assert ends["retry"] == min(retried * RETRY_LOAD_MIN, RETRY_LOAD_CAP_MIN) > 0


def test_retrying_expired_credentials_locks_the_account_and_slows_the_human(quiet_world):
    took = {}
    for retries in (0, LOCKOUT_AFTER):
        w = quiet_world()
        _src, ing = _ingestion_of(w)
        f = w.inject("expired_credentials", ing.idx, T0, variant="proxy")
        w.run(until=T0 + 180.0)
        assert any(r.status == "failed" for r in w.log if r.asset == ing.idx)
        if retries:
            w.act("retry", ing.idx, attempts=retries, backoff_min=1.0)
            w.run(until=w.now + 10.0)
        assert bool(f.params.get("locked")) == (retries >= LOCKOUT_AFTER)
        t = w.now
        w.act("escalate", ing.idx)
        w.run()
        assert f.resolved
        took[retries] = f.cause_ended_at - t
    # the same human (common random numbers), plus the vendor's unlock
    assert took[LOCKOUT_AFTER] - took[0] >= LOCKOUT_DELAY_MIN


def test_an_unknown_variant_is_refused_naming_the_choices(quiet_world):
    w = quiet_world()
    with pytest.raises(KeyError, match="expected \\['plain', 'proxy_auth'\\]"):
        w.inject("transient_network", "ingest_pos_transactions", T0, variant="dns")


def test_a_silent_rename_nulls_the_column_and_keeps_the_schema_version(quiet_world):
    versions = {}
    for variant in ("versioned", "silent"):
        w = quiet_world()
        a = w.asset("ingest_ecommerce_orders")
        w.inject("upstream_rename", a.idx, T0, variant=variant)
        w.run(until=T0 + 180.0)
        after = [r for r in w.log if r.asset == a.idx and r.started_at > T0]
        assert after and all(max(r.null_rates) >= 0.15 for r in after)
        versions[variant] = {r.schema_version for r in after}
    assert versions == {"versioned": {2}, "silent": {1}}


def test_nulls_overlap_in_rate_and_differ_by_hour_as_documented():
    # SC-0002 v3: a source's empty values (10-60%, 3x likelier at night) and a rename (15-90%,
    # 2x likelier in business hours) overlap in null rate; the hour is partial evidence
    rates: dict[str, list[float]] = {"source_nulls": [], "upstream_rename": []}
    night: dict[str, list[bool]] = {"source_nulls": [], "upstream_rename": []}
    for seed in range(80):
        for f in World(load_scenario("sc0002"), seed, days=7).faults:
            if f.cause in rates:
                rates[f.cause].append(f.params["null_add"])
                night[f.cause].append(int(f.onset // 60) % 24 < 6)
    sn, ren = rates["source_nulls"], rates["upstream_rename"]
    assert len(sn) > 80 and len(ren) > 80
    assert min(sn) >= 0.1 and max(sn) <= 0.6
    assert min(ren) >= 0.15 and max(ren) <= 0.9
    overlap = [x for x in sn if x >= 0.15] + [x for x in ren if x <= 0.6]
    assert len(overlap) > 0.5 * (len(sn) + len(ren))  # most nulls are ambiguous by rate alone
    share = {c: sum(v) / len(v) for c, v in night.items()}
    assert share["source_nulls"] > 2 * share["upstream_rename"]
