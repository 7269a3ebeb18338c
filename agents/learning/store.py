"""The learning cycle's tables in the knowledge base, and the one transaction a daily cycle is.

The tables live in the knowledge base's SQLite file (``agents.knowledge``), beside its incidents,
and are named for what they hold. Every row is keyed by the run (``scenario``, ``seed``, ``org``)
so one file can hold several runs. Times are simulated minutes since the run's start; ``day`` is
the cycle's day number (1 = the cycle at the end of the first day).

========================  ==========================================================================
table                     what it holds (one row per ...)
========================  ==========================================================================
``learning_schema``       ``version`` of these tables (checked on open)
``learning_cycles``       committed daily cycle: ``day``, ``t``, labels learned, review minutes,
                          classifier version in use (a cycle's row is written last, in the same
                          transaction as everything else of that cycle)
``incident_labels``       learned incident: the label's ``source`` (``review``, ``confirmed``,
                          ``raw``), the labelled root ``cause`` (or ``false_alarm``), its issue
                          type and remediation complexity, the labelled root asset, what the
                          organization had diagnosed, and the evidence ``features`` (JSON floats)
``thresholds_history``    change of a detector threshold per asset × signal: old, new, reason
``classifier_versions``   classifier trained: version, training size, held-out accuracy (issue
                          type, complexity, cause) on the day after the one it was trained on, and
                          the model's parameters (JSON: classes, coefficients, intercepts — never
                          a pickle)
``preventive_measures``   measure applied: what, where, for which recurring cause, when, and,
                          once retired, when and why (recurrence before/after, cost)
``promotions``            autonomy change of a (cause, destructive action) pair: from, to, why
``weekly_reviews``        weekly review: week number, the review's window end, and its payload
                          (JSON; the Markdown artifact is generated from these tables)
========================  ==========================================================================

Atomicity: ``LearningStore.cycle()`` opens one transaction; everything a daily cycle writes goes
through it and its ``learning_cycles`` row is written last. A process killed mid-cycle (even by
``SIGKILL``) leaves the file as it was before the cycle began: SQLite's WAL never shows half a
transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import pandas as pd

LEARNING_SCHEMA_VERSION: Final = 1
_RUN: Final = "scenario TEXT NOT NULL, seed INTEGER NOT NULL, org TEXT NOT NULL"
_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS learning_schema (version INTEGER NOT NULL) STRICT;
INSERT INTO learning_schema SELECT {LEARNING_SCHEMA_VERSION}
    WHERE NOT EXISTS (SELECT * FROM learning_schema);
CREATE TABLE IF NOT EXISTS learning_cycles (
    {_RUN}, day INTEGER NOT NULL, t REAL NOT NULL, n_labels INTEGER NOT NULL,
    review_minutes REAL NOT NULL, classifier_version INTEGER NOT NULL,
    PRIMARY KEY (scenario, seed, org, day)
) STRICT;
CREATE TABLE IF NOT EXISTS incident_labels (
    {_RUN}, incident_id INTEGER NOT NULL, day INTEGER NOT NULL, opened_at REAL NOT NULL,
    source TEXT NOT NULL, cause TEXT NOT NULL, issue_type TEXT NOT NULL, complexity TEXT NOT NULL,
    root_asset INTEGER NOT NULL, diagnosed_cause TEXT NOT NULL, diagnosed_issue_type TEXT NOT NULL,
    confidence REAL NOT NULL, features TEXT NOT NULL,
    PRIMARY KEY (scenario, seed, org, incident_id)
) STRICT;
CREATE TABLE IF NOT EXISTS thresholds_history (
    {_RUN}, day INTEGER NOT NULL, t REAL NOT NULL, asset INTEGER NOT NULL,
    asset_name TEXT NOT NULL, signal TEXT NOT NULL, old REAL NOT NULL, new REAL NOT NULL,
    reason TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS classifier_versions (
    {_RUN}, version INTEGER NOT NULL, day INTEGER NOT NULL, t REAL NOT NULL,
    n_train INTEGER NOT NULL, n_holdout INTEGER NOT NULL, holdout_accuracy_type REAL,
    holdout_accuracy_complexity REAL, holdout_accuracy_cause REAL, model TEXT NOT NULL,
    PRIMARY KEY (scenario, seed, org, version)
) STRICT;
CREATE TABLE IF NOT EXISTS preventive_measures (
    {_RUN}, measure_id INTEGER NOT NULL, measure TEXT NOT NULL, asset INTEGER NOT NULL,
    asset_name TEXT NOT NULL, cause TEXT NOT NULL, started_day INTEGER NOT NULL,
    started_at REAL NOT NULL, reason TEXT NOT NULL, retired_at REAL, retire_reason TEXT,
    recurrence_before REAL, recurrence_after REAL, cost REAL,
    PRIMARY KEY (scenario, seed, org, measure_id)
) STRICT;
CREATE TABLE IF NOT EXISTS promotions (
    {_RUN}, day INTEGER NOT NULL, t REAL NOT NULL, cause TEXT NOT NULL, action TEXT NOT NULL,
    from_state TEXT NOT NULL, to_state TEXT NOT NULL, successes INTEGER NOT NULL,
    reason TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS weekly_reviews (
    {_RUN}, week INTEGER NOT NULL, t REAL NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (scenario, seed, org, week)
) STRICT;
"""
TABLES: Final = (
    "learning_cycles", "incident_labels", "thresholds_history", "classifier_versions",
    "preventive_measures", "promotions", "weekly_reviews",
)  # fmt: skip
"""The learning tables, named for what they hold."""


