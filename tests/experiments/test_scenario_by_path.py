"""A scenario given by path round-trips: train → run.json and the card → export → run_org.

The path is recorded as the file it names (absolute, so it loads from any directory) with the
sha256 of what it resolves to; export refuses a file that changed since training; the policy
then fills the organization's triage slot on that same file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scenarios import load_scenario, scenario_reference, scenario_sha256
from scenarios.loader import SCENARIOS_DIR
from tests.conftest import ROOT

TINY = [
    "role=triage",
    "algo=maskable_ppo",
    "tracking=disabled",
    "train.timesteps=64",
    "train.n_envs=1",
    "train.days=1",
    "train.checkpoint_every=0",
    "train.progress_bar=false",
    "algo.hyperparams.n_steps=32",
    "algo.hyperparams.batch_size=32",
    "algo.hyperparams.n_epochs=1",
    "eval.every=64",
    "eval.episodes=1",
    "compare.episodes=1",
]


def _run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd, capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip


def test_references_name_the_registered_scenario_or_the_file(tmp_path: Path) -> None:
    assert scenario_reference(load_scenario("sc0001")) == "sc0001"
    copy = tmp_path / "sc0001.yaml"  # a copy elsewhere is not the registered sc0001
    copy.write_text((SCENARIOS_DIR / "sc0001.yaml").read_text())
    sc = load_scenario(copy)
    assert scenario_reference(sc) == str(copy.resolve())
    assert scenario_sha256(sc) == scenario_sha256(load_scenario("sc0001"))  # same content
    copy.write_text(copy.read_text().replace("rate_per_day: 0.55", "rate_per_day: 0.65"))
    assert scenario_sha256(load_scenario(copy)) != scenario_sha256(load_scenario("sc0001"))


def test_train_export_and_run_org_on_a_scenario_given_by_relative_path(tmp_path: Path) -> None:
    mine = tmp_path / "scenarios_of_mine" / "my.yaml"
    mine.parent.mkdir()
    mine.write_text((SCENARIOS_DIR / "sc0001.yaml").read_text())
    run_dir = tmp_path / "run"
    trained = _run(
        "experiments.train", "scenario=scenarios_of_mine/my.yaml", *TINY,
        f"hydra.run.dir={run_dir}", cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["scenario"] == str(mine.resolve())
    assert info["scenario_sha256"] == scenario_sha256(load_scenario(mine))
    assert info["env_id"] == "dataops/Pipeline-v0"
    card = json.loads((run_dir / "policy" / "policy.json").read_text())
    assert card["scenario"] == str(mine.resolve()) and card["env_id"] == "dataops/Pipeline-v0"

    # export again from another directory: the recorded path still loads
    again = _run("experiments.export", f"model={run_dir / 'model.zip'}", f"out={tmp_path / 'exp'}",
                 cwd=ROOT)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]

    # the policy fills the triage slot of an organization run on the same file
    org_dir = tmp_path / "org"
    ran = _run(
        "experiments.run_org", f"scenario={mine}", "org=rules", "episodes=1", "days=1",
        f"triage=onnx:{run_dir / 'policy'}", f"hydra.run.dir={org_dir}", cwd=ROOT,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    scorecard = json.loads((org_dir / "scorecard.json").read_text())
    assert scorecard["policies"]["triage"]["scenario"] == str(mine.resolve())

    # a changed file is noticed: export refuses it (one line, exit 2, nothing written)
    mine.write_text(mine.read_text().replace("rate_per_day: 0.55", "rate_per_day: 0.9"))
    changed = _run("experiments.export", f"model={run_dir / 'model.zip'}",
                   f"out={tmp_path / 'exp2'}", cwd=ROOT)  # fmt: skip
    lines = [ln for ln in changed.stderr.splitlines() if ln.strip()]
    assert changed.returncode == 2 and len(lines) == 1, changed.stderr[-3000:]
    assert "changed since the model was trained on it" in lines[0]
    assert not (tmp_path / "exp2").exists()


def test_resume_refuses_a_scenario_that_changed(tmp_path: Path) -> None:
    import pytest

    from experiments.checkpoints import resolve_resume
    from experiments.train_config import TrainConfig

    mine = tmp_path / "my.yaml"
    mine.write_text((SCENARIOS_DIR / "sc0001.yaml").read_text())
    (tmp_path / "model.zip").write_bytes(b"")
    (tmp_path / "run.json").write_text(
        json.dumps({"scenario": str(mine), "scenario_sha256": scenario_sha256(load_scenario(mine)),
                    "mlflow_run_id": None})
    )  # fmt: skip
    cfg = TrainConfig.from_mapping(
        {"scenario": str(mine), "resume": str(tmp_path / "model.zip"), "role": {"name": "sla"},
         "algo": {"name": "ppo"}, "tracking": {"backend": "disabled"}}
    )  # fmt: skip
    assert resolve_resume(cfg, tmp_path / "out") == (tmp_path / "model.zip", None)
    mine.write_text(mine.read_text().replace("rate_per_day: 0.55", "rate_per_day: 0.9"))
    with pytest.raises(ValueError, match=r"resume: .*my.yaml changed since the run"):
        resolve_resume(cfg, tmp_path / "out")
