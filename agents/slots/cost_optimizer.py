"""The cost optimizer's lever and view: the warehouse size and deferral, one period at a time.

Every ``period_min`` the optimizer picks the warehouse size (a multiple of the scenario's base size)
and whether low-criticality assets' runs are deferred (they queue behind everything else). This
module is what a policy in that slot needs — the observation (``COST_FEATURES``), the action's
meaning (``COST_ACTIONS``) and its effect (``CostOptimizer.apply``) — shared by the training
environment (``envs.cost.CostEnv``) and the organization's cost-optimizer slot
(``agents.slots.runner``), so both compute identical inputs. The organization's own warehouse
scaling must be off while an optimizer owns the warehouse.

Observation (``float32``, all in [-1, 1]):

=================  ===============================================================================
feature            scaling
=================  ===============================================================================
slots              warehouse slots / max_slots
deferring          deferring low-priority runs, 0/1
queued_runs        runs waiting for a slot / 20, clipped
busy_share         slots busy / slots
sla_breaches       partitions that breached their SLA in the last period / 10, clipped
open_incidents     count / 10, clipped
external_workload  queries outside the pipeline hold slots, 0/1
period_cost        cost of the last period / (base slots x price x period hours) / 3
hour_sin/hour_cos  hour of day
weekend            0/1
runs_started       runs started in the last period / (2 x assets), clipped
=================  ===============================================================================

Action: ``[size, defer]`` — ``size`` indexes ``SIZE_FACTORS`` (0.5, 0.75, 1, 1.25, 1.5, 2, 3 times
the base size, rounded, within 1..max_slots), ``defer`` 0 no, 1 yes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from envs.sim.world import World

if TYPE_CHECKING:
    from agents.monitor import PipelineMonitor

SIZE_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
"""Warehouse sizes the optimizer chooses from, as multiples of the scenario's base size."""
COST_FEATURES: tuple[str, ...] = (
    "slots",
    "deferring",
    "queued_runs",
    "busy_share",
    "sla_breaches",
    "open_incidents",
    "external_workload",
    "period_cost",
    "hour_sin",
    "hour_cos",
    "weekend",
    "runs_started",
)
"""Names of the cost optimizer's observation, in order."""
COST_ACTIONS: tuple[str, ...] = ("size", "defer")
"""Names of the action's dimensions: ``size`` indexes ``SIZE_FACTORS``; ``defer`` is 0 no, 1 yes."""
COST_NVEC: tuple[int, ...] = (len(SIZE_FACTORS), 2)
"""Number of values of each action dimension."""


def check_cost_action(action: Any) -> np.ndarray:
    """``action`` as an int array ``[size, defer]`` within ``COST_NVEC``.

    Raises:
        ValueError: for any other shape or value.
    """
    a = np.asarray(action)
    ok = a.shape == (len(COST_NVEC),) and np.issubdtype(a.dtype, np.number)
    if not ok or not np.all((a >= 0) & (a < np.asarray(COST_NVEC)) & (a == np.floor(a))):
        raise ValueError(
            f"cost action: expected [size 0..{len(SIZE_FACTORS) - 1}, defer 0..1], got {action!r}"
        )
    return a.astype(np.int64)


class CostOptimizer:
    """The warehouse as an observation and an action, with the little state the view keeps.

    A period is ``apply`` (at its start) then ``close_period`` (at its end); the observation reports
    the last closed period.

    Args:
        world: the world whose warehouse the optimizer owns.
        monitor: the Pipeline Monitor (for the open incidents).
    """

    def __init__(self, world: World, monitor: PipelineMonitor) -> None:
        self.world = world
        self.monitor = monitor
        self.base = world.scenario.spec.warehouse.slots
        self.defer = False
        self.cost = 0.0
        self.last_cost = 0.0
        self.runs = 0
        self.breaches = 0
        self._start = world.now
        self._runs0 = len(world.log)

    def size_for(self, index: int) -> int:
        """Warehouse slots for size action ``index``."""
        top = self.world.warehouse.max_slots
        return int(min(top, max(1, round(self.base * SIZE_FACTORS[index]))))

    def apply(self, action: Any) -> None:
        """Resize the warehouse and (un)defer low-priority runs now; a new period starts.

        Raises:
            ValueError: for an action outside ``COST_NVEC``.
        """
        a = check_cost_action(action)
        w = self.world
        slots = self.size_for(int(a[0]))
        if slots != w.warehouse.capacity:
            w.act("scale_warehouse", slots=slots)
        defer = bool(a[1])
        if defer != self.defer:
            priority = 2 if defer else 1
            for x in w.assets:
                # an asset the organization already moved to that priority (a remediation's
                # reprioritize) is left as it is: the world refuses a no-op reprioritize
                if x.spec.criticality == "low" and x.uses_slot and x.priority != priority:
                    w.act("reprioritize", x.idx, priority=priority)
            self.defer = defer
        self._start = w.now
        self._runs0 = len(w.log)

    def close_period(self) -> tuple[float, int]:
        """End the period begun by the last ``apply``: update the view's state.

        Returns:
            The period's warehouse cost in base-size hours (1.0 = the base warehouse for an hour)
            and the partitions whose deadline passed in it without an on-time arrival.
        """
        w = self.world
        start = self._start
        cost = w.warehouse.cost
        hours = max(1e-9, (w.now - start) / 60.0)
        unit = self.base * w.warehouse.price_per_slot_hour
        self.last_cost = (cost - self.cost) / unit / hours if w.now > start else 0.0
        period_cost = (cost - self.cost) / unit
        self.cost = cost
        self.breaches = self.new_breaches(start, w.now)
        self.runs = len(w.log) - self._runs0
        return period_cost, self.breaches

    def new_breaches(self, t0: float, t1: float) -> int:
        """Partitions whose deadline fell in (t0, t1] without an on-time arrival."""
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

    def observe(self) -> np.ndarray:
        """The observation now: float32 vector of ``len(COST_FEATURES)`` values in [-1, 1]."""
        w = self.world
        wh = w.warehouse
        now = w.now
        hour = (now / 60.0) % 24.0
        ext = any(getattr(q, "priority", 1) < 0 for q in wh.users)
        f = [
            wh.capacity / wh.max_slots,
            1.0 if self.defer else 0.0,
            min(1.0, len(wh.queue) / 20.0),
            min(1.0, len(wh.users) / max(1, wh.capacity)),
            min(1.0, self.breaches / 10.0),
            min(1.0, len(self.monitor.book.open_incidents()) / 10.0),
            1.0 if ext else 0.0,
            min(1.0, self.last_cost / 3.0),
            math.sin(2 * math.pi * hour / 24.0),
            math.cos(2 * math.pi * hour / 24.0),
            1.0 if int(now // 1440) % 7 >= 5 else 0.0,
            min(1.0, self.runs / (2.0 * len(w.assets))),
        ]
        return np.asarray(f, dtype=np.float32)
