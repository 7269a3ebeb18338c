"""Each root cause produces its documented symptoms (envs/sim/causal.py)."""

from __future__ import annotations

import pytest

from envs.sim.causal import CAUSES
from envs.sim.world import World

T0 = 24 * 60.0  # inject on day 1, after a clean day


def _root(w: World, cause: str):
    model = CAUSES[cause]
    for a in w.assets:
        if a.layer not in model.layers:
            continue
        if cause == "bad_join" and len(a.ups) < 2:
            continue
        if model.effect == "sensor_fail" and not any(d.layer == "Ingestion" for d in a.downs):
            continue
        if model.effect == "schema" and not any(c.kind == "schema" for c in a.spec.checks):
            continue
        if model.effect in ("slow", "storm", "schema") and not a.uses_slot:
            continue
        return a
    pytest.skip(f"no asset for {cause}")


def _after(w: World, asset: int):
    return [r for r in w.log if r.asset == asset and r.started_at >= T0]


def _before(w: World, asset: int):
    return [r for r in w.log if r.asset == asset and r.ended_at < T0]


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_every_cause_is_visible_and_in_the_ledger(quiet_world, cause):
    w = quiet_world()
    a = _root(w, cause)
    f = w.inject(cause, a.idx, T0)
    w.run()
    assert f.started
    rec = f.record()
    assert rec.root_cause == cause and rec.root_asset == a.idx
    assert rec.issue_type == CAUSES[cause].issue_type
    assert rec.severity in ("critical", "major", "minor")
    assert rec.best_fix in rec.acceptable_fixes
    assert rec.first_visible_at == rec.first_visible_at, "the fault must show a symptom"
    assert rec.first_visible_at >= T0
    assert not rec.first_symptom_at < T0  # nan (nothing observable) or after the onset


@pytest.mark.parametrize(
    ("cause", "variant", "errors"),
    [
        ("transient_network", "plain", {"ConnectionError", "SourceTimeout", "HTTP503"}),
        ("transient_network", "proxy_auth", {"HTTP403", "ConnectionError"}),
        ("expired_credentials", "direct", {"AuthError", "HTTP403", "ConnectionError"}),
        ("expired_credentials", "proxy", {"SourceTimeout", "ConnectionError", "HTTP503"}),
    ],
)
def test_failures_fail_runs_with_their_error_classes(quiet_world, cause, variant, errors):
    w = quiet_world()
    a = _root(w, cause)
    w.inject(cause, a.idx, T0, variant=variant)
    w.run()
    failed = [r for r in _after(w, a.idx) if r.status == "failed"]
    assert failed and {r.error_class for r in failed} <= errors
    if cause == "expired_credentials":
        assert all(r.status == "failed" for r in _after(w, a.idx))  # until someone escalates
    else:
        assert len(failed) == 1  # a blip: the next scheduled run succeeds


def test_source_outage_holds_data_and_fails_every_ingestion_of_that_source(quiet_world):
    w = quiet_world()
    src = _root(w, "source_outage")
    f = w.inject("source_outage", src.idx, T0, magnitude=2.0, variant="landing")
    w.run()
    ingests = [d for d in src.downs if d.layer == "Ingestion"]
    for d in ingests:
        assert any(r.status == "failed" for r in _after(w, d.idx))
    arrivals = [r for r in _after(w, src.idx)]
    assert max(r.ended_at - r.window * src.every for r in arrivals) > 60
    assert f.cause_ended_at == pytest.approx(f.natural_end)


