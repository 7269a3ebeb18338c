"""Tracking stores: ``Tracker`` and its MLflow and disabled implementations."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from experiments.train_config import TrackingConfig

if TYPE_CHECKING:
    pass

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
    """An ``MlflowClient`` on ``uri``.

    Opening it opens the store and creates a new SQLite file's tables, so it runs under
    ``store_lock``: processes starting at once on a fresh file take turns.
    """
    from mlflow.tracking import MlflowClient

    with store_lock(uri):
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


STORE_LOCK_TIMEOUT_S = 300.0
"""How long a process waits for another's store creation or model registration to finish."""


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialize, across processes, the writes that race on one SQLite store file.

    Two writes are not safe to run at once against a SQLite store, whatever its busy timeout:
    the first use of a new file (each process's ``MlflowClient`` runs MLflow's schema creation
    and one fails with "table ... already exists") and registering a model version with an
    alias (two processes setting one alias collide on ``registered_model_aliases``' unique key).
    Both take a file lock beside the database (``<db>.lock``, ``filelock``); everything else is
    left to SQLite's own locking. A server store serializes its own writes: no lock is taken
    for other URIs.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    from filelock import FileLock

    with FileLock(uri.removeprefix("sqlite:///") + ".lock", timeout=STORE_LOCK_TIMEOUT_S):
        yield


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
        """Register ``runs:/<run>/<artifact_path>`` as a new version of ``name``; set ``alias``.

        Under ``store_lock``: parallel jobs registering one name (a sweep) take turns.
        """
        with store_lock(self.cfg.uri or ""):
            try:
                self.client.get_registered_model(name)
            except Exception:
                try:
                    self.client.create_registered_model(name)
                except Exception:  # created concurrently by another job (server stores)
                    self.client.get_registered_model(name)
            run = self.client.get_run(self.run_id)
            source = f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}"
            mv = self.client.create_model_version(name, source, run_id=self.run_id)
            self.client.set_registered_model_alias(name, alias, mv.version)
        self.set_tags({"registered_model": f"{name}/{mv.version}@{alias}"})
        return str(mv.version)

    def log_policy(self, policy_dir: Path, name: str | None, alias: str) -> str | None:
        """Log ``policy_dir`` (ONNX + card) as the pyfunc model ``policy_model``; register it.

        The pyfunc is models-from-code (``experiments.tracking.pyfunc``): nothing is pickled, and
        ``mlflow models serve -m models:/<name>@<alias> --env-manager local`` serves it.
        """
        import tempfile

        from experiments.tracking.pyfunc import save_policy_model

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
