"""Training an SB3 agent on a dataops-gym role: the library behind ``experiments.train``.

``train(cfg, out, ...)`` takes a typed ``TrainConfig`` and a run directory and:

1. opens the tracker (fails before anything trains if the store is unreachable);
2. builds ``n_envs`` environments (``train.vec_env``: ``auto`` — SubprocVecEnv for a job alone on
   several cores, DummyVecEnv in a sweep; see ``experiments.train_config.resolve_vec_env`` — or
   ``dummy``/``subproc``), optionally VecNormalize, and a separate evaluation env on the held-out
   seeds;
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
``run.json``, ``config.yaml`` (written by the entry point), ``policy/`` (the export),
``mlflow_model/``.

This module builds the envs and the agent and runs the steps; the steps' details live beside it:
``experiments.algos`` (the algorithm registry), ``experiments.checkpoints`` (checkpoint files,
resume), ``experiments.run_record`` (``run.json``, library versions, tracker parameters) and
``experiments.publication`` (what is sent to the tracker after training).
"""

from __future__ import annotations

import gc
import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
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
    MODEL_FILE,
    checkpoint_callback,
    load_checkpoint,
    resolve_resume,
    save_final,
    save_interrupted,
)
from experiments.compare import compare
from experiments.curves import plot_learning_curve
from experiments.publication import publish_checkpoint, publish_comparison, publish_run
from experiments.run_record import RUN_FILE, RunRecord, dumps
from experiments.tracking import Tracker, TrackingError, open_tracker
from experiments.train_config import TrainConfig, resolve_vec_env


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


def build_vec_env(cfg: TrainConfig, *, sweeping: bool = False) -> VecEnv:
    """``n_envs`` training envs, seeded from ``cfg.seed``, with episode statistics.

    ``train.vec_env=auto`` is resolved by ``resolve_vec_env`` (``sweeping``: the job is one of
    several running at once, so its envs stay in its own process).
    """
    make = env_factory(cfg)
    fns = [make for _ in range(cfg.train.n_envs)]
    kind = resolve_vec_env(cfg.train.vec_env, cfg.train.n_envs, sweeping=sweeping)
    if kind == "subproc":
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


def configure_torch(threads: int) -> None:
    """Torch settings of every training process: ``threads`` CPU threads, no argument checks.

    One thread per process: on a 2-core machine two made PPO up to 6x slower. Distribution
    argument validation (``torch.distributions``' ``validate_args``) is off: it only re-checks
    logits the policy has just computed, on every action of every rollout and minibatch, and
    costs PPO a fifth of its time on the sla role (7 categorical heads) and a tenth on cost. The
    trained parameters are bit for bit the same (``python -m experiments.bench part=train``
    measures with the same settings); a NaN in the logits still stops training, at sampling.
    """
    torch.set_num_threads(threads)
    torch.distributions.Distribution.set_default_validate_args(False)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep what is alive now out of the garbage collector's full collections while learning.

    A rollout allocates fast, so Python's collector runs often, and each full collection walks
    every tracked object: the imported libraries, the model, the environments' static parts
    (~10^5 objects that live as long as the training). ``gc.freeze()`` moves them to a permanent
    generation for the duration of the block; what the block creates is collected as usual, and
    ``gc.unfreeze()`` at its end hands the frozen objects back (a sweep that trains several jobs
    in one process frees each job's model as before). Nothing computed changes: the collector
    only frees unreachable objects. Measured with ``farm-bench`` (5 pairs, PPO on the sla role,
    4,096 steps, one env, process CPU time): 537 → 579 steps/s (×1.08).
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
    configure_torch(cfg.train.torch_threads)
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
    """Steps 2-6 of the module docstring, in ``tracker``'s run, from ``ckpt`` if given."""
    record = RunRecord.collect(cfg)
    tracker.log_params(record.params())
    model, vec = _agent(cfg, ckpt, tracker)
    model.set_logger(_logger(out, tracker, cfg.train.progress_bar))
    remaining = max(0, cfg.train.timesteps - int(model.num_timesteps))
    eval_env, seeds = build_eval_env(cfg)
    norm = _normalizer(vec)
    evaluator = _evaluator(cfg, out, tracker, eval_env, seeds, norm)

    t0 = time.perf_counter()
    signum = _learn(cfg, out, model, remaining, evaluator)
    seconds = _earlier_seconds(ckpt) + time.perf_counter() - t0
    if signum is not None:
        path = save_interrupted(model, vec, out)
        record.write(
            out, timesteps=model.num_timesteps, run_id=tracker.run_id, train_seconds=seconds
        )
        publish_checkpoint(tracker, path, out / RUN_FILE)
        vec.close()
        raise Interrupted(signum, path)

    save_final(model, vec, out)
    evaluation = _evaluation(evaluator, out, int(model.num_timesteps), trained=remaining > 0)
    rows = _compare(cfg, out, model, eval_env, seeds, norm)
    publish_comparison(tracker, rows, int(model.num_timesteps))
    plot_learning_curve(out, title=f"{cfg.algo.name} on {cfg.scenario} ({cfg.role.name})")
    info = record.write(
        out, timesteps=model.num_timesteps, run_id=tracker.run_id, evaluation=evaluation,
        rows=rows, train_seconds=seconds,
    )  # fmt: skip
    vec.close()
    _export(out, tracker)
    publish_run(out, cfg, tracker)
    return info


def _earlier_seconds(ckpt: Path | None) -> float:
    """Seconds the resumed run had already spent learning (its ``run.json``; 0 when unknown).

    The run.json beside a checkpoint records the run's time up to its last write, so resuming
    from an earlier periodic checkpoint of a run that went on counts that run's later time too.
    """
    if ckpt is None:
        return 0.0
    for d in (ckpt.parent, ckpt.parent.parent):
        meta = d / RUN_FILE
        if meta.is_file():
            try:
                return float(json.loads(meta.read_text()).get("train_seconds") or 0.0)
            except (ValueError, TypeError, AttributeError):  # not JSON, or not an object
                return 0.0
    return 0.0


def _agent(cfg: TrainConfig, ckpt: Path | None, tracker: Tracker) -> tuple[BaseAlgorithm, VecEnv]:
    """The training envs and the agent on them: new, or loaded from ``ckpt`` (tagged as resumed)."""
    vec = build_vec_env(cfg)
    if ckpt is None:
        return build_model(cfg, vec), vec
    model, vec = load_checkpoint(cfg.algo.name, ckpt, vec)
    tracker.set_tags({"resumed_from": str(ckpt), "resumed_at_timesteps": model.num_timesteps})
    return model, vec


def _evaluator(
    cfg: TrainConfig,
    out: Path,
    tracker: Tracker,
    env: Any,
    seeds: list[int],
    norm: Callable[[np.ndarray], np.ndarray] | None,
) -> HeldOutEval | None:
    """The periodic held-out evaluation (None: ``eval.every`` or ``eval.episodes`` is 0)."""
    if cfg.eval.every <= 0 or cfg.eval.episodes <= 0:
        return None
    return HeldOutEval(
        env, seeds[: cfg.eval.episodes], cfg.eval.every, out, tracker,
        masked=cfg.algo.name in MASKED, keep_best=cfg.eval.keep_best, normalize=norm,
    )  # fmt: skip


def _learn(
    cfg: TrainConfig,
    out: Path,
    model: BaseAlgorithm,
    remaining: int,
    evaluator: HeldOutEval | None,
) -> int | None:
    """Learn ``remaining`` more timesteps, with checkpoints and the periodic evaluation.

    SIGINT and SIGTERM stop learning at the next step (their handlers are restored on return).
    Learning runs in a ``frozen_heap``, entered after the handlers are installed.
    The timestep count restarts only for an agent that has learned nothing yet.

    Returns:
        The signal that stopped learning, or None when it ran to the end.
    """
    stopper = StopOnSignal()
    callbacks: list[BaseCallback] = [stopper]
    callbacks += [c for c in (checkpoint_callback(cfg, out), evaluator) if c is not None]
    start = int(model.num_timesteps)
    with stopper, frozen_heap():  # the signal handlers first: a signal during the freeze counts
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=CallbackList(callbacks),
                reset_num_timesteps=start == 0,
                progress_bar=cfg.train.progress_bar,
                tb_log_name=f"{cfg.algo.name}",
            )
    return stopper.signum


