"""``python -m experiments.export``: exports a saved model, refuses bad input and writes nothing."""

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
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from agents.deploy.runtime import load_policy
from envs.factory import make_env
from experiments.export import infer_algo

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def _export(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experiments.export", *args, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A training run directory as experiments.train leaves it: model, VecNormalize, run.json."""
    d = tmp_path_factory.mktemp("train_run")
    env = make_env("sc0002", "sla")
    PPO("MlpPolicy", env, device="cpu", seed=0).save(d / "model.zip")
    vn = VecNormalize(DummyVecEnv([lambda: env]), norm_reward=False)
    vn.obs_rms.mean = np.full(25, 0.2)
    vn.obs_rms.var = np.full(25, 0.5)
    vn.save(str(d / "vecnormalize.pkl"))
    info = {"scenario": "sc0002", "role": "sla", "algo": "ppo", "timesteps": 0,
            "env_id": "dataops/QualityDegradation-v0", "mlflow_run_id": None,
            "config": {"seed": 0}, "evaluation": {"mean_reward": 1.25},
            "normalize_obs": True}  # fmt: skip
    (d / "run.json").write_text(json.dumps(info))
    return d


@pytest.fixture(scope="module")
def masked_zip(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("masked") / "m.zip"
    MaskablePPO("MlpPolicy", make_env("sc0001", "triage"), device="cpu").save(p)
    return p


def test_exports_a_training_run_directory(tmp_path, run_dir):
    out = tmp_path / "policy"
    res = _export(tmp_path, f"model={run_dir}", f"out={out}")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "exported ppo dataops/QualityDegradation-v0 role=sla" in res.stdout
    policy = load_policy(out)
    card = policy.card
    assert card.normalization is not None and card.normalization.mean[0] == pytest.approx(0.2)
    assert card.evaluation == {"mean_reward": 1.25} and card.training_run["seed"] == 0
    policy.check_env(make_env("sc0002", "sla"))


def test_exports_with_explicit_keys_and_infers_the_algo(tmp_path, masked_zip):
    assert infer_algo(masked_zip) == "maskable_ppo"
    out = tmp_path / "policy"
    res = _export(tmp_path, f"model={masked_zip}", "scenario=sc0001", "role=triage", f"out={out}")
    assert res.returncode == 0, res.stderr[-2000:]
    card = load_policy(out).card
    assert (card.algo, card.role, card.env_id) == (
        "maskable_ppo",
        "triage",
        "dataops/LateArrival-v0",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model={missing}", "scenario=sc0001", "role=triage"], "does not exist"),
        (["model={garbage}", "scenario=sc0001", "role=triage"], "is not a zip archive"),
        (["model={truncated}", "scenario=sc0001", "role=triage"], "model: "),
        (["model={masked}", "scenario=sc0002", "role=sla"], "algo: 'maskable_ppo' given|space"),
        (["model={masked}", "scenario=sc0001", "role=triage", "algo=ppo"], "holds a maskable_ppo"),
        (["model={masked}", "scenario=nosuch", "role=triage"], "scenario/role"),
        (["model={masked}"], "pass scenario="),
        ([], "give model="),
    ],
    ids=["missing", "garbage", "truncated", "wrong-role", "wrong-algo", "bad-scenario",
         "no-scenario", "nothing"],
)  # fmt: skip
def test_bad_input_fails_clearly_and_writes_nothing(tmp_path, masked_zip, args, message):
    garbage = tmp_path / "garbage.zip"
    garbage.write_text("not a zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(masked_zip.read_bytes()[:-200])
    paths = {"missing": tmp_path / "nope.zip", "garbage": garbage, "truncated": truncated,
             "masked": masked_zip}  # fmt: skip
    out = tmp_path / "policy"
    res = _export(tmp_path, *(a.format(**paths) for a in args), f"out={out}")
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("export: error: "), res.stderr[-2000:]
    assert any(m in lines[0] for m in message.split("|")), lines[0]
    assert not out.exists()


def test_unknown_algo_lists_the_valid_ones(tmp_path, masked_zip):
    res = _export(tmp_path, f"model={masked_zip}", "algo=sac", f"out={tmp_path / 'p'}")
    assert res.returncode != 0 and "maskable_ppo" in res.stderr
    assert not (tmp_path / "p").exists()
