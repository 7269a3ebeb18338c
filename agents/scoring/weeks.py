"""Week-by-week figures of a multi-week run, scored against the ground truth.

The learning study's table (one row per week of one run; ``agents.learning.longrun.LongRun``):

============================  ==================================================================
column                        definition
============================  ==================================================================
``week``                      1, 2, ... (days ``7 (week - 1)`` to ``7 week``)
``faults``                    ledger faults with their onset in the week
``mttr_p50_min``              median onset → verified fix of those faults (open ones censored at
                              the horizon, as in the scorecard)
``preventable_faults``        those whose root cause some measure of ``envs.sim.prevention``
                              lowers (the recurrence prevention can act on)
``prevented_faults``          faults a measure kept from starting in the week
``false_alarms_per_day``      alerts raised in the week that match no fault, per day
``human_hours``               the world's human time in the week (escalations) plus the learning
                              cycle's (reviews, approvals), in hours
``warehouse_cost``            provisioned warehouse cost in the week
``prevention_cost``           measures' cost in the week
``total_cost``                warehouse + prevention cost
``labels``, ``reviews``       labels learned and reviews done by the cycle in the week
``classifier_accuracy``       mean held-out cause accuracy of the week's classifier scorings
                              (weighted by labels scored; nan: none)
============================  ==================================================================
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from agents.scoring.matching import fault_outcomes, match_matrix
from envs.sim.prevention import MEASURES

PREVENTABLE: frozenset[str] = frozenset().union(*(m.causes for m in MEASURES.values()))
"""Root causes some preventive measure lowers."""
MIN_PER_WEEK = 7 * 1440.0


def weekly_table(run: Any) -> pd.DataFrame:
    """The week-by-week table of a finished ``LongRun`` (see the module table)."""
    ep, weeks = run.result, run.weeks
    m = match_matrix(ep)
    faults = fault_outcomes(ep, m)

    def week_of(t: Any) -> np.ndarray:
        return np.minimum((np.asarray(t, dtype=float) // MIN_PER_WEEK).astype(int), weeks - 1)

    faults["week"] = week_of(faults["onset"]) if len(faults) else []
    alert_t = np.array([a.t for a in ep.alerts], dtype=float)
    matching = m.any(axis=1) if m.size else np.zeros(len(ep.alerts), dtype=bool)
    alert_week = week_of(alert_t) if len(alert_t) else np.zeros(0, dtype=int)
    prevented = [p.fault.onset for p in run.world.prevented_faults]
    prevented_week = week_of(prevented) if prevented else np.zeros(0, dtype=int)
    per_day = run.meter.per_day()
    cycle = run.cycle
    rows = []
    for w in range(weeks):
        f = faults[faults["week"] == w] if len(faults) else faults
        days = range(7 * w, 7 * w + 7)
        human = sum(per_day[d][0] for d in days if d < len(per_day))
        wh = sum(per_day[d][1] for d in days if d < len(per_day))
        prev = sum(per_day[d][2] for d in days if d < len(per_day))
        labels = reviews = 0
        acc = math.nan
        if cycle is not None:
            human += sum(cycle.human_minutes.get(d, 0.0) for d in days)
            labs = [lab for lab in cycle.labels if int(lab.opened_at // MIN_PER_WEEK) == w]
            labels = len(labs)
            reviews = sum(lab.source == "review" for lab in labs)
            scored = [(a, n) for day, a, n in cycle.accuracy if (day - 1) // 7 == w]
            if scored:
                acc = sum(a * n for a, n in scored) / sum(n for _, n in scored)
        ttr = f["ttr_min"].to_numpy(dtype=float) if len(f) else np.zeros(0)
        ttr = ttr[~np.isnan(ttr)]
        rows.append({
            "week": w + 1,
            "faults": len(f),
            "mttr_p50_min": float(np.percentile(ttr, 50)) if ttr.size else math.nan,
            "preventable_faults": int(f["root_cause"].isin(PREVENTABLE).sum()) if len(f) else 0,
            "prevented_faults": int((prevented_week == w).sum()),
            "false_alarms_per_day": float(((alert_week == w) & ~matching).sum()) / 7.0,
            "human_hours": human / 60.0,
            "warehouse_cost": wh,
            "prevention_cost": prev,
            "total_cost": wh + prev,
            "labels": labels,
            "reviews": reviews,
            "classifier_accuracy": acc,
        })  # fmt: skip
    return pd.DataFrame(rows)
