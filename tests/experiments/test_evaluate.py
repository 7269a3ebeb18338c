"""``experiments.evaluate``: one schema-versioned, replayable result file per agent; bad input
is one line and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from agents.deploy.export import export_policy
from agents.playbooks import ROUTES
from envs.baselines import baseline
from envs.factory import make_env
from experiments.errors import UsageError
from experiments.evaluate import evaluate
from experiments.protocol import load_protocol
from experiments.replay import event_digest
from experiments.results import read_result, result_files
from scenarios import scenario_sha256
from tests.conftest import ROOT

torch.set_num_threads(1)
SALT = "test-salt"
QUICK = {"episodes": 2, "days": 3.0}  # 1 day is all warm-up: nothing to route


def test_a_baseline_result_is_written_where_the_layout_says(tmp_path):
    path, result = evaluate("baseline:rules", "triage", "sc0001", "v1", "dev",
                            results=tmp_path, **QUICK)  # fmt: skip
    assert path == tmp_path / "v1/triage/sc0001/baseline/rules/0.json"
    back = read_result(path)
    assert back == result
    proto = load_protocol("v1")
    assert back.protocol.sha256 == proto.sha256
    assert back.scenario.sha256 == scenario_sha256(make_env("sc0001", "triage").scenario)
    assert [e.seed for e in back.episodes] == [1_000_000, 1_000_001]
    for ep in back.episodes:
        assert ep.return_ == pytest.approx(sum(ep.reward_terms.values()))
        assert ep.steps == len(ep.replay.actions) > 0
        assert all(0 <= a < len(ROUTES) for a in ep.replay.actions)
        assert "fix_success_rate" in ep.metrics and "alert_f1" in ep.metrics
    assert back.env.days == 3.0 and back.split == "dev" and back.salt_sha256 is None


def _measured_apart(path: Path) -> dict:
    """A result file's content without ``inference_us`` (a wall-clock measurement)."""
    data = json.loads(path.read_text())
    assert data.pop("inference_us") is None or data["kind"] != "org"
    return data


def test_evaluation_is_deterministic(tmp_path):
    a, _ = evaluate("baseline:random", "cost", "sc0003", results=tmp_path / "a", **QUICK)
    b, _ = evaluate("baseline:random", "cost", "sc0003", results=tmp_path / "b", **QUICK)
    # everything but the measured inference time, exactly
    assert _measured_apart(a) == _measured_apart(b)


def test_the_digest_is_the_worlds_event_log():
    env = make_env("sc0002", "sla", days=1)
    policy = baseline("sla", "rules", env)
    digests = []
    for _ in range(2):
        obs, _ = env.reset(options={"split": "eval", "episode_seed": 1_000_000})
        done = False
        while not done:
            obs, _, term, trunc, _ = env.step(policy.predict(obs)[0])
            done = term or trunc
        assert env.world is not None
        digests.append(event_digest(env.world))
    assert digests[0] == digests[1]
    env.world.log.pop()
    assert event_digest(env.world) != digests[0]


def test_noop_routes_every_incident_to_none(tmp_path):
    _, result = evaluate("baseline:noop", "triage", "sc0002", results=tmp_path, **QUICK)
    actions = [a for ep in result.episodes for a in ep.replay.actions]
    assert actions and set(actions) == {ROUTES.index("none")}


def test_the_test_split_is_salted_and_records_only_the_salts_digest(tmp_path):
    _, result = evaluate("baseline:rules", "sla", "sc0001", split="test", salt=SALT,
                         results=tmp_path, **QUICK)  # fmt: skip
    assert result.split == "test"
    assert result.salt_sha256 is not None and SALT not in path_text(tmp_path)
    assert all(e.seed >= 1_000_030 for e in result.episodes)


def path_text(root: Path) -> str:
    return "".join(p.read_text() for p in result_files(root))


def test_an_organization_is_scored_by_its_scorecard(tmp_path):
    path, result = evaluate("org:static", "triage", "sc0001", results=tmp_path, **QUICK)
    assert path == tmp_path / "v1/triage/sc0001/org/static/0.json"
    assert result.kind == "org" and result.mean_return is None
    assert all(e.metrics and e.replay.actions == [] for e in result.episodes)


@pytest.fixture(scope="module")
def triage_model(tmp_path_factory) -> tuple[Path, Path]:
    """An untrained MaskablePPO: its SB3 zip and its ONNX export."""
    env = make_env("sc0001", "triage")
    d = tmp_path_factory.mktemp("policy")
    model = MaskablePPO("MlpPolicy", env, device="cpu", seed=0)
    model.save(d / "mppo.zip")
    export_policy(model, env, d / "onnx", algo="maskable_ppo", scenario="sc0001", role="triage",
                  env_id="dataops/LateArrival-v0")  # fmt: skip
    return d / "mppo.zip", d / "onnx"


