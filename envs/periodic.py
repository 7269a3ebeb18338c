"""What the periodic roles' environments share: one step a period, through the slot's own view.

The SLA and cost optimizers decide every ``period_min`` simulated minutes. Their environments
(``envs.sla.SlaEnv``, ``envs.cost.CostEnv``) drive the role's view and lever — an
``agents.slots.runner.OptimizerView`` (``SlaOptimizer``, ``CostOptimizer``), the object the
organization's optimizer slot drives — the way that slot does: a step is ``apply`` (the action),
the period simulated, ``close_period``, then ``observe`` for the next observation. So a policy sees
the same observations and has the same effect in the environment and in the organization.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

import gymnasium as gym
import numpy as np

from agents.org import Organization
from agents.slots.runner import OptimizerView
from agents.slots.sla_optimizer import PERIOD_MIN
from envs.base import DataOpsEnv, check_weights
from envs.sim.faults import Fault
from envs.sim.world import World
from scenarios.spec import Scenario

ViewT = TypeVar("ViewT", bound=OptimizerView)


class PeriodicEnv(DataOpsEnv, Generic[ViewT]):
    """Base class of a periodic role: each step applies an action through the role's view.

    A role sets ``role``, ``default_scenario``, ``default_weights``, ``feature_names``,
    ``action_names`` and ``action_nvec`` (the observation is ``Box(-1, 1, (len(feature_names),),
    float32)``, the action ``MultiDiscrete(action_nvec)``), ``org_options`` for the organization
    if it needs any, and implements the hooks ``_make_view``, ``_start_scoring``, ``_score``,
    ``_action_error`` and ``_role_info``.

    Args:
        scenario: a registered scenario name or a path to a scenario file (None: the role's
            ``default_scenario``).
        reward_weights: weights of the role's reward terms (unnamed ones keep their defaults).
        period_min: simulated minutes per step (> 0).
        days: horizon override in days (None: the scenario's ``horizon_days``).
    """

    default_scenario: ClassVar[str] = "sc0001"
    """The scenario when none is given."""
    default_weights: ClassVar[Mapping[str, float]] = {}
    """The reward terms, in order, with their default weights."""
    feature_names: tuple[str, ...] = ()
    """Names of the observation's features, in order."""
    action_names: tuple[str, ...] = ()
    """Names of the action's dimensions, in order."""
    action_nvec: ClassVar[tuple[int, ...]] = ()
    """Number of values of each action dimension."""
    org_options: ClassVar[Mapping[str, Any]] = {}
    """Keyword arguments for the organization (``agents.org.Organization``)."""

    def __init__(
        self,
        scenario: str | Scenario | None = None,
        reward_weights: dict[str, float] | None = None,
        period_min: float = PERIOD_MIN,
        days: float | None = None,
    ) -> None:
        super().__init__(self.default_scenario if scenario is None else scenario, days)
        if not period_min > 0:
            raise ValueError(f"period_min: expected > 0, got {period_min}")
        self.weights = check_weights(reward_weights, self.default_weights)
        self.period = float(period_min)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (len(self.feature_names),), np.float32)
        self.action_space = gym.spaces.MultiDiscrete(list(self.action_nvec))
        self.optimizer: ViewT | None = None
        """The role's view and lever on the current episode (None before the first reset)."""
        self._start_scoring()

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (seeds as the triage role) with the role's view on its world."""
        super().reset(seed=seed)
        self._build(self._episode_seed(options), **self.org_options)
        assert self.world is not None and self.org is not None
        self.optimizer = self._make_view(self.world, self.org)
        self._start_scoring()
        return self._obs(), self._info({})

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``action`` through the view, simulate one period, close it and score it."""
        a = np.asarray(action)
        if a.shape != self.action_space.shape or not self.action_space.contains(a.astype(np.int64)):
            raise ValueError(self._action_error(action))
        w, view = self.world, self.optimizer
        assert w is not None and view is not None
        view.apply(a)
        self._run_until(t=w.now + self.period)
        terms = self._score(view.close_period())
        return self._obs(), self.weighted_reward(terms), False, self.done, self._info(terms)

    # ------------------------------------------------------------------ the role's hooks
    def _make_view(self, world: World, org: Organization) -> ViewT:
        """The role's view and lever on a freshly built episode."""
        raise NotImplementedError

    def _start_scoring(self) -> None:
        """Reset the reward's bookkeeping (at construction and at every reset)."""

    def _score(self, closed: Any) -> dict[str, float]:
        """The reward terms of the period just ended (``closed``: ``close_period``'s result)."""
        raise NotImplementedError

    def _action_error(self, action: Any) -> str:
        """The message of the ``ValueError`` for an invalid ``action``."""
        raise NotImplementedError

    def _role_info(self, active: list[Fault]) -> dict[str, Any]:
        """The role's own ``info`` entries (``active``: the faults started and not resolved)."""
        return {}

    # ------------------------------------------------------------------ helpers
    def _obs(self) -> np.ndarray:
        assert self.optimizer is not None
        return self.optimizer.observe()

    def _info(self, terms: dict[str, float]) -> dict[str, Any]:
        assert self.world is not None
        active = [f for f in self.world.faults if f.started and not f.resolved]
        return {
            "reward_terms": terms,
            "episode_seed": self.episode_seed,
            "time_min": self.world.now,
            **self._role_info(active),
            "active_causes": sorted({f.cause for f in active}),
        }
