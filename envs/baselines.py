"""Baseline policies per role, with SB3's ``predict(obs, deterministic=True)`` signature.

=========  =====================================  ======================================
role       rules (the organization's default)     oracle (reads hidden ground truth)
=========  =====================================  ======================================
triage     the rules' proposed route (a one-hot   the best fix of the incident's true
           in the observation)                    root cause (analysis only)
sla        keep every threshold                   sensitive while a fault is active,
                                                  quiet otherwise
cost       the scenario's warehouse, no deferral  twice the warehouse while a contention
                                                  or slow-query fault is active, else
                                                  the base size; defer during faults
=========  =====================================  ======================================

``NoopPolicy`` does nothing a role can do: triage closes every incident without action (route
``none``), sla keeps every threshold, cost keeps the scenario's warehouse and defers nothing (for
sla and cost that is what the rules do too: their organization has no optimizer in these slots).
It is the do-nothing line a benchmark must keep below the rules.

``RandomPolicy`` samples the action space (respecting ``action_masks()`` where the env has one).
The oracle is an upper bound for analysis — never a leaderboard entry — and needs the env itself
(it reads ``info``-level truth), so it is built with ``baseline(role, "oracle", env)``.
"""

from __future__ import annotations

from typing import Any, Final

import gymnasium as gym
import numpy as np

from agents.playbooks import ROUTES
from agents.slots.features import TRIAGE_FEATURES
from envs.cost import SIZE_FACTORS
from envs.sla import FAMILIES

BASELINES: Final[tuple[str, ...]] = ("noop", "random", "rules", "oracle")
"""Every baseline name ``baseline`` builds."""
_ROUTE0 = TRIAGE_FEATURES.index(f"rules_route_{ROUTES[0]}")
_CONTENTION = {
    "noisy_neighbor",
    "undersized_warehouse",
    "retry_storm",
    "data_skew",
    "plan_regression",
}


class RandomPolicy:
    """Uniform random actions (valid ones only where the env masks actions)."""

    def __init__(self, env: gym.Env[Any, Any], seed: int = 0) -> None:
        self.env = env
        self.rng = np.random.default_rng(seed)

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[Any, None]:
        """Return a random action (``deterministic`` is ignored: this policy is random)."""
        space = self.env.action_space
        masks = getattr(self.env.unwrapped, "action_masks", None)
        if isinstance(space, gym.spaces.Discrete):
            valid = np.flatnonzero(masks()) if masks is not None else np.arange(space.n)
            return int(self.rng.choice(valid)), None
        assert isinstance(space, gym.spaces.MultiDiscrete)
        return np.array([self.rng.integers(n) for n in space.nvec], dtype=np.int64), None


class NoopPolicy:
    """Do nothing: route ``none`` (triage), keep thresholds (sla), keep the size (cost)."""

    def __init__(self, role: str) -> None:
        self.role = role

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[Any, None]:
        """Return the role's do-nothing action (``obs`` is not read)."""
        if self.role == "triage":
            return ROUTES.index("none"), None
        if self.role == "sla":
            return np.ones(len(FAMILIES), dtype=np.int64), None
        return np.array([SIZE_FACTORS.index(1.0), 0], dtype=np.int64), None


class RulesPolicy:
    """What the rule-based organization would do in this role."""

    def __init__(self, role: str) -> None:
        self.role = role

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[Any, None]:
        """Return the rules' action for ``obs``."""
        if self.role == "triage":
            onehot = np.asarray(obs)[_ROUTE0 : _ROUTE0 + len(ROUTES)]
            return int(np.argmax(onehot)) if onehot.any() else ROUTES.index("escalate"), None
        if self.role == "sla":
            return np.ones(len(FAMILIES), dtype=np.int64), None
        return np.array([SIZE_FACTORS.index(1.0), 0], dtype=np.int64), None


class OraclePolicy:
    """Reads the hidden ground truth of ``env`` (an upper bound, for analysis only)."""

    def __init__(self, role: str, env: gym.Env[Any, Any]) -> None:
        self.role = role
        self.env = env

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[Any, None]:
        """Return the action that the true state of the world calls for."""
        u: Any = self.env.unwrapped
        if self.role == "triage":
            return int(u.oracle_route()), None
        world = getattr(u, "world", None)
        assert world is not None, "the oracle needs a dataops-gym environment"
        active = {f.cause for f in world.faults if f.started and not f.resolved}
        if self.role == "sla":
            return np.full(len(FAMILIES), 0 if active else 2, dtype=np.int64), None
        busy = bool(active & _CONTENTION)
        size = SIZE_FACTORS.index(2.0) if busy else SIZE_FACTORS.index(1.0)
        return np.array([size, 1 if active else 0], dtype=np.int64), None


def baseline(role: str, name: str, env: gym.Env[Any, Any], seed: int = 0) -> Any:
    """The baseline ``name`` (noop, random, rules, oracle) of ``role`` for ``env``.

    Raises:
        ValueError: for an unknown baseline name.
    """
    if name == "noop":
        return NoopPolicy(role)
    if name == "random":
        return RandomPolicy(env, seed)
    if name == "rules":
        return RulesPolicy(role)
    if name == "oracle":
        return OraclePolicy(role, env)
    raise ValueError(f"baseline: unknown {name!r}; expected noop, random, rules or oracle")