def test_sb3_and_its_onnx_export_act_the_same(tmp_path, triage_model):
    zip_path, onnx_dir = triage_model
    _, a = evaluate(f"sb3:{zip_path}", "triage", "sc0001", results=tmp_path, seed=0, **QUICK)
    _, b = evaluate(f"onnx:{onnx_dir}", "triage", "sc0001", results=tmp_path, seed=0, **QUICK)
    assert a.kind == b.kind == "learned"
    assert a.agent.name == "mppo" and b.agent.name == "onnx"
    assert [e.replay.actions for e in a.episodes] == [e.replay.actions for e in b.episodes]
    assert sum(e.steps for e in a.episodes) > len(a.episodes)  # incidents were routed
    assert b.agent.sha256 is not None and b.agent.details["algo"] == "maskable_ppo"


def test_a_policy_under_the_working_directory_is_recorded_by_a_relative_path(
    tmp_path, triage_model, monkeypatch
):
    # result files are committed: a model evaluated from the repository root must not leave the
    # machine's absolute paths in them (the file is identified by its sha256)
    zip_path, onnx_dir = triage_model
    monkeypatch.chdir(zip_path.parent.parent)
    for spec, want in ((f"sb3:{zip_path}", f"sb3:{zip_path.parent.name}/mppo.zip"),
                       (f"onnx:{onnx_dir}", f"onnx:{zip_path.parent.name}/onnx")):  # fmt: skip
        path, r = evaluate(spec, "triage", "sc0001", results=tmp_path / "res", seed=0, **QUICK)
        assert r.agent.spec == want
        assert str(zip_path.parent.parent) not in path.read_text()


def test_results_record_inference_time_and_the_cards_training_time(tmp_path, triage_model):
    zip_path, _ = triage_model
    env = make_env("sc0001", "triage")
    model = MaskablePPO.load(zip_path, device="cpu")
    export_policy(model, env, tmp_path / "card", algo="maskable_ppo", scenario="sc0001",
                  role="triage", env_id="dataops/LateArrival-v0",
                  training_run={"seed": 3, "timesteps": 4096, "train_seconds": 12.5})  # fmt: skip
    _, learned = evaluate(f"onnx:{tmp_path / 'card'}", "triage", "sc0001", results=tmp_path,
                          **QUICK)  # fmt: skip
    assert learned.training_seed == 3 and learned.training_seconds == 12.5
    assert learned.training_timesteps == 4096
    assert learned.inference_us is not None and learned.inference_us > 0
    _, rules = evaluate("baseline:rules", "triage", "sc0001", results=tmp_path, **QUICK)
    assert rules.training_seconds is None and rules.training_timesteps is None
    assert rules.inference_us is not None
    _, org = evaluate("org:rules", "triage", "sc0001", results=tmp_path, **QUICK)
    assert org.training_seconds is None and org.inference_us is None


