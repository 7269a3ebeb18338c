"""Experiment tracking: the one module that imports MLflow (STYLE 12).

Everything the lab tracks goes through a ``Tracker``:

- ``MlflowTracker``: one MLflow run. Parameters are the flattened config (``algo.hyperparams.
  learning_rate``...), metrics are logged in batches (one ``log_batch`` per SB3 dump or
  evaluation — a single ``log_metric`` to the SQLite store costs ~3 ms, so never per step),
  artifacts are files, and ``register_model`` registers a logged model directory under a name and
  points an alias at the new version.
- ``DisabledTracker``: the same interface doing nothing (``tracking=disabled``, tests).

``open_tracker`` checks that the store is reachable before anything trains: an HTTP tracking URI
must answer ``/health`` within a few seconds, or a ``TrackingError`` names the URI and how to start
a server. A Hydra multirun is one parent run with a child per job: ``SweepParentRun`` (a Hydra
callback) opens the parent before the jobs launch and writes its id into the sweep directory,
where each job (in any process or on any node sharing the directory) finds it.

Backends (``configs/tracking``): ``sqlite`` (default; ``sqlite:///<repo>/mlflow.db`` with artifacts
under ``mlruns/``, created on first use, nothing to start), ``server`` (an ``mlflow server`` on
127.0.0.1 or any URI; for sweeps across nodes, or many parallel jobs) and ``disabled``.

SQLite and parallel jobs on one machine: MLflow opens every SQLite session with
``PRAGMA busy_timeout = 20000``, so a writer waits up to 20 s for the lock instead of failing with
"database is locked". Measured (MLflow 3.17, 2 cores): 4 processes × 10 complete runs each (params,
20 metric batches, an artifact, a model registration) against one file gave no lock errors, and a
2×2 joblib sweep (``n_jobs=2``) tracks cleanly, so no retry is added here. The store's tables are
created by ``SweepParentRun`` before the jobs start (concurrent first-time creation is what races).
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from experiments.train_config import TrackingConfig

if TYPE_CHECKING:
    import pandas as pd

PARENT_RUN_FILE = "mlflow_parent_run.json"
"""Written by ``SweepParentRun`` into the sweep directory: ``{"run_id", "uri", "experiment"}``."""
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")


class TrackingError(RuntimeError):
    """The tracking store cannot be used (unreachable server, bad URI, unknown run)."""


class Tracker(Protocol):
    """What the training loop needs from a tracking backend."""

    run_id: str | None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (values are stringified)."""
        ...

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log numeric metrics at ``step`` in one batch (non-finite values are skipped)."""
        ...

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Upload a file or directory."""
        ...

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set run tags."""
        ...

    def register_model(self, artifact_path: str, name: str, alias: str) -> str | None:
        """Register the logged directory ``artifact_path`` as a new version of ``name``."""
        ...

    def log_policy(self, policy_dir: Path, name: str | None, alias: str) -> str | None:
        """Log an exported policy as a pyfunc model; register it as ``name`` if given."""
        ...

    def end(self, status: str = "FINISHED") -> None:
        """Close the run with ``FINISHED``, ``FAILED`` or ``KILLED``."""
        ...


class DisabledTracker:
    """Tracks nothing (``tracking=disabled``)."""

    run_id: str | None = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Do nothing."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Do nothing."""

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Do nothing."""

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Do nothing."""

    def register_model(self, artifact_path: str, name: str, alias: str) -> str | None:
        """Do nothing."""
        return None

    def log_policy(self, policy_dir: Path, name: str | None, alias: str) -> str | None:
        """Do nothing."""
        return None

    def end(self, status: str = "FINISHED") -> None:
        """Do nothing."""


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists become JSON strings."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            if v:
                out.update(flatten(v, key + "."))
            else:
                out[key] = "{}"
        elif isinstance(v, list | tuple):
            out[key] = json.dumps(list(v))
        else:
            out[key] = v
    return out


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, before training, if an HTTP tracking server does not answer.

    Raises:
        TrackingError: naming the URI and what to do.
    """
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as r:
            if r.status != 200:
                raise TrackingError(f"tracking.uri: {uri} answered /health with HTTP {r.status}")
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise TrackingError(
            f"tracking.uri: no MLflow tracking server answers at {uri} ({reason}). Start one "
            "with `mlflow server --host 127.0.0.1 --port 5000`, pass tracking.uri=<uri>, or use "
            "tracking=sqlite (embedded) or tracking=disabled"
        ) from None


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client: Any, name: str, artifact_root: str | None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    location = None
    if artifact_root:
        root = Path(artifact_root)
        root.mkdir(parents=True, exist_ok=True)
        location = root.resolve().as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except Exception:  # another job created it between our lookup and create
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return str(exp.experiment_id)


def _sqlite_dir(uri: str) -> None:
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


class MlflowTracker:
    """One MLflow run, written through ``MlflowClient`` (no global active-run state).

    Args:
        cfg: the tracking config (``backend=mlflow``).
        run_name: the new run's name.
        run_id: continue this existing run instead of creating one (``resume``).
        parent_run_id: make the new run a child of this one (sweeps).
        tags: tags of a new run.
    """

    def __init__(
        self,
        cfg: TrackingConfig,
        run_name: str,
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        if not cfg.uri:
            raise TrackingError("tracking.uri: expected a tracking URI for backend=mlflow")
        check_reachable(cfg.uri)
        _sqlite_dir(cfg.uri)
        self.cfg = cfg
        self.client = _client(cfg.uri)
        self.existing_params: dict[str, str] = {}
        if run_id is not None:
            try:
                run = self.client.get_run(run_id)
            except Exception as e:
                raise TrackingError(
                    f"resume: no MLflow run {run_id!r} at {cfg.uri} ({type(e).__name__})"
                ) from None
            self.run_id: str | None = run_id
            self.existing_params = dict(run.data.params)
            self.client.update_run(run_id, status="RUNNING")
        else:
            exp = _experiment_id(self.client, cfg.experiment, cfg.artifact_root)
            all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
            if parent_run_id:
                all_tags["mlflow.parentRunId"] = parent_run_id
            run = self.client.create_run(exp, run_name=run_name, tags=all_tags)
            self.run_id = run.info.run_id
        self.experiment_id = run.info.experiment_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters; on a resumed run, changed values are recorded as a tag instead."""
        from mlflow.entities import Param

        flat = {k: str(v)[:6000] for k, v in params.items()}
        changed = {
            k: v
            for k, v in flat.items()
            if k in self.existing_params and self.existing_params[k] != v
        }
        new = [Param(k, v) for k, v in flat.items() if k not in self.existing_params]
        for i in range(0, len(new), 100):
            self.client.log_batch(self.run_id, params=new[i : i + 100])
        if changed:
            self.set_tags({"resume.changed_params": json.dumps(changed, sort_keys=True)[:5000]})

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """One ``log_batch`` for all finite numeric metrics."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(k, float(v), now, int(step))
            for k, v in metrics.items()
            if isinstance(v, int | float) and math.isfinite(float(v))
        ]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(self.run_id, metrics=batch[i : i + 1000])

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Upload a file or a directory's contents."""
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags."""
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(str(k), str(v)) for k, v in tags.items()])

    def register_model(self, artifact_path: str, name: str, alias: str) -> str | None:
        """Register ``runs:/<run>/<artifact_path>`` as a new version of ``name``; set ``alias``."""
        try:
            self.client.get_registered_model(name)
        except Exception:
            try:
                self.client.create_registered_model(name)
            except Exception:  # created concurrently by another job
                self.client.get_registered_model(name)
        run = self.client.get_run(self.run_id)
        source = f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}"
        mv = self.client.create_model_version(name, source, run_id=self.run_id)
        self.client.set_registered_model_alias(name, alias, mv.version)
        self.set_tags({"registered_model": f"{name}/{mv.version}@{alias}"})
        return str(mv.version)

    def log_policy(self, policy_dir: Path, name: str | None, alias: str) -> str | None:
        """Log ``policy_dir`` (ONNX + card) as the pyfunc model ``policy_model``; register it.

        The pyfunc is models-from-code (``experiments.tracking_pyfunc``): nothing is pickled, and
        ``mlflow models serve -m models:/<name>@<alias> --env-manager local`` serves it.
        """
        import tempfile

        from experiments.tracking_pyfunc import save_policy_model

        with tempfile.TemporaryDirectory() as tmp:
            model_dir = save_policy_model(policy_dir, Path(tmp) / "policy_model")
            self.log_artifact(model_dir, "policy_model")
        return self.register_model("policy_model", name, alias) if name else None

    def end(self, status: str = "FINISHED") -> None:
        """Terminate the run with ``status``."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status: expected one of {RUN_STATUSES}, got {status!r}")
        self.client.set_terminated(self.run_id, status=status)


