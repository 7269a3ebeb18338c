"""Constants shared by the test suite (import them: ``from tests.conftest import ROOT``).

The contract files are written down here once, from DESIGN §4, so that the tests that check
``run_org`` and the artifact writer hold the code to the same list.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
"""The repository's root (where README.md and pyproject.toml are)."""

NAN = math.nan

ARTIFACT_DOCS = (
    "00_governance/file-ownership.md",
    "00_governance/scaffold-spec.md",
    "01_agents/alert-record.md",
    "01_agents/diagnosis.md",
    "01_agents/remediation-log.md",
    "09_learning/incident-summary.md",
)
"""The blueprint's markdown records an organization run writes (DESIGN §4, contract)."""

ARTIFACT_TABLES = ("alerts.csv", "diagnoses.csv", "remediations.csv", "incidents.csv")
"""The machine-readable tables beside them (contract)."""


@pytest.fixture(scope="session")
def untrained_triage_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported (untrained, seed 0) MaskablePPO triage policy on SC-0001; read-only."""
    from sb3_contrib import MaskablePPO

    from agents.deploy.export import export_policy
    from envs.factory import make_env

    env = make_env("sc0001", "triage")
    out = tmp_path_factory.mktemp("triage-policy")
    export_policy(MaskablePPO("MlpPolicy", env, device="cpu", seed=0), env, out,
                  algo="maskable_ppo", scenario="sc0001", role="triage",
                  env_id="dataops/LateArrival-v0")  # fmt: skip
    return out
