"""Reading tracked runs back: artifacts, models, runs and metric histories."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from experiments.tracking.store import PARENT_RUN_FILE, TrackingError, _client, check_reachable


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
