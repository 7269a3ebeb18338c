"""Typed training configuration: what ``experiments.train`` hands the library (not a DictConfig).

``TrainConfig.from_mapping`` validates a plain mapping (the resolved Hydra config) and refuses
combinations that cannot train with a message naming the key, the value and what is expected:
DQN needs a Discrete action space (the triage role), MaskablePPO needs action masks (the triage
role), ``vec_env`` is ``auto``, ``dummy`` or ``subproc`` (``resolve_vec_env`` says what ``auto``
becomes).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from experiments.algos import DISCRETE_ONLY, MASKED

ROLES = ("triage", "sla", "cost")

VecEnvKind = Literal["dummy", "subproc"]


def resolve_vec_env(
    setting: str, n_envs: int, *, sweeping: bool, cores: int | None = None
) -> VecEnvKind:
    """The vectorized-env class a training job uses: ``setting``, with ``auto`` resolved.

    ``auto`` is ``subproc`` (one worker process per env) for a job that runs alone with several
    envs on a machine with several cores, and ``dummy`` (every env in the learner's process)
    otherwise: in a sweep (``sweeping``), parallel jobs already fill the cores, and with one env
    or one core a worker adds only its pipe. Chosen by ``python -m experiments.bench part=scale``
    on 2 cores (README, *Training on more cores*): four envs in four workers against four in the
    learner's process trained triage 1.29x, sla 1.10x and cost 1.02x as fast (MaskablePPO / PPO,
    the configs' settings): never slower, most where env time dominates.

    Args:
        setting: ``auto``, ``dummy`` or ``subproc`` (the latter two are returned as they are).
        n_envs: the job's number of envs.
        sweeping: the job is one of a multirun sweep's.
        cores: CPUs available (default: ``os.cpu_count()``).
    """
    if setting in ("dummy", "subproc"):
        return "subproc" if setting == "subproc" else "dummy"
    if setting != "auto":
        raise ValueError(f"train.vec_env: {setting!r}; expected auto, dummy or subproc")
    if cores is None:
        cores = os.cpu_count() or 1
    return "subproc" if n_envs > 1 and cores > 1 and not sweeping else "dummy"


def config_errors(what: str, e: ValidationError) -> str:
    """One line per validation error, each naming the key, the problem and the value given."""
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg} (got {err.get('input')!r})" if loc else msg)
    return f"invalid {what} config:\n  " + "\n  ".join(lines)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RoleConfig(_Frozen):
    """The role the agent learns and its environment arguments."""

    name: Literal["triage", "sla", "cost"]
    env_kwargs: dict[str, Any] = Field(default_factory=dict)


class AlgoConfig(_Frozen):
    """An SB3 algorithm with hyperparameters (``per_role`` overrides ``hyperparams``)."""

    name: Literal["ppo", "a2c", "dqn", "maskable_ppo"]
    policy: str = "MlpPolicy"
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    per_role: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def for_role(self, role: str) -> dict[str, Any]:
        """The hyperparameters for ``role``: the common ones updated by the role's overrides.

        A deep copy: SB3 writes into nested arguments (A2C adds ``optimizer_class`` to
        ``policy_kwargs``), which must not reach the frozen config.
        """
        out = copy.deepcopy(self.hyperparams)
        out.update(copy.deepcopy(self.per_role.get(role) or {}))
        return out


class EvalConfig(_Frozen):
    """Evaluation on held-out seeds during training."""

    every: int = Field(10000, ge=0)
    episodes: int = Field(5, ge=0)
    keep_best: bool = True


class TrackingConfig(_Frozen):
    """Where runs are tracked: MLflow at ``uri``, or nowhere (``disabled``)."""

    backend: Literal["mlflow", "disabled"] = "disabled"
    uri: str | None = None
    artifact_root: str | None = None
    experiment: str = "dataops-gym"
    register_model: bool = False
    alias: str = "candidate"


class TrainSettings(_Frozen):
    """The training loop."""

    timesteps: int = Field(100000, gt=0)
    n_envs: int = Field(4, ge=1)
    vec_env: Literal["auto", "dummy", "subproc"] = "auto"
    torch_threads: int = Field(1, ge=1)
    checkpoint_every: int = Field(10000, ge=0)
    normalize_obs: bool = False
    progress_bar: bool = True
    days: float | None = Field(None, gt=0)


class CompareConfig(_Frozen):
    """The held-out comparison after training."""

    episodes: int = Field(10, ge=0)
    baselines: tuple[str, ...] = ("random", "rules", "oracle")
    orgs: tuple[str, ...] = ("rules", "static")


class TrainConfig(_Frozen):
    """One training job."""

    scenario: str
    seed: int = 0
    resume: str | None = None
    role: RoleConfig
    algo: AlgoConfig
    eval: EvalConfig = EvalConfig()
    tracking: TrackingConfig = TrackingConfig()
    train: TrainSettings = TrainSettings()
    compare: CompareConfig = CompareConfig()

    @model_validator(mode="after")
    def _compatible(self) -> TrainConfig:
        role, algo = self.role.name, self.algo.name
        if algo in DISCRETE_ONLY and role != "triage":
            raise ValueError(
                f"algo={algo} needs a Discrete action space; role={role} has MultiDiscrete "
                "actions. Use algo=ppo or algo=a2c for the sla and cost roles"
            )
        if algo in MASKED and role != "triage":
            raise ValueError(
                f"algo={algo} needs action masks, which only role=triage has; "
                f"use algo=ppo or algo=a2c for role={role}"
            )
        return self

    def with_vec_env(self, *, sweeping: bool, cores: int | None = None) -> TrainConfig:
        """This config with ``train.vec_env`` resolved (``resolve_vec_env``), as recorded."""
        kind = resolve_vec_env(
            self.train.vec_env, self.train.n_envs, sweeping=sweeping, cores=cores
        )
        return self.model_copy(update={"train": self.train.model_copy(update={"vec_env": kind})})

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> TrainConfig:
        """Validate a resolved config mapping (Hydra's, as a plain dict).

        Raises:
            ValueError: one line per problem, each naming the key and what is expected.
        """
        keys = ("scenario", "seed", "resume", "role", "algo", "eval", "tracking", "train",
                "compare")  # fmt: skip
        data = {k: cfg[k] for k in keys if k in cfg}
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise ValueError(config_errors("training", e)) from None
