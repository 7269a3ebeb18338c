"""Training an SB3 agent on a dataops-gym role: the library behind ``experiments.train``.

``train(cfg, out, ...)`` takes a typed ``TrainConfig`` and a run directory and:

1. opens the tracker (fails before anything trains if the store is unreachable);
2. builds ``n_envs`` environments (DummyVecEnv by default — on 2 cores, 4 envs in one process
   trained faster than SubprocVecEnv — or SubprocVecEnv), optionally VecNormalize, and a separate
   evaluation env on the held-out seeds;
3. builds the algorithm (or loads a checkpoint with ``resume``, continuing its timestep count and
   its MLflow run) and learns until ``train.timesteps`` in total, with checkpoints, held-out
   evaluation (best model kept) and a progress bar;
4. on SIGINT/SIGTERM: stops at the next step, writes ``checkpoints/interrupted_<t>_steps.zip``,
   marks the run KILLED and raises ``Interrupted``;
5. saves ``model.zip`` (+ ``vecnormalize.pkl``), ``run.json``, the learning curve, and compares the
   agent on held-out seeds with the baselines and organizations (``compare.json``);
6. logs everything and registers the model (``dataops-<scenario>-<role>-<algo>`` @ alias).

Run directory layout: ``model.zip``, ``best_model.zip``, ``vecnormalize.pkl``, ``checkpoints/``,
``progress.csv`` (SB3 logger), ``evaluations.csv``, ``learning_curve.png``, ``compare.json``,
``run.json``, ``config.yaml`` (written by the entry point).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import CSVOutputFormat, HumanOutputFormat, Logger
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecMonitor,
    VecNormalize,
)

from envs.factory import make_env
from experiments.algos import MASKED, algo_class
from experiments.callbacks import HeldOutEval, StopOnSignal, TrackerOutput
from experiments.checkpoints import (
    checkpoint_callback,
    load_checkpoint,
    resolve_resume,
    save_final,
    save_interrupted,
)
from experiments.compare import compare
from experiments.curves import plot_learning_curve
from experiments.run_record import RunRecord, dumps
from experiments.tracking import (
    Tracker,
    TrackingError,
    open_tracker,
)
from experiments.train_config import TrainConfig


class Interrupted(RuntimeError):
    """Training was stopped by a signal; a checkpoint was written and the run marked KILLED."""

    def __init__(self, signum: int, checkpoint: Path) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"training interrupted by {name}; resume with resume={checkpoint}")
        self.signum = signum
        self.checkpoint = checkpoint


def env_factory(cfg: TrainConfig) -> Callable[[], Any]:
    """A picklable-enough thunk building one training env (wrapped for masks when needed)."""
    scenario, role, masked = cfg.scenario, cfg.role.name, cfg.algo.name in MASKED
    kwargs = dict(cfg.role.env_kwargs)
    if cfg.train.days is not None:
        kwargs["days"] = cfg.train.days

    def make() -> Any:
        env = make_env(scenario, role, **kwargs)
        if masked:
            from sb3_contrib.common.wrappers import ActionMasker

            from envs.triage import masks_of

            return ActionMasker(env, masks_of)
        return env

    return make


def build_vec_env(cfg: TrainConfig) -> VecEnv:
    """``n_envs`` training envs, seeded from ``cfg.seed``, with episode statistics."""
    make = env_factory(cfg)
    fns = [make for _ in range(cfg.train.n_envs)]
    if cfg.train.vec_env == "subproc":
        # workers ignore SIGINT so Ctrl-C reaches only this process, which checkpoints cleanly
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            vec: VecEnv = SubprocVecEnv(fns)
        finally:
            signal.signal(signal.SIGINT, old)
    else:
        vec = DummyVecEnv(fns)
    vec.seed(cfg.seed)
    vec = VecMonitor(vec)
    if cfg.train.normalize_obs:
        vec = VecNormalize(vec, norm_obs=True, norm_reward=False, clip_obs=10.0)
    return vec


def build_model(cfg: TrainConfig, vec: VecEnv) -> BaseAlgorithm:
    """A new, untrained agent for ``cfg`` on ``vec``: the role's hyperparameters, seeded, on CPU."""
    cls, hp = algo_class(cfg.algo.name), cfg.algo.for_role(cfg.role.name)
    return cls(cfg.algo.policy, vec, seed=cfg.seed, device="cpu", verbose=0, **hp)