def _evaluation(
    evaluator: HeldOutEval | None, out: Path, timesteps: int, *, trained: bool
) -> dict[str, float | None]:
    """``run.json``'s ``evaluation``: the best periodic and the final held-out mean reward.

    ``best_mean_reward`` is the best of the evaluations during training (read before the final
    one runs). ``final_mean_reward`` scores the final model, re-using the last evaluation when it
    already scored this very model; it is None when nothing was learned in this call or
    evaluation is off.
    """
    best = evaluator.best if evaluator is not None and evaluator.best > -np.inf else None
    final = None
    if evaluator is not None and trained:
        at_end = evaluator.last_step == timesteps
        final = evaluator.run_eval() if not at_end else _last_mean(out)
    return {"best_mean_reward": best, "final_mean_reward": final}


def _compare(
    cfg: TrainConfig,
    out: Path,
    model: BaseAlgorithm,
    env: Any,
    seeds: list[int],
    norm: Callable[[np.ndarray], np.ndarray] | None,
) -> list[dict[str, Any]]:
    """The agent, the baselines and the organizations on the first held-out seeds.

    Returns:
        ``experiments.compare.compare``'s rows, also written to ``compare.json``; none (and no
        file) with ``compare.episodes=0``.
    """
    if cfg.compare.episodes <= 0:
        return []
    rows = compare(model, env, seeds[: cfg.compare.episodes],
                   agent_name=f"{cfg.algo.name} (seed {cfg.seed})", masked=cfg.algo.name in MASKED,
                   normalize=norm, baselines=cfg.compare.baselines, orgs=cfg.compare.orgs,
                   days=cfg.train.days)  # fmt: skip
    (out / "compare.json").write_text(dumps(rows))
    return rows


def _export(out: Path, tracker: Tracker) -> None:
    """Export the final model to ``out/policy`` (ONNX + card) for deployment."""
    from experiments.export import export_model

    export_model(str(out / MODEL_FILE), out / "policy", run_id=tracker.run_id)


def _last_mean(out: Path) -> float:
    import pandas as pd

    return float(pd.read_csv(out / "evaluations.csv")["mean_reward"].iloc[-1])


def _eval_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    kwargs = dict(cfg.role.env_kwargs)
    if cfg.train.days is not None:
        kwargs["days"] = cfg.train.days
    return kwargs


__all__ = [
    "Interrupted",
    "TrackingError",
    "build_eval_env",
    "build_model",
    "build_vec_env",
    "train",
]
