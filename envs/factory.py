"""The entry point every registered id points at: ``make_env(scenario, role, **kwargs)``."""

from __future__ import annotations

from typing import Any

from envs.base import ROLES, DataOpsEnv
from scenarios.spec import Scenario


def make_env(
    scenario: str | Scenario = "sc0001", role: str = "triage", **kwargs: Any
) -> DataOpsEnv:
    """Build the environment of ``role`` on ``scenario``.

    Args:
        scenario: a registered scenario name or a path to a scenario file.
        role: ``triage``, ``sla`` or ``cost``.
        **kwargs: the role's arguments (``reward_weights``, ``days``, ``period_min`` ...).

    Raises:
        ValueError: for an unknown role (lists the valid ones).
    """
    if role == "triage":
        from envs.triage import TriageEnv

        return TriageEnv(scenario, **kwargs)
    if role == "sla":
        from envs.sla import SlaEnv

        return SlaEnv(scenario, **kwargs)
    if role == "cost":
        from envs.cost import CostEnv

        return CostEnv(scenario, **kwargs)
    raise ValueError(f"role: unknown role {role!r}; expected one of {', '.join(ROLES)}")
