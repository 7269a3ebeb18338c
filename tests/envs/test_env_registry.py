"""The ids work where users make them: a fresh process and SB3 SubprocVecEnv workers."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np

import envs
from tests.conftest import ROOT


def test_make_in_a_fresh_process():
    code = (
        "import gymnasium as gym\n"
        "env = gym.make('envs:dataops/LateArrival-v0', role='triage')\n"
        "obs, info = env.reset(seed=0)\n"
        "print(obs.shape, env.action_space.n)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(72,) 13"


def test_simulator_import_does_not_import_gymnasium():
    code = "import sys, envs.sim.world; print('gymnasium' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_registry_holds_every_contract_id():
    for env_id in envs.ENV_IDS:
        assert env_id in gym.registry


def test_subprocess_vec_env_workers():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    def make(role: str):
        return lambda: gym.make("envs:dataops/QualityDegradation-v0", role=role, days=2.0)

    vec = SubprocVecEnv([make("sla"), make("sla")], start_method="spawn")
    try:
        obs = vec.reset()
        assert obs.shape == (2, 25)
        obs, rewards, _dones, infos = vec.step(np.ones((2, 7), dtype=np.int64))
        assert np.isfinite(rewards).all() and len(infos) == 2
    finally:
        vec.close()
