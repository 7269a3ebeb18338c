"""Escalation appropriateness (SC-0003): was each escalation to a human needed, and in time?

One row per incident (``escalation_outcomes``), scored against its primary fault
(``agents.scoring.matching.incident_outcomes``) and its own remediation steps:

- **escalated**: the incident has an ``escalate`` step (as in ``escalation_rate``);
- **needs a human**: the automation did not fix it (its resolution is neither ``auto`` nor
  ``benign``) and either its primary fault's cheapest reliable fix (``best_fix``) is
  ``escalate`` — no automated fix is reliable for that cause — or every non-destructive
  automated rung it ran (at least one; before the escalation, or beside it when a critical
  incident paged a human at once) failed to verify a fix;
  a false alarm (no matched fault) needs a human only by the second clause;
- an escalation is **appropriate** when the incident needed a human, **unnecessary**
  otherwise (an available automated fix would have worked, or there was nothing to fix);
- a needed escalation is **late** when its first ``escalate`` step was issued after the
  manual-fix SLA budget (``SLA_TARGETS_MIN["manual"]``, from the first diagnosis, or from the
  incident's opening if undiagnosed) was already spent.

``escalation_metrics`` pools the rows of many episodes: ``escalation_precision`` = appropriate /
escalated incidents, ``escalation_recall`` = escalated / incidents that needed a human,
``escalation_late_rate`` = late / appropriate escalations (each NaN on an empty denominator).
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pandas as pd

from agents.records import EpisodeResult
from agents.scoring.matching import SLA_TARGETS_MIN, first_diagnoses, steps_by_incident
from scenarios.vocab import DESTRUCTIVE_ACTIONS

ESCALATION_METRIC_NAMES: Final[tuple[str, ...]] = (
    "escalation_precision",
    "escalation_recall",
    "escalation_late_rate",
)
COLUMNS: Final[list[str]] = [
    "incident_id", "primary_fault", "escalated", "needs_human", "appropriate", "late",
    "escalate_wait_min",
]  # fmt: skip
_AUTOMATION_FIXED: Final[frozenset[str]] = frozenset({"auto", "benign"})


def escalation_outcomes(ep: EpisodeResult, incidents: pd.DataFrame) -> pd.DataFrame:
    """One row per incident: escalated, needed a human, appropriate, late (module docstring).

    Args:
        ep: the episode.
        incidents: ``incident_outcomes(ep)`` (for each incident's primary fault).

    Returns:
        Columns ``COLUMNS``; ``escalate_wait_min`` is first escalation − diagnosis (or opening),
        NaN if never escalated.
    """
    primary = dict(zip(incidents["incident_id"], incidents["primary_fault"], strict=True))
    faults = {f.fault_id: f for f in ep.faults}
    diag = first_diagnoses(ep.diagnoses)
    steps = steps_by_incident(ep.remediations)
    rows: list[dict[str, Any]] = []
    for inc in ep.incidents:
        inc_steps = steps.get(inc.incident_id, [])
        kinds = [s.kind for s in inc_steps]
        first_esc = kinds.index("escalate") if "escalate" in kinds else len(kinds)
        # the automated, non-destructive rungs it ran: before the escalation, or beside it when
        # a critical incident paged a human at once
        rungs = [s for s in inc_steps if s.kind not in DESTRUCTIVE_ACTIONS and s.kind != "escalate"]
        exhausted = bool(rungs) and not any(s.verified for s in rungs)
        pf = int(primary.get(inc.incident_id, -1))
        human_cause = pf >= 0 and faults[pf].best_fix == "escalate"
        needs = inc.resolution not in _AUTOMATION_FIXED and (human_cause or exhausted)
        escalated = first_esc < len(kinds)
        d = diag.get(inc.incident_id)
        start = d.t if d is not None else inc.opened_at
        wait = inc_steps[first_esc].issued_at - start if escalated else math.nan
        rows.append(
            {
                "incident_id": inc.incident_id,
                "primary_fault": pf,
                "escalated": escalated,
                "needs_human": needs,
                "appropriate": escalated and needs,
                "late": escalated and needs and wait >= SLA_TARGETS_MIN["manual"],
                "escalate_wait_min": wait,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def escalation_metrics(tables: list[pd.DataFrame]) -> dict[str, float]:
    """Precision, recall and late rate of escalations, pooled over episodes' outcome tables."""
    if tables:
        t = pd.concat(tables, ignore_index=True)
        esc = t["escalated"].to_numpy(dtype=bool)
        needs = t["needs_human"].to_numpy(dtype=bool)
        late = t["late"].to_numpy(dtype=bool)
    else:
        esc = needs = late = np.zeros(0, dtype=bool)
    hits = int((esc & needs).sum())
    return {
        "escalation_precision": hits / int(esc.sum()) if esc.any() else math.nan,
        "escalation_recall": hits / int(needs.sum()) if needs.any() else math.nan,
        "escalation_late_rate": int(late.sum()) / hits if hits else math.nan,
    }
