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

This module holds the storage: the schema, ``KnowledgeBase`` (transactions and queries) and the
encoding of records into rows. The analysis of the rows it selects (patterns, best first
actions, 20/80 tables, preventive suggestions, weekly reviews) and its record types live in
``agents.knowledge_review``, whose record types and constants are re-exported here.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar, get_origin, get_type_hints

import pandas as pd

from agents.knowledge_review import (
    PARETO_SHARE,
    SLA_AUTOFIX_MIN,
    SLA_MANUAL_MIN,
    ParetoRow,
    Pattern,
    WeeklyReview,
    best_first,
    build_review,
    patterns,
    review_from_payload,
    suggestion,
)
from agents.records import IncidentSummary, RemediationStep

__all__ = [
    "MIN_PER_DAY",
    "PARETO_SHARE",
    "SCHEMA_VERSION",
    "SLA_AUTOFIX_MIN",
    "SLA_MANUAL_MIN",
    "KnowledgeBase",
    "ParetoRow",
    "Pattern",
    "WeeklyReview",
]

SCHEMA_VERSION: Final = 1
MIN_PER_DAY: Final = 1440.0

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

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection (stores that add their own tables, ``agents.learning.store``)."""
        return self._conn

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
        return patterns(rows, min_count)

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
        return best_first(rows)

    def preventive_suggestions(self, top: int = 5) -> list[str]:
        """Preventive measures for the ``top`` most frequent recurring learned patterns."""
        return [suggestion(p) for p in self.resolution_patterns(min_count=2)[:top]]

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
        review = build_review(rows, now, days)
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
        return [review_from_payload(r["review_id"], json.loads(r["payload"])) for r in rows]


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
