"""The policy card: ``policy.json``, the typed description of an exported ``policy.onnx``.

An exported policy is two files that cross the deployment boundary together (DESIGN.md §7):
``policy.onnx`` (the network, observation normalization folded in) and ``policy.json``, this card.
The card says what the network was trained for (scenario, role, environment id and version), what
it reads (observation shape, bounds and feature names) and what it emits (one score per action —
logits, or Q-values for DQN — that the runtime turns into actions), where it came from (library
versions, training run, evaluation metrics) and pins the ONNX file by its sha256.

The card is frozen data validated on load; unknown keys are refused, so a card written by a newer
format fails clearly instead of being half-read. This module imports pydantic only (no torch, no
onnx): the deployment runtime reads cards with it.

Example ``policy.json`` (abridged)::

    {"format_version": 1, "algo": "maskable_ppo", "scenario": "sc0001", "role": "triage",
     "env_id": "dataops/LateArrival-v0", "env_version": 0,
     "observation": {"shape": [72], "dtype": "float32", "low": [...], "high": [...],
                     "feature_names": ["signal_volume", ...]},
     "action": {"kind": "discrete", "n": 13, "nvec": null, "action_names": ["retry", ...]},
     "masked": true, "normalization": null, "versions": {"torch": "2.13.0", ...},
     "training_run": {"seed": 0}, "evaluation": {}, "onnx_sha256": "3f5c...",
     "input_name": "obs", "output_name": "logits"}
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT_VERSION = 1
"""The card format this code writes and reads."""

ALGOS = ("ppo", "a2c", "dqn", "maskable_ppo")
POLICY_ROLES = ("triage", "sla", "cost")
REQUIRED_VERSIONS = ("torch", "stable_baselines3", "sb3_contrib", "onnx", "python", "dataops-gym")
"""Keys every card's ``versions`` must carry (others, e.g. ``onnxruntime``, may be added)."""

