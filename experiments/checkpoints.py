"""Checkpoints of a training run: writing them, finding the one to resume from, loading it.

In the run directory:

================================================  ==========================================
file                                              written
================================================  ==========================================
``checkpoints/model_<t>_steps.zip``               every ``train.checkpoint_every`` timesteps
``checkpoints/model_vecnormalize_<t>_steps.pkl``  with it, when observations are normalized
``checkpoints/interrupted_<t>_steps.zip``         on SIGINT/SIGTERM (``save_interrupted``)
``checkpoints/vecnormalize.pkl``                  with it, when observations are normalized
``model.zip``, ``vecnormalize.pkl``               when training completes (``save_final``)
================================================  ==========================================

``<t>`` is the model's timestep count. ``resume=<run directory>`` continues from the most
advanced of these (``latest_checkpoint``), ``resume=<zip>`` from that one; either way with the
VecNormalize statistics saved beside it and the model's timestep count, in the tracked run its
``run.json`` names (``resolve_resume``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CheckpointCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from experiments.algos import algo_class
from experiments.run_record import RUN_FILE
from experiments.tracking import download_artifacts, is_run_id
from experiments.train_config import TrainConfig
from scenarios import load_scenario, scenario_sha256

CHECKPOINT_DIR = "checkpoints"
MODEL_FILE = "model.zip"
VECNORMALIZE_FILE = "vecnormalize.pkl"


def resolve_resume(cfg: TrainConfig, out: Path) -> tuple[Path | None, str | None]:
    """The checkpoint to continue from and the tracked run to continue.

    ``cfg.resume`` may be a checkpoint ``.zip``, a run directory (its most advanced checkpoint;
    its ``run.json`` names the tracked run) or an MLflow run id (its ``checkpoint/`` artifact,
    downloaded to ``out/resumed_from``).

    Args:
        cfg: the training job; ``cfg.resume`` says what to resume.
        out: the run directory.

    Returns:
        ``(checkpoint, run id)``: both None without ``resume``; the run id is None when no
        ``run.json`` beside the checkpoint names one.

    Raises:
        ValueError: nothing to resume from at that path, or a run id with tracking disabled.
        TrackingError: an unknown run id.
    """
    r = cfg.resume
    if r is None:
        return None, None
    if is_run_id(r) and not Path(r).exists():
        if cfg.tracking.backend == "disabled" or not cfg.tracking.uri:
            raise ValueError(f"resume: {r} looks like an MLflow run id, but tracking is disabled")
        local = download_artifacts(r, cfg.tracking.uri, "checkpoint", out / "resumed_from")
        return latest_checkpoint(local), r
    p = Path(r)
    if p.is_file() and p.suffix == ".zip":
        return p, _run_id_in(p.parent, cfg)
    if p.is_dir():
        return latest_checkpoint(p), _run_id_in(p, cfg)
    raise ValueError(f"resume: {r!r} is neither a checkpoint .zip, a run directory nor a run id")


def _run_id_in(directory: Path, cfg: TrainConfig) -> str | None:
    """The tracked run named by ``directory``'s run.json, after checking its scenario is unchanged.

    Raises:
        ValueError: the run was trained on a scenario that now resolves differently (its file
            changed: ``scenarios.scenario_sha256``).
    """
    meta = directory / RUN_FILE
    if not meta.exists():
        return None
    info = json.loads(meta.read_text())
    trained = info.get("scenario_sha256")
    if trained is not None:
        now = scenario_sha256(load_scenario(cfg.scenario))
        if now != trained:
            raise ValueError(
                f"resume: {info.get('scenario')} changed since the run in {directory} was trained "
                f"on it (sha256 {trained[:12]}… then, {now[:12]}… now); expected the same "
                "scenario and topology files"
            )
    run_id: str | None = info.get("mlflow_run_id")
    return run_id


def latest_checkpoint(directory: Path) -> Path:
    """The most advanced model in ``directory``.

    That is ``model.zip`` (written only when training completes), else the checkpoint with the
    most steps (``**/*_<t>_steps.zip``).

    Raises:
        ValueError: when there is none.
    """
    if (directory / MODEL_FILE).exists():
        return directory / MODEL_FILE
    cands = sorted(directory.glob("**/*_steps.zip"), key=_steps_of)
    if cands:
        return cands[-1]
    raise ValueError(f"resume: no checkpoint (*_steps.zip or model.zip) under {directory}")


def _steps_of(path: Path) -> int:
    m = re.search(r"_(\d+)_steps\.zip$", path.name)
    return int(m.group(1)) if m else -1


def _vecnormalize_of(ckpt: Path) -> Path | None:
    """The VecNormalize statistics saved with a checkpoint, if any."""
    steps = _steps_of(ckpt)
    for cand in (ckpt.parent / f"model_vecnormalize_{steps}_steps.pkl",
                 ckpt.parent / VECNORMALIZE_FILE):  # fmt: skip
        if cand.exists():
            return cand
    return None


def load_checkpoint(algo: str, ckpt: Path, vec: VecEnv) -> tuple[BaseAlgorithm, VecEnv]:
    """The model saved at ``ckpt``, on ``vec``, with the statistics saved beside it.

    Args:
        algo: the algorithm name (``experiments.algos.ALGOS``).
        ckpt: an SB3 zip (``resolve_resume``'s checkpoint).
        vec: the freshly built training envs.

    Returns:
        ``(model, vec)``: the model keeps its timestep count; when ``vec`` is a ``VecNormalize``
        and statistics were saved with the checkpoint, ``vec`` is replaced by one holding them
        (around the same envs).
    """
    if isinstance(vec, VecNormalize):
        vn = _vecnormalize_of(ckpt)
        if vn is not None:
            vec = VecNormalize.load(str(vn), vec.venv)
    return algo_class(algo).load(str(ckpt), env=vec, device="cpu"), vec


def checkpoint_callback(cfg: TrainConfig, out: Path) -> CheckpointCallback | None:
    """The callback writing ``checkpoints/model_<t>_steps.zip`` (None: ``checkpoint_every=0``).

    SB3 counts calls, one per step of all ``n_envs`` envs, so a checkpoint is written every
    ``checkpoint_every // n_envs`` calls (at least one).
    """
    if cfg.train.checkpoint_every <= 0:
        return None
    every = max(1, cfg.train.checkpoint_every // cfg.train.n_envs)
    return CheckpointCallback(
        every, str(out / CHECKPOINT_DIR), name_prefix="model", save_vecnormalize=True
    )


def save_interrupted(model: BaseAlgorithm, vec: VecEnv, out: Path) -> Path:
    """Write ``checkpoints/interrupted_<t>_steps.zip`` (and ``checkpoints/vecnormalize.pkl``).

    Returns:
        The checkpoint's path.
    """
    path = out / CHECKPOINT_DIR / f"interrupted_{model.num_timesteps}_steps.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(model, vec, path)
    return path


def save_final(model: BaseAlgorithm, vec: VecEnv, out: Path) -> Path:
    """Write ``model.zip`` (and ``vecnormalize.pkl``) into the run directory.

    Returns:
        The model's path.
    """
    path = out / MODEL_FILE
    _save(model, vec, path)
    return path


def _save(model: BaseAlgorithm, vec: VecEnv, path: Path) -> None:
    model.save(path)
    if isinstance(vec, VecNormalize):
        vec.save(str(path.parent / VECNORMALIZE_FILE))


__all__ = [
    "CHECKPOINT_DIR",
    "MODEL_FILE",
    "VECNORMALIZE_FILE",
    "checkpoint_callback",
    "latest_checkpoint",
    "load_checkpoint",
    "resolve_resume",
    "save_final",
    "save_interrupted",
]
