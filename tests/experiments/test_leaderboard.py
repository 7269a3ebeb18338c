"""``experiments.leaderboard``: the board from stored results, and ``verify=true`` by replay."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.errors import UsageError
from experiments.evaluate import evaluate
from experiments.leaderboard import Entry, collect, render, role_rows, write_board
from experiments.protocol import load_protocol
from tests.conftest import ROOT

QUICK = {"episodes": 2, "days": 3.0, "split": "dev"}  # 1 day is all warm-up


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """Triage baselines on two scenarios, an organization, and sla without a random baseline."""
    root = tmp_path_factory.mktemp("results")
    for sc in ("sc0001", "sc0002"):
        for b in ("noop", "random", "rules", "oracle"):
            evaluate(f"baseline:{b}", "triage", sc, results=root, **QUICK)
    evaluate("baseline:random", "triage", "sc0001", results=root, seed=1, **QUICK)
    evaluate("org:static", "triage", "sc0001", results=root, **QUICK)
    evaluate("baseline:rules", "sla", "sc0001", results=root, **QUICK)
    return root


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "experiments.leaderboard", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_rows_rank_entries_and_keep_the_oracle_as_reference(stored):
    proto = load_protocol("v1")
    rows = role_rows(proto, "triage", collect(stored, proto, "dev")["triage"])
    by = {r["label"]: r for r in rows}
    assert [r["label"] for r in rows][-1] == "baseline:oracle"
    assert by["baseline:oracle"]["reference"] and "rank" not in by["baseline:oracle"]
    assert "org:static" not in by  # organizations have their own table
    ranked = [r for r in rows if "rank" in r]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    assert (
        by["baseline:random"]["seeds"] == 2 and by["baseline:random"]["episodes"] == 6
    )  # 2 + 2 on sc0001, 2 on sc0002
    for r in ranked:
        lo, hi = r["ci"]
        assert lo <= r["score"] <= hi
        assert 0.0 <= r["poi"] <= 1.0
    assert by["baseline:rules"]["poi"] == 0.5  # the rules against themselves
    groups = [r["group"] for r in ranked]
    assert groups == sorted(groups) and groups[0] == 1


def test_the_board_shows_budget_training_time_and_inference_time(stored, tmp_path):
    proto = load_protocol("v1")
    rows = role_rows(proto, "triage", collect(stored, proto, "dev")["triage"])
    by = {r["label"]: r for r in rows}
    rules = by["baseline:rules"]
    assert rules["budget"] == "–" and rules["train_hours"] is None
    assert rules["inference_us"] is not None and rules["inference_us"] > 0
    # a learned entry: the budget and the mean training hours per seed come from its results
    root = tmp_path / "results"
    shutil.copytree(stored, root)
    path = next((root / "v1" / "triage" / "sc0001" / "baseline" / "rules").glob("*.json"))
    data = json.loads(path.read_text())
    data.update(kind="learned", training_seconds=7200.0, training_timesteps=50000)
    data["agent"].update(name="mine")
    dest = root / "v1" / "triage" / "sc0001" / "learned" / "mine" / "0.json"
    dest.parent.mkdir(parents=True)
    dest.write_text(json.dumps(data))
    (row,) = [r for r in role_rows(proto, "triage", collect(root, proto, "dev")["triage"])
              if r["label"] == "learned:mine"]  # fmt: skip
    assert (row["budget"], row["train_hours"]) == ("50k", 2.0)
    head = write_board(root, "v1", "dev", tmp_path / "b.md").read_text()
    assert "| budget | train h/seed | µs/decision |" in head
    assert "| 50k | 2.00 |" in head


def test_a_scenario_that_cannot_be_normalized_is_shown_as_a_dash(stored):
    proto = load_protocol("v1")
    (row,) = role_rows(proto, "sla", collect(stored, proto, "dev")["sla"])
    assert row["score"] is None and row["per_scenario"]["sc0001"] is None  # no random baseline


def test_the_board_is_written_deterministically(stored, tmp_path):
    a = write_board(stored, "v1", "dev", tmp_path / "a.md")
    b = write_board(stored, "v1", "dev", tmp_path / "b.md")
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    assert "## triage" in text and "| ref. | – | baseline:oracle |" in text
    assert "| org:static | sc0001 |" in text
    assert "No results." in text  # cost
    assert (
        write_board(stored, "v1", "test", tmp_path / "t.md").read_text().count("No results.") == 3
    )


def test_the_cli_writes_the_board(stored, tmp_path):
    out = tmp_path / "LEADERBOARD.md"
    r = _cli(f"results={stored}", "split=dev", f"out={out}", f"figures={tmp_path / 'figs'}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"leaderboard: {out}"
    assert out.read_text().startswith("# dataops-gym leaderboard — protocol v1, dev set")


def test_verify_passes_and_fails_on_a_tampered_copy(stored, tmp_path):
    r = _cli("verify=true", f"results={stored}")
    assert r.returncode == 0, r.stderr
    assert "11 result files, 22 episodes replayed: all match" in r.stdout
    bad = tmp_path / "bad"
    shutil.copytree(stored, bad)
    path = bad / "v1/triage/sc0002/baseline/rules/0.json"
    data = json.loads(path.read_text())
    data["episodes"][0]["return"] += 1.0
    path.write_text(json.dumps(data))
    r = _cli("verify=true", f"results={bad}")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith(f"leaderboard: error: {path}: episode 0 (seed 1000000): return")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["protocol=v9"], "protocol: unknown protocol 'v9'"),
        (["results=/nonexistent/results"], "not a directory"),
        (["split=eval"], "split: expected dev or test"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    out = tmp_path / "LB.md"
    results = [] if args[0].startswith("results=") else [f"results={tmp_path}"]
    r = _cli(f"out={out}", f"figures={tmp_path / 'figs'}", *args, *results)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leaderboard: error:") and message in lines[0]
    assert not out.exists() and not (tmp_path / "figs").exists()


def test_figures_are_written_embedded_and_reproducible(stored, tmp_path):
    out = write_board(stored, "v1", "dev", tmp_path / "LB.md", tmp_path / "figs")
    pngs = sorted((tmp_path / "figs").iterdir())
    assert [p.name for p in pngs] == [
        "leaderboard_triage_intervals.png", "leaderboard_triage_profile.png",
    ]  # fmt: skip
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    text = out.read_text()
    assert "](figs/leaderboard_triage_intervals.png)" in text
    first = [p.read_bytes() for p in pngs]
    write_board(stored, "v1", "dev", tmp_path / "LB.md", tmp_path / "figs")
    assert [p.read_bytes() for p in pngs] == first


def test_a_learned_entry_is_ranked_only_with_every_training_seed_on_every_scenario(stored):
    proto = load_protocol("v1")
    entries = collect(stored, proto, "dev")["triage"]
    rules = entries["baseline:rules"]
    seeds = proto.role("triage").training_seeds

    def learned(seeds_on: dict[str, tuple[int, ...]]) -> Entry:
        e = Entry("learned", "mine")
        for sc, ks in seeds_on.items():
            e.returns[sc] = [x + 1.0 for x in rules.returns.get(sc, [0.0])] * len(ks)
            e.seeds_by_scenario[sc] = set(ks)
            e.seeds.update(ks)
        return e

    # the fixture's scored scenarios are sc0001 and sc0002 (sc0003 has no baselines: not scored)
    partial = learned({"sc0001": seeds, "sc0002": seeds[:2]})
    rows = {r["label"]: r for r in role_rows(proto, "triage", {**entries, "learned:mine": partial})}
    assert "rank" not in rows["learned:mine"] and rows["learned:mine"]["score"] is None
    assert rows["learned:mine"]["per_scenario"]["sc0002"] is not None  # still shown
    assert rows["learned:mine"]["missing"]["sc0002"] == list(seeds[2:])
    assert rows["learned:mine"]["missing"]["sc0003"] == list(seeds)
    text = render(proto, "dev", {"triage": {**entries, "learned:mine": partial}})
    assert "Not ranked until complete" in text and "`learned:mine`" in text
    assert "Per scenario, IQM" not in text  # no ranked learned entry yet
    full = learned({sc: seeds for sc in ("sc0001", "sc0002", "sc0003")})
    rows = {r["label"]: r for r in role_rows(proto, "triage", {**entries, "learned:mine": full})}
    assert rows["learned:mine"]["rank"] == 1 and not rows["learned:mine"]["missing"]


def test_the_per_scenario_table_marks_a_learned_entry_against_the_rules(stored):
    # the lab's question, scenario by scenario: is the learned entry's CI above the rules' CI?
    proto = load_protocol("v1")
    entries = collect(stored, proto, "dev")["triage"]
    rules, seeds = entries["baseline:rules"], proto.role("triage").training_seeds
    e = Entry("learned", "mine")
    for sc, shift in (("sc0001", 50.0), ("sc0002", -50.0), ("sc0003", 0.0)):
        e.returns[sc] = [x + shift for x in rules.returns.get(sc, [0.0])] * len(seeds)
        e.seeds_by_scenario[sc] = set(seeds)
        e.seeds.update(seeds)
    text = render(proto, "dev", {"triage": {**entries, "learned:mine": e}})
    assert "Per scenario, IQM of the normalized score [95% CI]" in text
    (line,) = [x for x in text.splitlines() if x.startswith("| learned:mine | ") and "]" in x]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1].endswith("▲") and cells[2].endswith("▼")  # far above, far below the rules
    assert cells[3] == "–"  # sc0003 has no baselines in the fixture: not normalized
    rules_line = next(x for x in text.splitlines() if x.startswith("| baseline:rules | 1"))
    assert "▲" not in rules_line and "▼" not in rules_line


def test_a_board_mixing_two_test_sets_is_refused(tmp_path):
    """After a salt rotation, a result of the old test set is refused, not ranked beside the new."""
    quick = {"episodes": 1, "days": 2.0, "split": "test", "results": tmp_path}
    evaluate("baseline:noop", "sla", "sc0001", salt="old-salt", **quick)
    evaluate("baseline:rules", "sla", "sc0001", salt="new-salt", **quick)
    proto = load_protocol("v1")
    with pytest.raises(UsageError, match="was evaluated on another test set") as e:
        collect(tmp_path, proto, "test")
    assert "noop/0.json" in str(e.value) or "rules/0.json" in str(e.value)
    evaluate("baseline:noop", "sla", "sc0001", salt="new-salt", **quick)  # re-evaluated: accepted
    assert set(collect(tmp_path, proto, "test")["sla"]) == {"baseline:noop", "baseline:rules"}
    board = write_board(tmp_path, "v1", "test", tmp_path / "LB.md").read_text()
    new = hashlib.sha256(b"new-salt").hexdigest()
    assert f"Test set: drawn by the salt whose sha256 is `{new[:16]}…`" in board
    assert "new-salt" not in board
