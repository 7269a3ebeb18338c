"""The deployment runtime: run an exported policy with onnxruntime and numpy, no torch.

``load_policy(path)`` reads ``policy.json`` (the card, see ``agents.deploy.policy_card``), checks
that ``policy.onnx`` is the file the card pins (sha256) and that the graph reads and emits what the
card says, and returns an ``OnnxPolicy``. Nothing is unpickled: only ONNX and JSON cross the
deployment boundary (DESIGN.md §11). Anything else — a missing or tampered file, a corrupted or
truncated graph, a card of another format, environment, role or space, an observation of the wrong
shape — raises ``PolicyError`` naming what was wrong and what was expected.

Example::

    from agents.deploy.runtime import load_policy

    policy = load_policy("outputs/export/policy")   # the directory, or its policy.json
    policy.check_env(env)                           # refuses a policy made for another env
    action = policy.act(obs, mask=env.action_masks())

Importing this module does not import torch, gymnasium or stable-baselines3 (a test checks).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from pydantic import ValidationError

from agents.deploy.policy_card import PolicyCard, env_version_of

CARD_FILE = "policy.json"
ONNX_FILE = "policy.onnx"


class PolicyError(ValueError):
    """An exported policy that cannot be used as asked (the message says why and what fits)."""


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data`` (the digest the card pins)."""
    return hashlib.sha256(data).hexdigest()


def _session(onnx_bytes: bytes, where: str) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors reach the caller as PolicyError, not as log noise
    try:
        return ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types per failure
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PolicyError(
            f"{where}: not a loadable ONNX model ({first}); expected the policy.onnx written by "
            "`python -m experiments.export`"
        ) from None


