"""Ambient noise: variation that is not a fault and must not be blamed on one.

Seasonality and holidays are folded into each asset's expected volume (``Asset.predraw``). This
module adds the rest: Source arrival delays (a few minutes, sometimes late but within the SLA),
benign added columns (the schema version changes, no check fails), and planned backfills (announced
extra warehouse load on one asset, which slows everyone else). ``NoisePlan.backfills`` lists the
announced windows (the world publishes them as ``World.planned_backfills``) so a monitor may
suppress alerts during them. A backfill starts at the time announced there when its planned time
comes: a ``reschedule`` measure (``envs.sim.prevention``) may have moved it later.

The noise processes need only the SimPy environment, the warehouse and the assets
(``NoisePlan.start``), so this module does not know the world.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import ExitStack
from typing import Any, NamedTuple

import numpy as np
import simpy

from envs.sim import portable
from envs.sim.assets import Asset
from envs.sim.rng import Streams
from envs.sim.warehouse import Warehouse
from scenarios.spec import NoiseSpec


class PlannedBackfill(NamedTuple):
    """An announced backfill: ``asset`` holds ``slots`` extra slots over [start, end)."""

    asset: int
    start: float
    end: float
    slots: int


class BenignColumn(NamedTuple):
    """A benign schema change: ``asset`` adds a column at ``at`` (schema version + 1)."""

    asset: int
    at: float


class NoisePlan:
    """The episode's noise, drawn up front from the ``schedule`` and ``noise`` streams.

    Args:
        spec: the scenario's noise spec.
        assets: compiled assets.
        streams: the episode's streams.
        horizon_min: the episode horizon.

    Attributes:
        arrival_delay: per asset, per window, minutes after the window end at which a Source's
            data lands (only Source assets have entries).
        backfills: planned backfills.
        benign_columns: benign added columns.
    """

    def __init__(
        self, spec: NoiseSpec, assets: list[Asset], streams: Streams, horizon_min: float
    ) -> None:
        rng = streams["schedule"]
        self.arrival_delay: dict[int, list[float]] = {}
        for a in assets:
            if a.layer != "Source":
                continue
            n = a.n_windows + 1
            base = a.offset + a.spec.runtime_median_min * portable.exp(
                a.spec.runtime_sigma * rng.standard_normal(n)
            )
            late = rng.random(n) < spec.late_within_sla_prob
            within = a.sla * (0.5 + 0.4 * rng.random(n))
            delay = np.where(late, np.maximum(base, within), np.minimum(base, 0.45 * a.sla))
            self.arrival_delay[a.idx] = delay.tolist()
        nrng = streams["noise"]
        by_name = {a.name: a for a in assets}
        self.backfills = [
            PlannedBackfill(
                by_name[b.asset].idx,
                b.start_day * 1440.0,
                b.start_day * 1440.0 + b.duration_hours * 60.0,
                b.slots,
            )
            for b in spec.backfills
            if b.start_day * 1440.0 < horizon_min
        ]
        eligible = [a.idx for a in assets if a.layer != "Source"]
        self.benign_columns = [
            BenignColumn(
                int(eligible[int(nrng.integers(len(eligible)))]),
                d * 1440.0 + 60 * float(nrng.integers(24)),
            )
            for d in spec.benign_column_days
            if d * 1440.0 < horizon_min and eligible
        ]

    def start(self, env: simpy.Environment, warehouse: Warehouse, assets: list[Asset]) -> None:
        """Start the noise processes: the planned backfills and the benign added columns.

        Args:
            env: the world's SimPy environment.
            warehouse: the shared warehouse the backfills take slots of.
            assets: the compiled assets (index = asset id) whose schema versions change.
        """
        for i, b in enumerate(self.backfills):
            env.process(_backfill(env, warehouse, b, self.backfills, i))
        for c in self.benign_columns:
            env.process(_benign_column(env, assets[c.asset], c))


def _backfill(
    env: simpy.Environment,
    warehouse: Warehouse,
    b: PlannedBackfill,
    plan: list[PlannedBackfill],
    i: int,
) -> Generator[simpy.Event, Any, None]:
    """Hold ``b.slots`` slots over the backfill; ``plan[i]`` at its planned start may move it."""
    yield env.timeout(max(0.0, b.start - env.now))
    while plan[i] is not b:  # rescheduled (envs.sim.prevention): start when announced
        b = plan[i]
        yield env.timeout(max(0.0, b.start - env.now))
    with ExitStack() as held:
        reqs = [warehouse.request(priority=1) for _ in range(b.slots)]
        # a request's ``with`` releases it on exit; entered last-first, they are released
        # first-first, in the order they were requested
        for r in reversed(reqs):
            held.enter_context(r)
        for r in reqs:
            yield r
        yield env.timeout(max(0.0, b.end - env.now))


def _benign_column(
    env: simpy.Environment, a: Asset, c: BenignColumn
) -> Generator[simpy.Event, Any, None]:
    yield env.timeout(max(0.0, c.at - env.now))
    a.schema_version += 1
