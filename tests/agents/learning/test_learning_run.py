"""Multi-week runs with the learning cycle: end to end, deterministic, atomic under ``kill -9``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest

from agents.knowledge import KnowledgeBase
from agents.learning.longrun import run_weeks
from agents.learning.store import TABLES, LearningStore
from agents.slots.runner import run_episode
from experiments.errors import UsageError
from experiments.run_org import run
from scenarios import load_scenario
from tests.conftest import ROOT

SEED = 1_000_000  # the first eval seed of SC-0001


def _dump(path_or_kb) -> dict[str, list[tuple]]:
    """Every row of the knowledge base's incidents and learning tables, in a stable order."""
    conn = (
        path_or_kb.connection
        if isinstance(path_or_kb, KnowledgeBase)
        else sqlite3.connect(path_or_kb)
    )
    out = {}
    for t in ("incidents", "actions", *TABLES):
        out[t] = sorted(tuple(r) for r in conn.execute(f"SELECT * FROM {t}"))
    return out


def test_a_three_week_run_learns_and_writes_its_weekly_reviews(tmp_path):
    # three weeks: under SC-0001 v4 the first eval seed reaches the classifier's 15 cause labels
    # only in week 2, and a version needs the next day's labels to be scored
    card = run("sc0001", "rules", 1, "eval", tmp_path, weeks=3, learning="on")
    assert card["protocol"]["seeds"] == [SEED]
    for n in (1, 2, 3):
        text = (tmp_path / f"09_learning/weekly-review-{n}.md").read_text()
        for section in ("20/80", "SLA performance", "Prevention", "Issue classifier",
                        "Threshold changes", "Autonomy"):  # fmt: skip
            assert section in text, (n, section)
    weeks = pd.read_csv(tmp_path / "weeks.csv")
    assert list(weeks["week"]) == [1, 2, 3] and (weeks["seed"] == SEED).all()
    assert weeks["human_hours"].gt(0).all() and weeks["labels"].sum() > 0
    summary = json.loads((tmp_path / "learning.json").read_text())
    (r,) = summary["runs"]
    assert summary["mode"] == "on" and r["labels"] == sum(r["labels_by_source"].values())
    assert r["reviews"] >= r["labels_by_source"]["review"] > 0
    assert r["classifier_versions"] >= 1 and r["classifier_holdout"]
    with KnowledgeBase(tmp_path / "knowledge.sqlite") as kb:
        st = LearningStore(kb.connection, scenario="sc0001", seed=SEED, org="rules")
        assert st.last_day() == 21
        assert len(st.frame("weekly_reviews")) == 3
        versions = st.frame("classifier_versions")
        assert list(versions["version"]) == list(range(1, len(versions) + 1))
        labelled = st.frame("incident_labels")
        # only labelled incidents are marked as feeding learning, and all of them are
        reviewed = kb.incidents_frame().dropna(subset=["classification_correct"])
        assert set(reviewed["incident_id"]) == set(labelled["incident_id"])


def test_learning_raw_learns_from_unreviewed_labels_at_no_review_cost(tmp_path):
    sc = load_scenario("sc0001")
    with KnowledgeBase() as kb:
        lr = run_weeks(sc, SEED, "rules", weeks=1, mode="raw", knowledge=kb)
    assert lr.cycle is not None and lr.cycle.reviews == 0 and lr.cycle.labels
    assert {lab.source for lab in lr.cycle.labels} == {"raw"}


def test_same_seed_same_weeks_same_knowledge_base():
    sc = load_scenario("sc0001")
    dumps = []
    for _ in range(2):
        with KnowledgeBase() as kb:
            lr = run_weeks(sc, SEED, "rules", weeks=1, mode="on", knowledge=kb)
            dumps.append((_dump(kb), [a[:2] for a in lr.world.actions]))
    assert dumps[0] == dumps[1]
    assert dumps[0][0]["incident_labels"] and dumps[0][0]["learning_cycles"]


