"""Prevention: recurring learned causes become preventive measures, and unpaid ones are retired.

What the organization decides from is only what it can see: its learned labels (reviewed or
confirmed incidents, ``incident_labels``; under ``learning=raw`` its own unreviewed diagnoses).
Never the ledger.

- **Take** (daily): a cause labelled ``prevent_after`` times or more on one asset within
  ``prevent_window_days``, for which a measure of ``envs.sim.prevention.MEASURES`` lists the cause
  and may be put on that asset's layer, and no measure of that kind was ever put on the asset in
  this run (active, or retired for not paying: it is not tried again), gets the measure
  (``World.prevent``). ``reserved_capacity`` reserves the hours at which the recurring
  contention was seen (the hour each incident opened and the hour before it). A measure can be
  wrong — the labels were wrong, or the cause recurs elsewhere — and then costs and prevents
  nothing.
- **Retire** (weekly review): a measure that has run ``min_measure_days`` is kept if the learned
  incidents it was meant to prevent fell enough to pay for it: (rate before − rate after) per day
  × ``incident_value`` ≥ its cost per day so far; otherwise it is retired (``World.retire``), with
  the figures as its reason.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from agents.learning.config import LearningConfig
from envs.sim.prevention import MEASURES

MIN_PER_DAY = 1440.0


def _measures_for(cause: str) -> list[str]:
    return sorted(name for name, m in MEASURES.items() if cause in m.causes)


def plan_measures(
    labels: pd.DataFrame, world: Any, taken: pd.DataFrame, cfg: LearningConfig, now: float
) -> list[dict[str, Any]]:
    """The measures the learned labels call for now (not yet applied).

    Args:
        labels: this run's ``incident_labels`` rows.
        world: the world (its assets' layers, the warehouse size).
        taken: this run's ``preventive_measures`` rows, active or retired.
        cfg: ``prevent_after``, ``prevent_window_days``.
        now: the cycle's time.

    Returns:
        One dict per measure to take: measure, asset, cause, params, reason.
    """
    since = now - cfg.prevent_window_days * MIN_PER_DAY
    groups: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for r in labels.itertuples():
        if r.opened_at >= since and r.root_asset >= 0:
            groups.setdefault((str(r.cause), int(r.root_asset)), []).append(
                (int(r.incident_id), float(r.opened_at))
            )
    tried = {(r.measure, int(r.asset)) for r in taken.itertuples()}
    out: list[dict[str, Any]] = []
    for (cause, asset), group in sorted(groups.items()):
        if len(group) < cfg.prevent_after or not _measures_for(cause):
            continue
        layer = world.assets[asset].layer
        for name in _measures_for(str(cause)):
            m = MEASURES[name]
            if layer not in m.eligible or (name, asset) in tried:
                continue
            params = _params(name, [t for _, t in group])
            if any(p not in params for p in m.required):
                continue  # a parameter it needs cannot be read from the incidents
            ids = ", ".join(str(i) for i, _ in group[:5])
            reason = (
                f"{cause} learned {len(group)} times on {world.assets[asset].name} in "
                f"{cfg.prevent_window_days:g} days (incidents {ids})"
            )
            out.append({"measure": name, "asset": asset, "cause": cause,
                        "params": params, "reason": reason})  # fmt: skip
            tried.add((name, asset))
            break
    return out


def _params(name: str, opened: list[float]) -> dict[str, Any]:
    """A measure's parameters read from the opening times of the incidents it answers."""
    params: dict[str, Any] = {}
    if "hours" in MEASURES[name].required:
        hours = set()
        for t in opened:
            h = int(t // 60) % 24
            hours |= {h, (h - 1) % 24}
        params["hours"] = tuple(sorted(hours))
    return params


def carried_params(measure: Any, labels: pd.DataFrame, cfg: LearningConfig) -> dict[str, Any]:
    """The parameters ``plan_measures`` gave a recorded measure, read back from the labels.

    ``plan_measures`` read them from the labels of the measure's cause on its asset opened within
    ``prevent_window_days`` before it started, among the labels learned by its day; the same
    selection of the same rows gives the same parameters (a warm start re-applies a measure from
    its ``preventive_measures`` row this way, ``agents.learning.warmstart``).

    Args:
        measure: a ``preventive_measures`` row (``measure``, ``asset``, ``cause``,
            ``started_day``, ``started_at``).
        labels: the run's ``incident_labels`` rows.
        cfg: ``prevent_window_days``.

    Raises:
        ValueError: a parameter the measure needs cannot be read back (no such labels).
    """
    since = measure.started_at - cfg.prevent_window_days * MIN_PER_DAY
    mine = labels[
        (labels["cause"] == measure.cause) & (labels["root_asset"] == measure.asset)
        & (labels["opened_at"] >= since) & (labels["day"] <= measure.started_day)
    ]  # fmt: skip
    params = _params(measure.measure, [float(t) for t in mine["opened_at"]])
    missing = [p for p in MEASURES[measure.measure].required if p not in params or not params[p]]
    if missing:
        raise ValueError(
            f"measure {measure.measure} on asset {measure.asset}: parameters {missing} cannot be "
            "read back from the labels it was planned from"
        )
    return params


def review_measures(
    labels: pd.DataFrame,
    measures: pd.DataFrame,
    world: Any,
    cfg: LearningConfig,
    now: float,
    origin: float = 0.0,
) -> list[dict[str, Any]]:
    """Which active measures did not pay, with the figures (the weekly review's decision).

    Args:
        labels: this run's ``incident_labels`` rows.
        measures: this run's ``preventive_measures`` rows still active.
        world: the world (each measure's cost so far, ``World.measures``).
        cfg: ``incident_value``, ``min_measure_days``, ``prevent_window_days``.
        now: the review's time.
        origin: when the organization's memory begins (0: this run's start; a warm start's
            carried records begin before it): "before" is counted from here at the earliest.

    Returns:
        One dict per measure reviewed: measure_id, retire (bool), recurrence_before and
        recurrence_after (learned incidents per day), cost (so far), reason.
    """
    out = []
    for r in measures.itertuples():
        days_on = (now - r.started_at) / MIN_PER_DAY
        if days_on < cfg.min_measure_days:
            continue
        causes = MEASURES[r.measure].causes
        mine = labels[labels["cause"].isin(causes) & (labels["root_asset"] == r.asset)]
        window = min(cfg.prevent_window_days, (r.started_at - origin) / MIN_PER_DAY)
        before = mine[(mine["opened_at"] >= r.started_at - window * MIN_PER_DAY)
                      & (mine["opened_at"] < r.started_at)]  # fmt: skip
        after = mine[mine["opened_at"] >= r.started_at]
        rate_before = len(before) / window if window > 0 else math.nan
        rate_after = len(after) / days_on
        rec = world.measures[int(r.measure_id)]
        cost = float(rec.cost)
        value = (rate_before - rate_after) * cfg.incident_value
        # its cost accrues in this world only: a measure carried from a training run
        # (``agents.learning.warmstart``) started before this world did
        per_day = cost / ((now - rec.started_at) / MIN_PER_DAY)
        keep = value >= per_day
        reason = (
            f"learned incidents/day {rate_before:.2f} before, {rate_after:.2f} after; avoided "
            f"{value:.1f} vs cost {per_day:.1f} per day: " + ("pays" if keep else "does not pay")
        )
        out.append({"measure_id": int(r.measure_id), "retire": not keep,
                    "recurrence_before": rate_before, "recurrence_after": rate_after,
                    "cost": cost, "reason": reason})  # fmt: skip
    return out
