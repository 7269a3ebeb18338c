"""The scenario registry: the scenario and topology files shipped in the package.

A scenario is registered by adding ``scenarios/<name>.yaml`` (a topology: ``scenarios/pipelines/
<name>.yaml``); no code changes. The contract names are ``sc0001``, ``sc0002``, ``sc0003`` and
``nofault`` (DESIGN.md §3); ``mixed`` (SC-0004, on the logistics topology) is the generalization
scenario (DESIGN.md §8).
"""

from __future__ import annotations

from scenarios.loader import PIPELINES_DIR, SCENARIOS_DIR, load_pipeline, load_scenario, yaml_stems

__all__ = ["load_pipeline", "load_scenario", "pipeline_names", "scenario_names"]


def scenario_names() -> list[str]:
    """Names of the registered scenarios (the ``*.yaml`` files in ``scenarios/``), sorted."""
    return yaml_stems(SCENARIOS_DIR)


def pipeline_names() -> list[str]:
    """Names of the registered topologies (the ``*.yaml`` files in ``scenarios/pipelines/``)."""
    return yaml_stems(PIPELINES_DIR)
