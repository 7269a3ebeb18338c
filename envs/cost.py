"""The cost-optimizer role environment. Its spec sheet is the class docstring of ``CostEnv``."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from envs.base import DataOpsEnv, check_weights
from scenarios.spec import Scenario

COST_WEIGHTS = {"cost": 1.0, "sla": 0.5, "exposure": 0.1}
SIZE_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)


class CostEnv(DataOpsEnv):
    """The cost-optimizer role: size the warehouse and defer low-priority work, hour by hour.

    ## Description

    The rule-based organization runs the pipeline and handles incidents; the agent owns the
    warehouse. Every ``period_min`` (60) simulated minutes it picks the warehouse size and whether
    low-criticality assets' runs are deferred (they queue behind everything else). A bigger
    warehouse costs more per hour (provisioned slots are billed) and queues less; a small one saves
    money until SLAs break and incidents pile up.

    ## Action space

    ``MultiDiscrete([7, 2])``: size as a multiple of the scenario's base size — 0.5, 0.75, 1, 1.25,
    1.5, 2, 3 (rounded, within 1..max_slots) — and defer low-priority runs (0 no, 1 yes). The
    agent's size holds until its next step; the organization's own warehouse scaling is off.

    ## Observation space

    ``Box(-1, 1, (12,), float32)``:

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

    def __init__(
        self,
        scenario: str | Scenario = "sc0003",
        reward_weights: dict[str, float] | None = None,
        period_min: float = 60.0,
        days: float | None = None,
    ) -> None:
        super().__init__(scenario, days)
        if not period_min > 0:
            raise ValueError(f"period_min: expected > 0, got {period_min}")
        self.weights = check_weights(reward_weights, COST_WEIGHTS)
        self.period = float(period_min)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (12,), np.float32)
        self.action_space = gym.spaces.MultiDiscrete([len(SIZE_FACTORS), 2])
        self.base = self.scenario.spec.warehouse.slots
        self._defer = False
        self._cost = 0.0
        self._exposure = 0.0
        self._last_cost = 0.0
        self._runs = 0
        self._breaches = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode at the scenario's warehouse size, nothing deferred."""
        super().reset(seed=seed)
        self._build(self._episode_seed(options), allow_scaling=False)
        self._defer = False
        self._cost = self._exposure = self._last_cost = 0.0
        self._runs = self._breaches = 0
        return self._obs(), self._info({})

    def size_for(self, index: int) -> int:
        """Warehouse slots for size action ``index``."""
        assert self.world is not None
        top = self.world.warehouse.max_slots
        return int(min(top, max(1, round(self.base * SIZE_FACTORS[index]))))

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Resize and (un)defer, simulate one period, charge cost, breaches and exposure."""
        a = np.asarray(action)
        if a.shape != (2,) or not self.action_space.contains(a.astype(np.int64)):
            raise ValueError(
                f"action: expected [size 0..{len(SIZE_FACTORS) - 1}, defer 0..1], got {action!r}"
            )
        w = self.world
        assert w is not None
        slots = self.size_for(int(a[0]))
        if slots != w.warehouse.capacity:
            w.act("scale_warehouse", slots=slots)
        defer = bool(a[1])
        if defer != self._defer:
            for x in w.assets:
                if x.spec.criticality == "low" and x.uses_slot:
                    w.act("reprioritize", x.idx, priority=2 if defer else 1)
            self._defer = defer
        start = w.now
        runs0 = len(w.log)
        self._run_until(t=w.now + self.period)
        cost = w.warehouse.cost
        hours = max(1e-9, (w.now - start) / 60.0)
        unit = self.base * w.warehouse.price_per_slot_hour
        self._last_cost = (cost - self._cost) / unit / hours if w.now > start else 0.0
        period_cost = (cost - self._cost) / unit
        self._cost = cost
        exp = self.exposure_hours()
        self._breaches = self._new_breaches(start, w.now)
        self._runs = len(w.log) - runs0
        terms = {
            "cost": -period_cost,
            "sla": -float(self._breaches),
            "exposure": -(exp - self._exposure),
        }
        self._exposure = exp
        reward = float(sum(self.weights[k] * v for k, v in terms.items()))
        return self._obs(), reward, False, self.done, self._info(terms)

    def _new_breaches(self, t0: float, t1: float) -> int:
        """Partitions whose deadline fell in (t0, t1] without an on-time arrival."""
        assert self.world is not None
        n = 0
        for a in self.world.assets:
            first = max(1, int((t0 - a.sla) // a.every) + 1)
            last = min(a.n_windows, int((t1 - a.sla) // a.every))
            for k in range(first, last + 1):
                deadline = k * a.every + a.sla
                if not t0 < deadline <= t1:
                    continue
                rec = a.records.get(k)
                if rec is None or rec.status != "success" or rec.ended_at > deadline:
                    n += 1
        return n

    def _obs(self) -> np.ndarray:
        w = self.world
        assert w is not None and self.org is not None
        wh = w.warehouse
        now = w.now
        hour = (now / 60.0) % 24.0
        ext = any(getattr(q, "priority", 1) < 0 for q in wh.users)
        f = [
            wh.capacity / wh.max_slots,
            1.0 if self._defer else 0.0,
            min(1.0, len(wh.queue) / 20.0),
            min(1.0, len(wh.users) / max(1, wh.capacity)),
            min(1.0, self._breaches / 10.0),
            min(1.0, len(self.org.monitor.book.open_incidents()) / 10.0),
            1.0 if ext else 0.0,
            min(1.0, self._last_cost / 3.0),
            math.sin(2 * math.pi * hour / 24.0),
            math.cos(2 * math.pi * hour / 24.0),
            1.0 if int(now // 1440) % 7 >= 5 else 0.0,
            min(1.0, self._runs / (2.0 * len(w.assets))),
        ]
        return np.asarray(f, dtype=np.float32)

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
