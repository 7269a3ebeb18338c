"""Export a trained SB3 policy to ``policy.onnx`` + ``policy.json`` (the policy card).

``export_policy(model, env, out_dir, ...)`` wraps the policy's deterministic action path in a plain
``torch.nn.Module`` — observation normalization (VecNormalize, folded in, computed in float64 as
VecNormalize does), features, actor network, action head — and exports it with the TorchScript
exporter (``dynamo=False``: the torch.export-based default cannot trace SB3's distribution
objects). The graph maps float32 observations ``[batch, *shape]`` to one score per action:

=============================  ==============================  ==================================
algorithm                      output                          action (taken by the runtime)
=============================  ==============================  ==================================
PPO, A2C (Discrete)            ``logits`` ``[batch, n]``       argmax
PPO, A2C (MultiDiscrete)       ``logits`` ``[batch, sum(nvec)]``  argmax within each dimension
MaskablePPO (Discrete)         ``logits`` ``[batch, n]``       argmax over allowed actions
DQN (Discrete)                 ``q_values`` ``[batch, n]``     argmax
=============================  ==============================  ==================================

Scores rather than actions leave masking to the runtime (a masked logit becomes -inf), which is
what SB3's deterministic ``predict`` does. Actions equal ``predict``'s except at exact ties: SB3
takes the argmax of float32 softmax probabilities, which round to equal values for logits ~1e-7
apart, and then picks the lower index (measured: 2 such ties in 1.4 M decisions of untrained,
near-uniform policies; none in the 2,000-observation parity tests).

Before anything is written the export is checked: ``onnx.checker.check_model`` and the runtime's
scores against torch's on random observations of the space. Files are written to temporary names
and renamed, so a failed export writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib.common.maskable.distributions import (
    MaskableCategoricalDistribution,
    MaskableMultiCategoricalDistribution,
)
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    MultiCategoricalDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel
from stable_baselines3.dqn.policies import DQNPolicy

from agents.deploy.policy_card import (
    ALGOS,
    POLICY_ROLES,
    ActionSpec,
    Normalization,
    ObservationSpec,
    PolicyCard,
    env_version_of,
)
from agents.deploy.runtime import CARD_FILE, ONNX_FILE, OnnxPolicy, PolicyError, sha256_of

OPSET = 17
INPUT_NAME = "obs"
CATEGORICAL = (
    CategoricalDistribution,
    MultiCategoricalDistribution,
    MaskableCategoricalDistribution,
    MaskableMultiCategoricalDistribution,
)
CHECK_SAMPLES = 256
"""Random observations on which the exported scores must match torch's before writing."""


