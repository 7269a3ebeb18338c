"""What the knowledge base learns from its incidents: patterns, 20/80 tables and weekly reviews.

The analysis half of ``agents.knowledge``, which stores the incidents and re-exports the record
types and constants defined here:

* record types: ``Pattern``, ``ParetoRow`` and ``WeeklyReview``;
* constants: the BP-0005 SLA targets ``SLA_AUTOFIX_MIN``, ``SLA_MANUAL_MIN`` and the 20/80 share
  ``PARETO_SHARE``;
* pure functions over rows of the ``incidents`` table (``sqlite3.Row``, read by column name):
  ``best_first``, ``patterns``, ``suggestion`` (the preventive measure for a pattern), ``pareto``
  (a 20/80 table), ``build_review`` (a weekly review of a window's rows) and
  ``review_from_payload`` (a persisted review, decoded).

Nothing here touches the database: the knowledge base selects the rows (learned patterns and
suggestions come from reviewed, correctly classified incidents only) and persists the reviews.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from fractions import Fraction
from statistics import median
from typing import Any, Final, NamedTuple

SLA_AUTOFIX_MIN: Final = 30.0
"""BP-0005 target for auto-remediation (met when the time to resolution is strictly below)."""
SLA_MANUAL_MIN: Final = 120.0
"""BP-0005 target for a manual fix (manual and escalated incidents)."""
PARETO_SHARE: Final = Fraction(4, 5)
"""The weekly review's vital few cover at least this share of incidents (exact arithmetic)."""

# Prevention by the action that fixed the issue: the working fix names the class of root cause
# (causal.py's best fixes), and the root cause says what would have prevented the incident.
_ADVICE: Final[dict[tuple[str, str], str]] = {
    ("late_arrival", "escalate"): "rotate credentials on a schedule, alert before expiry",
    ("late_arrival", "retry"): "retry the ingestion automatically with backoff",
    ("late_arrival", "rerun"): "retry the ingestion automatically with backoff",
    ("late_arrival", "wait"): "lengthen the sensor timeout, schedule after source maintenance",
    ("quality_anomaly", "dedupe"): "make the load idempotent (merge on batch id)",
    ("quality_anomaly", "rerun"): "test reference inputs (unique keys, freshness) before the model",
    ("quality_anomaly", "backfill"): "check extract completeness (rows, nulls) before loading",
    ("quality_anomaly", "apply_schema_mapping"): "agree a schema contract with the source",
    ("quality_anomaly", "escalate"): "agree a data contract (filters, units) with the source",
    ("validation_failure", "apply_schema_mapping"): "map renamed columns at ingestion",
    ("validation_failure", "escalate"): "route schema migrations through change review",
    ("performance_degradation", "kill_query"): "add query timeouts, pin known-good plans",
    ("performance_degradation", "scale_warehouse"): "size the warehouse for this window",
    ("performance_degradation", "reprioritize"): "cap retries and set job priorities",
}
_ADVICE_BY_TYPE: Final[dict[str, str]] = {
    "late_arrival": "add a freshness sensor upstream with an earlier deadline",
    "quality_anomaly": "add not_null, unique and volume checks at ingestion",
    "validation_failure": "add a schema contract test at ingestion",
    "performance_degradation": "add runtime and queue-time alerts and a capacity plan",
}


class Pattern(NamedTuple):
    """How one (asset, issue type) tends to go, from reviewed, correctly classified incidents.

    Attributes:
        asset_name: the asset; ``issue_type`` the issue type.
        n_incidents: incidents; ``success_rate`` the fraction verified fixed.
        best_first_action: among first actions that won at least once, the one with the best
            smoothed win rate ``(wins + 1) / (tries + 2)`` (None if none won). A first action
            wins when the incident was fixed by that kind of action (``retry, escalate`` fixed
            is a loss for ``retry``).
        median_ttr_min: median time to resolution of resolved incidents (nan if none).
        top_fix: the most frequent last action of fixed incidents (None if none was fixed);
            ``top_fix_count`` how many incidents it closed.
    """

    asset_name: str
    issue_type: str
    n_incidents: int
    success_rate: float
    best_first_action: str | None
    median_ttr_min: float
    top_fix: str | None
    top_fix_count: int


