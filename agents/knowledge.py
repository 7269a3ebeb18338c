"""The Knowledge Manager's knowledge base: every incident, its actions and the weekly reviews.

A SQLite file (``":memory:"`` for tests), stdlib ``sqlite3`` only, in WAL mode. Each incident is
written in one transaction, so a crash (even ``SIGKILL``) leaves every committed incident intact
and never half of one. ``synchronous=NORMAL`` is enough for that: in WAL mode a commit is in the
log file before ``record_incident`` returns, so only an OS crash or power loss can lose the last
few commits (and never corrupts the file); ``synchronous="FULL"`` also survives those, at the
price of an fsync per incident, which the organization in the simulator loop does not need.

Tables (schema version 1; times in simulated minutes since the episode start; ``NULL`` in a time
column means ``nan``; booleans are 0/1):

==================  ===========================================================================
table               columns
==================  ===========================================================================
``schema_version``  ``version``, checked on open: a file of another version is refused.
``incidents``       key (``scenario``, ``seed``, ``org``, ``incident_id``) + every
                    ``IncidentSummary`` field; ``actions`` and ``fault_ids`` are JSON arrays;
                    ``classification_correct`` is ``NULL`` until reviewed. The index
                    (``asset``, ``issue_type``, ``opened_at``) serves ``recurrence``.
``actions``         key (``scenario``, ``seed``, ``org``, ``incident_id``, ``step``) + every
                    ``RemediationStep`` field; ``params`` is a JSON array of [name, value].
``reviews``         ``review_id``, ``created_at`` (the review's ``now``), ``days``, the scope
                    filters (``NULL``: all), ``n_incidents``, ``payload`` (``WeeklyReview`` JSON).
==================  ===========================================================================

Learning (BP-0005: "don't learn from wrong classifications"): patterns, best first actions and
preventive suggestions come from incidents reviewed *and* correctly classified only
(``classification_correct = 1``). Plain facts — ``recurrence``, the weekly 20/80 tables and SLA
performance — count every incident.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from statistics import median
from types import TracebackType
from typing import Any, Final, NamedTuple, TypeVar, get_origin, get_type_hints

import pandas as pd

from agents.records import IncidentSummary, RemediationStep

SCHEMA_VERSION: Final = 1
MIN_PER_DAY: Final = 1440.0
SLA_AUTOFIX_MIN: Final = 30.0
"""BP-0005 target for auto-remediation (met when the time to resolution is strictly below)."""
SLA_MANUAL_MIN: Final = 120.0
"""BP-0005 target for a manual fix (manual and escalated incidents)."""
PARETO_SHARE: Final = Fraction(4, 5)
"""The weekly review's vital few cover at least this share of incidents (exact arithmetic)."""