_ENV_ID = re.compile(r"^(?:[A-Za-z0-9_.-]+/)?[A-Za-z0-9_.-]+-v(\d+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

_FROZEN = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")


def env_version_of(env_id: str) -> int:
    """The version number of a Gymnasium id (``"dataops/LateArrival-v0"`` → 0).

    Raises:
        ValueError: if ``env_id`` does not end in ``-v<N>``.
    """
    m = _ENV_ID.match(env_id)
    if m is None:
        raise ValueError(
            f"env_id: {env_id!r} is not a versioned Gymnasium id; "
            "expected '<namespace>/<Name>-v<N>', e.g. 'dataops/LateArrival-v0'"
        )
    return int(m.group(1))


class ObservationSpec(BaseModel):
    """The observation the network reads: a flat float32 ``Box``.

    Attributes:
        shape: the shape of one observation (the network adds a leading batch dimension).
        dtype: always ``float32``.
        low: lower bounds, flattened (``-Infinity`` where unbounded).
        high: upper bounds, flattened.
        feature_names: one name per element, in order.
    """

    model_config = _FROZEN

    shape: tuple[int, ...]
    dtype: Literal["float32"] = "float32"
    low: tuple[float, ...]
    high: tuple[float, ...]
    feature_names: tuple[str, ...]

    @property
    def size(self) -> int:
        """Number of elements of one observation."""
        return math.prod(self.shape)

    @model_validator(mode="after")
    def _consistent(self) -> ObservationSpec:
        if not self.shape or any(d <= 0 for d in self.shape):
            raise ValueError(f"observation.shape: expected positive dimensions, got {self.shape}")
        n = self.size
        for name, seq in (
            ("low", self.low),
            ("high", self.high),
            ("feature_names", self.feature_names),
        ):
            if len(seq) != n:
                raise ValueError(
                    f"observation.{name}: expected {n} entries (shape {self.shape}), got {len(seq)}"
                )
        return self


class ActionSpec(BaseModel):
    """The action the policy chooses.

    Attributes:
        kind: ``discrete`` (one choice among ``n``) or ``multi_discrete`` (one choice per
            dimension, dimension ``i`` having ``nvec[i]`` options).
        n: number of actions (discrete only).
        nvec: options per dimension (multi-discrete only).
        action_names: discrete: one name per action; multi-discrete: per dimension, one name
            per option.
        dimension_names: multi-discrete only, optional: what each dimension controls.
    """

    model_config = _FROZEN

    kind: Literal["discrete", "multi_discrete"]
    n: int | None = None
    nvec: tuple[int, ...] | None = None
    action_names: tuple[str, ...] | tuple[tuple[str, ...], ...]
    dimension_names: tuple[str, ...] | None = None

    @property
    def n_scores(self) -> int:
        """Width of the network's output: ``n``, or ``sum(nvec)``."""
        return (self.n or 0) if self.kind == "discrete" else sum(self.nvec or ())

    @model_validator(mode="after")
    def _consistent(self) -> ActionSpec:
        if self.kind == "discrete":
            if self.n is None or self.n <= 0 or self.nvec is not None:
                raise ValueError("action: a discrete action needs n > 0 and no nvec")
            if len(self.action_names) != self.n or not all(
                isinstance(a, str) for a in self.action_names
            ):
                raise ValueError(f"action.action_names: expected {self.n} names (one per action)")
            if self.dimension_names is not None:
                raise ValueError("action.dimension_names: only for multi_discrete actions")
            return self
        if not self.nvec or any(k <= 0 for k in self.nvec) or self.n is not None:
            raise ValueError("action: a multi_discrete action needs nvec (all > 0) and no n")
        names = self.action_names
        if len(names) != len(self.nvec) or any(
            isinstance(d, str) or len(d) != k for d, k in zip(names, self.nvec, strict=False)
        ):
            raise ValueError(
                f"action.action_names: expected one list of names per dimension with "
                f"lengths {list(self.nvec)}"
            )
        if self.dimension_names is not None and len(self.dimension_names) != len(self.nvec):
            raise ValueError(f"action.dimension_names: expected {len(self.nvec)} names")
        return self


class Normalization(BaseModel):
    """VecNormalize observation statistics, folded into the ONNX graph.

    The graph computes ``clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)`` in
    float64 before the network; callers feed raw observations. Recorded here for provenance.
    """

    model_config = _FROZEN

    mean: tuple[float, ...]
    var: tuple[float, ...]
    clip_obs: float = Field(gt=0)
    epsilon: float = Field(gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Normalization:
        if len(self.mean) != len(self.var):
            raise ValueError("normalization: mean and var must have the same length")
        if any(v < 0 for v in self.var):
            raise ValueError("normalization.var: expected non-negative variances")
        return self


class PolicyCard(BaseModel):
    """``policy.json``: what an exported ``policy.onnx`` is, reads and emits.

    Attributes:
        format_version: the card format (``FORMAT_VERSION``).
        algo: ``ppo``, ``a2c``, ``dqn`` or ``maskable_ppo``.
        scenario: the scenario trained on (a registered name or a file's scenario name).
        role: ``triage``, ``sla`` or ``cost``.
        env_id: the Gymnasium id, e.g. ``dataops/QualityDegradation-v0``.
        env_version: the id's ``-vN`` (checked against ``env_id``).
        observation: the observation spec.
        action: the action spec.
        masked: trained with action masks (MaskablePPO); the runtime accepts a mask for any
            discrete policy, and a masked policy should be given one.
        normalization: VecNormalize statistics folded into the graph, or None.
        versions: library versions at export (see ``REQUIRED_VERSIONS``).
        training_run: free provenance: tracking run id, seed, timesteps ...
        evaluation: free evaluation metrics.
        onnx_sha256: sha256 (hex) of ``policy.onnx``.
        input_name: the graph's input, float32 ``[batch, *observation.shape]``.
        output_name: the graph's output, float32 ``[batch, action.n_scores]``: ``logits``
            (actor-critic) or ``q_values`` (DQN); the action is the (per-dimension) argmax.
    """

    model_config = _FROZEN

    format_version: int = FORMAT_VERSION
    algo: Literal["ppo", "a2c", "dqn", "maskable_ppo"]
    scenario: str = Field(min_length=1)
    role: Literal["triage", "sla", "cost"]
    env_id: str
    env_version: int = Field(ge=0)
    observation: ObservationSpec
    action: ActionSpec
    masked: bool
    normalization: Normalization | None = None
    versions: dict[str, str]
    training_run: dict[str, Any] = Field(default_factory=dict)
    evaluation: dict[str, Any] = Field(default_factory=dict)
    onnx_sha256: str
    input_name: str = "obs"
    output_name: Literal["logits", "q_values"] = "logits"

    @field_validator("format_version")
    @classmethod
    def _known_format(cls, v: int) -> int:
        if v != FORMAT_VERSION:
            raise ValueError(
                f"format_version: this code reads format {FORMAT_VERSION}, the card is format {v}"
            )
        return v

    @field_validator("onnx_sha256")
    @classmethod
    def _hex_digest(cls, v: str) -> str:
        if not _SHA256.match(v):
            raise ValueError("onnx_sha256: expected 64 lowercase hex digits")
        return v

    @field_validator("versions")
    @classmethod
    def _versions(cls, v: dict[str, str]) -> dict[str, str]:
        missing = [k for k in REQUIRED_VERSIONS if k not in v]
        if missing:
            raise ValueError(
                f"versions: missing {missing}; expected keys {list(REQUIRED_VERSIONS)}"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PolicyCard:
        if env_version_of(self.env_id) != self.env_version:
            raise ValueError(
                f"env_version: {self.env_version} does not match env_id {self.env_id!r}"
            )
        if self.masked != (self.algo == "maskable_ppo"):
            raise ValueError("masked: true exactly for maskable_ppo policies")
        if self.algo == "dqn" and (
            self.action.kind != "discrete" or self.output_name != "q_values"
        ):
            raise ValueError("algo: a dqn policy has discrete actions and outputs q_values")
        if self.algo != "dqn" and self.output_name != "logits":
            raise ValueError(f"output_name: a {self.algo} policy outputs logits")
        if self.normalization is not None and len(self.normalization.mean) != self.observation.size:
            raise ValueError(
                f"normalization: expected {self.observation.size} statistics (one per feature), "
                f"got {len(self.normalization.mean)}"
            )
        return self

    def to_json(self) -> str:
        """The card as indented JSON text (what ``policy.json`` holds)."""
        return self.model_dump_json(indent=2) + "\n"
