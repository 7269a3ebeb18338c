"""``experiments.verify``: every stored episode is replayed; a tampered result is refused in one
line naming the file and the episode."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.evaluate import evaluate
from experiments.verify import VerifyError, verify
from tests.conftest import ROOT

SALT = "test-salt"
QUICK = {"episodes": 2, "days": 3.0}  # 1 day is all warm-up: nothing to route


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """Results of a baseline per role, an organization and a test-split run (2 short episodes)."""
    root = tmp_path_factory.mktemp("results")
    evaluate("baseline:random", "triage", "sc0001", results=root, **QUICK)
    evaluate("baseline:rules", "sla", "sc0002", results=root, **QUICK)
    evaluate("baseline:oracle", "cost", "sc0003", results=root, split="test", salt=SALT, **QUICK)
    evaluate("org:rules", "triage", "sc0002", results=root, **QUICK)
    return root


@pytest.fixture
def copy(stored, tmp_path) -> Path:
    dst = tmp_path / "results"
    shutil.copytree(stored, dst)
    return dst


def _cli(results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experiments.verify", f"results={results}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_stored_results_verify(stored):
    assert verify(stored) == (4, 8)
    assert verify(stored, salt=SALT) == (4, 8)  # the test seeds are the salted ones


def test_the_cli_passes_on_untouched_results(stored):
    r = _cli(stored)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"verify: 4 result files, 8 episodes replayed: all match ({stored})"


TRIAGE = "v1/triage/sc0001/baseline/random/0.json"


def _edit(root: Path, rel: str, change) -> Path:
    path = root / rel
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_an_edited_return_fails_in_one_line(copy):
    path = _edit(copy, TRIAGE, lambda d: d["episodes"][1].update({"return": 99.0}))
    r = _cli(copy)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(
        f"verify: error: {path}: episode 1 (seed 1000001): return 99.0 stored"
    )
    assert "Traceback" not in r.stderr


def test_an_edited_number_in_the_file_text_fails(copy):
    """Edit one number as a person would, in the text: the first episode's return."""
    path = copy / TRIAGE
    text = path.read_text()
    head, sep, tail = text.partition('"return":')
    number = tail.split(",", 1)[0]
    path.write_text(head + sep + tail.replace(number, repr(float(number) + 0.5), 1))
    r = _cli(copy)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert f"{path}: episode 0 (seed 1000000): return" in r.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["episodes"][0]["replay"].update(event_digest="0" * 64), "event-log digest"),
        (lambda d: d["episodes"][0]["reward_terms"].update(time=1.0), "reward term time"),
        (lambda d: d["episodes"][0]["metrics"].update(alert_f1=0.123), "metric alert_f1"),
        (lambda d: d["episodes"][0]["replay"]["actions"].append(0), "the episode ended after"),
        (lambda d: d["protocol"].update(sha256="1" * 64), "protocol v1 sha256 111111111111"),
        (lambda d: d.update(training_seed=7), "its content belongs at"),
        (lambda d: d["episodes"][0].update(seed=5), "not the protocol's dev seeds"),
        (lambda d: d.update(schema_version=2), "schema_version 2; expected 1"),
        (lambda d: d.pop("role"), "invalid result: role"),
    ],
)
def test_tampering_is_refused_naming_the_file(copy, change, message):
    path = _edit(copy, TRIAGE, change)
    with pytest.raises(VerifyError) as e:
        verify(copy)
    assert str(e.value).startswith(str(path)) and message in str(e.value)
    assert "\n" not in str(e.value)


def test_an_organizations_stored_metrics_are_replayed(copy):
    path = _edit(copy, "v1/triage/sc0002/org/rules/0.json",
                 lambda d: d["episodes"][1]["metrics"].update(warehouse_cost=-1.0))  # fmt: skip
    with pytest.raises(VerifyError, match=r"episode 1 \(seed 1000001\): (metric|event)") as e:
        verify(copy)
    assert str(e.value).startswith(str(path))


def test_test_seeds_inside_the_dev_set_are_refused(copy, monkeypatch):
    monkeypatch.delenv("DATAOPS_GYM_SALT", raising=False)
    _edit(copy, "v1/cost/sc0003/baseline/oracle/0.json",
          lambda d: d["episodes"][0].update(seed=1_000_000))  # fmt: skip
    with pytest.raises(VerifyError, match=r"not distinct eval seeds outside the dev set"):
        verify(copy)
    with pytest.raises(VerifyError, match=r"not the salted test seeds"):
        verify(copy, salt=SALT)


def test_an_empty_or_missing_results_dir_is_a_usage_error(tmp_path):
    r = _cli(tmp_path / "none")
    assert r.returncode == 2 and r.stderr.startswith("verify: error: results=")
    r = _cli(tmp_path)
    assert r.returncode == 2 and "no result files" in r.stderr


def test_an_agent_of_another_kind_is_refused(copy):
    path = _edit(copy, TRIAGE, lambda d: d["agent"].update(spec="org:rules"))
    with pytest.raises(VerifyError, match=r"agent 'org:rules' is not of kind 'baseline'") as e:
        verify(copy)
    assert str(e.value).startswith(str(path))
