"""experiments.tune: a tiny study writes an algo config that training accepts, and it resumes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments.tracking import runs_of
from experiments.train_config import TrainConfig
from experiments.tune_config import TuneConfig
from experiments.tuning import sample, tune

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def tiny_study(tmp: Path, run: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return _run(
        "experiments.tune",
        "scenario=sc0001",
        "role=sla",
        "algo=ppo",
        "n_trials=2",
        "seeds_per_trial=2",
        "trial_timesteps=128",
        "eval_every=64",
        "eval_episodes=1",
        "n_envs=2",
        "days=1",
        "space.n_steps.choices=[32,64]",
        "space.batch_size.choices=[32,64]",
        f"storage=sqlite:///{tmp}/optuna.db",
        "study_name=tiny",
        f"config_dir={tmp}/configs",
        f"hydra.run.dir={tmp / run}",
        *extra,
    )


def test_a_tiny_study_writes_a_tuned_algo_config_that_trains_and_resumes(tmp_path):
    first = tiny_study(tmp_path, "run1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "study tiny: 2 trials (2 new)" in first.stdout
    tuned = tmp_path / "configs" / "algo" / "ppo_tuned_sc0001_sla.yaml"
    assert tuned.exists() and (tmp_path / "run1" / tuned.name).exists()
    assert (tmp_path / "run1" / "trials.csv").exists()

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert len(study.trials) == 2
    for t in study.trials:  # the seed-averaged reward was reported at every evaluation point
        assert sorted(t.intermediate_values) == [64, 128]
        assert len(t.user_attrs["reward_per_seed"]) == 2
    body = yaml.safe_load(tuned.read_text())
    best = study.best_trial
    assert body["hyperparams"]["learning_rate"] == pytest.approx(best.params["learning_rate"])
    assert body["hyperparams"]["n_steps"] == best.params["n_steps"]
    assert body["hyperparams"]["policy_kwargs"]["net_arch"] == yaml.safe_load(
        best.params["net_arch"]
    )

    # the tuned config is an algo option of experiments.train (found on the search path) ...
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "algo=ppo_tuned_sc0001_sla",
                "role=sla",
                "scenario=sc0001",
                "tracking=disabled",
                f"hydra.searchpath=[file://{tmp_path}/configs]",
            ],
        )
    tc = TrainConfig.from_mapping(OmegaConf.to_container(cfg, resolve=True))
    assert tc.algo.for_role("sla")["learning_rate"] == pytest.approx(best.params["learning_rate"])

    # ... and rerunning the same command continues the study
    second = tiny_study(tmp_path, "run2", "n_trials=1")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "study tiny: 3 trials (1 new)" in second.stdout
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert len(study.trials) == 3


def test_the_tuned_config_trains_one_tiny_job_and_the_study_summary_is_tracked(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first = tiny_study(
        tmp_path, "run", "n_trials=1", "tracking=sqlite", f"tracking.uri={uri}",
        f"tracking.artifact_root={tmp_path}/mlruns", "tracking.experiment=tune",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    (run,) = list(runs_of(uri, "tune"))  # one run for the study, none per trial
    assert run.data.tags["kind"] == "tune" and run.data.tags["study"] == "tiny"
    assert run.data.metrics["trials_complete"] == 1 and "best_value" in run.data.metrics
    assert "best.learning_rate" in run.data.params and run.info.status == "FINISHED"
    out = _run(
        "experiments.train",
        "scenario=sc0001",
        "role=sla",
        "algo=ppo_tuned_sc0001_sla",
        f"hydra.searchpath=[file://{tmp_path}/configs]",
        "train.timesteps=64",
        "train.n_envs=2",
        "train.days=1",
        "train.checkpoint_every=0",
        "train.progress_bar=false",
        "eval=none",
        "compare.episodes=0",
        "tracking=disabled",
        f"hydra.run.dir={tmp_path / 'train'}",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "train" / "model.zip").exists()


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn", "maskable_ppo"])
def test_every_algo_has_a_search_space_that_validates(algo):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(
            "tune",
            overrides=[
                f"algo={algo}",
                "role=triage",
                "storage=sqlite://",
                "config_dir=/nonexistent",
            ],
        )
    tc = TuneConfig.from_mapping(OmegaConf.to_container(cfg, resolve=True))
    assert "learning_rate" in tc.space and "net_arch" in tc.space
    trial = optuna.trial.FixedTrial(
        {n: (d.labels()[0] if d.type == "categorical" else d.low) for n, d in tc.space.items()}
    )
    hp = sample(trial, tc)
    assert hp["policy_kwargs"]["net_arch"] == [64, 64]


def test_a_bad_tune_config_names_the_key(tmp_path):
    out = _run("experiments.tune", "role=sla", "algo=dqn", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.startswith("tune: error: ")
    assert "dqn" in out.stderr and "Discrete" in out.stderr


def test_the_median_pruner_stops_trials_behind_the_median(tmp_path):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("tune", overrides=[
            "scenario=sc0002", "role=cost", "algo=ppo", "n_trials=5", "seeds_per_trial=1",
            "trial_timesteps=192", "eval_every=64", "eval_episodes=1", "n_envs=2", "days=1",
            "space.n_steps.choices=[32]", "space.batch_size.choices=[32]",
            "pruner.n_startup_trials=1", "pruner.n_warmup_steps=0", "sampler.n_startup_trials=2",
            f"storage=sqlite:///{tmp_path}/optuna.db", "write_config=false",
            f"config_dir={tmp_path}",
        ])  # fmt: skip
    info = tune(TuneConfig.from_mapping(OmegaConf.to_container(cfg, resolve=True)), tmp_path)
    states = [r["state"] for r in info["trials"]]
    assert states.count("PRUNED") >= 1 and "COMPLETE" in states, states
    for r in info["trials"]:  # a pruned trial stopped at an evaluation point before the end
        assert (r["last_step"] == 192) == (r["state"] == "COMPLETE"), r
    assert info["config_files"] == [str(tmp_path / "ppo_tuned_sc0002_cost.yaml")]
