"""What the SLA Optimizer's breach predictor sees: named leading indicators, observable only.

One sample per Delivery asset per hour (``t = 60, 120, ...``, before the horizon). Features read
the run log (``RunRecord`` s) *as known at t* — a run counts once it asked for a slot
(``ready_at <= t``), its outcome and run time only once it ended (``ended_at <= t``) — and the
topology and schedules of ``PipelineSpec`` (an orchestrator knows them). No fault ledger, no
hidden cause, no future: ``tests/agents/ideal/test_sla_predict.py`` checks that scrambling
every record's outcome after ``t`` leaves the features at ``t`` unchanged.

=====================  ==========================================================================
feature                meaning (at hour t, for Delivery asset d; "upstream" = d's ancestors)
=====================  ==========================================================================
own_overdue            (t - oldest window end of d not yet delivered) / d's freshness SLA; 0 if
                       every window ended by t has arrived
upstream_overdue       share of upstream assets with a window overdue (end + SLA < t, not arrived)
upstream_pending       max over upstream of (t - oldest undelivered window end) / its SLA, <= 5
upstream_failures_2h   failed or killed runs of d and upstream that ended in (t - 120, t]
runtime_drift_2h       log of the mean ratio run time / the asset's median run time so far, over
                       runs of d and upstream ended in (t - 120, t] (0 if none)
queued_now             warehouse runs waiting for a slot at t (asked, not started)
slot_wait_1h           mean slot wait (min) of runs that started in (t - 60, t]
next_deadline_in       (d's next deadline after t - t) / ``HORIZON_MIN``, at most 1 (schedule)
direct_inputs_missing  share of d's direct upstream assets with a window ended by t, not arrived
hour_sin, hour_cos     hour of day
weekend                day index mod 7 >= 5 (as the optimizers' observations)
=====================  ==========================================================================

``breach_labels`` is the ground truth the predictor is *scored* (and trained) on, from the
partitions table: 1 when a window of d with its deadline in ``(t, t + horizon_min]`` breached its
freshness SLA. It is kept apart from the features on purpose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

from envs.sim.records import RunRecord
from scenarios.spec import PipelineSpec

FEATURE_NAMES: Final[tuple[str, ...]] = (
    "own_overdue", "upstream_overdue", "upstream_pending", "upstream_failures_2h",
    "runtime_drift_2h", "queued_now", "slot_wait_1h", "next_deadline_in", "direct_inputs_missing",
    "hour_sin", "hour_cos", "weekend",
)  # fmt: skip
HORIZON_MIN: Final[float] = 180.0
"""How far ahead a breach is predicted."""
STEP_MIN: Final[float] = 60.0


def ancestors(pipeline: PipelineSpec) -> dict[int, list[int]]:
    """Asset index -> indexes of every asset upstream of it."""
    idx = {a.name: i for i, a in enumerate(pipeline.assets)}
    up = {i: [idx[u] for u in a.upstream] for i, a in enumerate(pipeline.assets)}
    out: dict[int, list[int]] = {}
    for i in up:
        seen: set[int] = set()
        stack = list(up[i])
        while stack:
            j = stack.pop()
            if j not in seen:
                seen.add(j)
                stack.extend(up[j])
        out[i] = sorted(seen)
    return out


def delivery_assets(pipeline: PipelineSpec) -> list[int]:
    """Indexes of the Delivery assets."""
    return [i for i, a in enumerate(pipeline.assets) if a.layer == "Delivery"]


def sample_times(horizon: float) -> np.ndarray:
    """The hours at which the predictor runs: 60, 120, ... strictly before the horizon."""
    return np.arange(STEP_MIN, horizon, STEP_MIN)


def _first_arrivals(log: Sequence[RunRecord]) -> dict[tuple[int, int], float]:
    out: dict[tuple[int, int], float] = {}
    for r in log:
        if r.status == "success":
            key = (r.asset, r.window)
            out[key] = min(out.get(key, math.inf), r.ended_at)
    return out


def _pending(
    cache: dict[int, float],
    asset: int,
    every: float,
    t: float,
    arrived: dict[tuple[int, int], float],
) -> float:
    """End of the oldest window ended by ``t`` and not arrived by ``t`` (nan if none), cached."""
    if asset not in cache:
        cache[asset] = math.nan
        for k in range(1, int(t // every) + 1):
            if arrived.get((asset, k), math.inf) > t:
                cache[asset] = k * every
                break
    return cache[asset]


def sla_features(
    log: Sequence[RunRecord], pipeline: PipelineSpec, uses_slot: Sequence[bool], horizon: float
) -> pd.DataFrame:
    """The predictor's samples: one row per Delivery asset per hour (``FEATURE_NAMES``).

    Args:
        log: the episode's run log.
        pipeline: the topology and schedules.
        uses_slot: per asset, whether its runs hold a warehouse slot.
        horizon: the episode end in minutes.

    Returns:
        Columns ``asset``, ``t`` and ``FEATURE_NAMES``.
    """
    specs = pipeline.assets
    anc = ancestors(pipeline)
    idx = {a.name: i for i, a in enumerate(specs)}
    arrived = _first_arrivals(log)
    ready = np.array([r.ready_at if not math.isnan(r.ready_at) else r.started_at for r in log])
    start = np.array([r.started_at for r in log])
    end = np.array([r.ended_at for r in log])
    asset = np.array([r.asset for r in log], dtype=int)
    bad = np.array([r.status != "success" for r in log], dtype=bool)
    rt = end - start
    slot = np.array([uses_slot[a] for a in asset], dtype=bool) if len(log) else np.zeros(0, bool)
    rows = []
    for t in sample_times(horizon):
        done = end <= t
        # median run time per asset over runs ended by t (the baseline known at t)
        med = np.full(len(specs), np.nan)
        for a in np.unique(asset[done]):
            med[a] = float(np.median(rt[done & (asset == a)]))
        pending: dict[int, float] = {}
        recent = (end > t - 120.0) & done
        waiting = int(((ready <= t) & (start > t) & slot).sum())
        started = (start > t - 60.0) & (start <= t) & slot
        wait = float(np.mean(start[started] - ready[started])) if started.any() else 0.0
        hour = (t % 1440.0) / 60.0
        cal = (math.sin(2 * math.pi * hour / 24), math.cos(2 * math.pi * hour / 24))
        weekend = 1.0 if int(t // 1440) % 7 >= 5 else 0.0
        for d in delivery_assets(pipeline):
            ups = anc[d]
            own = _pending(pending, d, specs[d].every_min, t, arrived)
            own_over = 0.0 if math.isnan(own) else (t - own) / specs[d].freshness_sla_min
            over, pend = 0, 0.0
            for u in ups:
                p = _pending(pending, u, specs[u].every_min, t, arrived)
                if not math.isnan(p):
                    sla = specs[u].freshness_sla_min
                    over += p + sla < t
                    pend = max(pend, min(5.0, (t - p) / sla))
            every, sla = specs[d].every_min, specs[d].freshness_sla_min
            nxt = (math.floor((t - sla) / every) + 1) * every + sla
            direct = [idx[u] for u in specs[d].upstream]
            missing = sum(
                not math.isnan(_pending(pending, u, specs[u].every_min, t, arrived)) for u in direct
            )
            scope = np.isin(asset, [d, *ups]) & recent
            i = np.flatnonzero(scope)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = rt[i] / med[asset[i]]
            ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
            rows.append((
                d, t, own_over, over / len(ups) if ups else 0.0, pend,
                int((scope & bad).sum()), math.log(float(np.mean(ratio))) if ratio.size else 0.0,
                waiting, wait, min(1.0, (nxt - t) / HORIZON_MIN),
                missing / len(direct) if direct else 0.0, *cal, weekend,
            ))  # fmt: skip
    return pd.DataFrame(rows, columns=["asset", "t", *FEATURE_NAMES])


def breach_labels(
    samples: pd.DataFrame, partitions: pd.DataFrame, horizon_min: float = HORIZON_MIN
) -> np.ndarray:
    """Ground truth per sample: a window of its asset breached with deadline in (t, t + horizon]."""
    out = np.zeros(len(samples), dtype=bool)
    if len(samples) == 0 or len(partitions) == 0:
        return out
    br = partitions.loc[partitions["sla_breached"].astype(bool)]
    by_asset = {int(a): g["deadline"].to_numpy(dtype=float) for a, g in br.groupby("asset")}
    for i, (a, t) in enumerate(zip(samples["asset"], samples["t"], strict=True)):
        dl = by_asset.get(int(a))
        if dl is not None:
            out[i] = bool(((dl > t) & (dl <= t + horizon_min)).any())
    return out
