"""Run a scenario's world with no agents and write its telemetry and ledger.

Usage::

    python -m experiments.simulate scenario=sc0001 seed=0 days=7

Writes into the run directory (``hydra.run.dir``, default ``outputs/simulate/<date>/<time>``):
``events.openlineage.jsonl`` (START/COMPLETE/FAIL run events), ``ledger.csv`` (ground truth, one
row per fault), ``partitions.csv``, ``runs.csv`` and ``summary.json``; prints the summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from envs.sim.episode import simulate
from envs.sim.ledger import faults_table, partitions_table, runs_table, summary
from envs.sim.telemetry import export_jsonl
from envs.sim.world import World
from experiments.console import print_summary
from experiments.errors import as_float, as_int, run_entry, user_errors


def write_outputs(world: World, out: Path) -> dict[str, Any]:
    """Write a world's telemetry, ledger and tables into ``out``; return its summary."""
    out.mkdir(parents=True, exist_ok=True)
    specs = [a.spec for a in world.assets]
    export_jsonl(out / "events.openlineage.jsonl", world.log, specs)
    faults_table(world).to_csv(out / "ledger.csv", index=False)
    partitions_table(world).to_csv(out / "partitions.csv", index=False)
    runs_table(world).to_csv(out / "runs.csv", index=False)
    s = summary(world)
    (out / "summary.json").write_text(json.dumps(s, indent=2, sort_keys=True))
    return s


def run(scenario: str, seed: int, days: float | None, out: Path) -> dict[str, Any]:
    """Simulate ``scenario`` for ``seed`` and write the outputs into ``out``."""
    world = simulate(scenario, seed, days)
    return write_outputs(world, out)


@hydra.main(version_base="1.3", config_path="../configs", config_name="simulate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: convert the config to plain values and run."""
    out = Path(HydraConfig.get().runtime.output_dir)
    with user_errors("simulate"):
        days = as_float(cfg, "days", allow_none=True, positive=True)
        seed = as_int(cfg, "seed", minimum=0)
        world = simulate(str(cfg.scenario), seed, days)  # a bad scenario fails here, before writing
    s = write_outputs(world, out)
    print_summary(s, title=f"simulate {cfg.scenario} seed={cfg.seed}")
    print(f"outputs: {out}")


if __name__ == "__main__":
    run_entry("simulate", main)
