"""SB3 seams the training loop plugs into (STYLE 9): tracking output, held-out evaluation, stopping.

- ``TrackerOutput``: an SB3 logger output format that forwards every dump (one per rollout for
  PPO/A2C, one per ``log_interval`` episodes for DQN) to a ``Tracker`` as one metric batch.
- ``HeldOutEval``: every ``every`` timesteps, evaluates the model with deterministic actions on the
  first ``episodes`` held-out seeds (the same episodes each time), as updated on every step it is
  logged at; logs ``eval/mean_reward``, ``eval/std_reward`` and ``eval/mean_ep_length``, appends
  to ``evaluations.csv`` (``timesteps``: the env steps the evaluated policy learned from) and
  keeps ``best_model.zip``.
- ``StopOnSignal``: SIGINT / SIGTERM set a flag; the callback stops training at the next step so
  the caller can write a checkpoint and mark the run KILLED.
- ``evaluate``: one policy on fixed held-out episodes; returns returns and episode lengths.
"""

from __future__ import annotations

import csv
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter

from experiments.tracking import Tracker


class TrackerOutput(KVWriter):
    """SB3 ``KVWriter`` sending numeric logger values to a ``Tracker`` in one batch per dump."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def write(
        self,
        key_values: dict[str, Any],
        key_excluded: dict[str, tuple[str, ...]],
        step: int = 0,
    ) -> None:
        """Forward the numeric values of one dump."""
        metrics = {
            k: float(v)
            for k, v in key_values.items()
            if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        }
        if metrics:
            self.tracker.log_metrics(metrics, step)

    def close(self) -> None:
        """Nothing to close."""


def evaluate(
    policy: Any,
    env: Any,
    seeds: Sequence[int],
    *,
    masked: bool = False,
    normalize: Callable[[np.ndarray], np.ndarray] | None = None,
    on_episode_end: Callable[[Any], None] | None = None,
) -> tuple[list[float], list[int]]:
    """Run ``policy`` deterministically on the held-out episodes ``seeds``.

    Args:
        policy: anything with SB3's ``predict(obs, deterministic=True[, action_masks=])``.
        env: an unwrapped-compatible dataops env (``reset`` takes ``options``).
        seeds: episode seeds of the scenario's eval split.
        masked: pass ``action_masks=env.action_masks()`` (MaskablePPO).
        normalize: observation normalization applied before ``predict`` (VecNormalize's).
        on_episode_end: called with the env after each episode (to read its organization).

    Returns:
        Episode returns and lengths, in seed order.
    """
    rets, lens = [], []
    for s in seeds:
        obs, _ = env.reset(options={"split": "eval", "episode_seed": int(s)})
        done, ret, n = False, 0.0, 0
        while not done:
            o = normalize(obs) if normalize is not None else obs
            if masked:
                action, _ = policy.predict(o, deterministic=True, action_masks=env.action_masks())
            else:
                action, _ = policy.predict(o, deterministic=True)
            obs, r, term, trunc, _ = env.step(action)
            ret += float(r)
            n += 1
            done = bool(term or trunc)
        rets.append(ret)
        lens.append(n)
        if on_episode_end is not None:
            on_episode_end(env)
    return rets, lens


class HeldOutEval(BaseCallback):
    """Evaluate on held-out seeds every ``every`` timesteps; keep the best model.

    Args:
        env: the evaluation env (unwrapped dataops env).
        seeds: held-out episode seeds, the same at every evaluation.
        every: timesteps between evaluations.
        out: run directory (``evaluations.csv``, ``best_model.zip``).
        tracker: where ``eval/*`` metrics go.
        masked: MaskablePPO (pass action masks).
        keep_best: save ``best_model.zip`` on improvement.
        normalize: the training VecNormalize's observation normalization, if any.
    """

    def __init__(
        self,
        env: Any,
        seeds: Sequence[int],
        every: int,
        out: Path,
        tracker: Tracker,
        *,
        masked: bool,
        keep_best: bool = True,
        normalize: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.env, self.seeds, self.every, self.out = env, list(seeds), every, out
        self.tracker, self.masked, self.keep_best, self.normalize = (
            tracker, masked, keep_best, normalize,
        )  # fmt: skip
        self.best = -np.inf
        self._next = 0
        self._due = False
        self.last_step = -1

    def _init_callback(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every
        self._due = False
        self.last_step = -1

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next = (self.num_timesteps // self.every + 1) * self.every
            self._due = True
        return True

    def _on_rollout_start(self) -> None:
        # the policy only changes between rollouts, and SB3 updates it after a rollout ends
        # (``train()`` follows ``on_rollout_end``): an evaluation that came due waits for the next
        # rollout to start, so that it scores the policy updated on every step counted in
        # ``num_timesteps``. Evaluating at the rollout's end would score the policy before its
        # update, one rollout behind the step it is logged at. The evaluation due after the last
        # rollout is the caller's (``experiments.training`` scores the final model).
        if self._due:
            self._due = False
            self.run_eval()

    def run_eval(self) -> float:
        """Evaluate now; returns the mean held-out reward."""
        rets, lens = evaluate(
            self.model, self.env, self.seeds, masked=self.masked, normalize=self.normalize
        )
        mean, std = float(np.mean(rets)), float(np.std(rets))
        step = int(self.num_timesteps)
        self.last_step = step
        metrics = {"eval/mean_reward": mean, "eval/std_reward": std,
                   "eval/mean_ep_length": float(np.mean(lens))}  # fmt: skip
        self.tracker.log_metrics(metrics, step)
        for k, v in metrics.items():
            self.logger.record(k, v)
        path = self.out / "evaluations.csv"
        new = not path.exists()
        with path.open("a", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(["timesteps", "mean_reward", "std_reward", "mean_ep_length"])
            w.writerow([step, mean, std, float(np.mean(lens))])
        if mean > self.best:
            self.best = mean
            if self.keep_best:
                self.model.save(self.out / "best_model.zip")
            self.tracker.log_metrics({"eval/best_mean_reward": mean}, step)
        return mean


class StopOnSignal(BaseCallback):
    """Stop training cleanly on SIGINT or SIGTERM (the caller checkpoints and marks the run).

    Use as a context manager around ``learn``: the handlers are installed on entry and the
    previous ones restored on exit. ``signum`` is the signal received (None if none).
    """

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum

    def __enter__(self) -> StopOnSignal:
        for s in (signal.SIGINT, signal.SIGTERM):
            self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)

    def _on_step(self) -> bool:
        return self.signum is None
