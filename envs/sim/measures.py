"""Preventive measures, the specs: what each prevents, at what cost, and what a measure taken is.

``World.prevent(measure, asset, **params)`` (kept by ``envs.sim.prevention``) starts one of
``MEASURES`` at ``world.now`` on an asset; ``World.retire(measure_id)`` stops it. While a
measure is active:

- it costs ``cost_per_day / 1440`` per simulated minute, and reserved capacity also bills its
  reserved slots at the warehouse's ``price_per_slot_hour`` during its reserved hours. The cost
  is kept apart from the warehouse's (``World.prevention_cost``; ``summary``'s ``warehouse_cost``
  does not include it);
- a fault whose root cause and root asset it matches (``matches``) *at the fault's onset* is
  prevented with probability ``hazard_reduction``: it never starts, so it never reaches the ledger
  (``ledger.faults_table``); it is recorded in the measure's ``prevented`` and in
  ``World.prevented_faults`` (``ledger.prevented_table``). A cascaded fault whose trigger was
  prevented is prevented with it (no burst after an outage that did not happen);
- ``reschedule`` moves the announced backfills of its asset (``World.planned_backfills``) to
  another hour instead: no root cause models a backfill's collision with the scheduled jobs (a
  backfill is noise, not a fault), so it prevents no fault and its effect shows in queueing and
  SLA breaches only.

A measure matching nothing costs and prevents nothing: that is how a measure is wrong.

Whether a matching fault is prevented is decided with one uniform per fault id, the fault id-th
draw of the ``prevention`` stream (``envs.sim.rng``: spawned after every other stream, so it leaves
their values unchanged), drawn only once a measure exists. Two worlds of the same seed thus prevent
the same faults under the same measures, and a world without measures draws nothing and behaves
exactly as before. Overlapping measures on one fault share its uniform: a second identical measure
adds cost, not protection.

The measures (figures at the scenarios' price of 2.0 per slot-hour and 120 per human hour; an
8-slot warehouse costs 384 a day):

==================  ========================  =====  ========  ==================================
measure             prevents (root cause)     share  cost/day  put on / params
==================  ========================  =====  ========  ==================================
rotate_credentials  expired_credentials       0.90   5.0       an Ingestion (the fault's root)
                    rooted at the asset
uniqueness_guard    replayed_load rooted at   0.90   6.0       an Ingestion (the fault's root)
                    the asset
schema_contract     upstream_rename,          0.75   12.0      an Ingestion (the fault's root), or
                    column_renamed,                            a Source: then faults rooted at
                    type_changed                               any Ingestion reading it
reserved_capacity   noisy_neighbor with onset 0.85   slots x   a Warehouse asset; ``hours``
                    hour in ``hours`` and            hours x   (required, 0..23), ``slots``
                    hold <= ``slots``                price     (default: the warehouse size)
reschedule          none: moves the asset's   --     2.0       an asset with planned backfills;
                    planned backfills                          ``hour`` (required, 0..23)
==================  ========================  =====  ========  ==================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from envs.sim.faults import Fault
from envs.sim.records import FaultRecord

NAN = math.nan


class Measure(NamedTuple):
    """A kind of preventive measure (frozen spec; see the module table).

    Attributes:
        name: the measure's name (key of ``MEASURES``).
        causes: the root causes it lowers (empty: it prevents no fault).
        hazard_reduction: the share of matching faults it prevents, in [0, 1].
        cost_per_day: its fixed running cost per simulated day while active, in the world's money
            unit (the unit of ``warehouse_cost``).
        eligible: the layers of the assets it can be put on.
        params: the parameters it takes (name → what it means).
        required: the parameters it needs.
        slot_cost: it also bills its reserved ``slots`` at ``price_per_slot_hour`` during its
            ``hours`` (reserved capacity).
        wrong_when: when putting it in place buys nothing.
    """

    name: str
    causes: frozenset[str]
    hazard_reduction: float
    cost_per_day: float
    eligible: frozenset[str]
    params: Mapping[str, str]
    required: tuple[str, ...] = ()
    slot_cost: bool = False
    wrong_when: str = ""


_INGESTION = frozenset({"Ingestion"})
# fmt: off
MEASURES: Final[dict[str, Measure]] = {
    # A rotation job in the secret manager and ~2 engineer-minutes a day watching it (4.0 at 120
    # per hour) plus a few slot-minutes: 5.0. It misses the 10% of expiries it cannot foresee
    # (a vendor revokes a token, a password policy changes mid-cycle).
    "rotate_credentials": Measure(
        "rotate_credentials", frozenset({"expired_credentials"}), 0.9, 5.0, _INGESTION,
        MappingProxyType({}),
        wrong_when="the failures were proxy_auth blips of transient_network (a 403 that looks "
                   "like an expired credential) or the expiry recurs on another ingestion",
    ),
    # A uniqueness check on the load's batch ids at the ingestion, before the models it feeds
    # read the partition: ~5 slot-minutes per hourly load (2 slot-hours, 4.0) and ~1 minute a day
    # reviewing rejected batches (2.0). Replays under a fresh batch id (10%) pass it.
    "uniqueness_guard": Measure(
        "uniqueness_guard", frozenset({"replayed_load"}), 0.9, 6.0, _INGESTION,
        MappingProxyType({}),
        wrong_when="the duplicates come from a bad_join in a model (fan-out, not a replay), the "
                   "keys repeat by a grain_change (distinct batch ids), or the replays land on "
                   "another ingestion",
    ),
    # Contract tests in the producer's CI and a renegotiation now and then: ~5 engineer-minutes a
    # day (10.0) and 1 slot-hour of validation (2.0). Hotfixes that bypass the producer's CI (25%)
    # still rename or retype columns.
    "schema_contract": Measure(
        "schema_contract", frozenset({"upstream_rename", "column_renamed", "type_changed"}), 0.75,
        12.0, frozenset({"Ingestion", "Source"}), MappingProxyType({}),
        wrong_when="the nulls came from source_nulls (bad values, not a renamed column), the "
                   "shift from unit_change, or the changes land on another source",
    ),
    # A workload-isolation reservation: the pipeline's ``slots`` are kept from ad-hoc queries
    # during ``hours``, billed as provisioned slot-hours whether used or not (8 slots x 9 peak
    # hours x 2.0 = 144 a day). Queries run with an admin role (15%) still bypass it.
    "reserved_capacity": Measure(
        "reserved_capacity", frozenset({"noisy_neighbor"}), 0.85, 0.0, frozenset({"Warehouse"}),
        MappingProxyType({
            "hours": "the hours of day (0..23) reserved, a non-empty collection of ints",
            "slots": "slots reserved (1..max_slots; default the scenario's warehouse size); a "
                     "neighbour holding more than this is not kept out",
        }),
        required=("hours",), slot_cost=True,
        wrong_when="the contention comes at other hours, from retry_storm (a pipeline job "
                   "looping) or undersized_warehouse (demand grew: scale instead)",
    ),
    # Moving an announced backfill off the scheduled jobs' hours: ~1 engineer-minute a day of
    # coordination with the backfill's owner (2.0).
    "reschedule": Measure(
        "reschedule", frozenset(), 0.0, 2.0,
        frozenset({"Ingestion", "Transformation", "Warehouse", "Delivery"}),
        MappingProxyType({
            "hour": "the hour of day (0..23) the asset's backfills start at instead (the next such "
                    "hour at or after their planned start)",
        }),
        required=("hour",),
        wrong_when="the asset has no planned backfill, or the new hour is as busy as the old",
    ),
}
# fmt: on
"""measure name → its spec (see the module table)."""


class MeasureRecord(NamedTuple):
    """The state of one measure taken (``World.measures``; costs accrued to ``world.now``).

    Attributes:
        measure_id: its id (issued from 0 in order of ``World.prevent``).
        measure: the measure's name (``MEASURES[measure]`` is its spec).
        asset: the asset index it was put on.
        params: its parameters, defaults filled in (read-only; ``hours`` as a sorted tuple).
        started_at: when it started (simulated minutes).
        retired_at: when it was retired (nan while active).
        cost: its cost so far.
        prevented: the ids of the faults it prevented, in onset order.
        moved_backfills: for ``reschedule``: indexes into ``World.planned_backfills`` it moved.
    """

    measure_id: int
    measure: str
    asset: int
    params: Mapping[str, Any]
    started_at: float
    retired_at: float
    cost: float
    prevented: tuple[int, ...]
    moved_backfills: tuple[int, ...] = ()

    @property
    def active(self) -> bool:
        """True while not retired."""
        return self.retired_at != self.retired_at  # nan


class MeasureOp(NamedTuple):
    """One ``World.prevent`` or ``World.retire`` as it took effect (an episode replays them).

    Attributes:
        t: when (simulated minutes).
        op: ``prevent`` or ``retire``.
        measure: for ``prevent``: the measure's name.
        asset: for ``prevent``: the asset index.
        params: for ``prevent``: its parameters, defaults filled in, as sorted (name, value) pairs.
        measure_id: for ``retire``: the measure retired.
    """

    t: float
    op: str
    measure: str = ""
    asset: int = -1
    params: tuple[tuple[str, Any], ...] = ()
    measure_id: int = -1


class PreventedFault(NamedTuple):
    """A planned fault a measure prevented: its ledger row as it would have started, and who.

    Attributes:
        fault: the fault's record (never started: times after its onset are nan).
        measure_id: the measure that prevented it.
        measure: that measure's name.
    """

    fault: FaultRecord
    measure_id: int
    measure: str


def measure_cost(
    m: Measure,
    params: Mapping[str, Any],
    start: float,
    stop: float,
    price_per_slot_hour: float,
) -> float:
    """The cost of measure ``m`` active over [start, stop) (simulated minutes).

    ``cost_per_day / 1440`` per minute, plus, for a measure with ``slot_cost``, its ``slots`` at
    ``price_per_slot_hour`` over the minutes of [start, stop) that fall in its ``hours``.
    """
    if stop <= start:
        return 0.0
    cost = m.cost_per_day / 1440.0 * (stop - start)
    if m.slot_cost:
        hours = params["hours"]
        minutes = _minutes_in_hours(stop, hours) - _minutes_in_hours(start, hours)
        cost += params["slots"] * price_per_slot_hour * minutes / 60.0
    return cost


def _minutes_in_hours(t: float, hours: Iterable[int]) -> float:
    """Minutes of [0, t) whose hour of day is in ``hours``."""
    days, rest = divmod(t, 1440.0)
    hs = tuple(hours)
    return days * 60.0 * len(hs) + sum(min(60.0, max(0.0, rest - 60.0 * h)) for h in hs)


def matches(m: Measure, rec: MeasureRecord, f: Fault) -> bool:
    """True if measure ``m`` (taken as ``rec``) acts on fault ``f`` at its onset.

    The cause must be one of ``m.causes``; then: ``reserved_capacity`` matches a neighbour whose
    onset hour is reserved and whose hold fits the reserved slots, anywhere in the warehouse;
    ``schema_contract`` on a Source matches faults rooted at an Ingestion that reads it; every
    other measure matches faults rooted at its asset.
    """
    if f.cause not in m.causes:
        return False
    if m.name == "reserved_capacity":
        hour = int(f.onset // 60.0) % 24
        return hour in rec.params["hours"] and f.params.get("hold", 0) <= rec.params["slots"]
    if f.root.idx == rec.asset:
        return True
    return m.name == "schema_contract" and any(u.idx == rec.asset for u in f.root.ups)
