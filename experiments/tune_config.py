"""Typed tuning configuration: what ``experiments.tune`` hands the library (not a DictConfig).

``TuneConfig.from_mapping`` validates the resolved Hydra config (``configs/tune.yaml``) and refuses,
naming the key, what cannot tune: an algo/role pair that cannot train (the same rules as
``TrainConfig``), an empty search space, a distribution without bounds or choices, evaluation
points that do not fit in the trial budget.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from experiments.train_config import (
    AlgoConfig,
    CompareConfig,
    EvalConfig,
    RoleConfig,
    TrackingConfig,
    TrainConfig,
    TrainSettings,
    config_errors,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Distribution(_Frozen):
    """One hyperparameter's Optuna distribution.

    ``float``/``int`` need ``low`` < ``high`` (``log`` for a log-uniform draw, ``step`` for a
    grid); ``categorical`` needs ``choices`` (any YAML values: lists such as ``[64, 64]`` are
    offered to Optuna as their JSON text and decoded back). ``path`` is where the value goes in
    the algo's hyperparameters (dots reach into nested dicts; default: the parameter's name).
    """

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Distribution:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical distribution needs a non-empty `choices` list")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"a {self.type} distribution needs low < high")
        elif self.log and self.low <= 0:
            raise ValueError("a log distribution needs low > 0")
        return self

    def labels(self) -> list[Any]:
        """The categorical choices as Optuna sees them (primitives as-is, the rest as JSON)."""
        return [c if _primitive(c) else json.dumps(c) for c in self.choices or []]

    def decode(self, label: Any) -> Any:
        """The YAML value behind a categorical label."""
        for choice, lab in zip(self.choices or [], self.labels(), strict=True):
            if lab == label:
                return choice
        return label


def _primitive(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


class SamplerConfig(_Frozen):
    """The TPE sampler."""

    seed: int | None = 0
    n_startup_trials: int = Field(10, ge=0)


class PrunerConfig(_Frozen):
    """The median pruner (units: trials, and timesteps within a trial)."""

    n_startup_trials: int = Field(5, ge=0)
    n_warmup_steps: int = Field(0, ge=0)
    interval_steps: int = Field(1, ge=1)


class TuneConfig(_Frozen):
    """One Optuna study (or its continuation) over an algo's hyperparameters."""

    scenario: str
    role: RoleConfig
    algo: AlgoConfig
    space: dict[str, Distribution]
    n_trials: int | None = Field(20, ge=1)
    timeout_s: float | None = Field(None, gt=0)
    seeds_per_trial: int = Field(2, ge=1)
    seed: int = 0
    trial_timesteps: int = Field(20000, gt=0)
    eval_every: int = Field(5000, gt=0)
    eval_episodes: int = Field(3, ge=1)
    n_envs: int = Field(4, ge=1)
    days: float | None = Field(None, gt=0)
    storage: str
    study_name: str | None = None
    sampler: SamplerConfig = SamplerConfig()
    pruner: PrunerConfig = PrunerConfig()
    write_config: bool = True
    config_dir: str | None = None
    tuned_name: str | None = None
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _consistent(self) -> TuneConfig:
        if not self.space:
            raise ValueError(f"space: the search space for algo={self.algo.name} is empty")
        if self.eval_every > self.trial_timesteps:
            raise ValueError(
                f"eval_every: {self.eval_every} exceeds trial_timesteps={self.trial_timesteps}; "
                "a trial needs at least one evaluation point"
            )
        if self.n_trials is None and self.timeout_s is None:
            raise ValueError("n_trials: null needs a timeout_s, or the study never stops")
        if self.write_config and not self.config_dir:
            raise ValueError("config_dir: write_config=true needs the configs directory")
        self.train_config(self.seed)  # the algo/role pair must be able to train
        return self

    @property
    def study(self) -> str:
        """The study's name: ``study_name`` or ``<algo>-<scenario>-<role>``."""
        return self.study_name or f"{self.algo.name}-{_slug(self.scenario)}-{self.role.name}"

    @property
    def tuned(self) -> str:
        """The tuned algo config's name: ``tuned_name`` or ``<algo>_tuned_<scenario>_<role>``."""
        return self.tuned_name or f"{self.algo.name}_tuned_{_slug(self.scenario)}_{self.role.name}"

    def eval_points(self) -> list[int]:
        """Timesteps at which each seed is evaluated (and the trial may be pruned)."""
        points = list(range(self.eval_every, self.trial_timesteps + 1, self.eval_every))
        if points[-1] != self.trial_timesteps:
            points.append(self.trial_timesteps)
        return points

    def train_config(self, seed: int, hyperparams: Mapping[str, Any] | None = None) -> TrainConfig:
        """The training job of one seed of a trial: untracked, no checkpoints, no comparison."""
        hp = dict(hyperparams) if hyperparams is not None else self.algo.for_role(self.role.name)
        return TrainConfig(
            scenario=self.scenario,
            seed=seed,
            role=self.role,
            algo=AlgoConfig(name=self.algo.name, policy=self.algo.policy, hyperparams=hp),
            eval=EvalConfig(every=0, episodes=0, keep_best=False),
            tracking=TrackingConfig(),
            train=TrainSettings(
                timesteps=self.trial_timesteps,
                n_envs=self.n_envs,
                # a trial trains its seeds in turn in one process: their envs stay in it
                vec_env="dummy",
                checkpoint_every=0,
                progress_bar=False,
                days=self.days,
            ),
            compare=CompareConfig(episodes=0),
        )

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> TuneConfig:
        """Validate a resolved config mapping (Hydra's, as a plain dict).

        Raises:
            ValueError: one line per problem, each naming the key and what is expected.
        """
        data = {k: cfg[k] for k in cls.model_fields if k in cfg}
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise ValueError(config_errors("tuning", e)) from None


def _slug(text: str) -> str:
    """A scenario name or path as a config-file-safe word (``scenarios/x.yaml`` → ``x``)."""
    stem = re.sub(r"\.(ya?ml|json)$", "", text.rsplit("/", 1)[-1])
    return re.sub(r"[^A-Za-z0-9_]", "_", stem)
