"""Sweeps as one MLflow parent run with a child run per job (a Hydra callback)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.train_config import TrackingConfig

if TYPE_CHECKING:
    pass

from experiments.tracking.store import PARENT_RUN_FILE, MlflowTracker

try:  # the Hydra callback; hydra is always installed with the lab, but keep the import local
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover
    _HydraCallback = object  # type: ignore[misc,assignment]


class SweepParentRun(_HydraCallback):
    """Hydra callback: a multirun is one MLflow parent run with a child run per job.

    ``on_multirun_start`` creates the parent (which also creates the store's tables once, before
    parallel jobs race to) and writes ``mlflow_parent_run.json`` into the sweep directory;
    ``on_multirun_end`` closes it as FAILED if any child failed or was killed, else FINISHED.
    Does nothing when tracking is disabled or the config has no ``tracking`` group.
    """

    def __init__(self) -> None:
        self.tracker: MlflowTracker | None = None
        self.cfg: TrackingConfig | None = None

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        """Open the parent run."""
        if "tracking" not in config or config.tracking.backend == "disabled":
            return
        from omegaconf import OmegaConf

        t = OmegaConf.to_container(config.tracking, resolve=True)
        assert isinstance(t, dict)
        self.cfg = TrackingConfig.model_validate(t)
        sweep_dir = Path(str(config.hydra.sweep.dir))
        overrides = list(config.hydra.overrides.task)
        name = f"sweep {sweep_dir.name}"
        self.tracker = MlflowTracker(self.cfg, name, tags={"sweep_dir": str(sweep_dir)})
        self.tracker.log_params({"sweep.overrides": json.dumps(overrides)})
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_RUN_FILE).write_text(
            json.dumps(
                {
                    "run_id": self.tracker.run_id,
                    "uri": self.cfg.uri,
                    "experiment": self.cfg.experiment,
                }
            )
        )
        os.environ["DATAOPS_MLFLOW_PARENT_RUN"] = str(self.tracker.run_id)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        """Close the parent run with the worst child status."""
        if self.tracker is None:
            return
        client = self.tracker.client
        children = client.search_runs(
            [self.tracker.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{self.tracker.run_id}'",
        )
        bad = [r for r in children if r.info.status in ("FAILED", "KILLED")]
        self.tracker.log_metrics({"jobs": len(children), "jobs_failed": len(bad)}, 0)
        self.tracker.end("FAILED" if bad else "FINISHED")