class LearningStore:
    """The learning tables of one run in a knowledge base's connection.

    Args:
        conn: the knowledge base's connection (``KnowledgeBase.connection``).
        scenario, seed, org: the run the rows belong to.
        on_write: called with a table's name after each write inside a cycle (a test's crash
            point; None in normal use).

    Raises:
        ValueError: the file holds learning tables of another schema version.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        scenario: str,
        seed: int,
        org: str,
        on_write: Callable[[str], None] | None = None,
    ) -> None:
        self.conn = conn
        self.key = (scenario, int(seed), org)
        self.on_write = on_write
        self._in_cycle = False
        conn.executescript(f"BEGIN;{_SCHEMA}COMMIT;")
        (version,) = conn.execute("SELECT version FROM learning_schema").fetchone()
        if version != LEARNING_SCHEMA_VERSION:
            raise ValueError(
                f"learning tables: schema version {version}, expected {LEARNING_SCHEMA_VERSION}"
            )

    @contextmanager
    def cycle(self) -> Iterator[None]:
        """One transaction: every write inside it is committed together or not at all."""
        if self._in_cycle:
            raise RuntimeError("a learning cycle is already open")
        self._in_cycle = True
        try:
            with self.conn:
                yield
        finally:
            self._in_cycle = False

    def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` (column → value, without the run key) into ``table`` inside a cycle.

        Raises:
            RuntimeError: outside ``cycle()`` (a write outside a transaction could be half done).
        """
        if not self._in_cycle:
            raise RuntimeError(f"{table}: learning tables are written inside cycle() only")
        if not rows:
            return
        cols = ("scenario", "seed", "org", *rows[0])
        marks = ", ".join("?" * len(cols))
        self.conn.executemany(
            f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({marks})",
            [(*self.key, *(_plain(v) for v in r.values())) for r in rows],
        )
        if self.on_write is not None:
            self.on_write(table)

    def update(self, table: str, where: dict[str, Any], values: dict[str, Any]) -> None:
        """Set ``values`` on this run's rows of ``table`` matching ``where`` (inside a cycle)."""
        if not self._in_cycle:
            raise RuntimeError(f"{table}: learning tables are written inside cycle() only")
        sets = ", ".join(f"{c} = ?" for c in values)
        conds = " AND ".join(f"{c} = ?" for c in ("scenario", "seed", "org", *where))
        self.conn.execute(
            f"UPDATE {table} SET {sets} WHERE {conds}",
            (*(_plain(v) for v in values.values()), *self.key, *map(_plain, where.values())),
        )
        if self.on_write is not None:
            self.on_write(table)

    def execute(self, table: str, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one write statement on ``table`` inside the cycle (the knowledge base's own)."""
        if not self._in_cycle:
            raise RuntimeError(f"{table}: learning writes happen inside cycle() only")
        self.conn.execute(sql, tuple(_plain(v) for v in params))
        if self.on_write is not None:
            self.on_write(table)

    def frame(self, table: str, where: str = "", params: Sequence[Any] = ()) -> pd.DataFrame:
        """This run's rows of ``table`` (an optional extra SQL condition), in insertion order."""
        if table not in TABLES:
            raise ValueError(f"table: unknown {table!r}; expected one of {', '.join(TABLES)}")
        cond = "scenario = ? AND seed = ? AND org = ?" + (f" AND ({where})" if where else "")
        return pd.read_sql_query(
            f"SELECT * FROM {table} WHERE {cond} ORDER BY rowid",
            self.conn,
            params=(*self.key, *params),
        )

    def rows(
        self, table: str, columns: Sequence[str], where: str = "", params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """This run's ``columns`` of ``table`` (an optional SQL condition), in insertion order.

        The light read the daily cycle uses (``frame`` builds a DataFrame of every column).
        """
        if table not in TABLES:
            raise ValueError(f"table: unknown {table!r}; expected one of {', '.join(TABLES)}")
        cond = "scenario = ? AND seed = ? AND org = ?" + (f" AND ({where})" if where else "")
        cur = self.conn.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE {cond} ORDER BY rowid",
            (*self.key, *params),
        )
        return [tuple(r) for r in cur]

    def last_day(self) -> int:
        """The last committed cycle's day (0: none)."""
        row = self.conn.execute(
            "SELECT MAX(day) FROM learning_cycles WHERE scenario = ? AND seed = ? AND org = ?",
            self.key,
        ).fetchone()
        return int(row[0] or 0)


def dumps(x: Any) -> str:
    """JSON of ``x`` with numpy scalars and arrays made plain (sorted keys: stable bytes)."""
    return json.dumps(x, default=_plain_json, sort_keys=True)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _plain_json(v: Any) -> Any:
    if hasattr(v, "tolist"):
        return v.tolist()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")
