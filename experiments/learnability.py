"""Is the triage problem learnable and not trivial? Random, rules, oracle and MaskablePPO.

Usage::

    python -m experiments.learnability scenarios=[sc0001] seeds=[0,1,2] timesteps=100000

For each scenario, trains MaskablePPO on the triage role (training seeds of the scenario) once
per seed, then evaluates it and the random, rules and oracle baselines on the same held-out
evaluation episodes (deterministic actions). Writes ``learnability.json`` and prints a table of
mean episode reward ± standard error. The gap between rules and oracle is the room RL has.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from envs.baselines import baseline
from envs.factory import make_env
from envs.sim.faults import check_scenario
from experiments.errors import as_int, run_entry, user_errors
from experiments.triage_diagnosis import diagnose
from scenarios import load_scenario


def train_maskable(scenario: str, seed: int, timesteps: int, n_envs: int) -> Any:
    """MaskablePPO with default hyperparameters on the triage role."""
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.wrappers import ActionMasker
    from stable_baselines3.common.vec_env import DummyVecEnv

    from envs.triage import masks_of

    def make() -> Any:
        return ActionMasker(make_env(scenario, "triage"), masks_of)

    vec = DummyVecEnv([make for _ in range(n_envs)])
    vec.seed(seed)
    model = MaskablePPO("MlpPolicy", vec, seed=seed, verbose=0, device="cpu")
    model.learn(total_timesteps=timesteps)
    return model


def run(
    scenarios: list[str],
    seeds: list[int],
    timesteps: int,
    episodes: int,
    n_envs: int,
    out: Path | None = None,
) -> dict[str, Any]:
    """Train and evaluate; return ``{scenario: {policy: [returns...], ...}}``.

    Per scenario: the returns of ``random``, ``rules``, ``oracle`` and ``maskable_ppo_seed<k>``
    on the first ``episodes`` held-out seeds, ``maskable_ppo_seed_means``,
    ``train_seconds_seed<k>``, and ``diagnosis`` — each policy's
    :func:`experiments.triage_diagnosis.diagnose` (reward by term, routes by true cause).

    With ``out``, the results so far are rewritten to ``out/learnability.json`` after every
    baseline and every trained seed, so an interrupted run keeps what it measured, and each
    trained model is saved as ``out/maskable_ppo_<scenario>_seed<seed>.zip``. A model already
    saved there is loaded instead of trained again (rerun into the same directory to resume,
    or to re-evaluate).
    """
    from sb3_contrib import MaskablePPO

    torch.set_num_threads(1)
    results: dict[str, Any] = {}
    earlier = out / "learnability.json" if out is not None else None
    before = json.loads(earlier.read_text()) if earlier is not None and earlier.exists() else {}
    for sc in scenarios:
        env = make_env(sc, "triage")
        held_out = list(env.scenario.spec.seeds.eval.seeds())[:episodes]
        res: dict[str, Any] = {"diagnosis": {}}
        results[sc] = res

        for name in ("random", "rules", "oracle"):
            _record(res, name, diagnose(baseline("triage", name, env), env, held_out))
            _dump(results, out)
        ppo: list[float] = []
        for seed in seeds:
            t0 = time.perf_counter()
            saved = out / f"maskable_ppo_{sc}_seed{seed}.zip" if out is not None else None
            if saved is not None and saved.exists():
                model = MaskablePPO.load(saved, device="cpu")
                took = before.get(sc, {}).get(f"train_seconds_seed{seed}")
                if took is not None:  # the training time measured when it was saved
                    res[f"train_seconds_seed{seed}"] = took
            else:
                model = train_maskable(sc, seed, timesteps, n_envs)
                res[f"train_seconds_seed{seed}"] = round(time.perf_counter() - t0, 1)
                if saved is not None:  # kept for inspecting what the policy learned
                    model.save(saved)
            d = diagnose(model, env, held_out, masked=True)
            rets = _record(res, f"maskable_ppo_seed{seed}", d)
            ppo.append(float(np.mean(rets)))
            res["maskable_ppo_seed_means"] = ppo
            _dump(results, out)
    return results


def _record(res: dict[str, Any], name: str, diagnosis: dict[str, Any]) -> list[float]:
    """Store a policy's returns under ``name`` and the rest of its diagnosis under ``diagnosis``."""
    returns = list(diagnosis.pop("returns"))
    res[name] = returns
    res["diagnosis"][name] = diagnosis
    return returns


def _dump(results: dict[str, Any], out: Path | None) -> None:
    if out is not None:
        (out / "learnability.json").write_text(json.dumps(results, indent=1))


def _diagnosis_table(res: dict[str, Any]) -> Table:
    """Per scenario and policy: the reward by term, decisions, agreement with rules and oracle."""
    terms = sorted({k for r in res.values() for d in r["diagnosis"].values() for k in d["terms"]})
    table = Table(title="how: mean per episode of each weighted reward term, decisions, agreement")
    for col in ("scenario", "policy", "return", *terms, "decisions", "=rules", "=oracle"):
        table.add_column(col)
    for sc, r in res.items():
        for name, d in r["diagnosis"].items():
            by_term = (f"{d['terms'].get(k, 0.0):.2f}" for k in terms)
            table.add_row(
                sc, name, f"{d['mean_return']:.2f}", *by_term, f"{d['decisions']:.1f}",
                f"{d['agree_rules']:.2f}", f"{d['agree_oracle']:.2f}",
            )  # fmt: skip
    return table


@hydra.main(version_base="1.3", config_path="../configs", config_name="learnability")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    out = Path(HydraConfig.get().runtime.output_dir)
    with user_errors("learnability"):  # bad scenarios or values fail before anything is trained
        for s in cfg.scenarios:
            check_scenario(load_scenario(str(s)))
        seeds = [as_int({"seeds": s}, "seeds", minimum=0) for s in cfg.seeds]
        numbers = {k: as_int(cfg, k, minimum=1) for k in ("timesteps", "eval_episodes", "n_envs")}
    res = run([str(s) for s in cfg.scenarios], seeds, numbers["timesteps"],
              numbers["eval_episodes"], numbers["n_envs"], out)  # fmt: skip
    table = Table(title=f"triage: mean held-out episode reward ({cfg.eval_episodes} episodes)")
    for col in ("scenario", "random", "rules", "oracle", "MaskablePPO (seeds)"):
        table.add_column(col)
    for sc, r in res.items():

        def fmt(x: list[float]) -> str:
            return f"{np.mean(x):.2f} ± {np.std(x) / np.sqrt(len(x)):.2f}"

        ppo = r.get("maskable_ppo_seed_means", [])  # none with seeds=[] (baselines only)
        trained = f"{np.mean(ppo):.2f} ({', '.join(f'{p:.2f}' for p in ppo)})" if ppo else "–"
        table.add_row(sc, fmt(r["random"]), fmt(r["rules"]), fmt(r["oracle"]), trained)
    console = Console(width=160)
    console.print(table)
    console.print(_diagnosis_table(res))
    print(f"outputs: {out}")


if __name__ == "__main__":
    run_entry("learnability", main)
