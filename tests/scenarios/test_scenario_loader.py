"""Bad scenario and pipeline files fail with one clear line: file, field path, expectation."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from scenarios import ScenarioError, load_scenario
from scenarios.loader import SCENARIOS_DIR, load_pipeline

TOPOLOGY: dict[str, Any] = {
    "name": "small",
    "assets": [
        {"name": "src", "layer": "Source", "slots": 0},
        {"name": "ing", "layer": "Ingestion", "upstream": ["src"]},
        {"name": "stg", "layer": "Transformation", "upstream": ["ing"]},
        {"name": "fct", "layer": "Warehouse", "upstream": ["stg"], "every_min": 1440},
        {"name": "rep", "layer": "Delivery", "upstream": ["fct"], "every_min": 1440},
    ],
}
SCENARIO: dict[str, Any] = {
    "id": "TST-0001",
    "title": "Test",
    "description": "A small scenario for loader tests.",
    "pipeline": "topo.yaml",
    "horizon_days": 3,
    "warmup_days": 1,
    "faults": [{"subtype": "upstream_outage", "rate_per_day": 1.0}],
    "noise": {
        "holidays": [2],
        "backfills": [{"asset": "fct", "start_day": 1, "duration_hours": 2}],
    },
    "seeds": {"train": {"start": 0, "count": 100}, "eval": {"start": 1000, "count": 10}},
}

Edit = Callable[[dict[str, Any], dict[str, Any]], None]


def _write(tmp_path: Path, scenario: dict[str, Any] | str, topology: dict[str, Any] | str) -> Path:
    for name, content in (("sc.yaml", scenario), ("topo.yaml", topology)):
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / "sc.yaml"


def test_valid_base_files_load(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, SCENARIO, TOPOLOGY))
    assert scenario.name == "sc"
    assert scenario.pipeline.name == "small"


def _set(path: str, value: Any) -> Edit:
    """Edit that sets ``a.b.0.c`` in the scenario (or in the topology if it starts with topo.)."""

    def edit(scenario: dict[str, Any], topology: dict[str, Any]) -> None:
        keys = path.split(".")
        target: Any = topology if keys[0] == "topo" else scenario
        keys = keys[1:] if keys[0] == "topo" else keys
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        target[int(last) if last.isdigit() else last] = value

    return edit


def _rename_key(old: str, new: str) -> Edit:
    def edit(scenario: dict[str, Any], topology: dict[str, Any]) -> None:
        fault = scenario["faults"][0]
        fault[new] = fault.pop(old)

    return edit


def _add_cycle(scenario: dict[str, Any], topology: dict[str, Any]) -> None:
    """stg -> int -> stg."""
    topology["assets"].insert(3, {"name": "int", "layer": "Transformation", "upstream": ["stg"]})
    topology["assets"][2]["upstream"] = ["ing", "int"]


# (case id, edit, file that must be named, field path, expectation in the message)
CASES: list[tuple[str, Edit, str, str, str]] = [
    (
        "unknown_field",
        _set("horizon_dayz", 5),
        "sc.yaml",
        "horizon_dayz",
        "(did you mean 'horizon_days'?); expected one of: id, title",
    ),
    (
        "unknown_nested_field",
        _rename_key("rate_per_day", "rate_per_dya"),
        "sc.yaml",
        "faults[0].rate_per_dya",
        "expected one of: subtype, rate_per_day",
    ),
    (
        "wrong_type",
        _set("horizon_days", "seven"),
        "sc.yaml",
        "horizon_days",
        "expected a valid number",
    ),
    (
        "negative_rate",
        _set("faults.0.rate_per_day", -1.0),
        "sc.yaml",
        "faults[0].rate_per_day",
        "expected greater than or equal to 0; got -1.0",
    ),
    (
        "overlapping_seed_splits",
        _set("seeds.eval.start", 50),
        "sc.yaml",
        "seeds.eval",
        "expected disjoint ranges",
    ),
    (
        "unknown_subtype",
        _set("faults.0.subtype", "meteor_strike"),
        "sc.yaml",
        "faults[0].subtype",
        "expected 'upstream_outage', 'transient_failure'",
    ),
    (
        "root_cause_not_fitting_subtype",
        _set("faults.0.root_causes", {"bad_join": 1.0}),
        "sc.yaml",
        "faults[0].root_causes",
        "'bad_join' cannot produce 'upstream_outage'; expected one of source_outage",
    ),
    (
        "missing_topology",
        _set("pipeline", "nowhere.yaml"),
        "sc.yaml",
        "pipeline",
        "not found",
    ),
    (
        "missing_required_field",
        lambda s, t: s.pop("title"),
        "sc.yaml",
        "title",
        "required field is missing; expected a value",
    ),
    (
        "warmup_not_below_horizon",
        _set("warmup_days", 3),
        "sc.yaml",
        "warmup_days",
        "expected warmup_days < horizon_days",
    ),
    (
        "fault_on_unknown_asset",
        _set("faults.0.assets", ["nope"]),
        "sc.yaml",
        "faults[0].assets",
        "expected an asset of pipeline 'small'",
    ),
    (
        "cycle_in_the_dag",
        _add_cycle,
        "topo.yaml",
        "assets",
        "cycle in the DAG: stg -> int -> stg; expected a DAG",
    ),
    (
        "unknown_upstream",
        _set("topo.assets.2.upstream", ["ingest"]),
        "topo.yaml",
        "assets[2].upstream",
        "unknown upstream 'ingest' of 'stg'; expected one of",
    ),
    (
        "unknown_layer",
        _set("topo.assets.2.layer", "Staging"),
        "topo.yaml",
        "assets[2].layer",
        "expected 'Source', 'Ingestion', 'Transformation', 'Warehouse' or 'Delivery'",
    ),
    (
        "duplicate_asset_name",
        _set("topo.assets.2.name", "ing"),
        "topo.yaml",
        "assets[2].name",
        "duplicate asset name 'ing'; expected unique names",
    ),
    (
        "non_nesting_schedules",
        _set("topo.assets.2.every_min", 90),
        "topo.yaml",
        "assets[2].every_min",
        "not a multiple of every_min 60 of its upstream 'ing'; expected schedules that nest",
    ),
    (
        "later_layer_upstream",
        _set("topo.assets.2.upstream", ["fct"]),
        "topo.yaml",
        "assets[2].upstream",
        "a later layer; expected layers in order",
    ),
    (
        "bad_check_severity",
        _set("topo.assets.1.checks", [{"kind": "schema", "severity": "fatal"}]),
        "topo.yaml",
        "assets[1].checks[0].severity",
        "expected 'warn' or 'error'",
    ),
]


@pytest.mark.parametrize(
    ("case", "edit", "file", "field", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_file(
    tmp_path: Path, case: str, edit: Edit, file: str, field: str, expected: str
) -> None:
    scenario, topology = copy.deepcopy(SCENARIO), copy.deepcopy(TOPOLOGY)
    edit(scenario, topology)
    path = _write(tmp_path, scenario, topology)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    _assert_clear(info.value, tmp_path / file, field, expected)


# (case id, scenario file text, field (empty: none applies), expectation)
RAW_CASES = [
    ("bad_yaml_syntax", "id: TST-0001\nfaults: [1, 2\n", "line 3, column 1", "expected ',' or ']'"),
    ("duplicate_key", "id: TST-0001\nid: TST-0002\n", "line 2, column 1", "duplicate key 'id'"),
    ("tab_indentation", "id: TST-0001\n\ttitle: x\n", "line 2, column 1", "invalid YAML"),
    ("empty_file", "", "", "file is empty; expected a YAML mapping with keys id, title"),
    ("comments_only", "# nothing here\n", "", "file is empty; expected a YAML mapping"),
    ("top_level_list", "- id: TST-0001\n", "", "top level is a list; expected a mapping"),
    ("top_level_scalar", "hello\n", "", "top level is a str; expected a mapping"),
]


@pytest.mark.parametrize(
    ("case", "text", "field", "expected"), RAW_CASES, ids=[c[0] for c in RAW_CASES]
)
def test_bad_yaml(tmp_path: Path, case: str, text: str, field: str, expected: str) -> None:
    path = _write(tmp_path, text, TOPOLOGY)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    _assert_clear(info.value, path, field, expected)


def test_bad_yaml_in_topology_names_topology_and_scenario(tmp_path: Path) -> None:
    path = _write(tmp_path, SCENARIO, "name: small\nassets: [\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    _assert_clear(info.value, tmp_path / "topo.yaml", "line 3", "invalid YAML")
    assert f"of scenario {path}" in str(info.value)


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "absent.yaml")
    _assert_clear(info.value, tmp_path / "absent.yaml", "", "file not found; expected an existing")


def test_missing_topology_lists_the_options(tmp_path: Path) -> None:
    scenario = {**SCENARIO, "pipeline": "retial"}
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, scenario, TOPOLOGY))
    message = str(info.value)
    assert "did you mean 'retail'?" in message
    assert (
        "expected a topology name (logistics, retail), a path relative to the scenario file"
        in message
    )


def test_unknown_scenario_name_lists_the_valid_names() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("sc001")
    _assert_clear(
        info.value,
        SCENARIOS_DIR / "sc001.yaml",
        "",
        "unknown scenario name 'sc001' (did you mean 'sc0001'?); expected a path to a scenario "
        "YAML file or one of: mixed, nofault, sc0001, sc0002, sc0003",
    )


def test_unknown_topology_name() -> None:
    with pytest.raises(
        ScenarioError, match=r"unknown topology name 'retial'.*one of: logistics, retail"
    ):
        load_pipeline("retial")


def test_every_error_of_the_file_is_on_the_one_line(tmp_path: Path) -> None:
    scenario = {**SCENARIO, "horizon_days": "x", "warmup_days": "y", "title": 3}
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, scenario, TOPOLOGY))
    message = str(info.value)
    assert "\n" not in message and "more error" not in message
    for field in ("title", "horizon_days", "warmup_days"):
        assert f"{field}: " in message, (field, message)
    assert message.count("; also ") == 2


def test_a_misspelt_key_is_one_error_not_two(tmp_path: Path) -> None:
    scenario = {k: v for k, v in SCENARIO.items() if k != "horizon_days"} | {"horizn_days": 7}
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, scenario, TOPOLOGY))
    message = str(info.value)
    assert "unknown field 'horizn_days' (did you mean 'horizon_days'?)" in message
    assert "also" not in message


def _assert_clear(err: ScenarioError, file: Path, field: str, expected: str) -> None:
    message = str(err)
    assert "\n" not in message
    assert message.startswith(str(file.resolve())), message
    assert err.file == str(file.resolve())
    assert err.field.startswith(field) if field.startswith("line") else err.field == field
    if field:
        assert f": {field}" in message, message
    assert expected in message, message
