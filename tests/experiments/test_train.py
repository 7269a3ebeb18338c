"""experiments.train: every algo × role trains, tracking records it, resume and signals behave."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from experiments.callbacks import HeldOutEval
from experiments.tracking import TrackingError, runs_of
from experiments.train_config import TrainConfig
from experiments.training import train

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
    "maskable_ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
    "a2c": {"n_steps": 8},
    "dqn": {"learning_starts": 16, "buffer_size": 1000, "batch_size": 16, "train_freq": 4},
}
VALID = [("triage", a) for a in ("ppo", "a2c", "dqn", "maskable_ppo")] + [
    (r, a) for r in ("sla", "cost") for a in ("ppo", "a2c")
]
SCENARIO_OF = {"triage": "sc0001", "sla": "sc0002", "cost": "sc0003"}


def tiny_config(role: str, algo: str, tmp: Path, **over: Any) -> TrainConfig:
    cfg: dict[str, Any] = {
        "scenario": SCENARIO_OF[role],
        "seed": 0,
        "role": {"name": role, "env_kwargs": {}},
        "algo": {"name": algo, "hyperparams": TINY[algo]},
        "eval": {"every": 64, "episodes": 1, "keep_best": True},
        "tracking": {"backend": "disabled"},
        "train": {
            "timesteps": 128,
            "n_envs": 2,
            "vec_env": "dummy",  # auto would start workers; resolve_vec_env is tested apart
            "checkpoint_every": 64,
            "progress_bar": False,
            "days": 1.0,
        },
        "compare": {"episodes": 0},
    }
    for k, v in over.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return TrainConfig.from_mapping(cfg)


def sqlite_tracking(tmp: Path) -> dict[str, Any]:
    return {"backend": "mlflow", "uri": f"sqlite:///{tmp}/mlflow.db",
            "artifact_root": str(tmp / "mlruns"), "experiment": "t", "register_model": True,
            "alias": "candidate"}  # fmt: skip


@pytest.mark.parametrize(("role", "algo"), VALID)
def test_every_algo_trains_every_role_it_supports(role, algo, tmp_path):
    info = train(tiny_config(role, algo, tmp_path), tmp_path)
    assert info["timesteps"] >= 128
    for name in ("model.zip", "best_model.zip", "run.json", "evaluations.csv", "progress.csv"):
        assert (tmp_path / name).exists(), name
    assert list((tmp_path / "checkpoints").glob("model_*_steps.zip"))
    assert info["evaluation"]["final_mean_reward"] is not None


def test_each_evaluation_scores_the_policy_updated_on_the_steps_it_is_logged_at(
    tmp_path, monkeypatch
):
    # SB3 updates the policy after a rollout ends: an evaluation at a rollout's end would score
    # the policy one update behind its logged step (the learning curve's x axis would lie)
    seen: list[tuple[int, int]] = []
    real = HeldOutEval.run_eval

    def spy(self: HeldOutEval) -> float:
        seen.append((int(self.num_timesteps), int(self.model._n_updates)))
        return real(self)

    monkeypatch.setattr(HeldOutEval, "run_eval", spy)
    info = train(tiny_config("triage", "maskable_ppo", tmp_path), tmp_path)
    # rollouts of 32 steps x 2 envs, one epoch: one update per 64 steps; the last row is the
    # final model, evaluated after learning
    assert seen == [(64, 1), (128, 2)]
    rows = (tmp_path / "evaluations.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["64", "128"]
    assert float(rows[-1].split(",")[1]) == info["evaluation"]["final_mean_reward"]


@pytest.mark.parametrize(("role", "algo"), [("sla", "dqn"), ("cost", "maskable_ppo")])
def test_incompatible_algo_and_role_fail_with_a_clear_message(role, algo, tmp_path):
    with pytest.raises(ValueError, match=f"algo={algo}.*role={role}"):
        tiny_config(role, algo, tmp_path)


def test_compare_scores_the_agent_baselines_and_organizations(tmp_path):
    cfg = tiny_config("triage", "maskable_ppo", tmp_path, compare={"episodes": 1})
    info = train(cfg, tmp_path)
    names = [r["name"] for r in info["compare"]]
    assert names == ["maskable_ppo (seed 0)", "random", "rules", "oracle", "org:rules",
                     "org:static"]  # fmt: skip
    by = {r["name"]: r for r in info["compare"]}
    # the env's rules baseline is the rules organization: the table checks itself
    assert by["rules"]["scorecard"] == by["org:rules"]["scorecard"]
    assert by["org:static"]["mean_reward"] is None
    assert json.loads((tmp_path / "compare.json").read_text())[0]["kind"] == "agent"


def test_same_seed_trains_the_same_model(tmp_path):
    a = train(tiny_config("sla", "ppo", tmp_path / "a"), tmp_path / "a")
    b = train(tiny_config("sla", "ppo", tmp_path / "b"), tmp_path / "b")
    assert a["evaluation"] == b["evaluation"]
    pa = (tmp_path / "a" / "progress.csv").read_text().splitlines()
    pb = (tmp_path / "b" / "progress.csv").read_text().splitlines()
    assert len(pa) == len(pb) > 1


def test_tracking_records_params_metrics_artifacts_and_the_registered_model(tmp_path):
    cfg = tiny_config("triage", "ppo", tmp_path, tracking=sqlite_tracking(tmp_path))
    info = train(cfg, tmp_path / "run")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.get_run(info["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["algo.hyperparams.n_steps"] == "32"
    assert run.data.params["role.name"] == "triage"
    assert "eval/mean_reward" in run.data.metrics and "train/value_loss" in run.data.metrics
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/model.zip", "model/run.json"} <= arts
    mv = client.get_model_version_by_alias("dataops-sc0001-triage-ppo", "candidate")
    assert mv.run_id == run.info.run_id


def test_resume_continues_the_timestep_count_and_the_run(tmp_path):
    track = sqlite_tracking(tmp_path)
    first = train(tiny_config("sla", "ppo", tmp_path, tracking=track), tmp_path / "r1")
    assert first["timesteps"] == 128 and first["train_seconds"] > 0
    meta = tmp_path / "r1" / "run.json"  # an earlier segment that took long
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "train_seconds": 1e6}))
    cfg = tiny_config("sla", "ppo", tmp_path, tracking=track, resume=str(tmp_path / "r1"),
                      train={"timesteps": 256})  # fmt: skip
    second = train(cfg, tmp_path / "r2")
    assert second["timesteps"] == 256
    # the training time adds the resumed segment's to the earlier one's
    assert second["train_seconds"] > 1e6
    assert second["mlflow_run_id"] == first["mlflow_run_id"]
    runs = list(runs_of(track["uri"], "t"))
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.tags["resumed_at_timesteps"] == "128"
    # the changed budget is recorded, not silently overwritten
    assert "train.timesteps" in runs[0].data.tags["resume.changed_params"]


def test_resume_from_a_missing_path_fails_clearly(tmp_path):
    cfg = tiny_config("sla", "ppo", tmp_path, resume=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match=r"resume: .*nope"):
        train(cfg, tmp_path / "out")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_tracking_server_fails_before_training(tmp_path):
    track = {**sqlite_tracking(tmp_path), "uri": f"http://127.0.0.1:{_free_port()}"}
    cfg = tiny_config("sla", "ppo", tmp_path, tracking=track)
    with pytest.raises(TrackingError, match="no MLflow tracking server answers"):
        train(cfg, tmp_path / "out")
    assert not (tmp_path / "out" / "progress.csv").exists()


def _cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "experiments.train", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, **kw)  # fmt: skip


def test_bad_override_fails_with_hydras_message_and_creates_no_run(tmp_path):
    out = _cli("algo=sac", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
               f"hydra.run.dir={tmp_path}/run")  # fmt: skip
    assert out.returncode != 0
    assert "Could not find 'algo/sac'" in out.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_unreachable_server_on_the_command_line_exits_1_with_the_uri(tmp_path):
    uri = f"http://127.0.0.1:{_free_port()}"
    out = _cli("tracking=server", f"tracking.uri={uri}", "train.timesteps=64",
               f"hydra.run.dir={tmp_path}/run")  # fmt: skip
    assert out.returncode == 1
    assert uri in out.stderr and "mlflow server" in out.stderr


@pytest.mark.slow
def test_sigterm_leaves_a_checkpoint_and_a_killed_run(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.train", "scenario=sc0002", "role=sla", "algo=ppo",
         "train.timesteps=100000", "train.days=2", "train.n_envs=2", "train.progress_bar=false",
         "eval=none", "compare.episodes=0", "algo.hyperparams.n_steps=32",
         "algo.hyperparams.batch_size=32", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
         f"tracking.artifact_root={tmp_path}/mlruns", "tracking.experiment=t",
         f"hydra.run.dir={run_dir}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and not (run_dir / "progress.csv").exists():
        time.sleep(0.5)
    assert (run_dir / "progress.csv").exists(), "training never started"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    ckpts = list((run_dir / "checkpoints").glob("interrupted_*_steps.zip"))
    assert len(ckpts) == 1
    assert "resume=" in err
    runs = list(runs_of(f"sqlite:///{tmp_path}/mlflow.db", "t"))
    assert [r.info.status for r in runs] == ["KILLED"]
    # and the interrupted run resumes from its directory, continuing the count
    steps = int(ckpts[0].name.split("_")[1])
    cfg = tiny_config("sla", "ppo", tmp_path, resume=str(run_dir),
                      train={"timesteps": steps + 64, "days": 2.0})  # fmt: skip
    info = train(cfg, tmp_path / "again")
    assert info["timesteps"] >= steps + 64


def test_a_tracked_run_exports_by_run_id(tmp_path):
    track = sqlite_tracking(tmp_path)
    info = train(tiny_config("sla", "ppo", tmp_path, tracking=track), tmp_path / "run")
    # training already exported its final model ...
    assert (tmp_path / "run" / "policy" / "policy.onnx").exists()
    # ... and the run's model can be exported again from the tracking store alone
    out = subprocess.run(
        [sys.executable, "-m", "experiments.export", f"run_id={info['mlflow_run_id']}",
         f"tracking.uri={track['uri']}", f"out={tmp_path / 'exported'}",
         f"hydra.run.dir={tmp_path / 'export_run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    card = json.loads((tmp_path / "exported" / "policy.json").read_text())
    assert card["role"] == "sla" and card["algo"] == "ppo"
    assert card["training_run"]["mlflow_run_id"] == info["mlflow_run_id"]


def test_training_without_distribution_checks_learns_bit_for_bit_the_same() -> None:
    # experiments.training.configure_torch turns torch.distributions' argument checks off for
    # speed; that must change nothing a run learns (sla: seven categorical heads, where it pays)
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from experiments.training import configure_torch

    def learned(validate: bool) -> list[torch.Tensor]:
        torch.distributions.Distribution.set_default_validate_args(validate)
        env = DummyVecEnv([lambda: gym.make("envs:dataops/LateArrival-v0", role="sla", days=2)])
        model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=3, device="cpu")
        model.learn(total_timesteps=128)
        return [p.detach().clone() for p in model.policy.parameters()]

    before = torch.distributions.Distribution._validate_args
    try:
        checked = learned(True)
        configure_torch(torch.get_num_threads())
        assert torch.distributions.Distribution._validate_args is False
        fast = learned(False)
    finally:
        torch.distributions.Distribution.set_default_validate_args(before)
    assert all(torch.equal(a, b) for a, b in zip(checked, fast, strict=True))


def test_learning_in_a_frozen_heap_learns_bit_for_bit_the_same_and_unfreezes() -> None:
    # experiments.training.frozen_heap keeps long-lived objects out of full collections while
    # learning: it must change nothing learned, and hand the objects back afterwards
    import gc

    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from experiments.training import frozen_heap

    def learned(frozen: bool) -> list[torch.Tensor]:
        env = DummyVecEnv([lambda: gym.make("envs:dataops/LateArrival-v0", role="sla", days=2)])
        model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=3, device="cpu")
        if frozen:
            with frozen_heap():
                assert gc.get_freeze_count() > 0
                model.learn(total_timesteps=128)
        else:
            model.learn(total_timesteps=128)
        return [p.detach().clone() for p in model.policy.parameters()]

    plain, frozen = learned(False), learned(True)
    assert gc.get_freeze_count() == 0
    assert all(torch.equal(a, b) for a, b in zip(plain, frozen, strict=True))
