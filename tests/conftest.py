"""Constants shared by the test suite (import them: ``from tests.conftest import ROOT``).

The contract files are written down here once, from DESIGN §4, so that the tests that check
``run_org`` and the artifact writer hold the code to the same list.
"""

from __future__ import annotations

import math
from pathlib import Path

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
