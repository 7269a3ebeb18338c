"""Export a trained SB3 model to ``policy.onnx`` + ``policy.json`` (DESIGN.md §7).

Usage::

    python -m experiments.export model=outputs/train/.../model.zip out=policies/sc0001-triage
    python -m experiments.export run_id=<mlflow run id> out=policies/sc0001-triage
    python -m experiments.export model=m.zip scenario=sc0002 role=sla algo=ppo out=policies/sla

``model`` is an SB3 ``.zip`` (or the training run directory holding ``model.zip``); ``run_id``
downloads a tracked run's model directory through ``experiments.tracking.download_model``.
``scenario``, ``role`` and ``algo`` default to the training run's ``run.json`` beside the model;
``algo`` is otherwise read from the zip (its policy class and hyperparameters). ``vecnormalize``
defaults to the ``vecnormalize.pkl`` beside the model; the export step may unpickle it, the
deployment never does. ``env_id`` defaults to the scenario's registered id.

The model is checked against the environment of ``scenario`` × ``role`` (spaces), the export
against the runtime (scores on random observations). Bad input — a missing or corrupted file, an
unknown algorithm, a model that does not fit the scenario and role — prints one line on stderr and
exits with status 2; nothing is written to ``out``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from agents.deploy.policy_card import ALGOS, PolicyCard
from agents.deploy.runtime import PolicyError
from envs import env_id_of
from experiments.algos import algo_class
from experiments.errors import run_entry, user_errors
from experiments.results import cwd_relative
from scenarios import scenario_reference, scenario_sha256

RUN_FILE = "run.json"
MODEL_FILE = "model.zip"
VECNORMALIZE_FILE = "vecnormalize.pkl"


class ExportError(ValueError):
    """Bad input to the export entry point (the message names it and what was expected)."""


def resolve_model(model: str) -> Path:
    """The SB3 zip named by ``model`` (a file, or a run directory holding ``model.zip``)."""
    p = Path(model)
    if p.is_dir():
        p = p / MODEL_FILE
    if not p.is_file():
        raise ExportError(f"model: {model} does not exist; expected an SB3 .zip or a run directory")
    if not zipfile.is_zipfile(p):
        raise ExportError(
            f"model: {p} is not a zip archive; expected an SB3 model saved by .save()"
        )
    return p


def run_info(model_zip: Path) -> dict[str, Any]:
    """The training run's ``run.json`` (or ``config.json``) beside the model, else ``{}``."""
    for name in (RUN_FILE, "config.json"):
        f = model_zip.parent / name
        if f.is_file():
            try:
                info = json.loads(f.read_text())
            except json.JSONDecodeError as e:
                raise ExportError(f"{f}: not JSON ({e})") from None
            return info if isinstance(info, dict) else {}
    return {}


def infer_algo(model_zip: Path) -> str:
    """The algorithm of an SB3 zip, from its saved policy class and hyperparameters.

    Raises:
        ExportError: the archive has no readable SB3 ``data`` entry.
    """
    try:
        with zipfile.ZipFile(model_zip) as z:
            data = json.loads(z.read("data"))
        module = str(data["policy_class"].get("__module__", ""))
    except (KeyError, ValueError, zipfile.BadZipFile, AttributeError) as e:
        raise ExportError(
            f"model: {model_zip} is not a readable SB3 model ({type(e).__name__}: {e}); "
            "expected a .zip written by model.save()"
        ) from None
    if "maskable" in module:
        return "maskable_ppo"
    if "dqn" in module:
        return "dqn"
    return "ppo" if "clip_range" in data else "a2c"


