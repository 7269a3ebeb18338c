"""The cost-optimizer role environment. Its spec sheet is the class docstring of ``CostEnv``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents.slots.cost_optimizer import (
    COST_ACTIONS,
    COST_FEATURES,
    COST_NVEC,
    SIZE_FACTORS,
    CostOptimizer,
)
from agents.slots.sla_optimizer import PERIOD_MIN
from envs.base import DataOpsEnv, check_weights
from scenarios.spec import Scenario

COST_WEIGHTS = {"cost": 1.0, "sla": 0.5, "exposure": 0.1}


class CostEnv(DataOpsEnv):
    """The cost-optimizer role: size the warehouse and defer low-priority work, hour by hour.

    ## Description

    The rule-based organization runs the pipeline and handles incidents; the agent owns the
    warehouse. Every ``period_min`` (60) simulated minutes it picks the warehouse size and whether
    low-criticality assets' runs are deferred (they queue behind everything else). A bigger
    warehouse costs more per hour (provisioned slots are billed) and queues less; a small one saves
    money until SLAs break and incidents pile up.

    ## Action space

    ``MultiDiscrete([7, 2])``, dimensions named by ``agents.slots.cost_optimizer.COST_ACTIONS``
    (also ``action_names``): size as a multiple of the scenario's base size — 0.5, 0.75, 1, 1.25,
    1.5, 2, 3 (rounded, within 1..max_slots) — and defer low-priority runs (0 no, 1 yes). The
    agent's size holds until its next step; the organization's own warehouse scaling is off. The
    organization's cost-optimizer slot applies an action the same way
    (``agents.slots.cost_optimizer.CostOptimizer.apply``).

    ## Observation space

    ``Box(-1, 1, (12,), float32)``, named by ``agents.slots.cost_optimizer.COST_FEATURES`` (also
    ``feature_names``) and computed by ``CostOptimizer.observe``:

    | index | feature | scaling |
    |---|---|---|
    | 0 | warehouse slots | slots / max_slots |
    | 1 | deferring low-priority runs | 0/1 |
    | 2 | runs waiting for a slot | count / 20, clipped |
    | 3 | slots busy | busy / slots |
    | 4 | partitions that breached their SLA in the last period | count / 10, clipped |
    | 5 | open incidents | count / 10, clipped |
    | 6 | queries outside the pipeline holding slots | 0/1 |
    | 7 | cost of the last period | cost / (base slots x price x period hours) / 3 |
    | 8–9 | hour of day | sin, cos |
    | 10 | weekend | 0/1 |
    | 11 | runs started in the last period | count / (2 x assets), clipped |

    ## Rewards

    Weighted sum of named terms (``reward_weights``), each in ``info["reward_terms"]``: ``cost`` −
    warehouse cost of the period in base-size hours (1.0 = the base warehouse for an hour); ``sla``
    − partitions whose deadline passed in the period without an on-time arrival; ``exposure`` −
    hours of wrong data visible at Delivery.

    ## Starting state, episode end, arguments

    As the triage role: ``reset`` draws a training seed; ``truncated`` at the scenario's horizon.
    Arguments: ``scenario``, ``role="cost"``, ``reward_weights``, ``period_min``, ``days``.

    ## Version history

    - v0: initial release.
    """

    role = "cost"
    feature_names: tuple[str, ...] = COST_FEATURES
    """Names of the observation's features, in order."""
    action_names: tuple[str, ...] = COST_ACTIONS
    """Names of the action's dimensions: ``size`` (index into ``SIZE_FACTORS``), ``defer`` (0/1)."""

    def __init__(
        self,
        scenario: str | Scenario = "sc0003",
        reward_weights: dict[str, float] | None = None,
        period_min: float = PERIOD_MIN,
        days: float | None = None,
    ) -> None:
        super().__init__(scenario, days)
        if not period_min > 0:
            raise ValueError(f"period_min: expected > 0, got {period_min}")
        self.weights = check_weights(reward_weights, COST_WEIGHTS)
        self.period = float(period_min)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (len(COST_FEATURES),), np.float32)
        self.action_space = gym.spaces.MultiDiscrete(list(COST_NVEC))
        self.base = self.scenario.spec.warehouse.slots
        self._exposure = 0.0
        self.optimizer: CostOptimizer | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode at the scenario's warehouse size, nothing deferred."""
        super().reset(seed=seed)
        self._build(self._episode_seed(options), allow_scaling=False)
        assert self.world is not None and self.org is not None
        self.optimizer = CostOptimizer(self.world, self.org.monitor)
        self._exposure = 0.0
        return self._obs(), self._info({})

    def size_for(self, index: int) -> int:
        """Warehouse slots for size action ``index``."""
        assert self.optimizer is not None
        return self.optimizer.size_for(index)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Resize and (un)defer, simulate one period, charge cost, breaches and exposure."""
        a = np.asarray(action)
        if a.shape != (2,) or not self.action_space.contains(a.astype(np.int64)):
            raise ValueError(
                f"action: expected [size 0..{len(SIZE_FACTORS) - 1}, defer 0..1], got {action!r}"
            )
        w, opt = self.world, self.optimizer
        assert w is not None and opt is not None
        opt.apply(a)
        self._run_until(t=w.now + self.period)
        period_cost, breaches = opt.close_period()
        exp = self.exposure_hours()
        terms = {
            "cost": -period_cost,
            "sla": -float(breaches),
            "exposure": -(exp - self._exposure),
        }
        self._exposure = exp
        reward = float(sum(self.weights[k] * v for k, v in terms.items()))
        return self._obs(), reward, False, self.done, self._info(terms)

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
            "warehouse_slots": self.world.warehouse.capacity,
            "active_causes": sorted({f.cause for f in active}),
        }
