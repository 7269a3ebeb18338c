"""``run_org triage=|sla=|cost=``: exported policies in the organization's slots, from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HYDRA_OWN = {".hydra", "run_org.log"}  # Hydra's record of the run, written before the job starts


def _run_org(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experiments.run_org", "scenario=sc0001", "episodes=1", "days=2",
         *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("triage=pkl:x", "triage: got 'pkl:x'; expected null (the rules) or onnx:<dir>"),
        ("cost=onnx:/no/such/policy", "cost: got 'onnx:/no/such/policy'"),
    ],
)
def test_a_bad_slot_value_is_one_clear_error_and_writes_nothing(tmp_path, override, expected):
    out = _run_org(override, f"hydra.run.dir={tmp_path}")
    assert out.returncode != 0
    assert expected in out.stderr
    assert "Traceback" not in out.stderr
    assert {p.name for p in tmp_path.iterdir()} <= HYDRA_OWN


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An (untrained) MaskablePPO triage policy and a PPO SLA policy, exported to ONNX."""
    export = pytest.importorskip("agents.deploy.export")
    torch = pytest.importorskip("torch")
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

    from envs.factory import make_env

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("policies")
    env = make_env("sc0001", "triage", days=2)
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0, device="cpu")
    export.export_policy(
        model, env, root / "triage", algo="maskable_ppo", scenario="sc0001", role="triage",
        env_id="dataops/LateArrival-v0",
    )  # fmt: skip
    env = make_env("sc0002", "sla", days=2)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0, device="cpu")
    export.export_policy(
        model, env, root / "sla", algo="ppo", scenario="sc0002", role="sla",
        env_id="dataops/QualityDegradation-v0",
    )  # fmt: skip
    return root


def test_an_exported_triage_policy_runs_in_the_organization(tmp_path, exported):
    out = _run_org(f"triage=onnx:{exported / 'triage'}", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    card = json.loads((tmp_path / "scorecard.json").read_text())
    assert card["protocol"]["org"] == "rules+triage:onnx"
    assert card["policies"]["triage"]["kind"] == "onnx"
    assert card["policies"]["triage"]["algo"] == "maskable_ppo"
    assert "rules+triage:onnx" in out.stdout


def test_a_policy_for_another_role_is_refused(tmp_path, exported):
    out = _run_org(f"triage=onnx:{exported / 'sla'}", f"hydra.run.dir={tmp_path}")
    assert out.returncode != 0
    assert "a policy for the sla slot" in out.stderr
    assert "expected a policy card with role 'triage'" in out.stderr
    assert {p.name for p in tmp_path.iterdir()} <= HYDRA_OWN