def export_model(
    model_path: str,
    out: Path,
    *,
    scenario: str | None = None,
    role: str | None = None,
    algo: str | None = None,
    vecnormalize: str | None = None,
    env_id: str | None = None,
    run_id: str | None = None,
) -> PolicyCard:
    """Load an SB3 model (and its VecNormalize), check it against its env, export it to ``out``.

    Explicit arguments win over the training run's ``run.json``; see the module docstring.

    Raises:
        ExportError: bad input (nothing is written).
        PolicyError: the export does not reproduce the model (nothing is written).
    """
    import torch

    torch.set_num_threads(1)
    zip_path = resolve_model(model_path)
    info = run_info(zip_path)
    trained_sha = None if scenario else info.get("scenario_sha256")  # an explicit one is the user's
    scenario = scenario or info.get("scenario")
    role = role or info.get("role")
    if not scenario or not role:
        raise ExportError(
            f"scenario/role: not given and no {RUN_FILE} beside {zip_path} names them; "
            "pass scenario=<name|path> role=triage|sla|cost"
        )
    saved = infer_algo(zip_path)
    algo = algo or info.get("algo") or saved
    if algo not in ALGOS:
        raise ExportError(f"algo: unknown algorithm {algo!r}; expected one of {', '.join(ALGOS)}")
    if algo != saved:
        raise ExportError(f"algo: {algo!r} given but {zip_path} holds a {saved} model")

    from envs.factory import make_env

    try:
        env = make_env(scenario, role)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise ExportError(f"scenario/role: {scenario}/{role}: {e}") from None
    now_sha = scenario_sha256(env.scenario)
    if trained_sha is not None and now_sha != trained_sha:
        raise ExportError(
            f"scenario: {scenario} changed since the model was trained on it ({RUN_FILE} records "
            f"sha256 {trained_sha[:12]}…, the file now gives {now_sha[:12]}…); "
            "expected the scenario the model was trained on, or pass scenario=<name|path> to "
            "export against this one"
        )
    reference = scenario_reference(env.scenario)
    try:
        model = algo_class(algo).load(str(zip_path), device="cpu")
    except Exception as e:  # SB3 surfaces corrupt archives as many exception types
        raise ExportError(
            f"model: cannot load {zip_path} as {algo} ({type(e).__name__}: {e})"
        ) from None

    vn_path = Path(vecnormalize) if vecnormalize else zip_path.parent / VECNORMALIZE_FILE
    if vecnormalize and not vn_path.is_file():
        raise ExportError(f"vecnormalize: {vecnormalize} does not exist")
    if not vn_path.is_file() and info.get("normalize_obs"):
        raise ExportError(
            f"vecnormalize: {RUN_FILE} says the model was trained on normalized observations "
            f"but there is no {VECNORMALIZE_FILE} beside {zip_path}; pass vecnormalize=<path>"
        )
    vec = _load_vecnormalize(vn_path, env) if vn_path.is_file() else None

    from agents.deploy.export import export_policy

    training_run = {
        k: v
        for k, v in {
            "mlflow_run_id": run_id or info.get("mlflow_run_id"),
            "seed": (info.get("config") or {}).get("seed"),
            "timesteps": info.get("timesteps") or int(getattr(model, "num_timesteps", 0)),
            "train_seconds": info.get("train_seconds"),
            "scenario_sha256": info.get("scenario_sha256"),
            "model": cwd_relative(zip_path) or str(zip_path),
        }.items()
        if v is not None
    }
    try:
        return export_policy(
            model,
            env,
            out,
            algo=algo,
            scenario=reference,
            role=role,
            env_id=env_id or info.get("env_id") or env_id_of(reference),
            vecnormalize=vec,
            training_run=training_run,
            evaluation=info.get("evaluation") or {},
        )
    except PolicyError:
        raise
    except ValueError as e:
        raise ExportError(str(e)) from None


def _load_vecnormalize(path: Path, env: Any) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    try:
        return VecNormalize.load(str(path), DummyVecEnv([lambda: env]))
    except Exception as e:  # unpickling and space checks raise many types
        raise ExportError(
            f"vecnormalize: cannot load {path} for this env ({type(e).__name__}: {e})"
        ) from None


def model_of_run(run_id: str, tracking_uri: str | None) -> str:
    """Download a tracked run's model directory; return its path."""
    if not tracking_uri:
        raise ExportError("run_id: no tracking store to look it up in; pass tracking.uri=<uri>")
    try:
        from experiments.tracking import download_model
    except ImportError as e:
        raise ExportError(f"run_id: tracking is unavailable ({e}); pass model=<path>") from None
    try:
        return str(download_model(run_id, tracking_uri))
    except Exception as e:  # the tracking backend's errors (unreachable store, unknown run)
        raise ExportError(
            f"run_id: cannot download run {run_id} from {tracking_uri}: {e}"
        ) from None


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: convert the config to plain values, export, print the card's summary."""

    def opt(key: str) -> str | None:
        v = cfg.get(key)
        if isinstance(v, DictConfig):  # the role and algo config groups
            v = v.get("name")
        return None if v is None or str(v) == "" else str(v)

    out = Path(opt("out") or HydraConfig.get().runtime.output_dir)
    with user_errors("export", ExportError, PolicyError):
        if opt("model") is None and opt("run_id") is None:
            raise ExportError("model/run_id: give model=<path to an SB3 .zip> or run_id=<run id>")
        uri = cfg.tracking.get("uri") if cfg.get("tracking") else None
        model = opt("model") or model_of_run(str(opt("run_id")), uri)
        card = export_model(
            model,
            out,
            scenario=opt("scenario"),
            role=opt("role"),
            algo=opt("algo"),
            vecnormalize=opt("vecnormalize"),
            env_id=opt("env_id"),
            run_id=opt("run_id"),
        )
    print(
        f"exported {card.algo} {card.env_id} role={card.role} scenario={card.scenario} "
        f"sha256={card.onnx_sha256[:12]} -> {out}"
    )


if __name__ == "__main__":
    run_entry("export", main)
