"""Declarative scenarios and pipeline topologies: frozen specs loaded from YAML.

>>> from scenarios import load_scenario
>>> load_scenario("sc0001").spec.title
'Late Data Arrival'

Importing this package needs only pydantic and PyYAML (the topology generator's numpy is
imported on first use).
"""

from scenarios.loader import (
    ScenarioError,
    load_pipeline,
    load_scenario,
    scenario_reference,
    scenario_sha256,
)
from scenarios.registry import pipeline_names, scenario_names
from scenarios.spec import PipelineSpec, Scenario, ScenarioSpec

__all__ = [
    "PipelineSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioSpec",
    "load_pipeline",
    "load_scenario",
    "pipeline_names",
    "scenario_names",
    "scenario_reference",
    "scenario_sha256",
]
