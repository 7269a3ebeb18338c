"""The Cost Optimizer's waste finder: what an episode paid for that bought nothing.

Reads only what the organization observed — the run log (``RunRecord`` s), the audit trail and
the warehouse's bill — never the fault ledger. Each item of waste has a price (warehouse cost at
the scenario's price per slot-hour) and a recommendation with the saving it would have made.

====================  ===========================================================================
kind                  what it is (price)
====================  ===========================================================================
redundant_rerun       a re-execution (rerun, backfill, dedupe, retry, ... of a window whose
                      previous attempt succeeded) that wrote a partition identical to that
                      attempt's — rows, schema version, null rates, duplicate rate and mean all
                      equal: the partition had not changed (the run's cost). Saving: drop it.
futile_retry          a retry (``retry`` or the orchestrator's ``auto_retry``) that failed with
                      the error class of the window's previous failed attempt, or any retry of a
                      ``NON_RETRYABLE_ERRORS`` class: a retry cannot fix that cause (the run's
                      cost). Saving: stop retrying after one repeat of the same error.
killed_run            a run killed by an operator after running (its cost). Saving: the part of
                      its run time beyond ``KILL_AT_RUNTIME_X`` times the asset's median
                      successful run time (kill at the drift threshold, not later).
idle_slots            slot-hours provisioned beyond the recommended size over the episode, times
                      the price. Saving: resize to that size. The size is ``recommend_size``'s
                      estimate, raised until a replay confirms it (``agents.ideal.cost_report``).
peak_low_priority     low-criticality work run at peak price: always 0 here — the simulated
                      warehouse bills one flat price per slot-hour (reported, not hidden).
====================  ===========================================================================

``recommend_size`` re-packs the episode's observed warehouse runs (ready time, run time, one slot
each, first come first served) onto ``n`` slots and returns the smallest ``n`` whose added wait
per run stays within ``WAIT_BUDGET_MIN`` (the external workload is not in the run log, so the
estimate is optimistic — the replay says whether the saving is real).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np

from envs.sim.records import OK, RunRecord

NON_RETRYABLE_ERRORS: Final[frozenset[str]] = frozenset({"AuthError", "HTTP403", "SchemaError"})
"""Error classes a retry cannot fix (credentials, permissions, schema)."""
RETRY_TRIGGERS: Final[frozenset[str]] = frozenset({"retry", "auto_retry"})
KILL_AT_RUNTIME_X: Final[float] = 2.0
WAIT_BUDGET_MIN: Final[float] = 10.0
"""Largest added wait for a warehouse slot, per run, that a resize may cause."""
WASTE_KINDS: Final[tuple[str, ...]] = (
    "redundant_rerun", "futile_retry", "killed_run", "idle_slots", "peak_low_priority",
)  # fmt: skip


class WasteItem(NamedTuple):
    """One wasteful thing: its kind, where, its price and the saving of its recommendation.

    Attributes:
        kind: one of ``WASTE_KINDS``.
        asset: asset index (-1 for the warehouse).
        window: partition window (-1 for the warehouse).
        run_id: the run (-1 for the warehouse).
        cost: what it cost.
        saving: what the recommendation would have saved.
        recommendation: the recommendation in words.
    """

    kind: str
    asset: int
    window: int
    run_id: int
    cost: float
    saving: float
    recommendation: str


def _same_output(a: RunRecord, b: RunRecord) -> bool:
    return (
        a.rows == b.rows
        and a.schema_version == b.schema_version
        and a.null_rates == b.null_rates
        and a.duplicate_rate == b.duplicate_rate
        and a.value_mean == b.value_mean
        and a.partition_state == b.partition_state == OK
    )


def run_waste(log: Sequence[RunRecord]) -> list[WasteItem]:
    """Redundant reruns, futile retries and killed runs in one episode's run log."""
    out: list[WasteItem] = []
    last: dict[tuple[int, int], RunRecord] = {}
    last_ok: dict[tuple[int, int], RunRecord] = {}
    ok_rt: dict[int, list[float]] = {}
    for r in sorted(log, key=lambda r: (r.ended_at, r.run_id)):
        key = (r.asset, r.window)
        prev, prev_ok = last.get(key), last_ok.get(key)
        if r.status == "success" and r.attempt > 0 and prev_ok is not None:
            if _same_output(r, prev_ok):
                why = "drop the rerun: the partition had not changed"
                out.append(WasteItem("redundant_rerun", r.asset, r.window, r.run_id, r.cost,
                                     r.cost, why))  # fmt: skip
        elif r.status == "failed" and r.trigger in RETRY_TRIGGERS:
            repeat = prev is not None and prev.status == "failed"
            repeat = repeat and prev is not None and prev.error_class == r.error_class
            if repeat or r.error_class in NON_RETRYABLE_ERRORS:
                out.append(WasteItem("futile_retry", r.asset, r.window, r.run_id, r.cost, r.cost,
                                     f"stop retrying: {r.error_class} again"))  # fmt: skip
        elif r.status == "killed":
            med = float(np.median(ok_rt[r.asset])) if ok_rt.get(r.asset) else math.nan
            rt = r.runtime_min
            keep = KILL_AT_RUNTIME_X * med if not math.isnan(med) else rt
            saving = r.cost * max(0.0, rt - keep) / rt if rt > 0 else 0.0
            why = f"kill at {KILL_AT_RUNTIME_X:g}x the median run time"
            out.append(WasteItem("killed_run", r.asset, r.window, r.run_id, r.cost, saving,
                                 why))  # fmt: skip
        if r.status == "success":
            last_ok[key] = r
            ok_rt.setdefault(r.asset, []).append(r.runtime_min)
        last[key] = r
    return out


