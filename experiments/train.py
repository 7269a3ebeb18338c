r"""Train an SB3 agent on a scenario and role, tracked in MLflow.

Usage::

    python -m experiments.train scenario=sc0002 role=triage algo=maskable_ppo seed=0 \\
        train.timesteps=100000
    python -m experiments.train --multirun scenario=sc0001,sc0002 seed=0,1,2 \\
        hydra/launcher=joblib tracking=server
    python -m experiments.train resume=<checkpoint.zip | run dir | MLflow run id>

Config groups (``configs/``): ``role`` (triage, sla, cost), ``algo`` (ppo, a2c, dqn,
maskable_ppo — hyperparameters per role), ``eval`` (default, none), ``tracking`` (sqlite,
server, disabled), ``experiment`` (overlays), ``hydra/launcher`` (basic, joblib, submitit_local,
submitit_slurm, ray, and the presets ``slurm``, ``local_cluster``, ``ray_local`` in
``configs/hydra/launcher``). The run directory gets the model, checkpoints, learning curve and the
held-out comparison (``experiments.training``); the console gets a progress bar and the
comparison table. Exit status: 0 done, 1 bad config or tracking store, 130/143 interrupted
(a checkpoint is written and the MLflow run marked KILLED).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from experiments.compare import print_compare
from experiments.errors import fail, run_entry, typed_config
from experiments.tracking import TrackingError, parent_run_id
from experiments.train_config import TrainConfig


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: typed config in, trained and tracked agent out."""
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    sweeping = hc.mode is not None and hc.mode.name == "MULTIRUN"
    tc = typed_config("train", cfg, TrainConfig.from_mapping).with_vec_env(sweeping=sweeping)
    from experiments.training import Interrupted, train

    parent = None
    if sweeping:
        parent = parent_run_id(Path(hc.sweep.dir))
    config_file = out / "config.yaml"
    config_file.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    try:
        info = train(tc, out, parent_run_id=parent, config_file=config_file)
    except TrackingError as e:
        fail("train", str(e), code=1)
    except Interrupted as e:
        print(f"\n{e}", file=sys.stderr)
        sys.exit(128 + e.signum)
    if info["compare"]:
        print_compare(
            info["compare"],
            title=f"{tc.scenario} {tc.role.name}: held-out comparison "
            f"({tc.compare.episodes} episodes, {info['timesteps']} timesteps)",
        )
    if info["mlflow_run_id"]:
        print(f"mlflow run: {info['mlflow_run_id']}  (browse: mlflow ui --backend-store-uri "
              f"{tc.tracking.uri} --host 127.0.0.1)")  # fmt: skip
    print(f"outputs: {out}")


if __name__ == "__main__":
    run_entry("train", main)
