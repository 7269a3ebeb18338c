"""Benchmarks of the lab's performance targets (DESIGN.md §10); the last line printed is JSON.

Usage::

    python -m experiments.bench part=sim   # sim_runs_per_s, sim_events_per_s, sim_scaling_exponent

``part=org`` runs the ``rules`` organization on SC-0002 (retail topology) and reports simulated
runs per second with the organization in the loop (``org_runs_per_s``).

``part=env`` reports raw steps per second of every registered ``"<id>/<role>"``
(``env_steps_per_s``) and, measured in the same run, PPO training throughput relative to
CartPole-v1 (``ppo_fps_ratio_vs_cartpole``); ``part=train`` only the latter.

Every part also prints ``ref_events_per_s``, the SimPy event rate of a fixed reference workload
measured in the same run, so that figures from different machines can be read against each
other; ``part=env`` adds ``env_peak_rss_mb`` (one env process, retail, 7 days, without torch) and
``part=scale`` the training and evaluation throughput on 1 and 2 cores
(``experiments.bench_machine``).

``part=runtime`` reports how much faster the exported ONNX policy acts on one observation than
SB3's ``predict`` (``onnx_speedup_vs_sb3``), with per-call latencies in ``runtime_detail``.

``part=sim`` simulates a generated topology (``sim.assets`` assets, ``sim.days`` days, every
fault subtype active at one onset per day each) on one core with no agents and reports simulated
runs and SimPy events per wall-clock second; the scaling exponent is the slope of log(wall time)
against log(assets) over ``sim.scaling`` (the cost should be linear in assets x horizon). Parts
not built yet are reported as skipped, never faked.
"""

from __future__ import annotations

import gc
import json
import math
import time
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from envs.sim.world import World
from experiments.bench_machine import bench_scale, env_peak_rss_mb, ref_events_per_s
from experiments.errors import UsageError, run_entry, user_errors
from scenarios.generate import generate_pipeline
from scenarios.loader import load_scenario
from scenarios.spec import FaultSpec, Scenario
from scenarios.vocab import SUBTYPES

PARTS = ("sim", "org", "env", "train", "runtime", "scale")


