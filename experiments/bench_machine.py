"""Machine-relative benchmark figures: the SimPy reference rate, peak memory, and scaling on cores.

Absolute speeds are not comparable across machines (the same commit measured the organization at
23k runs/s on one and 7k on another), so ``experiments.bench`` reports beside them figures that
let a reader place a machine:

================  =============================================================================
key               meaning
================  =============================================================================
ref_events_per_s  SimPy events per second of a fixed reference workload measured in the same
                  run: ``REF_PROCESSES`` processes cycling request → timeout(1) → release on a
                  ``simpy.Resource`` of capacity ``REF_CAPACITY`` (:func:`ref_events_per_s`)
env_peak_rss_mb   peak resident memory (MiB) of one fresh process that builds the retail triage
                  env (SC-0002, 7 days) and steps it through a whole episode with random valid
                  routes, without importing torch (:func:`env_peak_rss_mb`); ``torch_imported``
                  says whether anything pulled torch in anyway
scale_*           ``part=scale``: training fps per role through ``experiments.train``'s own
                  path (MaskablePPO for triage, PPO for sla and cost; the configs' settings) on
                  every layout of ``SCALE_LAYOUTS`` (``dummy`` = one process, ``subproc`` = one
                  worker process per env), and held-out evaluation episodes per second run
                  serially against a local Ray pool of two workers; ``speedup_per_core`` is the
                  ratio per added core
================  =============================================================================
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import simpy

REF_PROCESSES = 100
REF_CAPACITY = 8
REF_SIM_TIME = 20_000.0


def ref_events_per_s(repeats: int = 3) -> float:
    """SimPy events per wall-clock second of the reference workload (best of ``repeats``)."""
    best = 0.0
    for _ in range(repeats):
        env = simpy.Environment()
        res = simpy.Resource(env, capacity=REF_CAPACITY)

        def cycle(env: simpy.Environment = env, res: simpy.Resource = res) -> Any:
            while True:
                with res.request() as req:
                    yield req
                    yield env.timeout(1.0)

        for _ in range(REF_PROCESSES):
            env.process(cycle())
        t0 = time.perf_counter()
        env.run(until=REF_SIM_TIME)
        dt = time.perf_counter() - t0
        best = max(best, next(env._eid) / dt)  # SimPy's event counter: every scheduled event
    return round(best, 1)


_RSS_CHILD = r"""
import json, resource, sys
import numpy as np
from envs.factory import make_env
env = make_env("sc0002", "triage", days=7)
rng = np.random.default_rng(0)
env.reset(seed=0)
steps, done = 0, False
while not done:
    a = int(rng.choice(np.flatnonzero(env.action_masks())))
    _, _, term, trunc, _ = env.step(a)
    steps += 1
    done = term or trunc
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "steps": steps, "torch_imported": "torch" in sys.modules}))
"""


def env_peak_rss_mb() -> dict[str, Any]:
    """Peak RSS of a fresh process running one 7-day retail triage episode (see module doc)."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "env_peak_rss_mb": round(child["rss_kb"] / 1024.0, 1),  # Linux reports KiB
        "rss_detail": {"steps": child["steps"], "torch_imported": child["torch_imported"]},
    }


# The layouts ``part=scale`` compares: (vec_env, n_envs). ``dummy``/4 is training's default
# number of envs stepped in one process; ``subproc``/2 and ``subproc``/4 step two or four envs,
# each in a worker process of its own (SB3 puts one env per worker).
SCALE_LAYOUTS: tuple[tuple[str, int], ...] = (
    ("dummy", 4),
    ("subproc", 2),
    ("subproc", 4),
)
_ROLE_ALGO = {"triage": "maskable_ppo", "sla": "ppo", "cost": "ppo"}


def scale_train_config(role: str, vec_env: str, n_envs: int, timesteps: int) -> Any:
    """The ``TrainConfig`` ``experiments.train`` builds for ``role`` with its default algorithm.

    The role's and the algorithm's YAML files are read from ``configs/``, so the figures are those
    of the training a user runs (same hyperparameters, same vectorized env builder), on SC-0001.
    """
    from pathlib import Path

    import yaml

    from experiments.train_config import TrainConfig

    configs = Path(__file__).resolve().parent.parent / "configs"
    algo = _ROLE_ALGO[role]
    return TrainConfig.from_mapping(
        {
            "scenario": "sc0001",
            "seed": 0,
            "role": yaml.safe_load((configs / "role" / f"{role}.yaml").read_text()),
            "algo": yaml.safe_load((configs / "algo" / f"{algo}.yaml").read_text()),
            "train": {
                "timesteps": timesteps,
                "n_envs": n_envs,
                "vec_env": vec_env,
                "progress_bar": False,
            },
        }
    )