_KEY: Final = ("scenario", "seed", "org")
_IS_INCIDENT: Final = "scenario = ? AND seed = ? AND org = ? AND incident_id = ?"
_LEARNING: Final = "classification_correct = 1"
_R = TypeVar("_R", IncidentSummary, RemediationStep)
_HINTS: Final = {cls: get_type_hints(cls) for cls in (IncidentSummary, RemediationStep)}

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT;
INSERT INTO schema_version SELECT {SCHEMA_VERSION} WHERE NOT EXISTS (SELECT * FROM schema_version);
CREATE TABLE IF NOT EXISTS incidents (
    scenario TEXT NOT NULL, seed INTEGER NOT NULL, org TEXT NOT NULL,
    incident_id INTEGER NOT NULL, asset INTEGER NOT NULL, asset_name TEXT NOT NULL,
    layer TEXT NOT NULL, opened_at REAL NOT NULL, diagnosed_at REAL, resolved_at REAL,
    issue_type TEXT NOT NULL, severity TEXT NOT NULL, root_asset INTEGER NOT NULL,
    root_cause TEXT NOT NULL, resolution TEXT NOT NULL, remediation_success INTEGER NOT NULL,
    actions TEXT NOT NULL, alerts INTEGER NOT NULL, fault_ids TEXT NOT NULL,
    classification_correct INTEGER, time_to_resolution_min REAL,
    PRIMARY KEY (scenario, seed, org, incident_id)
) STRICT;
CREATE INDEX IF NOT EXISTS incidents_recurrence ON incidents (asset, issue_type, opened_at);
CREATE TABLE IF NOT EXISTS actions (
    scenario TEXT NOT NULL, seed INTEGER NOT NULL, org TEXT NOT NULL,
    incident_id INTEGER NOT NULL, step INTEGER NOT NULL, action_id INTEGER NOT NULL,
    kind TEXT NOT NULL, asset INTEGER NOT NULL, asset_name TEXT NOT NULL, params TEXT NOT NULL,
    issued_at REAL, done_at REAL, outcome TEXT NOT NULL, verified INTEGER NOT NULL,
    before TEXT NOT NULL, after TEXT NOT NULL, rollback_handle INTEGER NOT NULL, cost REAL,
    reason TEXT NOT NULL,
    PRIMARY KEY (scenario, seed, org, incident_id, step)
) STRICT;
CREATE TABLE IF NOT EXISTS reviews (
    review_id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, days REAL NOT NULL,
    scenario TEXT, seed INTEGER, org TEXT, n_incidents INTEGER NOT NULL, payload TEXT NOT NULL
) STRICT;
"""

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


class KnowledgeBase:
    """The incident knowledge base (the module docstring describes its tables).

    Args:
        path: SQLite file, created if missing; ``":memory:"`` keeps it in memory.
        synchronous: ``"NORMAL"`` survives process crashes, ``"FULL"`` also power loss.

    Raises:
        ValueError: the file is not a knowledge base, or of another schema version.
    """

    def __init__(self, path: str | Path = ":memory:", *, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous: {synchronous!r}; expected 'NORMAL' or 'FULL'")
        self.path = str(path)
        self._conn = sqlite3.connect(self.path)
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.executescript(f"BEGIN;{_SCHEMA}COMMIT;")
            (version,) = self._conn.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise ValueError(f"{self.path}: not a knowledge base ({e})") from e
        if version != SCHEMA_VERSION:
            self._conn.close()
            raise ValueError(f"{self.path}: schema version {version}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the connection (every recorded incident is already committed)."""
        self._conn.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def record_incident(
        self,
        summary: IncidentSummary,
        steps: Sequence[RemediationStep],
        *,
        scenario: str = "",
        seed: int = 0,
        org: str = "",
    ) -> None:
        """Record an incident and its remediation steps in one transaction.

        ``scenario``, ``seed`` and ``org`` name the episode. Recording the same incident of the
        same episode again replaces it and all its steps (record it on close, again on review).

        Raises:
            ValueError: a step belongs to another incident, or two steps share a number.
        """
        if any(s.incident_id != summary.incident_id for s in steps):
            raise ValueError(f"incident {summary.incident_id}: given a step of another incident")
        if len({s.step for s in steps}) != len(steps):
            raise ValueError(f"incident {summary.incident_id}: duplicate step numbers")
        key = (scenario, seed, org)
        cols, step_cols = (*_KEY, *IncidentSummary._fields), (*_KEY, *RemediationStep._fields)
        updates = ", ".join(f"{c} = excluded.{c}" for c in IncidentSummary._fields[1:])
        with self._conn:  # one transaction: all of the incident or none of it
            self._conn.execute(
                f"INSERT INTO incidents ({', '.join(cols)}) VALUES ({_marks(cols)}) "
                f"ON CONFLICT ({', '.join(_KEY)}, incident_id) DO UPDATE SET {updates}",
                (*key, *_encode(summary)),
            )
            self._conn.execute(
                f"DELETE FROM actions WHERE {_IS_INCIDENT}", (*key, _plain(summary.incident_id))
            )
            self._conn.executemany(
                f"INSERT INTO actions ({', '.join(step_cols)}) VALUES ({_marks(step_cols)})",
                [(*key, *_encode(s)) for s in steps],
            )

    def mark_reviewed(
        self,
        incident_id: int,
        classification_correct: bool,
        *,
        fault_ids: Sequence[int] | None = None,
        scenario: str = "",
        seed: int = 0,
        org: str = "",
    ) -> None:
        """Record the review of an incident against ground truth, which lets it feed learning.

        ``classification_correct``: the diagnosed issue type was the true one; ``fault_ids``: the
        ground-truth faults matched to it (None: keep the recorded ones).

        Raises:
            KeyError: no such incident has been recorded.
        """
        values: dict[str, Any] = {"classification_correct": int(classification_correct)}
        if fault_ids is not None:
            values["fault_ids"] = _json(fault_ids)
        sets = ", ".join(f"{c} = ?" for c in values)
        with self._conn:
            cur = self._conn.execute(
                f"UPDATE incidents SET {sets} WHERE {_IS_INCIDENT}",
                (*values.values(), scenario, seed, org, incident_id),
            )
        if cur.rowcount == 0:
            raise KeyError(f"no incident {incident_id} recorded for {scenario=}, {seed=}, {org=}")

    def incident(
        self, incident_id: int, *, scenario: str = "", seed: int = 0, org: str = ""
    ) -> IncidentSummary | None:
        """The recorded summary of an incident, or None."""
        query = f"SELECT * FROM incidents WHERE {_IS_INCIDENT}"
        row = self._conn.execute(query, (scenario, seed, org, incident_id)).fetchone()
        return None if row is None else _decode(IncidentSummary, row)

    def steps(
        self, incident_id: int, *, scenario: str = "", seed: int = 0, org: str = ""
    ) -> list[RemediationStep]:
        """The recorded remediation steps of an incident, in step order."""
        query = f"SELECT * FROM actions WHERE {_IS_INCIDENT} ORDER BY step"
        rows = self._conn.execute(query, (scenario, seed, org, incident_id))
        return [_decode(RemediationStep, r) for r in rows]

    def incidents_frame(self) -> pd.DataFrame:
        """Every incident as a table: the key columns, then the ``IncidentSummary`` fields."""
        rows = self._conn.execute(
            "SELECT * FROM incidents ORDER BY scenario, seed, org, incident_id"
        )
        records = [(*(r[k] for k in _KEY), *_decode(IncidentSummary, r)) for r in rows]
        return pd.DataFrame(records, columns=[*_KEY, *IncidentSummary._fields])

    def recurrence(
        self,
        asset: int,
        issue_type: str | None = None,
        *,
        before: float,
        window_min: float = 7 * MIN_PER_DAY,
        scenario: str | None = None,
        seed: int | None = None,
        org: str | None = None,
    ) -> int:
        """How many incidents opened on ``asset`` in ``[before - window_min, before)``.

        Only of ``issue_type`` if given; only of the given ``scenario``, ``seed``, ``org`` if any.
        """
        where, params = _scope(scenario, seed, org)
        if issue_type is not None:
            where, params = f"{where} AND issue_type = ?", [*params, issue_type]
        (n,) = self._conn.execute(
            f"SELECT COUNT(*) FROM incidents WHERE asset = ? AND opened_at >= ? AND opened_at < ?"
            f"{where}",
            (asset, before - window_min, before, *params),
        ).fetchone()
        return int(n)

    def resolution_patterns(self, min_count: int = 1) -> list[Pattern]:
        """Learned patterns of (asset name, issue type) seen ``min_count`` times, most first."""
        rows = self._conn.execute(f"SELECT * FROM incidents WHERE {_LEARNING}")
        return _patterns(rows, min_count)

    def best_first_action(self, asset: int, issue_type: str) -> str | None:
        """The first action that has worked best for this asset and issue type, or None.

        Learned from reviewed, correctly classified incidents only, and only among first actions
        that fixed at least one of them themselves (ranked as ``Pattern.best_first_action``).
        """
        rows = self._conn.execute(
            "SELECT actions, remediation_success FROM incidents "
            f"WHERE asset = ? AND issue_type = ? AND {_LEARNING}",
            (asset, issue_type),
        )
        return _best_first(rows)

    def preventive_suggestions(self, top: int = 5) -> list[str]:
        """Preventive measures for the ``top`` most frequent recurring learned patterns."""
        return [_suggest(p) for p in self.resolution_patterns(min_count=2)[:top]]

    def weekly_review(
        self,
        now: float,
        *,
        days: float = 7,
        scenario: str | None = None,
        seed: int | None = None,
        org: str | None = None,
    ) -> WeeklyReview:
        """Review the incidents opened in ``[now - days, now)`` and persist the review.

        Only incidents of the given ``scenario``, ``seed``, ``org`` if any (None: all).
        """
        where, params = _scope(scenario, seed, org)
        rows = self._conn.execute(
            f"SELECT * FROM incidents WHERE opened_at >= ? AND opened_at < ?{where}",
            (now - days * MIN_PER_DAY, now, *params),
        ).fetchall()
        issue_types, vital_types = _pareto(Counter(r["issue_type"] for r in rows))
        assets, vital_assets = _pareto(Counter(r["asset_name"] for r in rows))
        auto = [_ttr(r) for r in rows if r["resolution"] == "auto"]
        manual = [_ttr(r) for r in rows if r["resolution"] in ("manual", "escalated")]
        overdue = now - SLA_MANUAL_MIN
        manual += [
            math.inf for r in rows if r["resolution"] == "open" and r["opened_at"] <= overdue
        ]
        learned = [r for r in rows if r["classification_correct"] == 1]
        review = WeeklyReview(
            review_id=0,
            now=now,
            days=days,
            n_incidents=len(rows),
            open_incidents=sum(r["resolution"] == "open" for r in rows),
            issue_types=issue_types,
            assets=assets,
            vital_issue_types=vital_types,
            vital_assets=vital_assets,
            prevention=tuple(_suggest(p) for p in _patterns(learned, min_count=2)),
            sla_autofix_met=_met(auto, SLA_AUTOFIX_MIN),
            sla_manual_met=_met(manual, SLA_MANUAL_MIN),
        )
        with self._conn:
            cur = self._conn.execute(
                "INSERT INTO reviews (created_at, days, scenario, seed, org, n_incidents, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now, days, scenario, seed, org, len(rows), json.dumps(review._asdict())),
            )
        return review._replace(review_id=int(cur.lastrowid or 0))

    def reviews(self) -> list[WeeklyReview]:
        """Every persisted weekly review, oldest first."""
        rows = self._conn.execute("SELECT review_id, payload FROM reviews ORDER BY review_id")
        return [_review(r["review_id"], json.loads(r["payload"])) for r in rows]


