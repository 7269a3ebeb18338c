"""The learnability view over evaluate and train, and the triage diagnosis it reports."""

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
from experiments.errors import UsageError
from experiments.evaluate import evaluate as evaluate_agent
from experiments.protocol import eval_seeds
from experiments.results import read_result
from experiments.triage_diagnosis import diagnose, diagnose_result
from scenarios import load_scenario

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


DAYS = 2.0  # a short horizon: a few incidents per episode, seconds per run
EPISODES = 2
TINY_TRAIN = (
    '["algo.hyperparams.n_steps=64","algo.hyperparams.batch_size=64","eval.every=0",'
    '"train.checkpoint_every=0","train.progress_bar=false"]'
)


def test_diagnosis_of_a_stored_result_is_the_live_policy_s(tmp_path: Path) -> None:
    path, result = evaluate_agent(
        "baseline:rules", "triage", "sc0002", results=tmp_path, episodes=EPISODES, days=DAYS
    )
    env = make_env("sc0002", "triage", days=DAYS)
    live = diagnose(baseline("triage", "rules", env), env, [e.seed for e in result.episodes])
    assert diagnose_result(read_result(path)) == live
    assert live["decisions"] > 0
    # a result whose numbers do not replay is refused in one line, not described
    eps = list(result.episodes)
    eps[1] = eps[1].model_copy(update={"return_": eps[1].return_ + 1.0})
    with pytest.raises(UsageError, match=r"episode seed \d+: return .* stored, the replay gives"):
        diagnose_result(result.model_copy(update={"episodes": eps}))


def _learnability(out: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-m", "experiments.learnability", "scenarios=[sc0002]", "seeds=[0]",
        "timesteps=128", f"eval_episodes={EPISODES}", f"days={DAYS}", "n_envs=1",
        "tracking=disabled", f"train_args={TINY_TRAIN}", f"hydra.run.dir={out}",
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("learnability")
    done = _learnability(out)
    return out, json.loads((out / "learnability.json").read_text()), done.stdout


def test_the_view_s_numbers_are_evaluate_s_result_files(first, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, view, stdout = first
    assert "room" in stdout and "=oracle" in stdout and "maskable_ppo" in stdout
    sc = view["scenarios"]["sc0002"]
    pol = sc["policies"]
    assert set(pol) == {"random", "rules", "oracle", "maskable_ppo_seed0"}
    seeds = eval_seeds(load_scenario("sc0002"), "dev", EPISODES)
    means = {}
    for key, p in pol.items():
        r = read_result(Path(p["file"]))
        assert r.split == "dev" and r.env.days == DAYS and [e.seed for e in r.episodes] == seeds
        assert p["returns"] == [e.return_ for e in r.episodes]
        assert p["mean_return"] == pytest.approx(r.mean_return)
        means[key] = r.mean_return
    room = (means["oracle"] - means["rules"]) / (means["rules"] - means["random"])
    assert sc["room"] == pytest.approx(room)
    assert sc["learned"] == {
        "maskable_ppo": {"seed_means": {"0": pytest.approx(means["maskable_ppo_seed0"])},
                         "mean": pytest.approx(means["maskable_ppo_seed0"])}
    }  # fmt: skip
    # the learned entry was trained by experiments.train (its run directory) and evaluated as sb3:
    learned = read_result(Path(pol["maskable_ppo_seed0"]["file"]))
    run = out / "train" / "sc0002" / "maskable_ppo_seed0"
    assert learned.kind == "learned" and learned.agent.spec == f"sb3:{run.resolve()}/model.zip"
    assert learned.training_timesteps == 128 and learned.training_seed == 0
    assert json.loads((run / "run.json").read_text())["config"]["algo"]["name"] == "maskable_ppo"
    # and evaluate itself, run apart, gives the same returns
    for spec, key in (("baseline:oracle", "oracle"), (learned.agent.spec, "maskable_ppo_seed0")):
        _, again = evaluate_agent(spec, "triage", "sc0002", results=tmp_path / key,
                                  episodes=EPISODES, days=DAYS)  # fmt: skip
        assert [e.return_ for e in again.episodes] == pol[key]["returns"]
    assert set(pol["rules"]["diagnosis"]) >= {"terms", "by_cause", "agree_rules", "agree_oracle"}
    assert pol["rules"]["diagnosis"]["agree_rules"] == 1.0


def test_an_interrupted_view_resumes_from_what_it_wrote(first) -> None:  # type: ignore[no-untyped-def]
    out, view, _ = first
    pol = view["scenarios"]["sc0002"]["policies"]
    lost = Path(pol["oracle"]["file"])
    lost.unlink()  # as if stopped before the oracle was evaluated
    kept = {k: Path(p["file"]).stat().st_mtime_ns for k, p in pol.items() if k != "oracle"}
    model = out / "train" / "sc0002" / "maskable_ppo_seed0" / "model.zip"
    stamp = model.stat().st_mtime_ns
    done = _learnability(out)
    assert "training" not in done.stdout and done.stdout.count("reusing") == 4
    assert model.stat().st_mtime_ns == stamp
    assert {k: Path(pol[k]["file"]).stat().st_mtime_ns for k in kept} == kept
    again = json.loads((out / "learnability.json").read_text())["scenarios"]["sc0002"]
    assert again["room"] == view["scenarios"]["sc0002"]["room"]
    assert again["learned"] == view["scenarios"]["sc0002"]["learned"]
    assert again["policies"]["oracle"]["returns"] == pol["oracle"]["returns"]