@pytest.mark.parametrize(
    ("cause", "stat"),
    [
        ("replayed_load", "dup"),
        ("bad_join", "dup"),
        ("source_nulls", "null"),
        ("upstream_rename", "null"),
        ("partial_extract", "rows_down"),
        ("upstream_filter_change", "rows_down"),
        ("unit_change", "mean"),
        ("stale_reference", "mean"),
    ],
)
def test_quality_causes_write_wrong_statistics(quiet_world, cause, stat):
    w = quiet_world()
    a = _root(w, cause)
    w.inject(cause, a.idx, T0)
    w.run()
    before, after = _before(w, a.idx), _after(w, a.idx)
    hit = after[0]
    if stat == "dup":
        assert hit.duplicate_rate > 0.02 > max(r.duplicate_rate for r in before)
    elif stat == "null":
        assert max(hit.null_rates) > 0.1 > max(max(r.null_rates) for r in before)
    elif stat == "rows_down":
        ratio = hit.rows / (w.assets[a.idx].expected[hit.window])
        assert ratio < 0.75
    else:
        base = a.spec.value_mean
        assert abs(hit.value_mean / base - 1) > 0.1
    # wrong data flows downstream (diluted) unless a blocking check holds it back
    downstream = [r for r in w.log if r.asset in a.descendants and r.started_at >= T0]
    assert downstream or hit.partition_state == 3  # 3: blocked by a blocking check


def test_upstream_rename_changes_schema_version_but_schema_drift_fails_the_check(quiet_world):
    w = quiet_world()
    a = _root(w, "column_renamed")
    w.inject("column_renamed", a.idx, T0)
    w.run()
    hit = _after(w, a.idx)[0]
    kinds = {a.spec.checks[i].kind for i in hit.failed_checks}
    assert "schema" in kinds
    assert hit.schema_version == _before(w, a.idx)[-1].schema_version + 1


@pytest.mark.parametrize("cause", ["plan_regression", "data_skew"])
def test_slow_queries_take_longer(quiet_world, cause):
    w = quiet_world()
    a = _root(w, cause)
    w.inject(cause, a.idx, T0)
    w.run()
    rt_before = sum(r.runtime_min for r in _before(w, a.idx)) / len(_before(w, a.idx))
    rt_after = sum(r.runtime_min for r in _after(w, a.idx)) / len(_after(w, a.idx))
    assert rt_after > 1.8 * rt_before


@pytest.mark.parametrize("cause", ["noisy_neighbor", "undersized_warehouse", "retry_storm"])
def test_contention_makes_runs_queue(quiet_world, cause):
    w = quiet_world()
    a = _root(w, cause)
    w.inject(cause, a.idx, T0, magnitude=1.5)
    w.run()
    q_before = [r.queued_min for r in w.log if r.ended_at < T0 and w.assets[r.asset].uses_slot]
    q_after = [
        r.queued_min
        for r in w.log
        if T0 <= r.started_at < T0 + 240
        and w.assets[r.asset].uses_slot
        and r.trigger != "auto_retry"
    ]
    assert sum(q_after) / len(q_after) > sum(q_before) / len(q_before) + 0.05
    if cause == "retry_storm":
        assert sum(1 for r in w.log if r.trigger == "auto_retry") > 10


def test_planned_faults_follow_the_scenario(quiet_world):
    from scenarios import load_scenario

    for name, types in [
        ("sc0001", {"late_arrival"}),
        ("sc0002", {"quality_anomaly", "validation_failure"}),
        ("sc0003", {"performance_degradation"}),
    ]:
        sc = load_scenario(name)
        got = set()
        for seed in range(3):
            w = World(sc, seed)
            got |= {f.model.issue_type for f in w.faults}
            assert all(f.onset >= sc.spec.warmup_days * 1440 for f in w.faults)
        assert got == types


# ---------------------------------------------------------------- faults that can never be injected
def _scenario_with(tmp_path, base: str, replace: dict[str, str]):
    from scenarios import load_scenario
    from scenarios.loader import SCENARIOS_DIR

    text = (SCENARIOS_DIR / f"{base}.yaml").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return load_scenario(path), path


