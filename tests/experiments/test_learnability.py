"""The learnability study and the triage diagnosis it reports (tiny budgets)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.playbooks import ROUTES
from envs.baselines import baseline
from envs.factory import make_env
from experiments.callbacks import evaluate
from experiments.triage_diagnosis import diagnose

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env():  # type: ignore[no-untyped-def]
    return make_env("sc0001", "triage")


def _seeds(env, n: int = 2) -> list[int]:  # type: ignore[no-untyped-def]
    return list(env.scenario.spec.seeds.eval.seeds())[:n]


@pytest.mark.parametrize("name", ["rules", "oracle", "random"])
def test_diagnosis_matches_evaluation_and_adds_up(env, name: str) -> None:  # type: ignore[no-untyped-def]
    seeds = _seeds(env)
    d = diagnose(baseline("triage", name, env), env, seeds)
    rets, _ = evaluate(baseline("triage", name, env), env, seeds)
    assert d["returns"] == pytest.approx(rets)
    # the weighted terms are the reward: they add up to the mean return
    assert sum(d["terms"].values()) == pytest.approx(np.mean(rets), abs=1e-3)
    assert set(d["routes"]) <= set(ROUTES)
    assert sum(d["routes"].values()) == pytest.approx(d["decisions"])
    total = sum(sum(v.values()) for v in d["by_cause"].values())
    assert total == pytest.approx(d["decisions"] * len(seeds))
    assert d["decisions"] > 0


def test_rules_agree_with_rules_and_oracle_with_oracle(env) -> None:  # type: ignore[no-untyped-def]
    seeds = _seeds(env)
    assert diagnose(baseline("triage", "rules", env), env, seeds)["agree_rules"] == 1.0
    assert diagnose(baseline("triage", "oracle", env), env, seeds)["agree_oracle"] == 1.0
    rand = diagnose(baseline("triage", "random", env), env, seeds)
    assert rand["agree_rules"] < 1.0 and rand["agree_oracle"] < 1.0


def _learnability(out: Path) -> dict:  # type: ignore[type-arg]
    cmd = [
        sys.executable, "-m", "experiments.learnability", "scenarios=[sc0001]", "seeds=[0]",
        "timesteps=64", "eval_episodes=1", "n_envs=1", f"hydra.run.dir={out}",
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "MaskablePPO" in done.stdout and "=oracle" in done.stdout
    return json.loads((out / "learnability.json").read_text())  # type: ignore[no-any-return]


def test_learnability_saves_models_and_resumes_from_them(tmp_path: Path) -> None:
    first = _learnability(tmp_path)
    sc = first["sc0001"]
    for name in ("random", "rules", "oracle", "maskable_ppo_seed0"):
        assert len(sc[name]) == 1
        assert name in sc["diagnosis"]
    assert sc["maskable_ppo_seed_means"] == [pytest.approx(np.mean(sc["maskable_ppo_seed0"]))]
    model = tmp_path / "maskable_ppo_sc0001_seed0.zip"
    assert model.exists()
    stamp = model.stat().st_mtime_ns
    again = _learnability(tmp_path)  # loads the saved model instead of training
    assert model.stat().st_mtime_ns == stamp
    assert again["sc0001"]["train_seconds_seed0"] == sc["train_seconds_seed0"]
    assert again == first  # same seeds, same policies: the same results