def added_wait_min(log: Sequence[RunRecord], uses_slot: Sequence[bool], slots: int) -> float:
    """The largest added wait per run if the observed warehouse runs had ``slots`` slots."""
    jobs = sorted(
        (r.ready_at if not math.isnan(r.ready_at) else r.started_at, r.runtime_min, r.started_at)
        for r in log
        if uses_slot[r.asset]
    )
    free = [0.0] * slots
    worst = 0.0
    for ready, rt, observed_start in jobs:
        start = max(ready, heapq.heappop(free))
        heapq.heappush(free, start + rt)
        worst = max(worst, start - observed_start)
    return worst


def recommend_size(log: Sequence[RunRecord], uses_slot: Sequence[bool], current: int) -> int:
    """The smallest size (1..``current``) whose added wait stays within ``WAIT_BUDGET_MIN``."""
    for n in range(1, current + 1):
        if added_wait_min(log, uses_slot, n) <= WAIT_BUDGET_MIN:
            return n
    return current


def idle_waste(
    provisioned_slot_hours: float, hours: float, recommended: int, price: float
) -> WasteItem:
    """Slot-hours bought beyond ``recommended`` slots over ``hours``, priced."""
    cost = max(0.0, provisioned_slot_hours - recommended * hours) * price
    return WasteItem("idle_slots", -1, -1, -1, cost, cost, f"resize to {recommended} slots")


def episode_waste(
    log: Sequence[RunRecord],
    *,
    recommended_slots: int,
    provisioned_slot_hours: float,
    hours: float,
    price: float,
) -> list[WasteItem]:
    """Every item of waste of one episode (run waste, then idle slots beyond the given size)."""
    items = run_waste(log)
    items.append(idle_waste(provisioned_slot_hours, hours, recommended_slots, price))
    items.append(WasteItem("peak_low_priority", -1, -1, -1, 0.0, 0.0, "flat price: none"))
    return items


def waste_by_kind(items: Sequence[WasteItem]) -> dict[str, tuple[int, float, float]]:
    """Kind -> (count, cost, saving), every kind present (count 0 when none)."""
    out = {k: (0, 0.0, 0.0) for k in WASTE_KINDS}
    for it in items:
        n, c, s = out[it.kind]
        out[it.kind] = (n + (it.cost > 0), c + it.cost, s + it.saving)
    return out
