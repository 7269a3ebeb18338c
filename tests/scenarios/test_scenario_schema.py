"""The committed JSON Schemas equal the ones generated from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from scenarios.loader import PIPELINES_DIR, SCENARIOS_DIR
from scenarios.registry import pipeline_names, scenario_names
from scenarios.schema import SCHEMA_DIR, SCHEMAS, main, render


@pytest.mark.parametrize("file_name", sorted(SCHEMAS))
def test_committed_schema_is_current(file_name: str) -> None:
    committed = (SCHEMA_DIR / file_name).read_text(encoding="utf-8")
    assert committed == render(SCHEMAS[file_name]), "run: python -m scenarios.schema"


def test_check_mode_passes() -> None:
    assert main(["--check"]) == 0


def _validator(file_name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / file_name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.mark.parametrize("name", scenario_names())
def test_shipped_scenarios_match_schema(name: str) -> None:
    data = yaml.safe_load((SCENARIOS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    _validator("schema.json").validate(data)


@pytest.mark.parametrize("name", pipeline_names())
def test_shipped_pipelines_match_schema(name: str) -> None:
    data = yaml.safe_load((PIPELINES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    _validator("pipeline.schema.json").validate(data)


def test_schema_rejects_unknown_fields(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENARIOS_DIR / "sc0001.yaml").read_text(encoding="utf-8"))
    data["horizon_dayz"] = 7
    assert not _validator("schema.json").is_valid(data)