class OnnxPolicy:
    """An exported policy ready to act: the validated card and an onnxruntime session.

    Build it with ``load_policy`` (or ``OnnxPolicy.from_bytes`` for an in-memory export).
    ``act`` is the hot path: it reads no pydantic model and reuses one input buffer for single
    observations.

    Attributes:
        card: the policy card.
        path: where the policy was loaded from (None for an in-memory policy).
    """

    def __init__(self, card: PolicyCard, session: ort.InferenceSession, path: Path | None) -> None:
        self.card = card
        self.path = path
        self._session = session
        self._where = str(path) if path is not None else "policy"
        self._check_graph()
        self._obs_shape = tuple(card.observation.shape)
        self._n_scores = card.action.n_scores
        self._discrete = card.action.kind == "discrete"
        self._nvec = (card.action.n,) if self._discrete else tuple(card.action.nvec or ())
        self._offsets = np.cumsum((0, *self._nvec))
        self._uniform = len(set(self._nvec)) == 1
        self._outputs = [card.output_name]
        self._buffer = np.zeros((1, *self._obs_shape), dtype=np.float32)
        self._single = {card.input_name: self._buffer}
        self._input_name = card.input_name

    @classmethod
    def from_bytes(
        cls, card: PolicyCard, onnx_bytes: bytes, path: Path | None = None
    ) -> OnnxPolicy:
        """A policy from a card and the ONNX bytes it pins.

        Raises:
            PolicyError: the bytes do not match the card's sha256, are not a loadable ONNX
                model, or the graph's input or output differ from the card.
        """
        where = str(path) if path is not None else "policy.onnx"
        digest = sha256_of(onnx_bytes)
        if digest != card.onnx_sha256:
            raise PolicyError(
                f"{where}: sha256 {digest[:16]}… does not match the card's onnx_sha256 "
                f"{card.onnx_sha256[:16]}…; the file was modified or belongs to another card "
                "(re-export the policy)"
            )
        return cls(card, _session(onnx_bytes, where), path)

    # ------------------------------------------------------------------ checks
    def _check_graph(self) -> None:
        card = self.card
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        expected_in = (
            f"one float32 input {card.input_name!r} of shape [batch, *{card.observation.shape}]"
        )
        if len(inputs) != 1 or inputs[0].name != card.input_name:
            raise PolicyError(
                f"{self._where}: graph inputs {[i.name for i in inputs]}; expected {expected_in}"
            )
        if inputs[0].type != "tensor(float)" or list(inputs[0].shape[1:]) != list(
            card.observation.shape
        ):
            raise PolicyError(
                f"{self._where}: graph input {inputs[0].type} {inputs[0].shape}; expected "
                f"{expected_in}"
            )
        names = [o.name for o in outputs]
        if card.output_name not in names:
            raise PolicyError(
                f"{self._where}: graph outputs {names}; expected {card.output_name!r}"
            )
        out = outputs[names.index(card.output_name)]
        if list(out.shape[1:]) != [card.action.n_scores]:
            raise PolicyError(
                f"{self._where}: graph output {out.name!r} has shape {out.shape}; expected "
                f"[batch, {card.action.n_scores}] for {card.action.kind} action "
                f"{card.action.n if card.action.n is not None else list(card.action.nvec or ())}"
            )

    def check_spaces(
        self,
        observation_space: Any,
        action_space: Any,
        role: str | None = None,
        env_id: str | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        """Refuse to act in spaces, a role or an environment the card was not made for.

        Spaces are duck-typed Gymnasium spaces (``Box`` with ``shape``/``low``/``high``,
        ``Discrete`` with ``n``, ``MultiDiscrete`` with ``nvec``); gymnasium is not imported.

        Args:
            observation_space: the environment's observation space.
            action_space: the environment's action space.
            role: the role to play (None: not checked).
            env_id: the environment id (``"envs:"`` prefix allowed; None: not checked).
            feature_names: the environment's observation names (None: not checked).

        Raises:
            PolicyError: naming the first mismatch and the card's value.
        """
        card = self.card
        tag = f"{self._where} (card: {card.env_id} role={card.role})"
        if role is not None and role != card.role:
            raise PolicyError(f"{tag}: made for role {card.role!r}, not {role!r}")
        if env_id is not None:
            eid = env_id.split(":", 1)[-1]
            if eid != card.env_id:
                try:
                    version = f" (version {env_version_of(eid)} vs {card.env_version})"
                except ValueError:
                    version = ""
                raise PolicyError(f"{tag}: made for env {card.env_id!r}, not {eid!r}{version}")
        obs = card.observation
        shape = tuple(getattr(observation_space, "shape", None) or ())
        if shape != tuple(obs.shape):
            raise PolicyError(f"{tag}: observation shape {shape}; expected {tuple(obs.shape)}")
        low = np.asarray(getattr(observation_space, "low", np.nan), dtype=np.float64).ravel()
        high = np.asarray(getattr(observation_space, "high", np.nan), dtype=np.float64).ravel()
        if not (
            np.array_equal(np.broadcast_to(low, (obs.size,)), np.asarray(obs.low))
            and np.array_equal(np.broadcast_to(high, (obs.size,)), np.asarray(obs.high))
        ):
            raise PolicyError(f"{tag}: observation bounds differ from the card's")
        if feature_names is not None and tuple(feature_names) != obs.feature_names:
            diff = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(feature_names, obs.feature_names, strict=False))
                    if a != b
                ),
                min(len(feature_names), len(obs.feature_names)),
            )
            raise PolicyError(f"{tag}: observation features differ from the card's at index {diff}")
        act = card.action
        nvec = getattr(action_space, "nvec", None)
        n = getattr(action_space, "n", None)
        if act.kind == "discrete":
            if nvec is not None or n is None or int(n) != act.n:
                raise PolicyError(f"{tag}: action space {action_space}; expected Discrete({act.n})")
        elif nvec is None or [int(k) for k in np.ravel(nvec)] != list(act.nvec or ()):
            expected = f"MultiDiscrete({list(act.nvec or ())})"
            raise PolicyError(f"{tag}: action space {action_space}; expected {expected}")

    def check_env(self, env: Any) -> None:
        """``check_spaces`` against a Gymnasium env: its spaces, role, id and feature names.

        The role and feature names are read from ``env.unwrapped`` (``role``, ``feature_names``
        — for triage ``TRIAGE_FEATURES``), the id from ``env.spec`` when the env was made by
        ``gym.make``; what an env does not expose is not checked.

        Raises:
            PolicyError: naming the first mismatch.
        """
        base = getattr(env, "unwrapped", env)
        spec = getattr(env, "spec", None)
        names = getattr(base, "feature_names", None)
        self.check_spaces(
            env.observation_space,
            env.action_space,
            role=getattr(base, "role", None) or None,
            env_id=getattr(spec, "id", None),
            feature_names=tuple(names) if names is not None else None,
        )

    # ------------------------------------------------------------------ acting
    def _batch(self, obs: Any) -> tuple[np.ndarray, bool]:
        x = np.asarray(obs, dtype=np.float32)
        if x.shape == self._obs_shape:
            return x[None], True
        if x.ndim == len(self._obs_shape) + 1 and x.shape[1:] == self._obs_shape:
            return x, False
        raise PolicyError(
            f"observation shape {x.shape}; expected {self._obs_shape} (one observation) or "
            f"(batch, {', '.join(map(str, self._obs_shape))}) for {self.card.env_id} "
            f"role={self.card.role}"
        )

    def scores(self, obs: Any) -> np.ndarray:
        """The network's raw output (logits, or Q-values for DQN), shape ``(batch, n_scores)``.

        A single observation gets a batch of one.
        """
        x, _ = self._batch(obs)
        out: np.ndarray = self._session.run(self._outputs, {self._input_name: x})[0]
        return out

    def act(self, obs: Any, mask: Any = None) -> Any:
        """The deterministic action for one observation or a batch.

        Args:
            obs: one observation (the card's shape) or a batch of them.
            mask: optional boolean action mask, ``n`` (discrete) or ``sum(nvec)``
                (multi-discrete, per dimension in order) per observation; False means the
                action is not allowed (its score becomes -inf). Give one for masked policies.

        Returns:
            One observation: an ``int`` (discrete) or a 1-D int64 array (multi-discrete).
            A batch: int64 array of shape ``(batch,)`` or ``(batch, len(nvec))``.

        Raises:
            PolicyError: wrong observation or mask shape, or a mask allowing no action.
        """
        x = np.asarray(obs, dtype=np.float32)
        if x.shape == self._obs_shape:
            self._buffer[0] = x
            scores = self._session.run(self._outputs, self._single)[0]
            single = True
        else:
            x, single = self._batch(x)
            scores = self._session.run(self._outputs, {self._input_name: x})[0]
        if mask is not None:
            scores = self._masked(scores, mask)
        if self._discrete:
            a = scores.argmax(axis=1)
            return int(a[0]) if single else a
        if self._uniform:
            a = scores.reshape(len(scores), len(self._nvec), self._nvec[0]).argmax(axis=2)
        else:
            o = self._offsets
            a = np.stack(
                [scores[:, o[i] : o[i + 1]].argmax(axis=1) for i in range(len(self._nvec))],
                axis=1,
            )
        return a[0] if single else a

    def _masked(self, scores: np.ndarray, mask: Any) -> np.ndarray:
        m = np.asarray(mask, dtype=bool)
        if m.size != scores.size:
            raise PolicyError(
                f"mask shape {m.shape}; expected {self._n_scores} booleans per observation "
                f"({len(scores)} observation(s))"
            )
        m = m.reshape(scores.shape)
        rows = [m[:, o : o + k] for o, k in zip(self._offsets[:-1], self._nvec, strict=True)]
        if not all(r.any(axis=1).all() for r in rows):
            raise PolicyError("mask allows no action (every entry of a dimension is False)")
        return np.where(m, scores, -np.inf)


