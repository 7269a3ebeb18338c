"""The algorithm registry: the SB3 algorithms the lab trains and what each needs from a role.

=================  ==========================================  =====================
name               class                                       needs
=================  ==========================================  =====================
``ppo``            ``stable_baselines3.PPO``                   —
``a2c``            ``stable_baselines3.A2C``                   —
``dqn``            ``stable_baselines3.DQN``                   a Discrete action space
``maskable_ppo``   ``sb3_contrib.MaskablePPO``                 action masks
=================  ==========================================  =====================

Only the triage role has a Discrete action space and action masks; ``TrainConfig`` refuses the
other combinations. Importing this module imports no SB3: ``algo_class`` imports the library of
the class it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

ALGOS = ("ppo", "a2c", "dqn", "maskable_ppo")
"""Every algorithm name ``algo=`` accepts."""
DISCRETE_ONLY = ("dqn",)
"""Algorithms that need a Discrete action space (the triage role)."""
MASKED = ("maskable_ppo",)
"""Algorithms that need action masks (the triage role, wrapped in ``ActionMasker``)."""


def algo_class(name: str) -> type[BaseAlgorithm]:
    """The SB3 class of an algorithm name.

    Args:
        name: one of ``ALGOS``.

    Returns:
        The class (``load`` and the constructor are what callers use); importing it is deferred to
        this call.

    Raises:
        ValueError: ``name`` is not in ``ALGOS``.
    """
    if name == "maskable_ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    import stable_baselines3 as sb3

    classes: dict[str, type[BaseAlgorithm]] = {"ppo": sb3.PPO, "a2c": sb3.A2C, "dqn": sb3.DQN}
    if name not in classes:
        raise ValueError(f"algo: unknown {name!r}; expected ppo, a2c, dqn or maskable_ppo")
    return classes[name]


__all__ = ["ALGOS", "DISCRETE_ONLY", "MASKED", "algo_class"]
