"""An exported policy as an MLflow pyfunc: predicts like the runtime, registers and serves."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from agents.deploy.export import export_policy
from agents.deploy.runtime import load_policy
from envs.factory import make_env
from experiments.tracking import MlflowTracker
from experiments.tracking.pyfunc import MASK_PREFIX, predict_frame, save_policy_model
from experiments.train_config import TrackingConfig

torch.set_num_threads(1)


def _export(tmp: Path, role: str = "triage") -> Path:
    scenario = {"triage": "sc0001", "sla": "sc0002"}[role]
    env = make_env(scenario, role)
    cls = MaskablePPO if role == "triage" else PPO
    model = cls("MlpPolicy", env, seed=3, device="cpu")
    algo = "maskable_ppo" if role == "triage" else "ppo"
    eid = {"sc0001": "dataops/LateArrival-v0", "sc0002": "dataops/QualityDegradation-v0"}[scenario]
    export_policy(model, env, tmp / "policy", algo=algo, scenario=scenario, role=role, env_id=eid)
    return tmp / "policy"


def _observations(policy, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = list(policy.card.observation.feature_names)
    return pd.DataFrame(rng.uniform(-1, 1, (n, len(names))).astype(np.float32), columns=names)


@pytest.mark.parametrize("role", ["triage", "sla"])
def test_pyfunc_predicts_the_runtime_actions(role, tmp_path):
    import mlflow.pyfunc

    policy_dir = _export(tmp_path, role)
    policy = load_policy(policy_dir)
    model = mlflow.pyfunc.load_model(str(save_policy_model(policy_dir, tmp_path / "pyfunc")))
    df = _observations(policy, 200)
    expected = policy.act(df.to_numpy())
    got = model.predict(df)
    if role == "triage":
        assert (got["action"].to_numpy() == expected).all()
        names = policy.card.action.action_names
        assert list(got["action_name"]) == [names[a] for a in expected]
        # with masks: never a masked action, and the same as the runtime's masked choice
        rng = np.random.default_rng(1)
        mask = rng.random((200, len(names))) < 0.6
        mask[:, 0] = True
        masked = df.copy()
        for i, n in enumerate(names):
            masked[f"{MASK_PREFIX}{n}"] = mask[:, i].astype(int)
        got_m = model.predict(masked)["action"].to_numpy()
        assert (got_m == policy.act(df.to_numpy(), mask=mask)).all()
        assert mask[np.arange(200), got_m].all()
    else:
        assert (got.to_numpy() == expected).all()


def test_pyfunc_refuses_missing_features(tmp_path):
    import mlflow.pyfunc

    policy_dir = _export(tmp_path)
    model = mlflow.pyfunc.load_model(str(save_policy_model(policy_dir, tmp_path / "pyfunc")))
    # the signature is enforced first (MLflow names the missing inputs) ...
    with pytest.raises(Exception, match=r"missing inputs.*signal_freshness"):
        model.predict(pd.DataFrame({"nope": [1.0]}))
    # ... and the predictor itself refuses too, for callers without the signature
    with pytest.raises(ValueError, match="missing feature columns"):
        predict_frame(load_policy(policy_dir), pd.DataFrame({"nope": [1.0]}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_registered_policy_is_served_by_mlflow_models_serve(tmp_path):
    policy_dir = _export(tmp_path)
    policy = load_policy(policy_dir)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = TrackingConfig(backend="mlflow", uri=uri, artifact_root=str(tmp_path / "mlruns"),
                         experiment="serve", register_model=True)  # fmt: skip
    tracker = MlflowTracker(cfg, "serve-test")
    version = tracker.log_policy(policy_dir, "triage-policy", "candidate")
    tracker.end()
    assert version == "1"
    port = _free_port()
    bindir = str(Path(sys.executable).parent)  # the server execs uvicorn from the environment
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri,
           "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}  # fmt: skip
    mlflow_cli = str(Path(bindir) / "mlflow")
    server = subprocess.Popen(
        [mlflow_cli, "models", "serve", "-m", "models:/triage-policy@candidate",
         "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port), "-w", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(base + "/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(1)
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
        else:
            pytest.fail("mlflow models serve did not come up in 180 s")
        df = _observations(policy, 50, seed=5)
        body = json.dumps({"dataframe_split": df.to_dict(orient="split") | {"index": None}})
        req = urllib.request.Request(base + "/invocations", data=body.encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=30) as r:
            preds = json.loads(r.read())["predictions"]
        actions = [p["action"] for p in preds]
        assert actions == [int(a) for a in policy.act(df.to_numpy())]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