def _card_path(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / CARD_FILE
    elif p.suffix == ".onnx":
        p = p.with_name(CARD_FILE)
    if not p.is_file():
        raise PolicyError(
            f"{path}: no policy card at {p}; expected a directory holding {CARD_FILE} and "
            f"{ONNX_FILE} (written by `python -m experiments.export`)"
        )
    return p


def read_card(path: str | Path) -> PolicyCard:
    """Read and validate a policy card (the directory, ``policy.json`` or ``policy.onnx``).

    Raises:
        PolicyError: missing file, invalid JSON, or a card that does not validate.
    """
    p = _card_path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PolicyError(f"{p}: not JSON ({e}); expected a policy card") from None
    try:
        return PolicyCard.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'card'}: {err['msg']}" for err in e.errors()
        )
        raise PolicyError(f"{p}: invalid policy card: {problems}") from None


def load_policy(path: str | Path) -> OnnxPolicy:
    """Load an exported policy (its directory, ``policy.json`` or ``policy.onnx``).

    Raises:
        PolicyError: a missing file, an invalid card, a ``policy.onnx`` whose sha256 differs
            from the card, a corrupted or truncated graph, or a graph whose input or output
            differ from the card.
    """
    card_path = _card_path(path)
    card = read_card(card_path)
    onnx_path = card_path.with_name(ONNX_FILE)
    if not onnx_path.is_file():
        raise PolicyError(f"{onnx_path}: missing; the card {card_path} pins an ONNX file beside it")
    return OnnxPolicy.from_bytes(card, onnx_path.read_bytes(), onnx_path)
