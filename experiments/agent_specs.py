"""What ``agent=`` names in ``experiments.evaluate``: a baseline, a policy file, an organization.

=====================  ==========  ==============================================================
spec                   kind        what acts
=====================  ==========  ==============================================================
``baseline:<name>``    baseline    ``envs.baselines``: noop, random (seeded by the training
                                   seed), rules, oracle (reads hidden truth: a reference line)
``onnx:<dir>``         learned     an exported policy (``agents.deploy.runtime.load_policy``):
                                   the deployment artifact is what gets ranked. Its card must be
                                   for the role, its spaces and feature names the env's; a triage
                                   policy gets the action mask, as the organization's slot gives
                                   it (``agents.slots.runner.RouteSlot``)
``sb3:<zip>``          learned     an SB3 / sb3-contrib model (the algorithm read from the zip;
                                   ``vecnormalize.pkl`` beside it applied); MaskablePPO gets the
                                   action masks
``org:<name>``         org         an organization on its own (manual, static, elementary,
                                   rules): no role's decisions, its scorecard per episode
=====================  ==========  ==============================================================

A result records a policy file's spec with its path relative to the working directory when the
file lies under it (``sb3:outputs/run/model.zip``, however it was named), so that result files
evaluated from the repository root can be committed without a machine's paths in them; the file
itself is identified by its sha256 (``AgentRef.sha256``), not by where it was.

``resolve_agent`` checks everything it can before any episode runs and raises ``UsageError``
(one line naming ``agent`` and what fits) for a spec of an unknown form, a missing or broken
file, or a policy for another role or other spaces.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.base import DataOpsEnv
from envs.baselines import BASELINES, baseline
from experiments.errors import UsageError
from experiments.replay import Chooser
from experiments.results import AgentRef, check_name, cwd_relative

FORMS = ("baseline:<noop|random|rules|oracle>", "onnx:<dir>", "sb3:<zip>", "org:<name>")
ORGS = ("manual", "static", "elementary", "rules")
"""The organizations ``org:`` evaluates (``ideal`` replays episodes: not an entry)."""


@dataclass(frozen=True)
class Agent:
    """A resolved ``agent=``: its kind, its reference, and how it acts.

    Attributes:
        kind: ``baseline``, ``learned`` or ``org``.
        ref: the result file's ``agent`` record.
        chooser: for an env agent, builds the ``Chooser`` of an env (None for an organization).
        org: for an organization, its name.
        training_seed: the seed a learned policy's card records (None: not recorded).
        training_seconds: the wall-clock seconds its training spent learning, as its card
            (``training_run.train_seconds``) or its ``run.json`` records them (None: not
            recorded, or not a learned policy).
        training_timesteps: its training budget, likewise (``timesteps``).
    """

    kind: str
    ref: AgentRef
    chooser: Any = None
    org: str | None = None
    training_seed: int | None = None
    training_seconds: float | None = None
    training_timesteps: int | None = None


def _bad(spec: str, why: str) -> UsageError:
    return UsageError(f"agent={spec!r}: {why}")


def portable_spec(spec: str) -> str:
    """``spec`` with a policy file's path made relative to the working directory, if under it.

    >>> import os
    >>> portable_spec(f"sb3:{os.getcwd()}/outputs/run/model.zip")
    'sb3:outputs/run/model.zip'
    >>> portable_spec("baseline:rules")
    'baseline:rules'
    """
    form, _, arg = spec.partition(":")
    rel = cwd_relative(arg) if form in ("sb3", "onnx") and arg else None
    return spec if rel is None else f"{form}:{rel}"


def resolve_agent(spec: str, role: str, env: DataOpsEnv, name: str | None = None) -> Agent:
    """Resolve ``spec`` for ``role`` on ``env`` (checked against its spaces); see the module doc.

    Args:
        spec: the ``agent=`` value.
        role: the role evaluated.
        env: the role's environment (its spaces, feature names and masks).
        name: the agent's directory name in the results layout (None: from the spec).

    Raises:
        UsageError: naming ``agent`` and what fits.
    """
    form, _, arg = spec.partition(":")
    if not arg:
        raise _bad(spec, f"expected one of {', '.join(FORMS)}")
    if form == "baseline":
        if arg not in BASELINES:
            raise _bad(spec, f"unknown baseline {arg!r}; expected one of {', '.join(BASELINES)}")
        ref = AgentRef(spec=spec, name=check_name("name", name or arg))
        return Agent("baseline", ref, chooser=_baseline_chooser(role, arg))
    if form == "org":
        if arg not in ORGS:
            raise _bad(spec, f"unknown organization {arg!r}; expected one of {', '.join(ORGS)}")
        return Agent("org", AgentRef(spec=spec, name=check_name("name", name or arg)), org=arg)
    if form == "onnx":
        return _onnx(spec, arg, role, env, name)
    if form == "sb3":
        return _sb3(spec, arg, role, env, name)
    raise _bad(spec, f"unknown agent form {form!r}; expected one of {', '.join(FORMS)}")


def _baseline_chooser(role: str, which: str) -> Any:
    def build(env: DataOpsEnv, seed: int) -> Chooser:
        policy = baseline(role, which, env, seed=seed)

        def choose(obs: np.ndarray, _env: DataOpsEnv) -> Any:
            return policy.predict(obs, deterministic=True)[0]

        return choose

    return build


def _portable_run(run: dict[str, Any]) -> dict[str, Any]:
    """A card's ``training_run`` for a result file: its model path without the machine's part.

    Cards exported before the export recorded a relative path name the model by its absolute
    path; a result file is committed, so the path is kept relative to the working directory when
    the model lies under it, else only the file's name (its sha256 identifies the policy).
    """
    model = run.get("model")
    if not isinstance(model, str) or not Path(model).is_absolute():
        return dict(run)
    return {**run, "model": cwd_relative(model) or Path(model).name}


def _onnx(spec: str, arg: str, role: str, env: DataOpsEnv, name: str | None) -> Agent:
    from agents.deploy.runtime import PolicyError, load_policy

    try:
        policy = load_policy(arg)
        policy.check_spaces(
            env.observation_space, env.action_space, role=role, feature_names=_features(env)
        )
    except PolicyError as e:
        raise _bad(spec, str(e)) from None
    card = policy.card
    details = {
        "algo": card.algo,
        "trained_on": card.scenario,
        "env_id": card.env_id,
        "masked": card.masked,
        "training_run": _portable_run(card.training_run),
    }
    seed = card.training_run.get("seed")
    masked = role == "triage"

    def build(_env: DataOpsEnv, _seed: int) -> Chooser:
        def choose(obs: np.ndarray, e: DataOpsEnv) -> Any:
            return policy.act(obs, _mask(e) if masked else None)

        return choose

    ref = AgentRef(
        spec=portable_spec(spec), name=check_name("name", name or Path(arg).resolve().name),
        sha256=card.onnx_sha256, details=details,
    )  # fmt: skip
    return Agent(
        "learned", ref, chooser=build, training_seed=_seed_of(seed),
        training_seconds=_seconds_of(card.training_run.get("train_seconds")),
        training_timesteps=_steps_of(card.training_run.get("timesteps")),
    )  # fmt: skip


def _seconds_of(v: Any) -> float | None:
    """A recorded training time, or None when it is missing or not a non-negative number."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
        return None
    return float(v)