def test_a_policy_for_another_role_is_refused(tmp_path, triage_model):
    _, onnx_dir = triage_model
    with pytest.raises(UsageError, match=r"agent='onnx:.*made for role 'triage', not 'sla'"):
        evaluate(f"onnx:{onnx_dir}", "sla", "sc0001", results=tmp_path, **QUICK)
    env = make_env("sc0002", "sla")
    PPO("MlpPolicy", env, device="cpu", seed=0).save(tmp_path / "sla.zip")
    with pytest.raises(
        UsageError, match=r"agent='sb3:.*observation shape \(25,\); expected \(12,\)"
    ):
        evaluate(f"sb3:{tmp_path / 'sla.zip'}", "cost", "sc0001", results=tmp_path, **QUICK)
    assert result_files(tmp_path) == []


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", *args, f"hydra.run.dir={tmp / 'hydra'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _other_protocol_file(results: Path) -> None:
    """A result file that claims v1 under another sha256 (an edited protocol file's result)."""
    f = results / "v1/triage/sc0001/baseline/rules/0.json"
    f.parent.mkdir(parents=True)
    f.write_text(json.dumps({"protocol": {"name": "v1", "sha256": "0" * 64}}))


BAD = {
    "unknown agent form": (["agent=pkl:model.zip"], "agent='pkl:model.zip': unknown agent form"),
    "unknown baseline": (["agent=baseline:smart"], "unknown baseline 'smart'"),
    "unknown organization": (["agent=org:ideal"], "unknown organization 'ideal'"),
    "missing policy": (["agent=onnx:/nonexistent/policy"], "no policy card"),
    "unknown protocol": (["protocol=v9"], "protocol: unknown protocol 'v9'"),
    "unknown role": (["role=pilot"], "role: unknown role 'pilot'"),
    "test without a salt": (["split=test"], "protocol.salt: the test split needs a salt"),
    "bad split": (["split=eval"], "split: expected dev or test"),
    "too many episodes": (["episodes=31"], "episodes: expected 1..30"),
    "unknown scenario": (["scenario=sc9999"], "unknown scenario name"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, case, monkeypatch):
    monkeypatch.delenv("DATAOPS_GYM_SALT", raising=False)
    args, message = BAD[case]
    results = tmp_path / "results"
    r = _cli(tmp_path, "days=1", "episodes=1", f"results={results}", *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evaluate: error:"), r.stderr
    assert message in lines[0]
    assert not results.exists()


def test_a_results_dir_of_another_protocol_file_is_refused(tmp_path):
    results = tmp_path / "results"
    _other_protocol_file(results)
    before = sorted(p for p in results.rglob("*"))
    r = _cli(tmp_path, "days=1", "episodes=1", f"results={results}")
    assert r.returncode == 2
    line = r.stderr.strip()
    assert line.startswith("evaluate: error: results=") and "\n" not in line
    assert "was produced under protocol v1 (sha256 000000000000…)" in line
    assert sorted(p for p in results.rglob("*")) == before


def test_the_cli_prints_one_line_with_the_file(tmp_path):
    results = tmp_path / "results"
    r = _cli(tmp_path, "agent=baseline:oracle", "role=sla", "scenario=sc0002", "days=1",
             "episodes=2", f"results={results}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip().splitlines()[-1]
    assert out.startswith("baseline:oracle as sla on sc0002 (v1 dev, 2 episodes): mean return")
    assert out.endswith(str(results / "v1/sla/sc0002/baseline/oracle/0.json"))
    assert np.isfinite(read_result(results / "v1/sla/sc0002/baseline/oracle/0.json").mean_return)


def test_a_multirun_writes_one_file_per_job(tmp_path):
    results = tmp_path / "results"
    r = subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", "--multirun",
         "agent=baseline:noop,baseline:rules", "role=cost", "scenario=sc0001,sc0003",
         "days=1", "episodes=1", f"results={results}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    got = {str(p.relative_to(results)) for p in result_files(results)}
    assert got == {
        f"v1/cost/{sc}/baseline/{a}/0.json"
        for sc in ("sc0001", "sc0003")
        for a in ("noop", "rules")
    }


@pytest.mark.parametrize("role", ["triage", "sla"])
def test_the_rules_baseline_is_the_rules_organization(tmp_path, role):
    """The board checks itself: the env's rules baseline and the rules organization on its own
    make the same world (same event-log digest) and the same scorecard, episode by episode.
    (Not for cost: in its env the organization's own warehouse scaling is off.)"""
    _, env_run = evaluate("baseline:rules", role, "sc0002", results=tmp_path, **QUICK)
    _, org_run = evaluate("org:rules", role, "sc0002", results=tmp_path, **QUICK)
    for a, b in zip(env_run.episodes, org_run.episodes, strict=True):
        assert a.replay.event_digest == b.replay.event_digest
        assert a.metrics == b.metrics


def test_a_result_of_the_other_split_is_not_overwritten(tmp_path):
    path, _ = evaluate("baseline:noop", "sla", "sc0001", results=tmp_path, **QUICK)
    before = path.read_bytes()
    content = _measured_apart(path)
    with pytest.raises(UsageError, match=r"holds this agent's dev result; .* for split test"):
        evaluate("baseline:noop", "sla", "sc0001", split="test", salt=SALT, results=tmp_path,
                 **QUICK)  # fmt: skip
    assert path.read_bytes() == before
    again, _ = evaluate("baseline:noop", "sla", "sc0001", results=tmp_path, **QUICK)
    assert _measured_apart(again) == content  # the same split is replaced (here: identically)


def test_a_cards_training_model_path_reaches_a_result_without_the_machines_part(
    tmp_path, triage_model, monkeypatch
):
    # a card names the model it was exported from; cards exported before the export recorded a
    # relative path hold an absolute one, which must not reach a committed result file
    zip_path, _ = triage_model
    model = MaskablePPO.load(zip_path, device="cpu")
    env = make_env("sc0001", "triage")
    work = tmp_path / "repo"
    work.mkdir()
    monkeypatch.chdir(work)
    for where, want in ((work / "runs" / "model.zip", "runs/model.zip"),
                        (tmp_path / "elsewhere" / "model.zip", "model.zip")):  # fmt: skip
        card = work / "card"
        export_policy(model, env, card, algo="maskable_ppo", scenario="sc0001", role="triage",
                      env_id="dataops/LateArrival-v0",
                      training_run={"seed": 0, "model": str(where)})  # fmt: skip
        path, r = evaluate(f"onnx:{card}", "triage", "sc0001", results=work / "res", **QUICK)
        assert r.agent.details["training_run"]["model"] == want
        assert str(tmp_path) not in path.read_text()
