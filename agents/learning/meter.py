"""A daily meter of a world's cost counters (human minutes, warehouse cost, prevention cost).

The world keeps its counters as running totals; the week-by-week tables of a multi-week run need
them per day. ``DailyMeter(world)`` samples them at the end of every simulated day (a SimPy
process that only reads) and ``close()`` adds the final values after the run, so day *d*'s cost is
``totals[d] - totals[d - 1]``.
"""

from __future__ import annotations

from collections.abc import Generator
from itertools import pairwise
from typing import Any

import simpy

MIN_PER_DAY = 1440.0


class DailyMeter:
    """Running totals of a world's cost counters at each day's end.

    Args:
        world: the world, before it runs.

    Attributes:
        totals: one (human minutes, warehouse cost, prevention cost) per day end, starting with
            the values at time 0.
    """

    def __init__(self, world: Any) -> None:
        self.world = world
        self.totals: list[tuple[float, float, float]] = [self._read()]
        world.env.process(self._run())

    def _read(self) -> tuple[float, float, float]:
        w = self.world
        return float(w.human_minutes), float(w.warehouse.cost), float(w.prevention_cost)

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        days = int(self.world.horizon // MIN_PER_DAY)
        for d in range(1, days):  # the last day's totals are read by close()
            yield env.timeout(d * MIN_PER_DAY - env.now)
            self.totals.append(self._read())

    def close(self) -> None:
        """Read the final totals (call once the world has run to its horizon)."""
        self.totals.append(self._read())

    def per_day(self) -> list[tuple[float, float, float]]:
        """Each day's (human minutes, warehouse cost, prevention cost)."""
        t = self.totals
        return [(b[0] - a[0], b[1] - a[1], b[2] - a[2]) for a, b in pairwise(t)]