def _sb3(spec: str, arg: str, role: str, env: DataOpsEnv, name: str | None) -> Agent:
    from experiments.algos import MASKED, algo_class
    from experiments.export import (
        VECNORMALIZE_FILE,
        ExportError,
        _load_vecnormalize,
        infer_algo,
        resolve_model,
        run_info,
    )

    try:
        path = resolve_model(arg)
        algo = infer_algo(path)
        info = run_info(path)
    except ExportError as e:
        raise _bad(spec, str(e)) from None
    trained_role = info.get("role")
    if trained_role not in (None, role):
        raise _bad(
            spec, f"trained for role {trained_role!r} ({path.parent / 'run.json'}), not {role!r}"
        )
    try:
        model = algo_class(algo).load(str(path), device="cpu")
    except Exception as e:  # SB3 surfaces corrupt archives as many exception types
        raise _bad(spec, f"cannot load {path} as {algo} ({type(e).__name__}: {e})") from None
    _check_sb3_spaces(spec, model, env)
    vn_path = path.parent / VECNORMALIZE_FILE
    try:
        vec = _load_vecnormalize(vn_path, env) if vn_path.is_file() else None
    except ExportError as e:
        raise _bad(spec, str(e)) from None
    masked = algo in MASKED
    predict: Any = model.predict  # MaskablePPO's takes action_masks=

    def build(_env: DataOpsEnv, _seed: int) -> Chooser:
        def choose(obs: np.ndarray, e: DataOpsEnv) -> Any:
            o = vec.normalize_obs(obs) if vec is not None else obs
            if masked:
                return predict(o, deterministic=True, action_masks=_mask(e))[0]
            return predict(o, deterministic=True)[0]

        return choose

    default = path.parent.name if path.stem == "model" else path.stem
    ref = AgentRef(
        spec=portable_spec(spec), name=check_name("name", name or default),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        details={"algo": algo, "vecnormalize": vec is not None,
                 "trained_on": info.get("scenario"), "mlflow_run_id": info.get("mlflow_run_id")},
    )  # fmt: skip
    seed = (info.get("config") or {}).get("seed")
    return Agent(
        "learned", ref, chooser=build, training_seed=_seed_of(seed),
        training_seconds=_seconds_of(info.get("train_seconds")),
        training_timesteps=_steps_of(info.get("timesteps")),
    )  # fmt: skip


def _check_sb3_spaces(spec: str, model: Any, env: DataOpsEnv) -> None:
    obs, act = model.observation_space, model.action_space
    if getattr(obs, "shape", None) != env.observation_space.shape:
        raise _bad(
            spec, f"observation shape {getattr(obs, 'shape', None)}; expected "
            f"{env.observation_space.shape} (role {env.role})",
        )  # fmt: skip
    if act != env.action_space:
        raise _bad(spec, f"action space {act}; expected {env.action_space} (role {env.role})")


def _features(env: DataOpsEnv) -> tuple[str, ...] | None:
    names = getattr(env, "feature_names", None)
    return tuple(names) if names is not None else None


def _mask(env: DataOpsEnv) -> np.ndarray:
    return np.asarray(env.action_masks(), dtype=bool)  # type: ignore[attr-defined]


def _steps_of(v: Any) -> int | None:
    """A recorded training budget, or None when it is missing or not a positive integer."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _seed_of(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