def _marks(cols: Sequence[str]) -> str:
    return ", ".join("?" * len(cols))


def _plain(v: Any) -> Any:
    # numpy scalars (the simulator's indexes and times) are bindable neither by sqlite3 nor json.
    return v.item() if hasattr(v, "item") else v


def _json(v: Sequence[Any]) -> str:
    return json.dumps(v, default=_plain)


def _encode(record: IncidentSummary | RemediationStep) -> list[Any]:
    return [_json(v) if isinstance(v, tuple) else _plain(v) for v in record]


def _decode(cls: type[_R], row: sqlite3.Row) -> _R:
    values = {}
    for field, hint in _HINTS[cls].items():
        v = row[field]
        if hint is float:
            v = math.nan if v is None else float(v)
        elif v is not None and hint in (bool, bool | None):
            v = bool(v)
        elif get_origin(hint) is tuple:
            v = tuple(tuple(x) if isinstance(x, list) else x for x in json.loads(v))
        values[field] = v
    return cls(**values)


def _scope(scenario: str | None, seed: int | None, org: str | None) -> tuple[str, list[Any]]:
    pairs = [(c, v) for c, v in zip(_KEY, (scenario, seed, org), strict=True) if v is not None]
    return "".join(f" AND {c} = ?" for c, _ in pairs), [v for _, v in pairs]


