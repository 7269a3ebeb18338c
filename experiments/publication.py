"""What a training run sends to the tracking layer once it has trained, or been interrupted.

Everything goes through a ``Tracker`` (``experiments.tracking``); this module imports no MLflow.
What is sent:

- the comparison rows: metrics ``compare/<agent>/<scorecard key>`` and
  ``compare/<agent>/mean_reward`` at the final timestep (``publish_comparison``);
- the model's files: the artifact directory ``model/`` holding ``model.zip``, ``best_model.zip``,
  ``vecnormalize.pkl``, ``run.json`` and ``config.yaml`` (those that exist, copied into the run
  directory's ``mlflow_model/`` first), registered as ``registered_name(cfg)`` @
  ``tracking.alias`` when ``tracking.register_model``;
- a checkpoint and the ``run.json`` written with it: artifacts under ``checkpoint/``
  (``publish_checkpoint``; what ``resume=<run id>`` downloads): ``model.zip`` after training,
  ``checkpoints/interrupted_<t>_steps.zip`` after a signal;
- curves and tables: ``learning_curve.png``, ``progress.csv``, ``evaluations.csv`` and
  ``compare.json`` (those that exist) at the artifact root;
- the exported policy: the artifact directory ``policy/``, and the policy as a servable model
  (registered as ``<registered name>-onnx`` @ ``tracking.alias`` when registering).

``publish_run`` sends all of it but the comparison metrics and an interrupted run's checkpoint;
it runs last, once ``out/policy`` is exported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.checkpoints import MODEL_FILE, VECNORMALIZE_FILE
from experiments.run_record import RUN_FILE
from experiments.tracking import Tracker
from experiments.train_config import TrainConfig

MODEL_DIR = "mlflow_model"
"""The run-directory copy of the files logged as the ``model`` artifact."""
MODEL_FILES = (MODEL_FILE, "best_model.zip", VECNORMALIZE_FILE, RUN_FILE, "config.yaml")
OUTPUT_FILES = ("learning_curve.png", "progress.csv", "evaluations.csv", "compare.json")


def registered_name(cfg: TrainConfig) -> str:
    """``dataops-<scenario>-<role>-<algo>``, characters a registry refuses replaced by ``_``."""
    return re.sub(
        r"[^A-Za-z0-9_.-]", "_", f"dataops-{cfg.scenario}-{cfg.role.name}-{cfg.algo.name}"
    )


def publish_comparison(tracker: Tracker, rows: Sequence[Mapping[str, Any]], step: int) -> None:
    """Log the held-out comparison as metrics at ``step``, one batch per row.

    Args:
        tracker: the run's tracker.
        rows: ``experiments.compare.compare``'s rows; a row's agent is the first word of its
            ``name``. Missing (None) values are not logged.
        step: the model's timestep count.
    """
    for r in rows:
        agent = r["name"].split(" ")[0]
        flat = {f"compare/{agent}/{k}": v for k, v in r["scorecard"].items()}
        if r["mean_reward"] is not None:
            flat[f"compare/{agent}/mean_reward"] = r["mean_reward"]
        tracker.log_metrics({k: v for k, v in flat.items() if v is not None}, step)


def publish_checkpoint(tracker: Tracker, checkpoint: Path, run_file: Path) -> None:
    """Log a checkpoint and the ``run.json`` written with it under ``checkpoint/``."""
    tracker.log_artifact(checkpoint, "checkpoint")
    tracker.log_artifact(run_file, "checkpoint")


def publish_run(out: Path, cfg: TrainConfig, tracker: Tracker) -> None:
    """Log a completed run's outputs and register its model and policy (see the module docstring).

    Args:
        out: the run directory, holding ``model.zip``, ``run.json`` and the exported ``policy/``.
        cfg: the training job (``tracking.register_model``, ``tracking.alias``, the name).
        tracker: the run's tracker.
    """
    model_dir = out / MODEL_DIR
    model_dir.mkdir(exist_ok=True)
    for name in MODEL_FILES:
        src = out / name
        if src.exists():
            (model_dir / name).write_bytes(src.read_bytes())
    tracker.log_artifact(model_dir, "model")
    publish_checkpoint(tracker, out / MODEL_FILE, out / RUN_FILE)
    for name in OUTPUT_FILES:
        if (out / name).exists():
            tracker.log_artifact(out / name)
    tracker.log_artifact(out / "policy", "policy")
    name = registered_name(cfg)
    register, alias = cfg.tracking.register_model, cfg.tracking.alias
    if register:
        tracker.register_model("model", name, alias)
    tracker.log_policy(out / "policy", f"{name}-onnx" if register else None, alias)


__all__ = [
    "MODEL_DIR",
    "publish_checkpoint",
    "publish_comparison",
    "publish_run",
    "registered_name",
]