def bench_scenario(n_assets: int, days: float, *, faults_per_day: float = 0.0) -> Scenario:
    """The benchmark world: the control scenario's noise on a generated topology.

    Args:
        n_assets: topology size.
        days: horizon.
        faults_per_day: onsets per day of *each* fault subtype (0: noise only).
    """
    base = load_scenario("nofault")
    faults = tuple(FaultSpec(subtype=s, rate_per_day=faults_per_day) for s in SUBTYPES)
    faults = faults if faults_per_day > 0 else ()
    noise = base.spec.noise.model_copy(update={"backfills": ()})
    slots = max(8, n_assets // 8)  # a warehouse sized for the topology, as the retail one is
    warehouse = base.spec.warehouse.model_copy(update={"slots": slots, "max_slots": 4 * slots})
    spec = base.spec.model_copy(
        update={
            "faults": faults,
            "horizon_days": float(days),
            "warmup_days": 0.0,
            "noise": noise,
            "warehouse": warehouse,
        }
    )
    return Scenario(
        name=f"bench-{n_assets}",
        spec=spec,
        pipeline=generate_pipeline(n_assets, seed=0),
        source="bench",
    )


def time_world(
    n_assets: int, days: float, seed: int = 0, faults_per_day: float = 0.0
) -> tuple[float, int, int]:
    """Simulate once; return (wall seconds, runs, SimPy events), build time included."""
    sc = bench_scenario(n_assets, days, faults_per_day=faults_per_day)
    gc.collect()
    t0 = time.perf_counter()
    world = World(sc, seed)
    world.run()
    dt = time.perf_counter() - t0
    events = next(world.env._eid)  # SimPy's event counter: every scheduled event
    return dt, len(world.log), events


def bench_sim(assets: int, days: float, scaling: list[int], scaling_days: float) -> dict[str, Any]:
    """The simulator figures: throughput at scale and the scaling exponent.

    The headline world has noise but no faults: with faults and no agents to fix them, failed
    partitions stall everything downstream for the rest of the episode, and the run count would
    measure the stall, not the simulator. The faulted world (every subtype once a day, no agents)
    is reported in ``sim_detail``.
    """
    dt, runs, events = time_world(assets, days)
    fdt, fruns, fevents = time_world(assets, days, faults_per_day=1.0)
    sizes, times, counts = [], [], []
    for n in scaling:
        t, r, _ = time_world(n, scaling_days)
        sizes.append(n)
        times.append(t)
        counts.append(r)
    slope = float(np.polyfit(np.log(sizes), np.log(times), 1)[0]) if len(sizes) > 1 else math.nan
    generate_pipeline(50, seed=0)  # warm up imports and caches
    t0 = time.perf_counter()
    generate_pipeline(1000, seed=0)
    generate_s = time.perf_counter() - t0
    return {
        "sim_runs_per_s": round(runs / dt, 1),
        "sim_events_per_s": round(events / dt, 1),
        "sim_scaling_exponent": round(slope, 3),
        "sim_detail": {
            "assets": assets,
            "days": days,
            "runs": runs,
            "events": events,
            "seconds": round(dt, 3),
            "scaling_sizes": sizes,
            "scaling_seconds": [round(t, 4) for t in times],
            "scaling_runs": counts,
            "faulted_runs_per_s": round(fruns / fdt, 1),
            "faulted_events_per_s": round(fevents / fdt, 1),
            "faulted_runs": fruns,
            "generate_1000_assets_s": round(generate_s, 4),
        },
    }


def bench_org(episodes: int = 5) -> dict[str, Any]:
    """Simulated runs per second with the ``rules`` organization in the loop (retail topology).

    The monitor's history is simulated once and cached (as in any multi-episode run); the
    figure covers world and organization together, episode construction included.
    """
    from agents.history import history
    from agents.slots.runner import run_episode

    sc = load_scenario("sc0002")
    history(sc, 14.0)  # warm the cache outside the timed loop, as every later episode finds it
    runs = 0
    t0 = time.perf_counter()
    for seed in sc.spec.seeds.eval.seeds()[:episodes]:
        world, _ = run_episode(sc, seed, "rules")
        runs += len(world.log)
    dt = time.perf_counter() - t0
    return {
        "org_runs_per_s": round(runs / dt, 1),
        "org_detail": {
            "scenario": sc.name,
            "episodes": episodes,
            "runs": runs,
            "seconds": round(dt, 3),
        },
    }


def bench_env(steps: int = 2000) -> dict[str, Any]:
    """Raw environment steps per second for every registered ``"<id>/<role>"``.

    Random valid actions, resets included, one process.
    """
    import gymnasium as gym

    import envs
    from envs.base import ROLES
    from envs.factory import make_env

    out: dict[str, float] = {}
    for env_id, scenario in envs.ENV_IDS.items():
        for role in ROLES:
            env: Any = make_env(scenario or "sc0002", role)
            rng = np.random.default_rng(0)
            env.reset(seed=0)
            t0 = time.perf_counter()
            for _ in range(steps):
                space = env.action_space
                if isinstance(space, gym.spaces.Discrete):
                    a: Any = int(rng.choice(np.flatnonzero(env.action_masks())))
                else:
                    a = np.array([rng.integers(n) for n in space.nvec])
                _, _, term, trunc, _ = env.step(a)
                if term or trunc:
                    env.reset()
            out[f"{env_id}/{role}"] = round(steps / (time.perf_counter() - t0), 1)
    return {"env_steps_per_s": out}


def bench_train(timesteps: int = 4096) -> dict[str, Any]:
    """PPO training throughput on each role of LateArrival-v0 relative to CartPole-v1.

    One process, one torch thread, one environment each (DummyVecEnv), same PPO settings;
    ``ppo_fps_ratio_vs_cartpole`` maps ``"<id>/<role>"`` to fps(env) / fps(CartPole-v1), and
    ``ppo_fps_ratio_min`` is the worst role.
    """
    import gymnasium as gym
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.wrappers import ActionMasker
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    import envs  # noqa: F401 - registers the ids
    from envs.triage import masks_of
    from experiments.training import configure_torch, frozen_heap

    configure_torch(1)  # as experiments.train: one thread, no distribution checks

    def fps(make: Any, algo: Any) -> float:
        model = algo("MlpPolicy", DummyVecEnv([make]), n_steps=1024, seed=0, device="cpu")
        with frozen_heap():  # as experiments.train
            t0 = time.perf_counter()
            model.learn(total_timesteps=timesteps)
            return timesteps / (time.perf_counter() - t0)

    base = fps(lambda: gym.make("CartPole-v1"), PPO)
    ratios: dict[str, float] = {}
    eid = "dataops/LateArrival-v0"

    def masked() -> Any:
        env = gym.make(f"envs:{eid}", role="triage")
        return ActionMasker(env, masks_of)

    for role in ("triage", "sla", "cost"):
        if role == "triage":
            f = fps(masked, MaskablePPO)
        else:
            f = fps(lambda r=role: gym.make(f"envs:{eid}", role=r), PPO)
        ratios[f"{eid}/{role}"] = round(f / base, 3)
    return {
        "ppo_fps_ratio_vs_cartpole": ratios,
        "ppo_fps_ratio_min": min(ratios.values()),
        "train_detail": {"cartpole_ppo_fps": round(base, 1), "timesteps": timesteps},
    }


def bench_runtime(calls: int = 3000, batch: int = 64) -> dict[str, Any]:
    """Single-observation latency of the exported policy against SB3 ``predict``.

    A default ``MlpPolicy`` PPO on the LateArrival-v0 triage env, exported to ONNX; one torch and
    one onnxruntime thread; the median of ``calls`` timed calls each on random observations of
    the space. ``onnx_speedup_vs_sb3`` is SB3's median over the runtime's.
    """
    import tempfile

    import torch
    from stable_baselines3 import PPO

    from agents.deploy.export import export_policy
    from agents.deploy.runtime import load_policy
    from envs.factory import make_env

    torch.set_num_threads(1)
    env = make_env("sc0001", "triage")
    model = PPO("MlpPolicy", env, device="cpu", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        export_policy(model, env, tmp, algo="ppo", scenario="sc0001", role="triage",
                      env_id="dataops/LateArrival-v0")  # fmt: skip
        policy = load_policy(tmp)
    space = env.observation_space
    space.seed(0)
    obs = np.stack([space.sample() for _ in range(calls)])

    def median_us(fn: Any, xs: Any) -> float:
        for x in xs[:50]:  # warm-up
            fn(x)
        times = []
        for x in xs:
            t0 = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t0)
        return float(np.median(times)) * 1e6

    sb3 = median_us(lambda x: model.predict(x, deterministic=True), obs)
    onnx = median_us(policy.act, obs)
    batches = [obs[i : i + batch] for i in range(0, calls - batch + 1, batch)] * 4
    onnx_batch = median_us(policy.act, batches)
    return {
        "onnx_speedup_vs_sb3": round(sb3 / onnx, 2),
        "runtime_detail": {
            "sb3_predict_us": round(sb3, 2),
            "onnx_act_us": round(onnx, 2),
            f"onnx_act_batch{batch}_us": round(onnx_batch, 2),
            "calls": calls,
            "obs_dim": int(np.prod(obs.shape[1:])),
        },
    }


def run(
    part: str, sim_cfg: dict[str, Any], scale_cfg: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the requested part(s) and return the contract keys (plus detail)."""
    if part not in (*PARTS, "all"):
        raise UsageError(f"part: unknown part {part!r}; expected one of {', '.join(PARTS)}, all")
    out: dict[str, Any] = {"ref_events_per_s": ref_events_per_s()}
    todo = PARTS if part == "all" else (part,)
    for p in todo:
        if p == "sim":
            out.update(
                bench_sim(
                    int(sim_cfg["assets"]),
                    float(sim_cfg["days"]),
                    [int(n) for n in sim_cfg["scaling"]],
                    float(sim_cfg["scaling_days"]),
                )
            )
        elif p == "org":
            out.update(bench_org())
        elif p == "env":
            out.update(bench_env())
            out.update(env_peak_rss_mb())
            out.update(bench_train())
        elif p == "scale":
            out.update(bench_scale(**(scale_cfg or {})))
        elif p == "train":
            out.update(bench_train())
        elif p == "runtime":
            out.update(bench_runtime())
        else:
            out.setdefault("skipped", []).append(p)
    return out


@hydra.main(version_base="1.3", config_path="../configs", config_name="bench")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; prints one JSON object as the last line."""
    sim_cfg = {k: cfg.sim[k] for k in ("assets", "days", "scaling", "scaling_days")}
    scale_cfg = {k: int(cfg.scale[k]) for k in ("timesteps", "episodes")}
    with user_errors("bench"):
        result = run(str(cfg.part), sim_cfg, scale_cfg)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    run_entry("bench", main)
