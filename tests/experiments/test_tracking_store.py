"""The SQLite tracking store under parallel jobs: a fresh file and one model alias, at once."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from experiments.train_config import TrackingConfig

JOBS = 4


def _job(uri: str, root: str, k: int, barrier) -> None:  # type: ignore[no-untyped-def]
    from experiments.tracking.store import open_tracker

    cfg = TrackingConfig(backend="mlflow", uri=uri, experiment="race", artifact_root=root)
    barrier.wait(timeout=60)  # every process opens the fresh store at the same moment
    tracker = open_tracker(cfg, f"job{k}")
    tracker.log_params({"k": k})
    tracker.log_metrics({"x": float(k)}, step=0)
    note = Path(root) / f"note{k}.txt"
    note.write_text(str(k))
    tracker.log_artifact(note, "model")
    barrier.wait(timeout=60)  # and registers one model with one alias at the same moment
    tracker.register_model("model", "race-policy", "champion")
    tracker.end()


def test_parallel_jobs_on_a_fresh_sqlite_store_take_turns_where_sqlite_races(
    tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(JOBS)
    procs = [
        ctx.Process(target=_job, args=(uri, str(tmp_path / "mlruns"), k, barrier))
        for k in range(JOBS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * JOBS
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name("race")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.params["k"] for r in runs) == [str(k) for k in range(JOBS)]
    assert all(r.info.status == "FINISHED" for r in runs)
    versions = client.search_model_versions("name='race-policy'")
    assert sorted(int(v.version) for v in versions) == list(range(1, JOBS + 1))
    assert client.get_model_version_by_alias("race-policy", "champion").version in {
        v.version for v in versions
    }