def test_learning_off_is_the_organization_without_a_cycle():
    sc = load_scenario("sc0001")
    with KnowledgeBase() as kb:
        lr = run_weeks(sc, SEED, "rules", weeks=1, mode="off", knowledge=kb)
        names = {r[0] for r in kb.connection.execute("SELECT name FROM sqlite_master")}
        assert not names & set(TABLES)  # no cycle: no learning tables at all
    with KnowledgeBase() as kb:
        _, ep = run_episode(sc, SEED, "rules", days=7.0, knowledge=kb)
    assert lr.cycle is None
    assert lr.result.incidents == ep.incidents and lr.result.actions == ep.actions


_CRASH = """
import os, signal, sys
from agents.knowledge import KnowledgeBase
from agents.learning.longrun import run_weeks
from scenarios import load_scenario

path, crash_day = sys.argv[1], int(sys.argv[2])
days = {"n": 0}
def on_write(table):
    if table == "learning_cycles":
        days["n"] += 1
    # day crash_day's cycle has written everything else; kill it before its own row commits
    if table == "learning_cycles" and days["n"] == crash_day:
        os.kill(os.getpid(), signal.SIGKILL)
with KnowledgeBase(path) as kb:
    run_weeks(load_scenario("sc0001"), 1000000, "rules", weeks=1, mode="on", knowledge=kb,
              on_write=on_write)
"""


def test_a_daily_cycle_killed_mid_transaction_leaves_the_knowledge_base_as_before_it(tmp_path):
    crashed = tmp_path / "crashed.sqlite"
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH, str(crashed), "4"],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    with KnowledgeBase(crashed) as kb:  # opens cleanly: nothing half-written
        st = LearningStore(kb.connection, scenario="sc0001", seed=SEED, org="rules")
        assert st.last_day() == 3
        for table in TABLES:
            df = st.frame(table)
            col = (
                "week"
                if table == "weekly_reviews"
                else "started_day"
                if table == "preventive_measures"
                else "day"
            )
            if col in df and len(df):
                assert df[col].max() <= 3, table
        labelled = set(st.frame("incident_labels")["incident_id"])
        reviewed = set(
            kb.incidents_frame().dropna(subset=["classification_correct"])["incident_id"]
        )
        assert reviewed == labelled  # the incidents' review marks rolled back with the labels
    # the three committed cycles are exactly those of an uninterrupted run
    full = tmp_path / "full.sqlite"
    with KnowledgeBase(full) as kb:
        run_weeks(load_scenario("sc0001"), SEED, "rules", weeks=1, mode="on", knowledge=kb)
    upto = {
        t: [r for r in rows if t not in TABLES or _day(t, r) <= 3]
        for t, rows in _dump(full).items()
    }
    got = _dump(crashed)
    for t in TABLES:
        assert got[t] == upto[t], t


def _day(table: str, row: tuple) -> int:
    # the day column's position in each learning table (after scenario, seed, org)
    pos = {"learning_cycles": 3, "incident_labels": 4, "thresholds_history": 3,
           "classifier_versions": 4, "preventive_measures": 8, "promotions": 3,
           "weekly_reviews": 3}  # fmt: skip
    v = row[pos[table]]
    return 7 * v if table == "weekly_reviews" else v


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning": "on"}, "learning=on: needs weeks"),
        ({"learning": "sometimes", "weeks": 2}, "learning: expected one of off, on, raw"),
        ({"weeks": 2, "days": 3.0}, "days: a multi-week run takes weeks"),
        ({"weeks": 0}, "weeks: expected an integer >= 1"),
        ({"weeks": 2, "learning": "on", "org": "static"}, "needs org=rules"),
    ],
)
def test_run_org_refuses_bad_learning_keys_before_writing(tmp_path, kwargs, match):
    org = kwargs.pop("org", "rules")
    with pytest.raises(UsageError, match=match):
        run("sc0001", org, 1, "eval", tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