def _ttr(row: sqlite3.Row) -> float:
    return math.inf if row["time_to_resolution_min"] is None else row["time_to_resolution_min"]


def _met(ttrs: Sequence[float], target_min: float) -> float:
    return sum(t < target_min for t in ttrs) / len(ttrs) if ttrs else math.nan


def _best_first(rows: Iterable[sqlite3.Row]) -> str | None:
    tries: Counter[str] = Counter()
    wins: Counter[str] = Counter()
    for r in rows:
        if actions := json.loads(r["actions"]):  # a win: fixed by the kind of action tried first
            tries[actions[0]] += 1
            wins[actions[0]] += bool(r["remediation_success"]) and actions[-1] == actions[0]
    winners = sorted(a for a in tries if wins[a])  # sorted, so ties go to the first name
    return max(winners, key=lambda a: ((wins[a] + 1) / (tries[a] + 2), wins[a]), default=None)


def _patterns(rows: Iterable[sqlite3.Row], min_count: int) -> list[Pattern]:
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
        out.append(Pattern(name, issue_type, len(rs), rate, _best_first(rs), ttr, top_fix, top_n))
    return sorted(out, key=lambda p: (-p.n_incidents, p.asset_name, p.issue_type))


def _suggest(p: Pattern) -> str:
    head = f"{p.asset_name}: {p.issue_type} recurred {p.n_incidents} times"
    advice = _ADVICE_BY_TYPE.get(p.issue_type, f"add a check upstream that catches {p.issue_type}")
    if p.top_fix is None:
        return f"{head}, none fixed — {advice}"
    how = "only by escalation" if p.top_fix == "escalate" else f"by {p.top_fix}"
    advice = _ADVICE.get((p.issue_type, p.top_fix), advice)
    return f"{head}, {p.top_fix_count} fixed {how} — {advice}"


def _pareto(counts: Counter[str]) -> tuple[tuple[ParetoRow, ...], tuple[str, ...]]:
    total, covered = sum(counts.values()), 0
    rows, vital = [], []
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if covered < PARETO_SHARE * total:  # still short of 80%: this row is one of the vital few
            vital.append(key)
        covered += n
        rows.append(ParetoRow(key, n, n / total, covered / total))
    return tuple(rows), tuple(vital)


def _review(review_id: int, payload: dict[str, Any]) -> WeeklyReview:
    tables = {k: tuple(ParetoRow(*r) for r in payload[k]) for k in ("issue_types", "assets")}
    lists = {k: tuple(payload[k]) for k in ("vital_issue_types", "vital_assets", "prevention")}
    return WeeklyReview(**{**payload, **tables, **lists, "review_id": review_id})