class _ScoreNet(torch.nn.Module):
    """Observation → per-action scores: the deterministic path of an SB3 policy."""

    def __init__(self, policy: BaseModel, norm: Normalization | None) -> None:
        super().__init__()
        self.policy = policy
        self.normalize = norm is not None
        if norm is not None:
            std = np.sqrt(np.asarray(norm.var, dtype=np.float64) + norm.epsilon)
            self.register_buffer("mean", torch.as_tensor(np.asarray(norm.mean, np.float64)))
            self.register_buffer("std", torch.as_tensor(std))
            self.clip = float(norm.clip_obs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            # VecNormalize computes in float64 and SB3 casts to float32 afterwards; so do we.
            mean, std = self.get_buffer("mean"), self.get_buffer("std")
            x = torch.clamp((obs.double() - mean) / std, -self.clip, self.clip).float()
        else:
            x = obs
        policy = self.policy
        if isinstance(policy, DQNPolicy):
            q: torch.Tensor = policy.q_net(x)
            return q
        assert isinstance(policy, ActorCriticPolicy | MaskableActorCriticPolicy)
        features = BaseModel.extract_features(policy, x, policy.pi_features_extractor)
        latent = policy.mlp_extractor.forward_actor(features)
        logits: torch.Tensor = policy.action_net(latent)
        return logits


def library_versions() -> dict[str, str]:
    """Versions of the libraries an export depends on (the card's ``versions``)."""
    out = {"python": platform.python_version()}
    for key, dist in (
        ("torch", "torch"),
        ("stable_baselines3", "stable-baselines3"),
        ("sb3_contrib", "sb3-contrib"),
        ("onnx", "onnx"),
        ("onnxruntime", "onnxruntime"),
        ("dataops-gym", "dataops-gym"),
    ):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "unknown"
    return out


def _names(given: Any, n: int, prefix: str) -> tuple[str, ...]:
    if given is not None and len(given) == n and all(isinstance(x, str) for x in given):
        return tuple(given)
    return tuple(f"{prefix}{i}" for i in range(n))


def _action_spec(space: gym.Space[Any], env: Any) -> ActionSpec:
    """The card's action: the space with the env's ``action_names`` (generic if none)."""
    base = getattr(env, "unwrapped", env)
    given = getattr(base, "action_names", None)
    if isinstance(space, gym.spaces.Discrete):
        n = int(space.n)
        return ActionSpec(kind="discrete", n=n, action_names=_names(given, n, "action_"))
    if isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
        nvec = tuple(int(k) for k in space.nvec)
        dims: Sequence[str] | None = None
        if isinstance(given, Mapping):  # {dimension: [option names]}
            dims, given = list(given), list(given.values())
        if given is not None and len(given) == len(nvec):
            if all(isinstance(g, str) for g in given):  # one name per dimension
                dims, given = given, None
            elif all(
                not isinstance(g, str) and len(g) == k for g, k in zip(given, nvec, strict=True)
            ):
                return ActionSpec(
                    kind="multi_discrete",
                    nvec=nvec,
                    action_names=tuple(tuple(str(x) for x in g) for g in given),
                    dimension_names=_names(dims, len(nvec), "dim_") if dims else None,
                )
        dim_names = _names(dims, len(nvec), "dim_")
        return ActionSpec(
            kind="multi_discrete",
            nvec=nvec,
            action_names=tuple(
                tuple(f"{d}={j}" for j in range(k)) for d, k in zip(dim_names, nvec, strict=True)
            ),
            dimension_names=dim_names if dims else None,
        )
    raise ValueError(
        f"action space {space}: not exportable; expected Discrete or MultiDiscrete (1-D)"
    )


def _observation_spec(space: gym.Space[Any], env: Any) -> ObservationSpec:
    """The card's observation: the box with the env's ``feature_names`` (generic if none)."""
    if not isinstance(space, gym.spaces.Box) or space.dtype != np.float32:
        raise ValueError(f"observation space {space}: not exportable; expected a float32 Box")
    n = int(np.prod(space.shape))
    base = getattr(env, "unwrapped", env)
    given = getattr(base, "feature_names", None)
    return ObservationSpec(
        shape=tuple(int(d) for d in space.shape),
        low=tuple(float(x) for x in np.ravel(space.low)),
        high=tuple(float(x) for x in np.ravel(space.high)),
        feature_names=_names(given, n, "obs_"),
    )


def normalization_of(vecnormalize: Any) -> Normalization | None:
    """The observation statistics of an SB3 ``VecNormalize`` (None if it does not normalize obs).

    Raises:
        ValueError: for dict observations (not exportable).
    """
    if vecnormalize is None or not getattr(vecnormalize, "norm_obs", False):
        return None
    rms = vecnormalize.obs_rms
    if isinstance(rms, dict):
        raise ValueError("vecnormalize: dict observations are not exportable")
    return Normalization(
        mean=tuple(float(x) for x in np.ravel(rms.mean)),
        var=tuple(float(x) for x in np.ravel(rms.var)),
        clip_obs=float(vecnormalize.clip_obs),
        epsilon=float(vecnormalize.epsilon),
    )


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into JSON-ready Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def _check_model(model: Any, env: Any, algo: str, role: str) -> None:
    if algo not in ALGOS:
        raise ValueError(f"algo: unknown algorithm {algo!r}; expected one of {', '.join(ALGOS)}")
    if role not in POLICY_ROLES:
        raise ValueError(f"role: unknown role {role!r}; expected one of {', '.join(POLICY_ROLES)}")
    policy = model.policy
    if algo == "dqn" and not isinstance(policy, DQNPolicy):
        raise ValueError(f"algo: 'dqn' given but the model's policy is {type(policy).__name__}")
    if algo != "dqn":
        expected = MaskableActorCriticPolicy if algo == "maskable_ppo" else ActorCriticPolicy
        if not isinstance(policy, expected):
            raise ValueError(
                f"algo: {algo!r} given but the model's policy is {type(policy).__name__}"
            )
        dist = policy.action_dist
        if not isinstance(dist, CATEGORICAL):
            raise ValueError(
                f"model: action distribution {type(dist).__name__} is not exportable; "
                "expected a categorical (Discrete) or multi-categorical (MultiDiscrete) one"
            )
    base = getattr(env, "unwrapped", env)
    env_role = getattr(base, "role", None)
    if env_role and env_role != role:
        raise ValueError(f"role: {role!r} given but the environment plays {env_role!r}")
    for what in ("observation_space", "action_space"):
        ms, es = getattr(model, what), getattr(env, what)
        if ms != es:
            raise ValueError(
                f"{what}: the model's {ms} differs from the environment's {es} "
                f"(scenario/role {getattr(getattr(base, 'scenario', None), 'name', '?')}/{role}); "
                "export against the environment the model was trained on"
            )


def _to_onnx(net: _ScoreNet, obs_shape: tuple[int, ...], output_name: str) -> bytes:
    import onnx

    example = torch.zeros((1, *obs_shape), dtype=torch.float32)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        path = Path(tmp) / ONNX_FILE
        torch.onnx.export(
            net,
            (example,),
            path,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[output_name],
            dynamic_axes={INPUT_NAME: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=OPSET,
        )
        data = path.read_bytes()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    return data


def _verify(policy: OnnxPolicy, net: _ScoreNet, space: gym.spaces.Box, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    low = np.nan_to_num(space.low, neginf=-10.0, posinf=10.0)
    high = np.nan_to_num(space.high, neginf=-10.0, posinf=10.0)
    obs = rng.uniform(low, high, size=(CHECK_SAMPLES, *space.shape)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.as_tensor(obs)).numpy()
    got = policy.scores(obs)
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
        err = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else np.nan
        raise PolicyError(f"export: ONNX scores differ from torch's (max abs error {err:.3g})")


def _write_atomically(out_dir: Path, files: Mapping[str, bytes]) -> None:
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    tmps: list[Path] = []
    try:
        for name, data in files.items():
            tmp = out_dir / f".{name}.tmp-{os.getpid()}"
            tmps.append(tmp)
            tmp.write_bytes(data)
        for (name, _), tmp in zip(files.items(), tmps, strict=True):
            os.replace(tmp, out_dir / name)
    except BaseException:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise


def export_policy(
    model: Any,
    env: Any,
    out_dir: str | Path,
    *,
    algo: str,
    scenario: str,
    role: str,
    env_id: str,
    vecnormalize: Any = None,
    training_run: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> PolicyCard:
    """Write ``policy.onnx`` and ``policy.json`` for an SB3 model into ``out_dir``.

    Args:
        model: a PPO, A2C, DQN or MaskablePPO model (Discrete or MultiDiscrete actions, a flat
            float32 Box observation).
        env: the environment the model acts in (spaces, ``feature_names``/``action_names`` of
            ``env.unwrapped`` when present; triage uses ``TRIAGE_FEATURES`` and ``ROUTES``).
        out_dir: output directory (created; existing policy files are replaced).
        algo: ``ppo``, ``a2c``, ``dqn`` or ``maskable_ppo`` (checked against the model).
        scenario: the scenario's name.
        role: ``triage``, ``sla`` or ``cost`` (checked against ``env.unwrapped.role``).
        env_id: the Gymnasium id, e.g. ``dataops/LateArrival-v0``.
        vecnormalize: the training ``VecNormalize`` whose observation statistics to fold in.
        training_run: provenance for the card (tracking run id, seed, timesteps ...).
        evaluation: evaluation metrics for the card.

    Returns:
        The card written.

    Raises:
        ValueError: an unsupported model or space, a model that does not fit ``env``, ``algo``
            or ``role``, or an export whose scores differ from torch's (nothing is written).
    """
    torch.set_num_threads(1)
    _check_model(model, env, algo, role)
    obs_space, act_space = model.observation_space, model.action_space
    observation = _observation_spec(obs_space, env)
    action = _action_spec(act_space, env)
    norm = normalization_of(vecnormalize)
    output_name = "q_values" if algo == "dqn" else "logits"
    net = _ScoreNet(model.policy, norm).eval()
    was_training = model.policy.training
    model.policy.set_training_mode(False)
    try:
        data = _to_onnx(net, observation.shape, output_name)
    finally:
        model.policy.set_training_mode(was_training)
    card = PolicyCard(
        algo=algo,
        scenario=scenario,
        role=role,
        env_id=env_id,
        env_version=env_version_of(env_id),
        observation=observation,
        action=action,
        masked=algo == "maskable_ppo",
        normalization=norm,
        versions=library_versions(),
        training_run=_plain(training_run or {}),
        evaluation=_plain(evaluation or {}),
        onnx_sha256=sha256_of(data),
        input_name=INPUT_NAME,
        output_name=output_name,
    )
    with torch.no_grad():
        _verify(OnnxPolicy.from_bytes(card, data), net, obs_space)
    _write_atomically(Path(out_dir), {ONNX_FILE: data, CARD_FILE: card.to_json().encode()})
    return card
