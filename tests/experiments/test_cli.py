"""The command-line contract: simulate and bench run and write what they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_simulate_writes_events_ledger_and_summary(tmp_path):
    out = _run(
        "experiments.simulate", "scenario=sc0001", "seed=0", "days=2", f"hydra.run.dir={tmp_path}"
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for name in (
        "events.openlineage.jsonl",
        "ledger.csv",
        "partitions.csv",
        "runs.csv",
        "summary.json",
    ):
        assert (tmp_path / name).exists(), name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scenario"] == "sc0001" and summary["days"] == 2.0
    assert summary["runs"] > 0 and "faults_by_type" in summary
    assert "sla_breaches" in out.stdout


def test_simulate_rejects_a_bad_scenario_clearly(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: SC-9999\ntitle: x\n")
    out = _run("experiments.simulate", f"scenario={bad}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode != 0
    assert str(bad) in out.stderr and "expected" in out.stderr


def test_bench_sim_prints_contract_keys_last(tmp_path):
    out = _run(
        "experiments.bench", "part=sim", "sim.assets=20", "sim.days=1", "sim.scaling=[10,20]",
        "sim.scaling_days=1", f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"sim_runs_per_s", "sim_events_per_s", "sim_scaling_exponent"} <= set(result)
    assert result["sim_runs_per_s"] > 0
    assert result["ref_events_per_s"] > 0  # the machine reference, measured in the same run


def test_the_env_memory_figure_is_of_a_torch_free_process():
    from experiments.bench_machine import env_peak_rss_mb

    out = env_peak_rss_mb()
    assert out["rss_detail"]["torch_imported"] is False  # the env alone never pulls in torch
    assert out["rss_detail"]["steps"] > 0
    assert out["env_peak_rss_mb"] > 0  # the figure itself is the benchmark's, not a test's


def test_bench_runtime_reports_the_onnx_speedup(tmp_path):
    out = _run("experiments.bench", "part=runtime", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["onnx_speedup_vs_sb3"] > 1
    detail = result["runtime_detail"]
    assert {"sb3_predict_us", "onnx_act_us", "onnx_act_batch64_us"} <= set(detail)
