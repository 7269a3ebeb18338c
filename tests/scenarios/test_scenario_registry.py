"""Every shipped scenario and topology loads and keeps the promises of DESIGN.md §3.

Parametrized over the registries, so a new file is tested the moment it is added.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios import (
    PipelineSpec,
    Scenario,
    ScenarioError,
    load_pipeline,
    load_scenario,
    pipeline_names,
    scenario_names,
)
from scenarios.loader import PIPELINES_DIR, SCENARIOS_DIR
from scenarios.spec import AssetSpec
from scenarios.vocab import ISSUE_TYPES, LAYERS, TAXONOMY

CONTRACT_SCENARIOS = {"sc0001": "SC-0001", "sc0002": "SC-0002", "sc0003": "SC-0003"}


def test_contract_names_are_registered() -> None:
    assert {*CONTRACT_SCENARIOS, "nofault"} <= set(scenario_names())
    assert "retail" in pipeline_names()


@pytest.mark.parametrize("name", scenario_names())
def test_scenario_loads(name: str) -> None:
    scenario = load_scenario(name)
    assert isinstance(scenario, Scenario)
    assert scenario.name == name
    assert Path(scenario.source) == SCENARIOS_DIR / f"{name}.yaml"
    spec = scenario.spec
    assert spec.warmup_days < spec.horizon_days
    assert spec.description.strip() and spec.title.strip()
    assert all(day < spec.horizon_days for day in spec.noise.holidays)
    assert all(day < spec.horizon_days for day in spec.noise.benign_column_days)
    assert all(b.start_day < spec.horizon_days for b in spec.noise.backfills)


@pytest.mark.parametrize("name", scenario_names())
def test_seed_splits_are_disjoint(name: str) -> None:
    seeds = load_scenario(name).spec.seeds
    assert not set(seeds.train.seeds()) & set(seeds.eval.seeds())


@pytest.mark.parametrize("name", [*CONTRACT_SCENARIOS, "nofault"])
def test_contract_scenarios_share_the_protocol(name: str) -> None:
    spec = load_scenario(name).spec
    assert spec.id == CONTRACT_SCENARIOS.get(name, "CTRL-0000")
    assert spec.pipeline == "retail"
    assert (spec.horizon_days, spec.warmup_days) == (7, 1)
    assert (spec.seeds.train.start, spec.seeds.train.count) == (0, 100_000)
    assert (spec.seeds.eval.start, spec.seeds.eval.count) == (1_000_000, 200)
    assert (spec.warehouse.slots, spec.warehouse.max_slots) == (8, 32)
    assert spec.warehouse.price_per_slot_hour == 2.0
    noise = spec.noise
    assert noise.seasonality and noise.holidays and noise.backfills and noise.benign_column_days
    assert 0 < noise.late_within_sla_prob <= 0.1


@pytest.mark.parametrize(
    ("name", "subtypes", "low", "high"),
    [
        ("sc0001", {"upstream_outage", "transient_failure", "credentials_expired"}, 8, 15),
        (
            "sc0002",
            {"nulls", "duplicates", "volume_drop", "distribution_shift", "schema_drift"},
            8,
            15,
        ),
        ("sc0003", {"slow_query", "resource_contention"}, 6, 12),
        ("nofault", set(), 0, 0),
    ],
)
def test_fault_mix_and_expected_count(
    name: str, subtypes: set[str], low: float, high: float
) -> None:
    spec = load_scenario(name).spec
    assert {f.subtype for f in spec.faults} == subtypes
    expected = sum(f.rate_per_day for f in spec.faults) * (spec.horizon_days - spec.warmup_days)
    assert low <= expected <= high
    for subtype in subtypes:  # the spec sheet names what it injects
        assert subtype in spec.description


@pytest.mark.parametrize("name", pipeline_names())
def test_pipeline_loads(name: str) -> None:
    pipeline = load_pipeline(name)
    assert isinstance(pipeline, PipelineSpec)
    assert pipeline.name == name
    assert pipeline.description
    assert {a.layer for a in pipeline.assets} == set(LAYERS)


@pytest.mark.parametrize("name", pipeline_names())
def test_pipeline_offsets_let_upstream_finish_first(name: str) -> None:
    assets = {a.name: a for a in load_pipeline(name).assets}
    for a in assets.values():
        for u in a.upstream:
            up = assets[u]
            assert a.offset_min >= up.offset_min + up.runtime_median_min, (a.name, u)


@pytest.mark.parametrize("name", pipeline_names())
def test_pipeline_assets_are_checked(name: str) -> None:
    for a in load_pipeline(name).assets:
        assert a.checks, a.name
        assert (a.slots == 0) == (a.layer == "Source"), a.name


def test_mixed_is_the_generalization_scenario_on_a_second_topology() -> None:
    spec = load_scenario("mixed").spec
    assert spec.id == "SC-0004" and spec.pipeline == "logistics"
    assert "Version history: v1 (SC-0004)" in spec.description
    assert {TAXONOMY[f.subtype][0] for f in spec.faults} == set(ISSUE_TYPES)
    assert any(f.on_holidays and f.subtype == "schema_drift" for f in spec.faults)
    storm = [c for c in spec.cascades if c.root_causes == {"retry_storm": 1.0}]
    assert storm and storm[0].after == "upstream_outage" and storm[0].anchor == "recovery"
    for subtype in {f.subtype for f in spec.faults}:  # the spec sheet names what it injects
        assert subtype in spec.description
    days = spec.horizon_days - spec.warmup_days
    holidays = sum(spec.warmup_days <= d < spec.horizon_days for d in spec.noise.holidays)
    planned = sum(f.rate_per_day * (holidays if f.on_holidays else days) for f in spec.faults)
    rate = {f.subtype: f.rate_per_day for f in spec.faults if not f.on_holidays}
    cascaded = sum(c.prob * rate[c.after] * days for c in spec.cascades)
    assert 12 <= planned + cascaded <= 17  # the spec sheet's ~14.5 per episode
    # the same seed protocol as the contract scenarios: held-out seeds are never trained on
    assert (spec.seeds.train.start, spec.seeds.eval.start) == (0, 1_000_000)
    from envs import ENV_IDS

    assert ENV_IDS["dataops/Mixed-v0"] == "mixed"


def test_logistics_topology_shape() -> None:
    """Not retail: other schedules, a wider fan-in, a wider fan-out, its own access policy."""
    pipeline = load_pipeline("logistics")
    assert 20 <= len(pipeline.assets) <= 40
    assert {a.every_min for a in pipeline.assets} == {15, 30, 60, 240, 1440}
    assert max(len(a.upstream) for a in pipeline.assets) >= 5
    readers: dict[str, int] = {}
    for a in pipeline.assets:
        for u in a.upstream:
            readers[u] = readers.get(u, 0) + 1
    assert max(readers.values()) >= 3
    assert {a.name for a in pipeline.assets}.isdisjoint(
        {a.name for a in load_pipeline("retail").assets}
    )
    from agents.analytics.access_policy import POLICY_DIR, AccessPolicy

    policy = AccessPolicy.for_pipeline(pipeline)
    assert Path(policy._source) == POLICY_DIR / "logistics.yaml"
    policy.check_datasets([a.name for a in pipeline.assets])


@pytest.mark.parametrize("kind", ["unique", "not_null", "accepted_range"])
def test_logistics_lets_some_quality_issues_reach_delivery(kind: str) -> None:
    assert _reaches_delivery(list(load_pipeline("logistics").assets), kind)


def test_retail_topology_shape() -> None:
    pipeline = load_pipeline("retail")
    assert 20 <= len(pipeline.assets) <= 28
    delivery = [a for a in pipeline.assets if a.layer == "Delivery"]
    assert sum(a.every_min == 60 for a in delivery) == 1
    assert {a.criticality for a in delivery if "finance" in a.name or "dashboard" in a.name} == {
        "high"
    }
    checks = [c for a in pipeline.assets for c in a.checks]
    assert {c.severity for c in checks} == {"warn", "error"}
    assert any(c.blocking for c in checks) and not all(c.blocking for c in checks)


def _reaches_delivery(assets: list[AssetSpec], blocked_by: str) -> bool:
    """Can bad data caught by ``blocked_by`` checks flow from a Source to Delivery unblocked?"""
    open_assets = {
        a.name
        for a in assets
        if not any(c.kind == blocked_by and c.blocking and c.severity == "error" for c in a.checks)
    }
    reached = {a.name for a in assets if a.layer == "Source"}
    for a in assets:  # assets are listed in topological order
        if a.name in open_assets and any(u in reached for u in a.upstream):
            reached.add(a.name)
    return any(a.layer == "Delivery" and a.name in reached for a in assets)


@pytest.mark.parametrize("kind", ["unique", "not_null", "accepted_range"])
def test_retail_lets_some_quality_issues_reach_delivery(kind: str) -> None:
    assert _reaches_delivery(list(load_pipeline("retail").assets), kind)


def test_loading_twice_is_cached() -> None:
    first, second = load_scenario("sc0001"), load_scenario("sc0001")
    assert first == second
    assert first.spec is second.spec
    assert first.pipeline is second.pipeline


def test_load_by_path_and_edited_file_is_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    shutil.copy(SCENARIOS_DIR / "sc0001.yaml", path)
    shutil.copy(PIPELINES_DIR / "retail.yaml", tmp_path / "retail.yaml")
    text = path.read_text().replace("pipeline: retail", "pipeline: ./retail.yaml")
    path.write_text(text)
    by_path = load_scenario(path)
    assert by_path.name == "mine"
    assert by_path.pipeline == load_pipeline("retail")
    assert load_scenario(str(path)).spec is by_path.spec
    path.write_text(text.replace("title: Late Data Arrival", "title: Later Data Arrival"))
    assert load_scenario(path).spec.title == "Later Data Arrival"


def test_generated_topology_in_a_scenario(tmp_path: Path) -> None:
    text = (SCENARIOS_DIR / "nofault.yaml").read_text()
    text = text.replace("pipeline: retail", "pipeline: generated:40:3")
    text = text.replace("asset: fct_sales", "asset: src_orders_0")
    (tmp_path / "gen.yaml").write_text(text)
    scenario = load_scenario(tmp_path / "gen.yaml")
    assert scenario.pipeline.name == "generated_40_3"
    assert len(scenario.pipeline.assets) == 40


def test_a_warehouse_too_small_for_its_topology_is_refused(tmp_path: Path) -> None:
    """Retail's 8 slots under 300 generated assets: the backlog would grow without bound."""
    text = (SCENARIOS_DIR / "nofault.yaml").read_text()
    text = text.replace("pipeline: retail", "pipeline: generated:300:7")
    text = text.replace("asset: fct_sales", "asset: src_orders_0")
    (tmp_path / "big.yaml").write_text(text)
    with pytest.raises(
        ScenarioError, match=r"warehouse\.slots: 8 slots cannot carry .*at least 14"
    ):
        load_scenario(tmp_path / "big.yaml")
    fits = text.replace("  slots: 8\n  max_slots: 32", "  slots: 56\n  max_slots: 224")
    (tmp_path / "fits.yaml").write_text(fits)
    assert load_scenario(tmp_path / "fits.yaml").spec.warehouse.slots == 56


def test_scenario_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown scenario name"):
        load_scenario("no_such_scenario")
    assert issubclass(ScenarioError, ValueError)


def test_importing_scenarios_stays_light() -> None:
    code = (
        "import sys, scenarios; scenarios.load_scenario('sc0001');"
        "heavy = {'numpy', 'simpy', 'pandas', 'gymnasium', 'torch'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
