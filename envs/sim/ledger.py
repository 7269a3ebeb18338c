"""The ground-truth ledger and the tables analysis reads (pandas), plus the episode summary.

Everything here is derived from the world's immutable records and its fault states, after or
during a run; nothing here changes the world. Times are simulated minutes unless a column name
says otherwise.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from envs.sim.records import PARTITION_STATES, PENDING, ActionRecord, FaultRecord, RunRecord

if TYPE_CHECKING:
    from envs.sim.world import World

NAN = math.nan


def fault_records(world: World) -> list[FaultRecord]:
    """Every fault that started (planned onsets before now and collateral), as ledger rows."""
    return [f.record() for f in world.faults if f.started]


def faults_table(world: World) -> pd.DataFrame:
    """The ledger: one row per fault with names resolved and times in minutes.

    Columns are ``FaultRecord`` fields plus ``root_asset_name``, ``root_layer``, ``status``
    (``resolved`` or ``open``) and ``exposure_hours`` (wrong data visible at Delivery).
    """
    rows = fault_records(world)
    df = pd.DataFrame(rows, columns=list(FaultRecord._fields))
    names = [a.name for a in world.assets]
    layers = [a.layer for a in world.assets]
    df["root_asset_name"] = [names[i] for i in df["root_asset"]]
    df["root_layer"] = [layers[i] for i in df["root_asset"]]
    df["affected_asset_names"] = [tuple(names[i] for i in t) for t in df["affected_assets"]]
    df["status"] = ["open" if math.isnan(t) else "resolved" for t in df["resolved_at"]]
    exp = exposure_hours_by_fault(world)
    df["exposure_hours"] = [exp.get(fid, 0.0) for fid in df["fault_id"]]
    return df


def prevented_table(world: World) -> pd.DataFrame:
    """The faults preventive measures kept from starting (not in the ledger), one row each.

    Columns are ``FaultRecord`` fields (as the fault was planned: times after its onset are nan)
    plus ``measure_id``, ``measure``, ``root_asset_name`` and ``root_layer``; with
    ``faults_table`` it gives the ground truth of recurrence with and without prevention.
    """
    rows = [(*p.fault, p.measure_id, p.measure) for p in world.prevented_faults]
    df = pd.DataFrame(rows, columns=[*FaultRecord._fields, "measure_id", "measure"])
    names = [a.name for a in world.assets]
    layers = [a.layer for a in world.assets]
    df["root_asset_name"] = [names[i] for i in df["root_asset"]]
    df["root_layer"] = [layers[i] for i in df["root_asset"]]
    return df


def runs_table(world: World) -> pd.DataFrame:
    """Every run record, one row each, with asset names and layers."""
    df = pd.DataFrame(world.log, columns=list(RunRecord._fields))
    names = [a.name for a in world.assets]
    layers = [a.layer for a in world.assets]
    df["asset_name"] = [names[i] for i in df["asset"]]
    df["layer"] = [layers[i] for i in df["asset"]]
    df["queued_min"] = df["started_at"] - df["scheduled_at"]
    df["runtime_min"] = df["ended_at"] - df["started_at"]
    return df


def actions_table(world: World) -> pd.DataFrame:
    """The audit trail: one row per finished action."""
    df = pd.DataFrame(world.actions, columns=list(ActionRecord._fields))
    names = [a.name for a in world.assets]
    df["asset_name"] = [names[i] if i >= 0 else "" for i in df["asset"]]
    return df


_PARTITION_COLUMNS = [
    "asset", "asset_name", "layer", "window", "window_end", "deadline", "state", "arrived_at",
    "late_min", "sla_breached", "wrong_data",
]  # fmt: skip
_STATE_NAMES = np.array(PARTITION_STATES, dtype=object)


def partitions_table(world: World) -> pd.DataFrame:
    """Final state of every partition window that was due before now.

    Columns: asset, asset_name, layer, window, window_end, deadline (window end + SLA), state,
    arrived_at (nan if no data), late_min (arrival or now minus deadline, if positive),
    sla_breached, wrong_data (the window was ever delivered with wrong data at Delivery).

    Built column by column with numpy, one asset at a time: the same values and dtypes as one
    Python row per window (integer window ends, float deadlines and times, bool flags).
    """
    now = world.now
    exposed = {(ai, k) for _fid, ai, k, _s, _e in world.exposures}
    parts: list[tuple[Any, ...]] = []
    for a in world.assets:
        n = _windows_due(a.every, a.offset, a.n_windows, now)
        if n == 0:
            continue
        ks = np.arange(1, n + 1, dtype=np.int64)
        end = ks * a.every
        deadline = end + a.sla
        recs = a.records
        arrived = np.array(
            [
                r.ended_at if (r := recs.get(k)) is not None and r.status == "success" else NAN
                for k in range(1, n + 1)
            ],
            dtype=np.float64,
        )
        missing = np.isnan(arrived)
        late = np.maximum(0.0, np.where(missing, now, arrived) - deadline)
        breached = np.where(missing, deadline < now, late > 0)
        states = np.frombuffer(a.state, dtype=np.uint8, count=n, offset=1)
        wrong = (
            np.array([(a.idx, k) in exposed for k in range(1, n + 1)], dtype=bool)
            if exposed
            else np.zeros(n, dtype=bool)
        )
        parts.append(
            (a, n, ks, end, deadline, _STATE_NAMES[states], arrived, late, breached, wrong)
        )
    if not parts:
        return pd.DataFrame([], columns=_PARTITION_COLUMNS)
    cat = np.concatenate
    return pd.DataFrame(
        {
            "asset": cat([np.full(p[1], p[0].idx, dtype=np.int64) for p in parts]),
            "asset_name": cat([np.full(p[1], p[0].name, dtype=object) for p in parts]),
            "layer": cat([np.full(p[1], p[0].layer, dtype=object) for p in parts]),
            **{
                col: cat([p[i] for p in parts])
                for i, col in enumerate(_PARTITION_COLUMNS[3:], start=2)
            },
        }
    )


def _windows_due(every: int, offset: int, n_windows: int, now: float) -> int:
    """How many windows of an asset were due by ``now`` (``k * every + offset <= now``)."""
    n = min(n_windows, max(0, int((now - offset) // every)))
    while n < n_windows and (n + 1) * every + offset <= now:
        n += 1
    while n > 0 and n * every + offset > now:
        n -= 1
    return n


def exposure_hours_by_fault(world: World) -> dict[int, float]:
    """Hours of wrong data visible at Delivery, per fault (open exposures count until now)."""
    out: dict[int, float] = {}
    now = world.now
    for fid, _ai, _k, start, end in world.exposures:
        stop = now if math.isnan(end) else end
        out[fid] = out.get(fid, 0.0) + max(0.0, stop - start) / 60.0
    return out


def summary(world: World) -> dict[str, Any]:
    """Episode summary: runs, partitions, faults by type and layer, SLA breaches, cost.

    Returns:
        A JSON-serializable dict.
    """
    parts = partitions_table(world)
    faults = fault_records(world)
    layers = [a.layer for a in world.assets]
    by_type = Counter(f.issue_type for f in faults)
    by_layer = Counter(layers[f.root_asset] for f in faults)
    by_subtype = Counter(f.subtype for f in faults)
    by_sev = Counter(f.severity for f in faults)
    statuses = Counter(r.status for r in world.log)
    human_cost = world.human_minutes / 60.0 * world.scenario.spec.human.cost_per_hour
    pending = int((parts["state"] == PARTITION_STATES[PENDING]).sum()) if len(parts) else 0
    return {
        "scenario": world.scenario.name,
        "seed": world.seed,
        "days": world.horizon / 1440.0,
        "assets": len(world.assets),
        "runs": len(world.log),
        "runs_by_status": dict(sorted(statuses.items())),
        "partitions": len(parts),
        "partitions_by_state": dict(sorted(Counter(parts["state"]).items())) if len(parts) else {},
        "partitions_never_arrived": pending,
        "sla_breaches": int(parts["sla_breached"].sum()) if len(parts) else 0,
        "delivery_sla_breaches": int(parts.loc[parts["layer"] == "Delivery", "sla_breached"].sum())
        if len(parts)
        else 0,
        "faults": len(faults),
        "faults_by_type": dict(sorted(by_type.items())),
        "faults_by_subtype": dict(sorted(by_subtype.items())),
        "faults_by_layer": dict(sorted(by_layer.items())),
        "faults_by_severity": dict(sorted(by_sev.items())),
        "faults_open": sum(1 for f in faults if math.isnan(f.resolved_at)),
        "bad_data_exposure_hours": round(sum(exposure_hours_by_fault(world).values()), 3),
        "warehouse_cost": round(world.warehouse.cost, 2),
        "compute_slot_hours": round(world.warehouse.busy_slot_minutes / 60.0, 2),
        "human_cost": round(human_cost, 2),
        "actions": len(world.actions),
    }