class ParetoRow(NamedTuple):
    """One row of a 20/80 table.

    Attributes:
        key: issue type or asset name; ``n_incidents`` its incidents, ``share`` their fraction.
        cumulative_share: fraction of incidents in this row and the rows above it.
    """

    key: str
    n_incidents: int
    share: float
    cumulative_share: float


class WeeklyReview(NamedTuple):
    """The weekly review (BP-0005): 20/80 analysis, prevention opportunities, SLA performance.

    Attributes:
        review_id: row id in the ``reviews`` table.
        now: end of the window; ``days`` its length (window ``[now - days, now)``).
        n_incidents: incidents opened in the window; ``open_incidents`` those still open.
        issue_types, assets: 20/80 tables, most incidents first (ties by name).
        vital_issue_types, vital_assets: the smallest leading sets covering ``PARETO_SHARE``.
        prevention: preventive suggestions from the window's recurring learned patterns.
        sla_autofix_met: fraction of auto-resolved incidents resolved in < 30 min (nan: none).
        sla_manual_met: fraction of manual or escalated incidents resolved in < 120 min, where
            incidents still open 120 min after opening count as misses (nan: none).
    """

    review_id: int
    now: float
    days: float
    n_incidents: int
    open_incidents: int
    issue_types: tuple[ParetoRow, ...]
    assets: tuple[ParetoRow, ...]
    vital_issue_types: tuple[str, ...]
    vital_assets: tuple[str, ...]
    prevention: tuple[str, ...]
    sla_autofix_met: float
    sla_manual_met: float


def best_first(rows: Iterable[sqlite3.Row]) -> str | None:
    """The best first action of some incidents, ranked as ``Pattern.best_first_action``.

    Args:
        rows: incident rows with at least the ``actions`` and ``remediation_success`` columns.

    Returns:
        The action, or None if no first action fixed an incident itself.
    """
    tries: Counter[str] = Counter()
    wins: Counter[str] = Counter()
    for r in rows:
        if actions := json.loads(r["actions"]):  # a win: fixed by the kind of action tried first
            tries[actions[0]] += 1
            wins[actions[0]] += bool(r["remediation_success"]) and actions[-1] == actions[0]
    winners = sorted(a for a in tries if wins[a])  # sorted, so ties go to the first name
    return max(winners, key=lambda a: ((wins[a] + 1) / (tries[a] + 2), wins[a]), default=None)


def patterns(rows: Iterable[sqlite3.Row], min_count: int) -> list[Pattern]:
    """The patterns of the (asset name, issue type) pairs seen at least ``min_count`` times.

    Args:
        rows: incident rows (every column of the ``incidents`` table).
        min_count: the fewest incidents a pattern needs.

    Returns:
        The patterns, most incidents first (ties by asset name, then issue type).
    """
    groups: defaultdict[tuple[str, str], list[sqlite3.Row]] = defaultdict(list)
    for r in rows:
        groups[(r["asset_name"], r["issue_type"])].append(r)
    out = []
    for (name, issue_type), rs in groups.items():
        if len(rs) < min_count:
            continue
        fixed = [r for r in rs if r["remediation_success"] and r["actions"] != "[]"]
        fixes = Counter(json.loads(r["actions"])[-1] for r in fixed)
        top_fix, top_n = min(fixes.items(), key=lambda kv: (-kv[1], kv[0]), default=(None, 0))
        ttrs = [r["time_to_resolution_min"] for r in rs if r["time_to_resolution_min"] is not None]
        rate = sum(bool(r["remediation_success"]) for r in rs) / len(rs)
        ttr = float(median(ttrs)) if ttrs else math.nan
        out.append(Pattern(name, issue_type, len(rs), rate, best_first(rs), ttr, top_fix, top_n))
    return sorted(out, key=lambda p: (-p.n_incidents, p.asset_name, p.issue_type))


