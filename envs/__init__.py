"""Gymnasium environments of dataops-gym (thin adapters) and, in ``envs.sim``, the simulator.

The environment ids are registered by entry-point string (no environment module is imported
until one is made)::

    import gymnasium as gym
    env = gym.make("envs:dataops/LateArrival-v0", role="triage")

=======================================  ==============================================
id                                       scenario
=======================================  ==============================================
``dataops/LateArrival-v0``               SC-0001 Late Data Arrival (``sc0001``)
``dataops/QualityDegradation-v0``        SC-0002 Quality Degradation (``sc0002``)
``dataops/PerformanceDegradation-v0``    SC-0003 Performance Degradation (``sc0003``)
``dataops/Mixed-v0``                     SC-0004 Mixed Faults on a Second Topology (``mixed``):
                                         every issue type, cascades, the logistics topology;
                                         the generalization scenario (train on SC-0001..3)
``dataops/Pipeline-v0``                  any scenario: ``scenario=<name or path>``
=======================================  ==============================================

Each takes ``role`` in ``triage | sla | cost``; the organization plays the others.

Importing ``envs.sim`` must not import gymnasium (the simulator knows nothing about learning),
so registration happens when gymnasium is (or gets) imported: at once if it already is, else
right after its own import completes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

ENV_IDS = {
    "dataops/LateArrival-v0": "sc0001",
    "dataops/QualityDegradation-v0": "sc0002",
    "dataops/PerformanceDegradation-v0": "sc0003",
    "dataops/Mixed-v0": "mixed",
    "dataops/Pipeline-v0": None,
}
"""Registered ids → their scenario (None: given by ``scenario=``)."""


def env_id_of(scenario: str) -> str:
    """The registered id of a scenario.

    Args:
        scenario: a scenario name (``sc0001``...), as ``Scenario.name`` gives it.

    Returns:
        The id registered for that scenario in ``ENV_IDS``, else ``dataops/Pipeline-v0`` (which
        takes any scenario through ``scenario=``).
    """
    for env_id, sc in ENV_IDS.items():
        if sc == scenario:
            return env_id
    return "dataops/Pipeline-v0"


def register_envs() -> None:
    """Register every id with gymnasium (idempotent)."""
    from gymnasium.envs.registration import register, registry

    for env_id, scenario in ENV_IDS.items():
        if env_id not in registry:
            register(
                id=env_id,
                entry_point="envs.factory:make_env",
                kwargs={} if scenario is None else {"scenario": scenario},
            )


class _RegisterAfterGymnasium(importlib.abc.MetaPathFinder):
    """Runs ``register_envs`` right after gymnasium's own import, whenever that happens."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "gymnasium":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            register_envs()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if "gymnasium" in sys.modules:
    register_envs()
elif not any(isinstance(f, _RegisterAfterGymnasium) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterGymnasium())