def train_fps(role: str, vec_env: str, n_envs: int, timesteps: int) -> float:
    """Training steps per second of ``experiments.train``'s path for one layout.

    Builds the vectorized envs and the model exactly as training does
    (``experiments.training.build_vec_env`` / ``build_model``), one torch thread, and times
    ``learn`` alone (worker start-up excluded: a real run amortizes it over hours).
    """
    import torch

    from experiments.training import build_model, build_vec_env

    torch.set_num_threads(1)
    cfg = scale_train_config(role, vec_env, n_envs, timesteps)
    vec = build_vec_env(cfg)
    try:
        model = build_model(cfg, vec)
        t0 = time.perf_counter()
        model.learn(total_timesteps=timesteps)
        # learn collects whole rollouts (n_steps x n_envs), so it may take more than asked
        return model.num_timesteps / (time.perf_counter() - t0)
    finally:
        vec.close()


def _eval_episode(seed: int) -> float:
    """One held-out SC-0001 triage episode under the rules (a unit of evaluation work)."""
    from envs.baselines import baseline
    from envs.factory import make_env

    env = make_env("sc0001", "triage")
    policy = baseline("triage", "rules", env)
    obs, _ = env.reset(options={"split": "eval", "episode_seed": seed})
    done, ret = False, 0.0
    while not done:
        a, _ = policy.predict(obs)
        obs, r, term, trunc, _ = env.step(a)
        ret += float(r)
        done = bool(term or trunc)
    return ret


def eval_episodes_per_s(episodes: int, workers: int) -> float:
    """Evaluation throughput: serially (``workers`` 1) or on a local Ray pool of ``workers``."""
    from scenarios import load_scenario

    seeds = [int(s) for s in load_scenario("sc0001").spec.seeds.eval.seeds()[:episodes]]
    if workers <= 1:
        t0 = time.perf_counter()
        for s in seeds:
            _eval_episode(s)
        return episodes / (time.perf_counter() - t0)
    import ray

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_eval_episode)
        ray.get([task.remote(seeds[0]) for _ in range(workers)])  # start the workers first
        t0 = time.perf_counter()
        ray.get([task.remote(s) for s in seeds])
        return episodes / (time.perf_counter() - t0)
    finally:
        ray.shutdown()


def bench_scale(timesteps: int = 4096, episodes: int = 8) -> dict[str, Any]:
    """``part=scale``: training fps per role and layout, evaluation episodes/s on 1 and 2 cores.

    ``scale_train_fps[role]`` maps ``"<vec_env>/<n_envs>"`` (``SCALE_LAYOUTS``) to steps per
    second and names the fastest layout; ``speedup_per_core`` is the fastest subproc layout over
    ``dummy/4`` (the same number of envs in one process). ``scale_eval_episodes_per_s`` is
    held-out evaluation serially against a local Ray pool of two workers.
    """
    fps: dict[str, dict[str, Any]] = {}
    for role in ("triage", "sla", "cost"):
        row: dict[str, Any] = {
            f"{v}/{n}": round(train_fps(role, v, n, timesteps), 1) for v, n in SCALE_LAYOUTS
        }
        best_sub = max(row[f"subproc/{n}"] for v, n in SCALE_LAYOUTS if v == "subproc")
        row["fastest"] = max((k for k in row), key=lambda k: row[k])
        row["speedup_per_core"] = round(best_sub / row["dummy/4"], 3)
        fps[role] = row
    serial = eval_episodes_per_s(episodes, 1)
    pooled = eval_episodes_per_s(episodes, 2)
    return {
        "scale_train_fps": fps,
        "scale_eval_episodes_per_s": {
            "serial": round(serial, 3),
            "ray_2_workers": round(pooled, 3),
            "speedup_per_core": round(pooled / serial, 3),
        },
        "scale_detail": {
            "timesteps": timesteps,
            "episodes": episodes,
            "cores": os.cpu_count(),
            "scenario": "sc0001",
        },
    }