def suggestion(p: Pattern) -> str:
    """The preventive measure for a recurring pattern, named after the fix that worked."""
    head = f"{p.asset_name}: {p.issue_type} recurred {p.n_incidents} times"
    advice = _ADVICE_BY_TYPE.get(p.issue_type, f"add a check upstream that catches {p.issue_type}")
    if p.top_fix is None:
        return f"{head}, none fixed — {advice}"
    how = "only by escalation" if p.top_fix == "escalate" else f"by {p.top_fix}"
    advice = _ADVICE.get((p.issue_type, p.top_fix), advice)
    return f"{head}, {p.top_fix_count} fixed {how} — {advice}"


def pareto(counts: Counter[str]) -> tuple[tuple[ParetoRow, ...], tuple[str, ...]]:
    """The 20/80 table of incident counts and its vital few.

    Args:
        counts: incidents per key (issue type or asset name).

    Returns:
        The rows, most incidents first (ties by key), and the keys of the smallest leading set
        of rows covering ``PARETO_SHARE`` of the incidents.
    """
    total, covered = sum(counts.values()), 0
    rows, vital = [], []
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if covered < PARETO_SHARE * total:  # still short of 80%: this row is one of the vital few
            vital.append(key)
        covered += n
        rows.append(ParetoRow(key, n, n / total, covered / total))
    return tuple(rows), tuple(vital)


def build_review(rows: Sequence[sqlite3.Row], now: float, days: float) -> WeeklyReview:
    """The weekly review of the incidents opened in a window, not yet persisted (``review_id`` 0).

    Args:
        rows: incident rows (every column) of the window ``[now - days, now)``, all of them:
            only those reviewed and correctly classified feed the prevention suggestions.
        now: end of the window, in simulated minutes.
        days: length of the window.

    Returns:
        The review.
    """
    issue_types, vital_types = pareto(Counter(r["issue_type"] for r in rows))
    assets, vital_assets = pareto(Counter(r["asset_name"] for r in rows))
    auto = [_ttr(r) for r in rows if r["resolution"] == "auto"]
    manual = [_ttr(r) for r in rows if r["resolution"] in ("manual", "escalated")]
    overdue = now - SLA_MANUAL_MIN
    manual += [math.inf for r in rows if r["resolution"] == "open" and r["opened_at"] <= overdue]
    learned = [r for r in rows if r["classification_correct"] == 1]
    return WeeklyReview(
        review_id=0,
        now=now,
        days=days,
        n_incidents=len(rows),
        open_incidents=sum(r["resolution"] == "open" for r in rows),
        issue_types=issue_types,
        assets=assets,
        vital_issue_types=vital_types,
        vital_assets=vital_assets,
        prevention=tuple(suggestion(p) for p in patterns(learned, min_count=2)),
        sla_autofix_met=_met(auto, SLA_AUTOFIX_MIN),
        sla_manual_met=_met(manual, SLA_MANUAL_MIN),
    )


def review_from_payload(review_id: int, payload: dict[str, Any]) -> WeeklyReview:
    """A persisted review back from its JSON payload (``WeeklyReview._asdict()``) and row id."""
    tables = {k: tuple(ParetoRow(*r) for r in payload[k]) for k in ("issue_types", "assets")}
    lists = {k: tuple(payload[k]) for k in ("vital_issue_types", "vital_assets", "prevention")}
    return WeeklyReview(**{**payload, **tables, **lists, "review_id": review_id})


def _ttr(row: sqlite3.Row) -> float:
    return math.inf if row["time_to_resolution_min"] is None else row["time_to_resolution_min"]


def _met(ttrs: Sequence[float], target_min: float) -> float:
    return sum(t < target_min for t in ttrs) / len(ttrs) if ttrs else math.nan
