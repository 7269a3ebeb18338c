"""Gymnasium environments of dataops-gym (thin adapters) and, in ``envs.sim``, the simulator.

Importing this package registers the environment ids by entry-point string (no environment
module is imported until one is made)::

    import gymnasium as gym
    env = gym.make("envs:dataops/LateArrival-v0", role="triage")

=================================  =================================================
id                                 scenario
=================================  =================================================
``dataops/LateArrival-v0``         SC-0001 Late Data Arrival (``sc0001``)
``dataops/QualityDegradation-v0``  SC-0002 Quality Degradation (``sc0002``)
``dataops/PerformanceDegradation-v0``  SC-0003 Performance Degradation (``sc0003``)
``dataops/Pipeline-v0``            any scenario: ``scenario=<name or path>``
=================================  =================================================

Each takes ``role`` in ``triage | sla | cost``; the organization plays the others.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

ENV_IDS = {
    "dataops/LateArrival-v0": "sc0001",
    "dataops/QualityDegradation-v0": "sc0002",
    "dataops/PerformanceDegradation-v0": "sc0003",
    "dataops/Pipeline-v0": None,
}
"""Registered ids → their scenario (None: given by ``scenario=``)."""

for _id, _scenario in ENV_IDS.items():
    if _id not in registry:
        register(
            id=_id,
            entry_point="envs.factory:make_env",
            kwargs={} if _scenario is None else {"scenario": _scenario},
            disable_env_checker=False,
        )
