"""The deployment runtime: torch-free, refuses bad or foreign policies clearly, acts correctly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from agents.deploy.export import export_policy
from agents.deploy.runtime import PolicyError, load_policy, read_card, sha256_of
from envs.factory import make_env
from tests.conftest import ROOT

torch.set_num_threads(1)


@pytest.fixture
def triage_dir(untrained_triage_policy: Path) -> Path:
    """The shared exported triage policy (tests/conftest.py)."""
    return untrained_triage_policy


@pytest.fixture(scope="module")
def sla_dir(tmp_path_factory) -> Path:
    env = make_env("sc0002", "sla")
    out = tmp_path_factory.mktemp("sla")
    export_policy(PPO("MlpPolicy", env, device="cpu", seed=0), env, out, algo="ppo",
                  scenario="sc0002", role="sla",
                  env_id="dataops/QualityDegradation-v0")  # fmt: skip
    return out


@pytest.fixture
def copy_of(tmp_path):
    def _copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst

    return _copy


def _rewrite_card(d: Path, **changes) -> None:
    card = json.loads((d / "policy.json").read_text())
    for k, v in changes.items():
        node, *path = k.split(".")
        target = card
        for p in [node, *path][:-1]:
            target = target[p]
        target[[node, *path][-1]] = v
    (d / "policy.json").write_text(json.dumps(card))


def _repin(d: Path) -> None:
    """Make the card pin whatever policy.onnx now holds (to reach the checks after sha256)."""
    _rewrite_card(d, onnx_sha256=sha256_of((d / "policy.onnx").read_bytes()))


def test_importing_the_runtime_does_not_import_torch():
    code = (
        "import agents.deploy.runtime, sys; "
        "heavy = [m for m in ('torch', 'stable_baselines3', 'gymnasium', 'onnx') "
        "if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_loads_from_directory_card_or_onnx_path(triage_dir):
    for p in (triage_dir, triage_dir / "policy.json", triage_dir / "policy.onnx", str(triage_dir)):
        assert load_policy(p).card.role == "triage"


def test_act_single_and_batch(triage_dir, sla_dir):
    triage, sla = load_policy(triage_dir), load_policy(sla_dir)
    rng = np.random.default_rng(0)
    a = triage.act(rng.uniform(-1, 1, triage.card.observation.shape))
    assert isinstance(a, int) and 0 <= a < 13
    batch = rng.uniform(-1, 1, (64, *triage.card.observation.shape)).astype(np.float32)
    assert triage.act(batch).shape == (64,)
    one = sla.act(rng.uniform(-1, 1, 25))
    assert one.shape == (7,) and one.dtype == np.int64 and ((one >= 0) & (one < 3)).all()
    assert sla.act(rng.uniform(-1, 1, (5, 25))).shape == (5, 7)
    assert sla.act([list(rng.uniform(-1, 1, 25))]).shape == (1, 7)  # lists work too


def test_masks_are_applied(triage_dir, sla_dir):
    policy = load_policy(triage_dir)
    obs = np.random.default_rng(1).uniform(-1, 1, (200, *policy.card.observation.shape))
    for k in range(13):
        mask = np.zeros(13, dtype=bool)
        mask[k] = True
        assert policy.act(obs[0], mask=mask) == k
    masks = np.random.default_rng(2).random((200, 13)) < 0.3
    masks[:, 12] = True
    acts = policy.act(obs, mask=masks)
    assert masks[np.arange(200), acts].all()
    # a multi-discrete mask: sum(nvec) booleans, per dimension in order
    sla = load_policy(sla_dir)
    mask = np.ones(21, dtype=bool)
    mask[0:2] = False  # dimension 0 may only raise
    assert sla.act(np.zeros(25), mask=mask)[0] == 2


def test_bad_masks_are_refused(triage_dir):
    policy = load_policy(triage_dir)
    obs = np.zeros(policy.card.observation.shape)
    with pytest.raises(PolicyError, match="expected 13 booleans"):
        policy.act(obs, mask=np.ones(12, dtype=bool))
    with pytest.raises(PolicyError, match="allows no action"):
        policy.act(obs, mask=np.zeros(13, dtype=bool))


def test_wrong_observation_shape(triage_dir):
    policy = load_policy(triage_dir)
    n = policy.card.observation.shape[0]
    for bad in (np.zeros(n - 1), np.zeros((2, n + 1)), np.zeros((2, 2, n)), np.float32(0.0)):
        with pytest.raises(PolicyError, match=rf"expected \({n},\) \(one observation\)"):
            policy.act(bad)


def test_tampered_onnx_fails_the_sha256(triage_dir, copy_of):
    d = copy_of(triage_dir)
    data = bytearray((d / "policy.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "policy.onnx").write_bytes(bytes(data))
    with pytest.raises(PolicyError, match=r"sha256 .* does not match the card's onnx_sha256"):
        load_policy(d)


@pytest.mark.parametrize("damage", ["corrupted", "truncated", "empty", "not_onnx"])
def test_corrupted_onnx_is_refused_even_when_the_card_pins_it(triage_dir, copy_of, damage):
    d = copy_of(triage_dir)
    data = (d / "policy.onnx").read_bytes()
    if damage == "corrupted":
        data = data[:16] + bytes(range(256)) * 8 + data[16 + 2048 :]
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = b""
    else:
        data = b'{"not": "a model"}'
    (d / "policy.onnx").write_bytes(data)
    with pytest.raises(PolicyError, match="sha256"):
        load_policy(d)  # first, the card no longer matches
    _repin(d)
    with pytest.raises(PolicyError, match="not a loadable ONNX model"):
        load_policy(d)


def test_graph_that_differs_from_its_card(triage_dir, sla_dir, copy_of):
    d = copy_of(triage_dir)
    shutil.copy(sla_dir / "policy.onnx", d / "policy.onnx")  # another policy's graph
    _repin(d)
    with pytest.raises(PolicyError, match=r"graph input .*expected one float32 input 'obs'"):
        load_policy(d)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 2}, "format_version: .*reads format 1"),
        ({"algo": "sac"}, "algo"),
        ({"role": "pilot"}, "role"),
        ({"env_version": 3}, "env_version: 3 does not match"),
        ({"unexpected": 1}, "unexpected: Extra inputs are not permitted"),
        ({"onnx_sha256": "abc"}, "onnx_sha256: .*64 lowercase hex"),
        ({"observation.shape": [5]}, "observation.*expected 5 entries"),
        ({"action.n": 12}, "action_names: .*12 names"),
        ({"masked": False}, "masked"),
    ],
)
def test_invalid_cards_are_refused(triage_dir, copy_of, change, message):
    d = copy_of(triage_dir)
    _rewrite_card(d, **change)
    with pytest.raises(PolicyError, match="invalid policy card") as e:
        load_policy(d)
    assert e.match(message)


def test_missing_or_unreadable_files(triage_dir, copy_of, tmp_path):
    with pytest.raises(PolicyError, match=r"no policy card .* expected a directory holding"):
        load_policy(tmp_path / "nowhere")
    d = copy_of(triage_dir)
    (d / "policy.onnx").unlink()
    with pytest.raises(PolicyError, match=r"policy\.onnx: missing"):
        load_policy(d)
    (d / "policy.json").write_text("{not json")
    with pytest.raises(PolicyError, match="not JSON"):
        read_card(d)


def test_check_spaces_refuses_another_env_role_or_space(triage_dir, sla_dir):
    triage, sla = load_policy(triage_dir), load_policy(sla_dir)
    t_env, s_env, c_env = make_env("sc0001", "triage"), make_env("sc0002", "sla"), make_env(
        "sc0003", "cost")  # fmt: skip
    triage.check_env(t_env)
    triage.check_env(gym.make("envs:dataops/LateArrival-v0", role="triage"))
    sla.check_env(s_env)
    with pytest.raises(PolicyError, match="made for role 'triage', not 'sla'"):
        triage.check_env(s_env)
    with pytest.raises(PolicyError, match="made for role 'sla', not 'cost'"):
        sla.check_env(c_env)
    with pytest.raises(PolicyError, match="observation shape \\(12,\\); expected \\(25,\\)"):
        sla.check_spaces(c_env.observation_space, c_env.action_space)
    with pytest.raises(PolicyError, match=r"expected MultiDiscrete\(\[3, 3, 3, 3, 3, 3, 3\]\)"):
        sla.check_spaces(s_env.observation_space, gym.spaces.MultiDiscrete([3] * 6))
    with pytest.raises(PolicyError, match=r"expected Discrete\(13\)"):
        triage.check_spaces(t_env.observation_space, gym.spaces.Discrete(12))
    with pytest.raises(PolicyError, match="bounds differ"):
        box = gym.spaces.Box(-2.0, 2.0, t_env.observation_space.shape, np.float32)
        triage.check_spaces(box, t_env.action_space)
    with pytest.raises(PolicyError, match="made for env 'dataops/LateArrival-v0', not 'dataops/"
                       "QualityDegradation-v0'"):  # fmt: skip
        triage.check_env(gym.make("envs:dataops/QualityDegradation-v0", role="triage"))
    with pytest.raises(PolicyError, match=r"version 1 vs 0"):
        triage.check_spaces(t_env.observation_space, t_env.action_space,
                            env_id="envs:dataops/LateArrival-v1")  # fmt: skip
    names = list(triage.card.observation.feature_names)
    names[3], names[4] = names[4], names[3]
    with pytest.raises(PolicyError, match="features differ from the card's at index 3"):
        triage.check_spaces(t_env.observation_space, t_env.action_space, feature_names=names)