def open_tracker(
    cfg: TrackingConfig,
    run_name: str,
    *,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Tracker:
    """The tracker for ``cfg``: ``MlflowTracker`` or ``DisabledTracker``.

    Raises:
        TrackingError: the store is unreachable or ``run_id`` does not exist.
    """
    if cfg.backend == "disabled":
        return DisabledTracker()
    return MlflowTracker(cfg, run_name, run_id=run_id, parent_run_id=parent_run_id, tags=tags)


def is_run_id(text: str) -> bool:
    """MLflow run ids are 32 lowercase hex digits."""
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def download_artifacts(run_id: str, uri: str, artifact_path: str, dst: Path) -> Path:
    """Download ``artifact_path`` of run ``run_id`` into ``dst``; returns the local path.

    Raises:
        TrackingError: the run or the artifact does not exist.
    """
    check_reachable(uri)
    client = _client(uri)
    try:
        client.get_run(run_id)
    except Exception:
        raise TrackingError(f"run_id: no MLflow run {run_id!r} at {uri}") from None
    dst.mkdir(parents=True, exist_ok=True)
    try:
        return Path(client.download_artifacts(run_id, artifact_path, str(dst)))
    except Exception as e:
        raise TrackingError(
            f"run_id: run {run_id} has no artifact {artifact_path!r} ({type(e).__name__})"
        ) from None


def download_model(run_id: str, uri: str, dst: Path | None = None) -> Path:
    """The trained model directory of a run (``model.zip``, ``run.json`` ...), downloaded."""
    import tempfile

    target = dst if dst is not None else Path(tempfile.mkdtemp(prefix="dataops-model-"))
    return download_artifacts(run_id, uri, "model", target)


def parent_run_id(sweep_dir: Path | None) -> str | None:
    """The parent run a multirun job belongs to (written by ``SweepParentRun``), if any."""
    if sweep_dir is None:
        return None
    f = sweep_dir / PARENT_RUN_FILE
    if not f.exists():
        return None
    return str(json.loads(f.read_text())["run_id"])


def runs_of(uri: str, experiment: str) -> Iterator[Any]:
    """Every run of ``experiment`` at ``uri`` (for notebooks and tests)."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return
    token = None
    while True:
        page = client.search_runs([exp.experiment_id], max_results=500, page_token=token)
        yield from page
        token = page.token
        if not token:
            break


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """``(step, value)`` pairs of one metric of one run."""
    return [(m.step, m.value) for m in _client(uri).get_metric_history(run_id, key)]


def runs_frame(uri: str, experiment: str) -> pd.DataFrame:
    """Every run of ``experiment`` at ``uri`` as a table, newest first (for notebooks).

    Columns follow ``mlflow.search_runs``: ``run_id``, ``run_name``, ``status``, ``start_time``,
    ``end_time``, then ``params.<key>``, ``metrics.<key>`` (latest value) and ``tags.<key>``.
    """
    import pandas as pd

    rows = []
    for r in runs_of(uri, experiment):
        row: dict[str, Any] = {
            "run_id": r.info.run_id,
            "run_name": r.info.run_name,
            "status": r.info.status,
            "start_time": pd.to_datetime(r.info.start_time, unit="ms"),
            "end_time": pd.to_datetime(r.info.end_time, unit="ms"),
        }
        row.update({f"params.{k}": v for k, v in r.data.params.items()})
        row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
        row.update({f"tags.{k}": v for k, v in r.data.tags.items()})
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["run_id", "run_name", "status", "start_time", "end_time"])
    return pd.DataFrame(rows).sort_values("start_time", ascending=False, ignore_index=True)


def metrics_frame(uri: str, run_id: str, keys: Iterable[str]) -> pd.DataFrame:
    """The full history of some metrics of one run: columns ``key``, ``step``, ``value``."""
    import pandas as pd

    rows = [(k, s, v) for k in keys for s, v in metric_history(uri, run_id, k)]
    return pd.DataFrame(rows, columns=["key", "step", "value"])


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