@pytest.mark.parametrize(
    ("base", "replace", "match"),
    [
        (
            "sc0003",
            {"rate_per_day: 0.9\n": "rate_per_day: 0.9\n    assets: [pos_transactions]\n"},
            r"faults\[0\]\.assets: slow_query: root cause plan_regression can never be injected: "
            r"it needs a root asset on the Transformation or Warehouse layer that runs in a "
            r"warehouse slot, and none of assets \['pos_transactions'\] is one",
        ),
        (
            "sc0001",
            {
                "upstream_outage\n    rate_per_day: 0.7\n": "upstream_outage\n    rate_per_day: "
                "0.7\n    assets: [ingest_pos_transactions]\n"
            },
            r"faults\[0\]\.assets: upstream_outage: root cause source_outage can never be "
            r"injected: it needs a root asset on the Source layer",
        ),
    ],
)
def test_a_fault_that_can_never_be_injected_is_refused(tmp_path, base, replace, match):
    from envs.sim.faults import check_scenario
    from scenarios.loader import ScenarioError

    sc, path = _scenario_with(tmp_path, base, replace)
    with pytest.raises(ScenarioError, match=match) as err:
        check_scenario(sc)
    assert err.value.file == str(path)
    with pytest.raises(ScenarioError, match=match):
        World(sc, 0, days=2)  # the world refuses it too: no run drops its onsets silently


def test_a_cause_weighted_zero_is_not_required(tmp_path):
    from envs.sim.faults import check_scenario

    line = (
        "rate_per_day: 0.5\n"
        "    root_causes: {replayed_load: 0.4, bad_join: 0.2, grain_change: 0.4}\n"
    )
    refused = {line: line + "    assets: [ingest_pos_transactions]\n"}
    sc, _ = _scenario_with(tmp_path, "sc0002", refused)
    with pytest.raises(ValueError, match=r"root cause bad_join can never be injected.*bad_join: 0"):
        check_scenario(sc)
    accepted = {k: v.replace("bad_join: 0.2", "bad_join: 0") for k, v in refused.items()}
    sc, _ = _scenario_with(tmp_path, "sc0002", accepted)
    check_scenario(sc)
    dups = [
        f for seed in range(6) for f in World(sc, seed).faults if f.model.subtype == "duplicates"
    ]
    assert dups and {(f.cause, f.root.name) for f in dups} == {
        ("replayed_load", "ingest_pos_transactions"),
        ("grain_change", "ingest_pos_transactions"),
    }


@pytest.mark.parametrize("name", ["sc0001", "sc0002", "sc0003", "nofault", "mixed"])
def test_every_shipped_scenario_can_inject_all_its_faults(name):
    from envs.sim.faults import check_scenario
    from scenarios import load_scenario

    check_scenario(load_scenario(name))


def test_first_symptom_is_what_a_team_can_see(quiet_world):
    # an outage is invisible at the Source; its first symptom is the first ingestion that fails
    # (the sensor gives up), later than the simulator's reach (the Source's missed arrival)
    w = quiet_world()
    src = _root(w, "source_outage")
    f = w.inject("source_outage", src.idx, T0, magnitude=2.0, variant="landing")
    w.run()
    rec = f.record()
    failed = [r for r in w.log if r.asset in rec.affected_assets and r.status == "failed"]
    assert failed and rec.first_symptom_at == min(r.ended_at for r in failed)
    assert rec.first_symptom_at > rec.first_visible_at >= T0
    # an API outage shows at once: its first symptom is the first ingestion that fails
    w = quiet_world()
    f = w.inject("source_outage", src.idx, T0, magnitude=2.0, variant="api")
    w.run()
    rec = f.record()
    failed = [r for r in w.log if r.asset in rec.affected_assets and r.status == "failed"]
    assert failed and rec.first_symptom_at == min(r.ended_at for r in failed) >= T0
    # a transient failure shows at its failed run; a corruption at the first partition it writes
    for cause in ("transient_network", "replayed_load"):
        w = quiet_world()
        a = _root(w, cause)
        f = w.inject(cause, a.idx, T0)
        w.run()
        hit = _after(w, a.idx)[0]
        assert f.record().first_symptom_at == hit.ended_at == f.first_visible_at
