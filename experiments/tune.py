r"""Tune an algo's hyperparameters on a scenario and role with Optuna.

Usage::

    python -m experiments.tune scenario=sc0002 role=triage algo=maskable_ppo n_trials=20
    python -m experiments.tune scenario=sc0002 role=sla algo=ppo n_trials=10 \\
        trial_timesteps=20000 seeds_per_trial=2 study_name=sla-ppo     # rerun: 10 more trials
    python -m experiments.train scenario=sc0002 role=triage algo=maskable_ppo_tuned_sc0002_triage

Config (``configs/tune.yaml``): ``role``, ``algo`` and ``tracking`` groups as for training, the
search space ``configs/tune/space/<algo>.yaml``, the budget (``n_trials``, ``timeout_s``,
``seeds_per_trial``, ``trial_timesteps``, ``eval_every``, ``eval_episodes``), the study
(``storage``, ``study_name`` — an existing study is continued), ``sampler`` (TPE) and ``pruner``
(median). The run directory gets ``trials.csv`` and the tuned algo config, which is also copied
to ``configs/algo/`` (``write_config``); the console gets a table of every trial of the study.
Exit status: 0 done, 1 bad config or no trial completed, 130/143 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from experiments.errors import fail, run_entry, typed_config
from experiments.tune_config import TuneConfig


def print_trials(info: dict[str, Any]) -> None:
    """Every trial of the study, best first marked with ``*``."""
    best = info["best"]["number"] if info["best"] else None
    table = Table(
        title=f"study {info['study']}: {len(info['trials'])} trials ({info['new_trials']} new)",
        header_style="bold",
    )
    for col, justify in (
        ("#", "right"),
        ("state", "left"),
        ("reward", "right"),
        ("steps", "right"),
        ("time_s", "right"),
        ("params", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in info["trials"]:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in r["params"].items())
        table.add_row(
            f"{r['number']}{' *' if r['number'] == best else ''}",
            r["state"],
            _fmt(r["value"]),
            _fmt(r["last_step"]),
            _fmt(r["duration_s"]),
            params,
        )
    Console(width=160).print(table)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@hydra.main(version_base="1.3", config_path="../configs", config_name="tune")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: typed config in, study and tuned algo config out."""
    out = Path(HydraConfig.get().runtime.output_dir)
    tc = typed_config("tune", cfg, TuneConfig.from_mapping)
    from experiments.tuning import tune

    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    try:
        info = tune(tc, out)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; the study continues with the same command ({tc.storage})",
            file=sys.stderr,
        )
        sys.exit(130)
    print_trials(info)
    if info["best"] is None:
        fail("tune", "no trial completed; nothing to write (see the states above)", code=1)
    print(f"best trial {info['best']['number']}: reward {info['best']['value']:.4f}")
    for f in info["config_files"]:
        print(f"tuned algo config: {f}")
    print(
        f"train with it: python -m experiments.train scenario={tc.scenario} "
        f"role={tc.role.name} algo={tc.tuned}"
    )
    if info["mlflow_run_id"]:
        print(f"mlflow run: {info['mlflow_run_id']}")
    print(f"outputs: {out}")


if __name__ == "__main__":
    run_entry("tune", main)
