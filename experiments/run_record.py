"""The record of a training run: its ``run.json`` and the library versions it was trained with.

``RunRecord.collect(cfg)`` reads the library versions once per run; the same record gives the
tracker its parameters before training (``params``) and writes ``run.json`` after it, or when it is
interrupted (``write``).

``run.json`` holds, in this order:

=====================  ===========================================================================
key                    value
=====================  ===========================================================================
``config``             the ``TrainConfig`` as JSON
``scenario``           the scenario as it loads from anywhere: a registered name (``sc0001``...)
                       or the absolute path of the scenario file it was given as
                       (``scenarios.scenario_reference``)
``scenario_sha256``    sha256 of the scenario and topology it resolved to
                       (``scenarios.scenario_sha256``): export refuses a changed file
``env_id``             its registered id (``envs.env_id_of``; ``dataops/Pipeline-v0`` for a file)
``role``, ``algo``     the role trained and the algorithm name
``timesteps``          the model's timestep count when the record was written
``train_seconds``      wall-clock seconds spent learning (``model.learn``, its periodic
                       evaluations and checkpoints included), summed over the resumed segments
                       whose ``run.json`` recorded it; null when unknown
``mlflow_run_id``      the tracked run (null when tracking is disabled)
``evaluation``         ``best_mean_reward`` and ``final_mean_reward`` (null when not evaluated);
                       ``{}`` for an interrupted run
``compare``            the held-out comparison rows without their per-episode ``returns``
``versions``           ``library_versions()``
``normalize_obs``      whether the agent saw VecNormalize-d observations
=====================  ===========================================================================

Readers: ``experiments.export`` (scenario, role, algo, env id, normalization, evaluation, seed,
timesteps, training seconds, run id), ``experiments.checkpoints.resolve_resume`` (the run id
to continue), and ``trained_timesteps`` / ``resume_overrides`` for the commands that launch
``experiments.train`` and reuse its runs (``learnability``, ``entries``).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs import env_id_of
from experiments.tracking import flatten
from experiments.train_config import TrainConfig
from scenarios import load_scenario, scenario_reference, scenario_sha256

RUN_FILE = "run.json"


def library_versions() -> dict[str, str]:
    """The versions of Python and of the libraries a trained agent depends on.

    Returns:
        ``python``, ``torch``, ``stable_baselines3``, ``sb3_contrib``, ``gymnasium`` and ``numpy``
        (in that order), each its version string.
    """
    import gymnasium
    import sb3_contrib
    import stable_baselines3
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "sb3_contrib": sb3_contrib.__version__, "gymnasium": gymnasium.__version__,
            "numpy": np.__version__}  # fmt: skip


def dumps(obj: Any) -> str:
    """``obj`` as the run directory's JSON files hold it.

    Indented by one space; numpy scalars become Python numbers and anything else JSON cannot hold
    becomes its ``str``.
    """
    return json.dumps(obj, indent=1, default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer | np.floating):
        return o.item()
    return str(o)


@dataclass(frozen=True)
class RunRecord:
    """One training run's configuration and library versions, collected when the run starts.

    Attributes:
        cfg: the training job.
        versions: ``library_versions()`` at collection.
        scenario: the scenario's reference (``scenarios.scenario_reference``) at collection.
        scenario_sha256: what it resolved to then (``scenarios.scenario_sha256``).
    """

    cfg: TrainConfig
    versions: dict[str, str]
    scenario: str
    scenario_sha256: str

    @classmethod
    def collect(cls, cfg: TrainConfig) -> RunRecord:
        """The record of ``cfg``, reading the library versions and the scenario now.

        Raises:
            ScenarioError: the config's scenario does not load (``scenarios.load_scenario``).
        """
        sc = load_scenario(cfg.scenario)
        return cls(cfg, library_versions(), scenario_reference(sc), scenario_sha256(sc))

    def params(self) -> dict[str, Any]:
        """The tracker's parameters: config, ``version.<lib>``, ``scenario.reference/sha256``."""
        params = flatten(self.cfg.model_dump(mode="json"))
        params.update({f"version.{k}": v for k, v in self.versions.items()})
        params.update(
            {"scenario.reference": self.scenario, "scenario.sha256": self.scenario_sha256}
        )
        return params

    def write(
        self,
        out: Path,
        *,
        timesteps: int,
        run_id: str | None,
        evaluation: Mapping[str, Any] | None = None,
        rows: Sequence[Mapping[str, Any]] = (),
        train_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Write ``out/run.json`` (see the module docstring for its keys).

        Args:
            out: the run directory.
            timesteps: the model's timestep count.
            run_id: the tracked run's id, or None.
            evaluation: the held-out rewards; None (an interrupted run) writes ``{}``.
            rows: the comparison rows (``experiments.compare.compare``).
            train_seconds: the wall-clock seconds spent learning, or None.

        Returns:
            What was written.
        """
        cfg = self.cfg
        info = {
            "config": cfg.model_dump(mode="json"),
            "scenario": self.scenario,
            "scenario_sha256": self.scenario_sha256,
            "env_id": env_id_of(self.scenario),
            "role": cfg.role.name,
            "algo": cfg.algo.name,
            "timesteps": int(timesteps),
            "train_seconds": None if train_seconds is None else round(float(train_seconds), 1),
            "mlflow_run_id": run_id,
            "evaluation": dict(evaluation or {}),
            "compare": [{k: v for k, v in r.items() if k != "returns"} for r in rows],
            "versions": dict(self.versions),
            "normalize_obs": cfg.train.normalize_obs,
        }
        (out / RUN_FILE).write_text(dumps(info))
        return info


__all__ = ["RUN_FILE", "RunRecord", "dumps", "library_versions"]


def trained_timesteps(run: Path) -> int:
    """The timesteps ``run/run.json`` records (0 without one): a run is finished at its budget."""
    meta = run / RUN_FILE
    if not meta.is_file():
        return 0
    return int(json.loads(meta.read_text()).get("timesteps") or 0)


def resume_overrides(run: Path) -> list[str]:
    """``experiments.train`` overrides that continue the run in ``run``, if it was started.

    ``["resume=<run>"]`` when the directory holds a model or a periodic or interrupted
    checkpoint, else ``[]`` (a fresh run).
    """
    started = (run / "model.zip").is_file() or any(run.glob("checkpoints/*_steps.zip"))
    return [f"resume={run}"] if started else []
