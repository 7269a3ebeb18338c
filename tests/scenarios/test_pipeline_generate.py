"""The topology generator: valid, deterministic in its seed, layered and fast at scale."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios import ScenarioError, load_pipeline, load_scenario
from scenarios.generate import SOURCE_LATE_SHARE, generate_pipeline, layer_counts
from scenarios.spec import PipelineSpec
from scenarios.vocab import LAYERS


@pytest.mark.parametrize("n", [5, 10, 100, 1000])
def test_sizes_and_layers(n: int) -> None:
    pipeline = generate_pipeline(n, seed=1)
    assert len(pipeline.assets) == n
    counts = Counter(a.layer for a in pipeline.assets)
    assert tuple(counts[layer] for layer in LAYERS) == layer_counts(n)
    assert all(counts[layer] >= 1 for layer in LAYERS)


def test_layer_shares_at_scale() -> None:
    assert layer_counts(1000) == (100, 150, 400, 200, 150)
    assert layer_counts(5) == (1, 1, 1, 1, 1)
    for n in range(5, 300):
        assert sum(layer_counts(n)) == n


@pytest.mark.parametrize("n", [5, 10, 100, 1000])
def test_structure_is_realistic(n: int) -> None:
    pipeline = generate_pipeline(n, seed=2)
    by_name = {a.name: a for a in pipeline.assets}
    for a in pipeline.assets:
        assert a.every_min in (60, 1440)
        assert a.checks
        if a.layer == "Source":
            assert not a.upstream and a.slots == 0
        else:
            assert 1 <= len(a.upstream) <= 3
            # Only transformations read their own layer (staging -> intermediate -> marts).
            same_ok = a.layer == "Transformation"
            for u in a.upstream:
                up, here = LAYERS.index(by_name[u].layer), LAYERS.index(a.layer)
                assert up < here or (same_ok and up == here), (a.name, u)
        if a.every_min == 1440:
            assert a.layer in ("Warehouse", "Delivery")


def test_upstream_usually_finishes_first() -> None:
    assets = {a.name: a for a in generate_pipeline(1000, seed=3).assets}
    edges = [(assets[u], a) for a in assets.values() for u in a.upstream]
    ok = sum(a.offset_min >= up.offset_min + up.runtime_median_min for up, a in edges)
    assert ok / len(edges) >= 0.95


def test_deterministic_in_seed() -> None:
    assert generate_pipeline(200, seed=7) == generate_pipeline(200, seed=7)
    assert generate_pipeline(200, seed=7) != generate_pipeline(200, seed=8)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=5, max_value=300), seed=st.integers(min_value=0, max_value=2**32))
def test_any_size_and_seed_is_valid(n: int, seed: int) -> None:
    pipeline = generate_pipeline(n, seed)
    assert len(pipeline.assets) == n
    # Revalidating from plain data runs every PipelineSpec check again.
    assert PipelineSpec.model_validate(pipeline.model_dump()) == pipeline


def test_too_small_or_negative_seed_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"n_assets is 4; expected at least 5"):
        generate_pipeline(4)
    with pytest.raises(ValueError, match=r"seed is -1; expected a non-negative"):
        generate_pipeline(10, seed=-1)


def test_generated_reference_and_yaml_round_trip(tmp_path: Path) -> None:
    pipeline = generate_pipeline(60, seed=4)
    assert load_pipeline("generated:60:4") == pipeline
    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump(pipeline.model_dump(mode="json"), sort_keys=False))
    assert load_pipeline(path) == pipeline


@pytest.mark.parametrize("ref", ["generated:4:0", "generated:ten:0", "generated:10"])
def test_bad_generated_reference(ref: str) -> None:
    with pytest.raises(ScenarioError, match=r"generated.*expected"):
        load_pipeline(ref)


@pytest.mark.parametrize(("n", "seed"), [(50, 7), (120, 7), (300, 7), (1000, 3)])
def test_hourly_slas_cover_late_but_within_sla_sources(n: int, seed: int) -> None:
    """A Source landing as late as it may (0.9 of its SLA) breaks no downstream SLA by itself."""
    late: dict[str, float] = {}
    for a in generate_pipeline(n, seed).assets:  # topological order
        if a.layer == "Source":
            late[a.name] = SOURCE_LATE_SHARE * a.freshness_sla_min
            continue
        ready = max(late[u] for u in a.upstream)
        late[a.name] = max(float(a.offset_min), ready) + 1.2 * a.runtime_median_min
        if a.every_min == 60:
            assert a.freshness_sla_min >= late[a.name], a.name


def test_retail_warehouse_is_its_nominal_peak() -> None:
    """The yardstick for sizing a generated topology's warehouse: retail's 8 slots are its peak."""
    sc = load_scenario("sc0002")
    peak, mean = sc.pipeline.nominal_slot_load()
    assert peak == sc.spec.warehouse.slots == 8
    assert 0 < mean < peak


@pytest.mark.parametrize("n", [50, 120, 300])
def test_generated_nominal_load_grows_with_the_topology(n: int) -> None:
    peak, mean = generate_pipeline(n, 7).nominal_slot_load()
    assert mean < peak
    assert peak > n // 10  # far beyond retail's 8 slots at 120 and 300 assets
