"""Preventive measures, the book: the measures one world has taken and the faults they prevented.

``World.prevent`` / ``World.retire`` go through ``PreventionBook``, which checks the request,
keeps the records (``MeasureRecord``) and the log an episode replays (``MeasureOp``), decides at a
fault's onset whether an active measure prevents it, and moves the backfills ``reschedule``
reschedules. What each measure prevents, its share and its cost are in ``envs.sim.measures``
(re-exported here).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any, Protocol

from envs.sim.assets import Asset
from envs.sim.faults import Fault
from envs.sim.measures import (
    MEASURES,
    NAN,
    Measure,
    MeasureOp,
    MeasureRecord,
    PreventedFault,
    matches,
    measure_cost,
)
from envs.sim.noise import PlannedBackfill
from envs.sim.rng import Streams
from envs.sim.warehouse import Warehouse
from scenarios.spec import Scenario

__all__ = [
    "MEASURES",
    "Measure",
    "MeasureOp",
    "MeasureRecord",
    "PreventedFault",
    "PreventionBook",
    "WorldView",
    "matches",
    "measure_cost",
]


class WorldView(Protocol):
    """What the book reads and moves of its world (``envs.sim.world.World`` is one).

    Structural, like ``envs.sim.actions.WorldLike``, so that this module does not import the
    world that owns it.

    Attributes:
        scenario: the loaded scenario (the warehouse's size for ``reserved_capacity``).
        streams: the episode's random streams (``prevention``).
        warehouse: the shared warehouse (its price and largest size).
        planned_backfills: the announced backfills, which ``reschedule`` moves in place.
    """

    scenario: Scenario
    streams: Streams
    warehouse: Warehouse
    planned_backfills: list[PlannedBackfill]

    @property
    def now(self) -> float:
        """The current simulated time (minutes)."""
        ...

    def asset(self, ref: int | str) -> Asset:
        """The asset with this id or name (``KeyError`` naming the choices otherwise)."""
        ...


def _int_param(name: str, key: str, value: Any, lo: int, hi: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not lo <= int(value) <= hi
    ):
        raise ValueError(f"{name}: {key} must be an int in {lo}..{hi}, got {value!r}")
    return int(value)


class PreventionBook:
    """The measures taken in one world and what they prevented (owned by ``World``).

    Args:
        world: the world (its assets, warehouse, streams, faults and planned backfills).
    """

    def __init__(self, world: WorldView) -> None:
        self._world = world
        self._records: list[MeasureRecord] = []
        self._u: list[float] = []
        self.prevented: list[PreventedFault] = []
        self._by_fault: dict[int, int] = {}  # prevented fault id → measure id
        self._original: dict[int, PlannedBackfill] = {}  # moved backfill index → as planned
        self.armed = False
        """True once a measure was taken: only then does a fault's onset consult the book."""
        self.log: list[MeasureOp] = []
        """Every ``prevent`` and ``retire`` that took effect, in order (``envs.sim.episode``)."""

    # ------------------------------------------------------------------ taking measures
    def start(self, name: str, asset: int | str, params: dict[str, Any]) -> int:
        """Start measure ``name`` on ``asset`` now; returns its id (``World.prevent``)."""
        w = self._world
        m = MEASURES.get(name)
        if m is None:
            raise ValueError(
                f"prevent: unknown measure {name!r}; expected one of {sorted(MEASURES)}"
            )
        try:
            a = w.asset(asset)
        except KeyError as e:
            raise ValueError(f"prevent {name}: {e.args[0]}") from None
        if a.layer not in m.eligible:
            raise ValueError(
                f"prevent {name}: asset {a.name} is on {a.layer}; expected an asset on "
                f"{' or '.join(sorted(m.eligible))}"
            )
        unknown = sorted(set(params) - set(m.params))
        if unknown:
            raise ValueError(
                f"prevent {name}: unknown parameter {unknown[0]!r}; expected "
                f"{sorted(m.params) or 'none'}"
            )
        missing = [p for p in m.required if p not in params]
        if missing:
            raise ValueError(
                f"prevent {name}: missing parameter {missing[0]!r}: {m.params[missing[0]]}"
            )
        clean = self._check_params(m, params)
        mid = len(self._records)
        rec = MeasureRecord(mid, name, a.idx, MappingProxyType(clean), w.now, NAN, 0.0, ())
        self._records.append(rec)
        self.armed = True
        self.log.append(MeasureOp(w.now, "prevent", name, a.idx, tuple(sorted(clean.items()))))
        if name == "reschedule":
            self._move_backfills(mid)
        return mid

    def _check_params(self, m: Measure, params: dict[str, Any]) -> dict[str, Any]:
        w = self._world
        out: dict[str, Any] = {}
        if "hour" in params:
            out["hour"] = _int_param(m.name, "hour", params["hour"], 0, 23)
        if "hours" in m.params:
            hours = params["hours"]
            if isinstance(hours, (str, bytes)) or not isinstance(hours, Iterable):
                raise ValueError(
                    f"{m.name}: hours must be a non-empty collection of ints in 0..23, got "
                    f"{hours!r}"
                )
            hs = sorted({_int_param(m.name, "hours[]", h, 0, 23) for h in hours})
            if not hs:
                raise ValueError(f"{m.name}: hours must be a non-empty collection of ints in 0..23")
            out["hours"] = tuple(hs)
        if "slots" in m.params:
            default = w.scenario.spec.warehouse.slots
            out["slots"] = _int_param(
                m.name, "slots", params.get("slots", default), 1, w.warehouse.max_slots
            )
        return out

    def retire(self, measure_id: int) -> None:
        """Retire measure ``measure_id`` now: its cost and effect stop (``World.retire``)."""
        if (
            isinstance(measure_id, bool)
            or not isinstance(measure_id, numbers.Integral)
            or not 0 <= int(measure_id) < len(self._records)
        ):
            raise ValueError(
                f"retire: no measure {measure_id!r}; expected an id in 0..{len(self._records) - 1}"
                if self._records
                else f"retire: no measure {measure_id!r}; no measure was taken"
            )
        measure_id = int(measure_id)
        rec = self._records[measure_id]
        if not rec.active:
            raise ValueError(
                f"retire: measure {measure_id} was already retired at {rec.retired_at}"
            )
        self._records[measure_id] = rec._replace(retired_at=self._world.now)
        self.log.append(MeasureOp(self._world.now, "retire", measure_id=measure_id))
        if rec.measure == "reschedule":
            self._restore_backfills(measure_id)

    # ------------------------------------------------------------------ reading
    def records(self) -> tuple[MeasureRecord, ...]:
        """Every measure taken, with its cost accrued to now."""
        w = self._world
        price = w.warehouse.price_per_slot_hour
        out = []
        for r in self._records:
            stop = w.now if r.active else r.retired_at
            cost = measure_cost(MEASURES[r.measure], r.params, r.started_at, stop, price)
            out.append(r._replace(cost=cost))
        return tuple(out)

    def cost(self) -> float:
        """The cost of every measure so far."""
        return sum(r.cost for r in self.records())

    # ------------------------------------------------------------------ the onset hook
    def prevents(self, f: Fault) -> bool:
        """Decide at ``f``'s onset whether an active measure prevents it (records it if so)."""
        mid = self._by_fault.get(f.triggered_by, -1) if f.triggered_by >= 0 else -1
        if mid < 0:
            u = self._uniform(f.fid)
            for r in self._records:
                m = MEASURES[r.measure]
                if r.active and u < m.hazard_reduction and matches(m, r, f):
                    mid = r.measure_id
                    break
        if mid < 0:
            return False
        rec = self._records[mid]
        self._records[mid] = rec._replace(prevented=(*rec.prevented, f.fid))
        self._by_fault[f.fid] = mid
        self.prevented.append(PreventedFault(f.record(), mid, rec.measure))
        return True

    def _uniform(self, fid: int) -> float:
        """The fault id-th draw of the ``prevention`` stream (drawn in blocks, in order)."""
        while len(self._u) <= fid:
            self._u.extend(self._world.streams["prevention"].random(256).tolist())
        return self._u[fid]

    # ------------------------------------------------------------------ backfills
    def _move_backfills(self, mid: int) -> None:
        """Announce the asset's backfills that have not started at the measure's hour."""
        w = self._world
        rec = self._records[mid]
        hour = rec.params["hour"]
        moved = []
        for i, b in enumerate(w.planned_backfills):
            if b.asset != rec.asset or b.start <= w.now or i in self._original:
                continue
            day_start = b.start // 1440.0 * 1440.0 + hour * 60.0
            start = day_start if day_start >= b.start else day_start + 1440.0
            self._original[i] = b
            w.planned_backfills[i] = b._replace(start=start, end=start + (b.end - b.start))
            moved.append(i)
        self._records[mid] = rec._replace(moved_backfills=tuple(moved))

    def _restore_backfills(self, mid: int) -> None:
        """Put the backfills a retired reschedule moved back where planned, if not yet due."""
        w = self._world
        for i in self._records[mid].moved_backfills:
            b = self._original[i]
            if b.start > w.now:  # past its planned start the move is committed
                w.planned_backfills[i] = b
                del self._original[i]
