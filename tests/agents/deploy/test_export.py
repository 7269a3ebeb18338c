"""Export parity: the ONNX policy acts as SB3's deterministic ``predict`` on random observations.

Every algorithm × action-space kind the lab trains (PPO on Discrete and both MultiDiscrete roles,
A2C, DQN, MaskablePPO with masks), with and without VecNormalize statistics folded in. Models are
freshly initialized (their weights are random, not zero), which is all parity needs.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from agents.deploy.export import _action_spec, export_policy
from agents.deploy.policy_card import PolicyCard
from agents.deploy.runtime import load_policy, sha256_of
from agents.playbooks import ROUTES
from agents.slots.features import TRIAGE_FEATURES
from envs.factory import make_env

torch.set_num_threads(1)

N_OBS = 2000
TIE = 1e-6
"""Scores closer than this are a tie: SB3 takes the argmax of softmax probabilities, which float32
rounds to equal values for logits ~1e-7 apart, so either action is SB3-correct."""

CASES = [
    ("ppo", PPO, "sc0001", "triage"),
    ("ppo", PPO, "sc0002", "sla"),
    ("ppo", PPO, "sc0003", "cost"),
    ("a2c", A2C, "sc0001", "triage"),
    ("a2c", A2C, "sc0002", "sla"),
    ("a2c", A2C, "sc0003", "cost"),
    ("dqn", DQN, "sc0001", "triage"),
    ("maskable_ppo", MaskablePPO, "sc0001", "triage"),
]
ENV_IDS = {"sc0001": "dataops/LateArrival-v0", "sc0002": "dataops/QualityDegradation-v0",
           "sc0003": "dataops/PerformanceDegradation-v0"}  # fmt: skip


def _vecnormalize(env: gym.Env, seed: int) -> VecNormalize:
    """A VecNormalize with non-trivial running statistics (and a clip that bites)."""
    vn = VecNormalize(DummyVecEnv([lambda: env]), norm_reward=False, clip_obs=3.0)
    rng = np.random.default_rng(seed)
    shape = env.observation_space.shape
    vn.obs_rms.mean = rng.normal(0.0, 0.4, shape)
    vn.obs_rms.var = rng.uniform(0.005, 2.0, shape)
    return vn


def _mismatches(expected: np.ndarray, got: np.ndarray, scores: np.ndarray, nvec: list[int]):
    """Indices (obs, dim) where actions differ, and whether each is a tie of scores."""
    exp = expected.reshape(len(expected), -1)
    act = got.reshape(len(got), -1)
    offsets = np.cumsum([0, *nvec])
    out = []
    for i, d in np.argwhere(exp != act):
        s = scores[i, offsets[d] : offsets[d + 1]]
        tie = abs(s[exp[i, d]] - s[act[i, d]]) < TIE
        out.append((int(i), int(d), bool(tie)))
    return out


@pytest.mark.parametrize("normalize", [False, True], ids=["raw", "vecnormalize"])
@pytest.mark.parametrize(("algo", "cls", "scenario", "role"), CASES, ids=[
    f"{c[0]}-{c[3]}" for c in CASES])  # fmt: skip
def test_exported_actions_equal_sb3_predict(tmp_path, algo, cls, scenario, role, normalize):
    env = make_env(scenario, role)
    model = cls("MlpPolicy", env, device="cpu", seed=1)
    vn = _vecnormalize(env, seed=2) if normalize else None
    card = export_policy(
        model, env, tmp_path, algo=algo, scenario=scenario, role=role,
        env_id=ENV_IDS[scenario], vecnormalize=vn,
    )  # fmt: skip
    policy = load_policy(tmp_path)
    space = env.observation_space
    space.seed(3)
    obs = np.stack([space.sample() for _ in range(N_OBS)])
    assert np.abs(obs).mean() > 0.1  # random, not zeros
    x = vn.normalize_obs(obs) if vn is not None else obs
    masks = None
    if algo == "maskable_ppo":
        rng = np.random.default_rng(4)
        masks = rng.random((N_OBS, env.action_space.n)) < 0.4
        masks[np.arange(N_OBS), rng.integers(env.action_space.n, size=N_OBS)] = True
        expected, _ = model.predict(x, deterministic=True, action_masks=masks)
    else:
        expected, _ = model.predict(x, deterministic=True)
    got = policy.act(obs, mask=masks)
    nvec = [int(env.action_space.n)] if card.action.kind == "discrete" else list(card.action.nvec)
    diffs = _mismatches(np.asarray(expected), got, policy.scores(obs), nvec)
    assert all(tie for *_, tie in diffs), f"non-tie mismatches: {diffs}"
    assert len(diffs) <= N_OBS // 1000, diffs
    if masks is not None:
        assert masks[np.arange(N_OBS), got].all()  # never an action the mask forbids
    # a single observation takes the fast path and agrees with the batch
    for i in range(5):
        single = policy.act(obs[i], mask=None if masks is None else masks[i])
        assert np.array_equal(np.asarray(single), got[i])


def test_card_describes_the_triage_policy(tmp_path):
    env = make_env("sc0001", "triage")
    model = MaskablePPO("MlpPolicy", env, device="cpu", seed=0)
    card = export_policy(
        model, env, tmp_path, algo="maskable_ppo", scenario="sc0001", role="triage",
        env_id="dataops/LateArrival-v0", vecnormalize=_vecnormalize(env, 0),
        training_run={"seed": np.int64(0), "timesteps": 0},
        evaluation={"mean_reward": np.float32(1.5)},
    )  # fmt: skip
    on_disk = PolicyCard.model_validate(json.loads((tmp_path / "policy.json").read_text()))
    assert on_disk == card
    assert card.onnx_sha256 == sha256_of((tmp_path / "policy.onnx").read_bytes())
    assert card.observation.feature_names == TRIAGE_FEATURES
    assert card.action.action_names == ROUTES and card.action.n == len(ROUTES)
    assert card.masked and card.output_name == "logits" and card.env_version == 0
    assert card.normalization is not None and len(card.normalization.mean) == len(TRIAGE_FEATURES)
    assert card.normalization.clip_obs == 3.0
    assert {"torch", "stable_baselines3", "sb3_contrib", "onnx", "python", "dataops-gym"} <= set(
        card.versions
    )
    assert card.training_run == {"seed": 0, "timesteps": 0}
    assert card.evaluation == {"mean_reward": 1.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.json", "policy.onnx"]


@pytest.mark.parametrize(("scenario", "role"), [("sc0002", "sla"), ("sc0003", "cost")])
def test_multidiscrete_card_names(tmp_path, scenario, role):
    env = make_env(scenario, role)
    card = export_policy(
        PPO("MlpPolicy", env, device="cpu"), env, tmp_path, algo="ppo", scenario=scenario,
        role=role, env_id=ENV_IDS[scenario],
    )  # fmt: skip
    n = env.observation_space.shape[0]
    given = getattr(env.unwrapped, "feature_names", None)
    expected = tuple(given) if given is not None else tuple(f"obs_{i}" for i in range(n))
    assert card.observation.feature_names == expected
    assert card.action.kind == "multi_discrete"
    assert list(card.action.nvec) == [int(k) for k in env.action_space.nvec]
    assert [len(d) for d in card.action.action_names] == list(card.action.nvec)
    assert not card.masked and card.normalization is None


def test_action_names_from_the_env_in_any_documented_shape():
    space = gym.spaces.MultiDiscrete([3, 2])
    nested = SimpleNamespace(action_names=(("lower", "keep", "raise"), ("now", "defer")))
    spec = _action_spec(space, nested)
    assert spec.action_names == (("lower", "keep", "raise"), ("now", "defer"))
    per_dim = SimpleNamespace(action_names=("volume", "grace"))
    spec = _action_spec(space, per_dim)
    assert spec.dimension_names == ("volume", "grace")
    assert spec.action_names[1] == ("grace=0", "grace=1")
    mapping = SimpleNamespace(action_names={"size": ("s", "m", "l"), "defer": ("no", "yes")})
    spec = _action_spec(space, mapping)
    assert spec.dimension_names == ("size", "defer") and spec.action_names[0] == ("s", "m", "l")


def test_a_model_that_does_not_fit_the_env_writes_nothing(tmp_path):
    sla = make_env("sc0002", "sla")
    triage = make_env("sc0001", "triage")
    out = tmp_path / "policy"

    def export(model, **kw):
        args = dict(algo="ppo", scenario="sc0001", role="triage", env_id="dataops/LateArrival-v0")
        export_policy(model, triage, out, **{**args, **kw})

    with pytest.raises(ValueError, match="observation_space"):
        export(PPO("MlpPolicy", sla, device="cpu"))
    with pytest.raises(ValueError, match="algo: 'dqn'"):
        export(PPO("MlpPolicy", triage, device="cpu"), algo="dqn")
    with pytest.raises(ValueError, match="role: 'sla' given"):
        export(PPO("MlpPolicy", triage, device="cpu"), role="sla")
    with pytest.raises(ValueError, match="expected one of ppo, a2c, dqn, maskable_ppo"):
        export(PPO("MlpPolicy", triage, device="cpu"), algo="sac")
    with pytest.raises(ValueError, match="versioned"):
        export(PPO("MlpPolicy", triage, device="cpu"), env_id="LateArrival")
    assert not out.exists()


def test_reexport_replaces_both_files(tmp_path):
    env = make_env("sc0001", "triage")
    kw = dict(algo="ppo", scenario="sc0001", role="triage", env_id="dataops/LateArrival-v0")
    first = export_policy(PPO("MlpPolicy", env, device="cpu", seed=0), env, tmp_path, **kw)
    second = export_policy(PPO("MlpPolicy", env, device="cpu", seed=5), env, tmp_path, **kw)
    assert first.onnx_sha256 != second.onnx_sha256
    assert load_policy(tmp_path).card == second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.json", "policy.onnx"]