def build_eval_env(cfg: TrainConfig) -> tuple[Any, list[int]]:
    """The evaluation env (training's role arguments and horizon) and the held-out episode seeds."""
    env = make_env(cfg.scenario, cfg.role.name, **_eval_kwargs(cfg))
    return env, [int(s) for s in env.scenario.spec.seeds.eval.seeds()]


def _normalizer(vec: VecEnv) -> Callable[[np.ndarray], np.ndarray] | None:
    if isinstance(vec, VecNormalize):

        def norm(obs: np.ndarray) -> np.ndarray:
            return np.asarray(vec.normalize_obs(obs), dtype=np.float32)

        return norm
    return None


def _logger(out: Path, tracker: Tracker, progress_bar: bool) -> Logger:
    formats: list[Any] = [CSVOutputFormat(str(out / "progress.csv")), TrackerOutput(tracker)]
    if not progress_bar:
        import sys

        formats.append(HumanOutputFormat(sys.stdout))
    return Logger(str(out), formats)


def train(
    cfg: TrainConfig,
    out: Path,
    *,
    parent_run_id: str | None = None,
    config_file: Path | None = None,
) -> dict[str, Any]:
    """Train, evaluate, compare and track one agent (see the module docstring).

    Args:
        cfg: the training job.
        out: the run directory (created if missing).
        parent_run_id: the tracked run to nest this one under (a sweep's parent run).
        config_file: the entry point's ``config.yaml``. Unused: the copy published with the model
            is ``out/config.yaml``, found by name.

    Returns:
        ``run.json``'s content: config, timesteps, MLflow run id, best and final held-out reward,
        comparison rows.

    Raises:
        TrackingError: the tracking store is unreachable (before anything trains).
        Interrupted: SIGINT/SIGTERM (after the checkpoint is written and the run marked KILLED).
    """
    torch.set_num_threads(cfg.train.torch_threads)
    out.mkdir(parents=True, exist_ok=True)
    ckpt, resume_run = resolve_resume(cfg, out)
    run_name = f"{cfg.scenario}/{cfg.role.name}/{cfg.algo.name}/seed{cfg.seed}"
    tags = {"scenario": cfg.scenario, "role": cfg.role.name, "algo": cfg.algo.name,
            "seed": cfg.seed, "run_dir": str(out.resolve())}  # fmt: skip
    tracker = open_tracker(cfg.tracking, run_name, run_id=resume_run,
                           parent_run_id=parent_run_id, tags=tags)  # fmt: skip
    status = "FAILED"
    try:
        result = _train(cfg, out, tracker, ckpt)
        status = "FINISHED"
        return result
    except Interrupted:
        status = "KILLED"
        raise
    finally:
        tracker.end(status)


