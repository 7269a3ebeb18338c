"""The run_org entry point writes the blueprint's artifacts and a complete scorecard."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agents.scoring.scorecard import METRIC_NAMES
from agents.slots.resolve import SlotError
from experiments.run_org import run
from tests.conftest import ARTIFACT_DOCS, ARTIFACT_TABLES, ROOT

ARTIFACTS = [
    *ARTIFACT_DOCS,
    *ARTIFACT_TABLES,
    "ledger.csv",
    "events.openlineage.jsonl",
    "knowledge.sqlite",
    "scorecard.json",
]


def test_run_writes_every_artifact(tmp_path):
    card = run("sc0001", "rules", 2, "eval", tmp_path, days=3)
    for name in ARTIFACTS:
        assert (tmp_path / name).exists(), name
    saved = json.loads((tmp_path / "scorecard.json").read_text())
    assert set(METRIC_NAMES) <= set(saved["aggregate"])
    assert saved["protocol"]["seeds"] == [1_000_000, 1_000_001]
    assert card["aggregate"].keys() == saved["aggregate"].keys()
    summary = (tmp_path / "09_learning/incident-summary.md").read_text()
    assert "< 5 min" in summary and "< 2 hours" in summary


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"org": "chaos"}, "unknown organization"),
        ({"split": "test"}, "expected train or eval"),
        ({"episodes": 0}, "episodes"),
    ],
)
def test_bad_arguments_fail_clearly(tmp_path, kwargs, match):
    args = {"scenario": "sc0001", "org": "rules", "episodes": 1, "split": "eval"} | kwargs
    with pytest.raises(ValueError, match=match):
        run(args["scenario"], args["org"], args["episodes"], args["split"], tmp_path)


def test_command_line_prints_the_scorecard(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "experiments.run_org", "scenario=nofault", "org=static",
         "episodes=1", "days=2", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "false_alarms_per_day" in out.stdout
    assert (tmp_path / "scorecard.json").exists()


class _FirstAllowedRoute:
    """A fake policy: the first route the mask allows."""

    def act(self, obs, mask=None):
        return int(next(i for i, ok in enumerate(mask) if ok))


def test_run_with_a_policy_in_a_slot_names_it_everywhere(tmp_path):
    card = run("sc0001", "rules", 1, "eval", tmp_path, days=2, triage=_FirstAllowedRoute())
    assert card["protocol"]["org"] == "rules+triage:policy"
    assert card["policies"] == {"triage": {"kind": "policy"}}
    saved = json.loads((tmp_path / "scorecard.json").read_text())
    assert saved["protocol"]["org"] == "rules+triage:policy"
    assert "rules+triage:policy" in (tmp_path / "01_agents/diagnosis.md").read_text()


@pytest.mark.parametrize(
    ("slots", "match"),
    [
        ({"triage": "pkl:x"}, r"triage: got 'pkl:x'; expected null .* or onnx:<dir>"),
        ({"sla": "onnx:/no/such/policy"}, r"sla: got 'onnx:/no/such/policy'.*does not exist"),
        ({"cost": "rules"}, r"cost: got 'rules'; expected null"),
    ],
)
def test_a_bad_slot_fails_before_anything_is_written(tmp_path, slots, match):
    out = tmp_path / "run"
    with pytest.raises(SlotError, match=match):
        run("sc0001", "rules", 1, "eval", out, days=2, **slots)
    assert not out.exists()


def test_a_route_policy_for_an_org_without_playbooks_fails_before_writing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(SlotError, match=r"triage: .*org=manual"):
        run("sc0001", "manual", 1, "eval", out, days=2, triage=_FirstAllowedRoute())
    assert not out.exists()


def test_ideal_acts_as_rules_and_adds_its_measures(tmp_path):
    """org=ideal is the rules organization in the world: same ledger, same §9 metrics."""
    rules = run("sc0003", "rules", 1, "eval", tmp_path / "rules", days=2, events_episodes=0)
    ideal = run("sc0003", "ideal", 1, "eval", tmp_path / "ideal", days=2, events_episodes=0)
    assert (tmp_path / "rules/ledger.csv").read_bytes() == (
        tmp_path / "ideal/ledger.csv"
    ).read_bytes()
    assert ideal["protocol"]["org"] == "ideal"
    for k in (*METRIC_NAMES, "escalation_precision", "escalation_recall", "escalation_late_rate"):
        assert ideal["aggregate"][k] == rules["aggregate"][k], k
    log = (tmp_path / "ideal/01_agents/remediation-log.md").read_text()
    assert "Escalations that needed a human (precision)" in log
    assert "waste_cost" not in rules["aggregate"]  # the ideal agents' measures: ideal only
    assert ideal["aggregate"]["waste_cost"] > 0
    assert ideal["episodes"][0]["waste_saving_replayed"] >= 0
    report = (tmp_path / "ideal/09_learning/cost-report.md").read_text()
    assert "replay-verified saving" in report and "| idle_slots |" in report
    for k in ("precision", "recall", "lead_time_p50_min", "brier"):
        assert f"sla_prediction_{k}" in ideal["aggregate"], k
    assert ideal["ideal"]["sla_predictor"]["train_seeds"][0] in range(0, 1_000_000)  # train split
    assert (tmp_path / "ideal/predictive_alerts.csv").exists()
    assert (
        "Predictive alerts are their own signal"
        in (tmp_path / "ideal/09_learning/sla-predictions.md").read_text()
    )
    assert "deep_dive_cause_accuracy" in ideal["aggregate"]
    assert (tmp_path / "ideal/09_learning/rca-deep-dives.md").read_text().startswith("# RCA deep")
    # predictive alerts are never in the alert record: the monitor's alerts are the rules' own
    assert (tmp_path / "rules/alerts.csv").read_bytes() == (
        tmp_path / "ideal/alerts.csv"
    ).read_bytes()


def test_ideal_refuses_policy_slots(tmp_path):
    with pytest.raises(ValueError, match="ideal runs without policy slots"):
        run("sc0001", "ideal", 1, "eval", tmp_path, triage=_Zero())


class _Zero:
    def act(self, obs, mask=None):
        return 0
