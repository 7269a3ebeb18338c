"""The SLA optimizer's lever and view: the monitor's alert thresholds, one period at a time.

Every ``period_min`` the optimizer may make each anomaly family of the Pipeline Monitor more or less
sensitive and lengthen or shorten the freshness grace. This module is what a policy in that slot
needs — the observation (``SLA_FEATURES``), the action's meaning (``SLA_ACTIONS``) and its effect
(``SlaOptimizer.apply``) — shared by the training environment (``envs.sla.SlaEnv``) and the
organization's SLA-optimizer slot (``agents.slots.runner``), so both compute identical inputs.

Observation (``float32``, all in [-1, 1]):

==========================  ======================================================================
feature                     scaling
==========================  ======================================================================
sensitivity_<family> (6)    z-score threshold per anomaly family: (z - 2) / 4
freshness_grace             minutes past the SLA before a freshness alert / 60
alerts_period_<signal> (7)  alerts of each anomaly family and of freshness in the last period / 5,
                            clipped
alerts_24h_<signal> (7)     the same over the last 24 hours / 20, clipped
open_incidents              count / 10, clipped
hour_sin, hour_cos          hour of day
weekend                     0/1
==========================  ======================================================================

Action: one value per dimension of ``SLA_ACTIONS`` (the six anomaly families, then
``freshness_grace``), each 0 lower (more sensitive), 1 keep, 2 raise; z-scores move by 0.5 within
2.0..6.0, the grace by 15 minutes within 0..60.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from typing import Any

import numpy as np

from agents.monitor import ANOMALY_SIGNALS, PipelineMonitor
from envs.sim.world import World

FAMILIES: tuple[str, ...] = (*ANOMALY_SIGNALS, "freshness")
"""Alert signals the optimizer watches: the anomaly families, then freshness."""
Z_MIN, Z_MAX, Z_STEP = 2.0, 6.0, 0.5
GRACE_MAX, GRACE_STEP = 60.0, 15.0
PERIOD_MIN = 60.0
"""Minutes between the optimizer's decisions (the environment's and the organization's default)."""

SLA_FEATURES: tuple[str, ...] = (
    *(f"sensitivity_{s}" for s in ANOMALY_SIGNALS),
    "freshness_grace",
    *(f"alerts_period_{s}" for s in FAMILIES),
    *(f"alerts_24h_{s}" for s in FAMILIES),
    "open_incidents",
    "hour_sin",
    "hour_cos",
    "weekend",
)
"""Names of the SLA optimizer's observation, in order."""
SLA_ACTIONS: tuple[str, ...] = (*ANOMALY_SIGNALS, "freshness_grace")
"""Names of the action's dimensions, in order; each takes a value of ``SLA_ACTION_VALUES``."""
SLA_ACTION_VALUES: tuple[str, ...] = ("lower", "keep", "raise")
"""Meaning of each dimension's value 0, 1, 2 (lower: more sensitive / shorter grace)."""


def check_sla_action(action: Any) -> np.ndarray:
    """``action`` as an int array of ``len(SLA_ACTIONS)`` values in 0..2.

    Raises:
        ValueError: for any other shape or value.
    """
    a = np.asarray(action)
    ok = a.shape == (len(SLA_ACTIONS),) and np.issubdtype(a.dtype, np.number)
    if not ok or not np.all((a >= 0) & (a < len(SLA_ACTION_VALUES)) & (a == np.floor(a))):
        raise ValueError(
            f"sla action: expected {len(SLA_ACTIONS)} values in 0..2 "
            f"(one per {', '.join(SLA_ACTIONS)}), got {action!r}"
        )
    return a.astype(np.int64)


class SlaOptimizer:
    """The monitor's thresholds as an observation and an action.

    Args:
        monitor: the Pipeline Monitor whose thresholds the optimizer owns.
        world: its world (for the clock).
        period_min: minutes between decisions (the "last period" of the alert counts).
    """

    def __init__(
        self, monitor: PipelineMonitor, world: World, period_min: float = PERIOD_MIN
    ) -> None:
        if not period_min > 0:
            raise ValueError(f"period_min: expected > 0, got {period_min}")
        self.monitor = monitor
        self.world = world
        self.period = float(period_min)
        self._family = {s: k for k, s in enumerate(FAMILIES)}
        self._times: list[list[float]] = [[] for _ in FAMILIES]
        self._seen = 0  # alerts already in _times

    def observe(self) -> np.ndarray:
        """The observation now: float32 vector of ``len(SLA_FEATURES)`` values in [-1, 1]."""
        mon, now = self.monitor, self.world.now
        sens = mon.sensitivities
        f = [(sens[s] - Z_MIN) / (Z_MAX - Z_MIN) for s in ANOMALY_SIGNALS]
        f.append(mon.grace / GRACE_MAX)
        times = self._alert_times()
        day = now - 1440.0
        for span, scale in ((self.period, 5.0), (1440.0, 20.0)):
            # alerts of the last 24 hours at or after now - span
            since = max(day, now - span)
            f += [min(1.0, (len(ts) - bisect_left(ts, since)) / scale) for ts in times]
        f.append(min(1.0, len(mon.book.open_incidents()) / 10.0))
        hour = (now / 60.0) % 24.0
        f += [math.sin(2 * math.pi * hour / 24.0), math.cos(2 * math.pi * hour / 24.0)]
        f.append(1.0 if int(now // 1440) % 7 >= 5 else 0.0)
        return np.asarray(f, dtype=np.float32)

    def _alert_times(self) -> list[list[float]]:
        """Per family of ``FAMILIES``, the sorted times of the monitor's alerts of it so far.

        Kept up to date from the alerts raised since the last call (sorted on insertion, so a
        count of the alerts at or after a time is a bisection, whatever order they came in).
        """
        alerts = self.monitor.alerts
        family = self._family
        for al in alerts[self._seen :]:
            k = family.get(al.signal)
            if k is not None:
                insort(self._times[k], al.t)
        self._seen = len(alerts)
        return self._times

    def apply(self, action: Any) -> None:
        """Move each threshold one step down, keep it, or move it one step up (clipped).

        Raises:
            ValueError: for an action that is not ``len(SLA_ACTIONS)`` values in 0..2.
        """
        a = check_sla_action(action)
        sens = self.monitor.sensitivities
        # min(max(...)) is np.clip on one float, without numpy's per-call cost
        steps = a.tolist()
        new = {
            fam: min(max(sens[fam] + (steps[i] - 1) * Z_STEP, Z_MIN), Z_MAX)
            for i, fam in enumerate(ANOMALY_SIGNALS)
        }
        grace = min(max(self.monitor.grace + (steps[-1] - 1) * GRACE_STEP, 0.0), GRACE_MAX)
        self.monitor.set_thresholds(new, grace)

    def close_period(self) -> None:
        """End a period (nothing to keep: the observation reads the monitor's alerts directly)."""