def _train(cfg: TrainConfig, out: Path, tracker: Tracker, ckpt: Path | None) -> dict[str, Any]:
    record = RunRecord.collect(cfg)
    tracker.log_params(record.params())
    masked = cfg.algo.name in MASKED
    vec = build_vec_env(cfg)
    if ckpt is not None:
        model, vec = load_checkpoint(cfg.algo.name, ckpt, vec)
        tracker.set_tags({"resumed_from": str(ckpt), "resumed_at_timesteps": model.num_timesteps})
    else:
        model = build_model(cfg, vec)
    model.set_logger(_logger(out, tracker, cfg.train.progress_bar))
    start = int(model.num_timesteps)
    remaining = max(0, cfg.train.timesteps - start)

    eval_env, seeds = build_eval_env(cfg)
    norm = _normalizer(vec)
    evaluator = None
    stopper = StopOnSignal()
    callbacks: list[Any] = [stopper]
    saver = checkpoint_callback(cfg, out)
    if saver is not None:
        callbacks.append(saver)
    if cfg.eval.every > 0 and cfg.eval.episodes > 0:
        evaluator = HeldOutEval(
            eval_env, seeds[: cfg.eval.episodes], cfg.eval.every, out, tracker,
            masked=masked, keep_best=cfg.eval.keep_best, normalize=norm,
        )  # fmt: skip
        callbacks.append(evaluator)

    with stopper:
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=CallbackList(callbacks),
                reset_num_timesteps=start == 0,
                progress_bar=cfg.train.progress_bar,
                tb_log_name=f"{cfg.algo.name}",
            )
    if stopper.signum is not None:
        path = save_interrupted(model, vec, out)
        record.write(out, timesteps=model.num_timesteps, run_id=tracker.run_id)
        tracker.log_artifact(path, "checkpoint")
        tracker.log_artifact(out / "run.json", "checkpoint")
        vec.close()
        raise Interrupted(stopper.signum, path)

    save_final(model, vec, out)
    best = evaluator.best if evaluator is not None and evaluator.best > -np.inf else None
    final = None
    if evaluator is not None and remaining > 0:
        # the last rollout's evaluation, unless one already scored this very model
        at_end = evaluator.last_step == model.num_timesteps
        final = evaluator.run_eval() if not at_end else _last_mean(out)
    rows: list[dict[str, Any]] = []
    if cfg.compare.episodes > 0:
        rows = compare(model, eval_env, seeds[: cfg.compare.episodes],
                       agent_name=f"{cfg.algo.name} (seed {cfg.seed})", masked=masked,
                       normalize=norm, baselines=cfg.compare.baselines, orgs=cfg.compare.orgs,
                       days=cfg.train.days)  # fmt: skip
        (out / "compare.json").write_text(dumps(rows))
        step = int(model.num_timesteps)
        for r in rows:
            flat = {f"compare/{r['name'].split(' ')[0]}/{k}": v for k, v in r["scorecard"].items()}
            if r["mean_reward"] is not None:
                flat[f"compare/{r['name'].split(' ')[0]}/mean_reward"] = r["mean_reward"]
            tracker.log_metrics({k: v for k, v in flat.items() if v is not None}, step)
    plot_learning_curve(out, title=f"{cfg.algo.name} on {cfg.scenario} ({cfg.role.name})")
    evaluation = {"best_mean_reward": best, "final_mean_reward": final}
    info = record.write(
        out, timesteps=model.num_timesteps, run_id=tracker.run_id, evaluation=evaluation, rows=rows
    )
    vec.close()
    _export(out, tracker)
    _log_outputs(out, cfg, tracker)
    return info


def _export(out: Path, tracker: Tracker) -> None:
    """Export the final model to ``out/policy`` (ONNX + card) for deployment."""
    from experiments.export import export_model

    export_model(str(out / "model.zip"), out / "policy", run_id=tracker.run_id)


def _last_mean(out: Path) -> float:
    import pandas as pd

    return float(pd.read_csv(out / "evaluations.csv")["mean_reward"].iloc[-1])


def _eval_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    kwargs = dict(cfg.role.env_kwargs)
    if cfg.train.days is not None:
        kwargs["days"] = cfg.train.days
    return kwargs


def _log_outputs(out: Path, cfg: TrainConfig, tracker: Tracker) -> None:
    model_dir = out / "mlflow_model"
    model_dir.mkdir(exist_ok=True)
    for name in ("model.zip", "best_model.zip", "vecnormalize.pkl", "run.json", "config.yaml"):
        src = out / name
        if src.exists():
            (model_dir / name).write_bytes(src.read_bytes())
    tracker.log_artifact(model_dir, "model")
    tracker.log_artifact(out / "model.zip", "checkpoint")
    tracker.log_artifact(out / "run.json", "checkpoint")
    for name in ("learning_curve.png", "progress.csv", "evaluations.csv", "compare.json"):
        if (out / name).exists():
            tracker.log_artifact(out / name)
    tracker.log_artifact(out / "policy", "policy")
    name = re.sub(
        r"[^A-Za-z0-9_.-]", "_", f"dataops-{cfg.scenario}-{cfg.role.name}-{cfg.algo.name}"
    )
    if cfg.tracking.register_model:
        tracker.register_model("model", name, cfg.tracking.alias)
    tracker.log_policy(
        out / "policy", f"{name}-onnx" if cfg.tracking.register_model else None, cfg.tracking.alias
    )


__all__ = [
    "Interrupted",
    "TrackingError",
    "build_eval_env",
    "build_model",
    "build_vec_env",
    "train",
]
