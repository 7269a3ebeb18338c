"""Sweeps over scenario × role × algo × seed on the basic, joblib, submitit and Ray launchers.

Every job is tiny (SLA/cost roles with one-day episodes — 24 steps each, unlike triage whose
episode reset simulates the whole horizon — 128 timesteps, one held-out episode, no comparison).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from experiments.tracking import PARENT_RUN_FILE, runs_of

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "train.timesteps=128",
    "train.n_envs=2",
    "train.days=1",
    "train.checkpoint_every=0",
    "train.progress_bar=false",
    "algo.hyperparams.n_steps=32",
    "eval.every=64",
    "eval.episodes=1",
    "compare.episodes=0",
]
PPO_TINY = ["algo.hyperparams.batch_size=32", "algo.hyperparams.n_epochs=1"]


def multirun(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``experiments.train --multirun`` in a subprocess, without MLflow's pytest-only checks."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return subprocess.run(
        [sys.executable, "-m", "experiments.train", "--multirun", *args, *TINY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def job_dirs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())


def assert_jobs_wrote_outputs(sweep: Path, n: int) -> list[dict]:
    dirs = job_dirs(sweep)
    assert len(dirs) == n, dirs
    infos = []
    for d in dirs:
        for name in ("model.zip", "run.json", "config.yaml", "evaluations.csv"):
            assert (d / name).exists(), d / name
        infos.append(json.loads((d / "run.json").read_text()))
    return infos


@pytest.mark.parametrize("preset", ["slurm", "local_cluster", "ray_local"])
def test_launcher_presets_compose_on_the_plugins_configs(preset):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra/launcher={preset}"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    target = {
        "slurm": "SlurmLauncher",
        "local_cluster": "LocalLauncher",
        "ray_local": "RayLauncher",
    }
    assert launcher._target_.endswith(target[preset])
    if preset == "ray_local":
        assert launcher.ray.init.num_cpus == 2 and launcher.ray.init.include_dashboard is False
    else:
        assert launcher.timeout_min > 0 and launcher.cpus_per_task >= 1
    if preset == "slurm":
        assert launcher.partition is None and launcher.array_parallelism > 0


def test_joblib_sweep_is_one_parent_run_with_a_child_per_job(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep = tmp_path / "sweep"
    out = multirun(
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "scenario=sc0001,sc0002",
        "seed=0,1",
        "role=sla",
        "algo=ppo",
        *PPO_TINY,
        "tracking=sqlite",
        f"tracking.uri={uri}",
        f"tracking.artifact_root={tmp_path}/mlruns",
        "tracking.experiment=sweeps",
        f"hydra.sweep.dir={sweep}",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    infos = assert_jobs_wrote_outputs(sweep, 4)
    parent_id = json.loads((sweep / PARENT_RUN_FILE).read_text())["run_id"]

    runs = {r.info.run_id: r for r in runs_of(uri, "sweeps")}
    parent = runs.pop(parent_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["jobs"] == 4 and parent.data.metrics["jobs_failed"] == 0
    assert len(runs) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in runs.values()} == {parent_id}
    assert {i["mlflow_run_id"] for i in infos} == set(runs)
    assert {(r.data.tags["scenario"], r.data.tags["seed"]) for r in runs.values()} == {
        ("sc0001", "0"),
        ("sc0001", "1"),
        ("sc0002", "0"),
        ("sc0002", "1"),
    }

    from mlflow.tracking import MlflowClient  # reading back what the tracking module wrote

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for run in runs.values():
        assert run.info.status == "FINISHED"
        p = run.data.params
        assert p["algo.hyperparams.learning_rate"] == "0.0003" and p["algo.name"] == "ppo"
        assert p["algo.hyperparams.n_steps"] == "32" and p["role.name"] == "sla"
        assert {"eval/mean_reward", "eval/best_mean_reward", "train/value_loss"} <= set(
            run.data.metrics
        )
        top = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "learning_curve.png" in top
        model = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
        assert "model/model.zip" in model
    for scenario in ("sc0001", "sc0002"):
        name = f"dataops-{scenario}-sla-ppo"
        versions = client.search_model_versions(f"name='{name}'")
        assert len(versions) == 2  # one per seed
        alias = client.get_model_version_by_alias(name, "candidate")
        assert alias.run_id in runs


def test_basic_launcher_sweeps_role_by_algo(tmp_path):
    out = multirun(
        "role=sla,cost",
        "algo=ppo,a2c",
        "scenario=sc0001",
        "tracking=disabled",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    infos = assert_jobs_wrote_outputs(tmp_path, 4)
    assert {(i["role"], i["algo"]) for i in infos} == {
        ("sla", "ppo"),
        ("sla", "a2c"),
        ("cost", "ppo"),
        ("cost", "a2c"),
    }
    assert not (tmp_path / PARENT_RUN_FILE).exists()  # tracking disabled: no parent run


def test_submitit_local_runs_each_job_in_its_own_process(tmp_path):
    out = multirun(
        "hydra/launcher=local_cluster",
        "scenario=sc0001",
        "seed=0,1",
        "role=sla",
        "algo=ppo",
        *PPO_TINY,
        "tracking=disabled",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    infos = assert_jobs_wrote_outputs(tmp_path, 2)
    assert sorted(i["config"]["seed"] for i in infos) == [0, 1]
    logs = list((tmp_path / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2, logs  # submitit's per-job logs: each job was its own submission


def _gone(marker: str, within_s: float) -> bool:
    """No process has ``marker`` in its command line (polled: Ray's daemons exit shortly after)."""
    deadline = time.monotonic() + within_s
    while True:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if marker not in ps:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray extra not installed")
@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None,
    reason="hydra-ray-launcher not installed",
)
def test_ray_launcher_runs_a_sweep_on_a_bounded_local_runtime_and_shuts_it_down(tmp_path):
    # a short temp dir: Ray's socket paths under it must stay below the 107-byte AF_UNIX limit
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    try:
        out = multirun(
            "hydra/launcher=ray_local",
            f"+hydra.launcher.ray.init._temp_dir={ray_tmp}",
            "scenario=sc0001",
            "seed=0,1",
            "role=sla",
            "algo=ppo",
            *PPO_TINY,
            "tracking=disabled",
            f"hydra.sweep.dir={tmp_path}",
        )
        assert out.returncode == 0, out.stderr[-3000:]
        infos = assert_jobs_wrote_outputs(tmp_path, 2)
        assert sorted(i["config"]["seed"] for i in infos) == [0, 1]
        assert any(Path(ray_tmp).glob("session_*")), "the local Ray runtime was not used"
        assert _gone(ray_tmp, within_s=15), "Ray processes outlived the sweep"
    finally:
        subprocess.run(["rm", "-rf", ray_tmp], check=False)
