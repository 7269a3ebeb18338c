"""Hyperparameter tuning with Optuna: the library behind ``experiments.tune``.

``tune(cfg, out)`` takes a typed ``TuneConfig`` and a run directory and:

1. opens (or continues: ``load_if_exists``) the study ``cfg.study`` in ``cfg.storage``, maximizing,
   with a seeded ``TPESampler`` and a ``MedianPruner``;
2. runs ``n_trials`` more trials (or until ``timeout_s``). A trial draws hyperparameters from
   ``cfg.space`` on top of the algo config's (role-specific) ones, then trains
   ``seeds_per_trial`` agents (seeds ``seed``, ``seed+1`` ...) in lockstep. At every evaluation
   point each agent plays the first ``eval_episodes`` held-out episodes deterministically; the
   seed-averaged mean reward is reported to the trial, and the pruner may stop it there. The
   trial's value is that average at ``trial_timesteps``;
3. writes ``trials.csv`` and, from the best trial, an algo config ``<tuned>.yaml`` into the run
   directory and (``write_config``) into ``<config_dir>/algo/``, so that
   ``experiments.train algo=<tuned>`` trains with it;
4. with tracking enabled, logs a study summary as one MLflow run (trials themselves are never
   tracked).

The pieces come from ``experiments.training`` (``build_vec_env``, ``build_model``,
``build_eval_env``) and ``experiments.callbacks.evaluate``, so a trial trains exactly as
``experiments.train`` would with the same hyperparameters. Trials that raise ``ValueError`` (a
hyperparameter combination SB3 refuses) are recorded as failed and the study goes on.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml

from experiments.algos import MASKED
from experiments.callbacks import evaluate
from experiments.tracking import flatten, open_tracker
from experiments.training import build_eval_env, build_model, build_vec_env, configure_torch
from experiments.tune_config import TuneConfig


def sample(trial: optuna.Trial, cfg: TuneConfig) -> dict[str, Any]:
    """The algo's hyperparameters for ``cfg.role`` with this trial's draws from ``cfg.space``.

    ``batch_size`` is capped at the rollout size ``n_steps × n_envs`` (SB3 would otherwise train
    on one truncated minibatch).
    """
    hp = copy.deepcopy(cfg.algo.for_role(cfg.role.name))
    for name, d in cfg.space.items():
        value: Any
        if d.type == "categorical":
            value = d.decode(trial.suggest_categorical(name, d.labels()))
        elif d.type == "int":
            assert d.low is not None and d.high is not None
            step = int(d.step) if d.step is not None else 1
            value = trial.suggest_int(name, int(d.low), int(d.high), step=step, log=d.log)
        else:
            assert d.low is not None and d.high is not None
            value = trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
        _set(hp, d.path or name, value)
    if "batch_size" in hp and "n_steps" in hp:
        hp["batch_size"] = min(int(hp["batch_size"]), int(hp["n_steps"]) * cfg.n_envs)
    return hp


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        node = tree.get(key)
        tree[key] = node = dict(node) if isinstance(node, dict) else {}
        tree = node
    tree[leaf] = value


def objective(trial: optuna.Trial, cfg: TuneConfig) -> float:
    """Train ``seeds_per_trial`` agents, report their mean held-out reward, prune or finish.

    Raises:
        optuna.TrialPruned: the pruner stopped the trial at an evaluation point.
    """
    hp = sample(trial, cfg)
    trial.set_user_attr("hyperparams", hp)
    seeds = [cfg.seed + i for i in range(cfg.seeds_per_trial)]
    jobs = [cfg.train_config(s, hp) for s in seeds]
    vecs = [build_vec_env(tc) for tc in jobs]
    try:
        models = [build_model(tc, vec) for tc, vec in zip(jobs, vecs, strict=True)]
        env, episodes = build_eval_env(jobs[0])
        episodes = episodes[: cfg.eval_episodes]
        masked = cfg.algo.name in MASKED
        value = float("nan")
        for step in cfg.eval_points():
            per_seed = []
            for model in models:
                if step > model.num_timesteps:
                    model.learn(step - model.num_timesteps, reset_num_timesteps=False)
                rets, _ = evaluate(model, env, episodes, masked=masked)
                per_seed.append(float(np.mean(rets)))
            value = float(np.mean(per_seed))
            trial.set_user_attr("reward_per_seed", per_seed)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at {step} timesteps (reward {value:.3f})")
        return value
    finally:
        for vec in vecs:
            vec.close()


def open_study(cfg: TuneConfig) -> optuna.Study:
    """The study ``cfg.study`` in ``cfg.storage``, created or continued."""
    if cfg.storage.startswith("sqlite:///"):
        Path(cfg.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    sampler = optuna.samplers.TPESampler(
        seed=cfg.sampler.seed, n_startup_trials=cfg.sampler.n_startup_trials
    )
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=cfg.pruner.n_startup_trials,
        n_warmup_steps=cfg.pruner.n_warmup_steps,
        interval_steps=cfg.pruner.interval_steps,
    )
    return optuna.create_study(
        study_name=cfg.study,
        storage=cfg.storage,
        sampler=sampler,
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )


def tuned_algo_config(cfg: TuneConfig, study: optuna.Study) -> str:
    """The best trial as an algo config file's text (``configs/algo/`` format, with provenance)."""
    best = study.best_trial
    body = {
        "name": cfg.algo.name,
        "policy": cfg.algo.policy,
        "hyperparams": best.user_attrs["hyperparams"],
        "per_role": {},
    }
    head = (
        f"# Tuned by experiments.tune: study {study.study_name!r} in {cfg.storage},\n"
        f"# trial {best.number} of {len(study.trials)}: held-out reward {best.value:.4f} "
        f"(mean of {cfg.seeds_per_trial} seeds, {cfg.eval_episodes} episodes)\n"
        f"# after {cfg.trial_timesteps} timesteps on {cfg.scenario} / {cfg.role.name}.\n"
        f"#   python -m experiments.train scenario={cfg.scenario} role={cfg.role.name} "
        f"algo={cfg.tuned}\n"
    )
    return head + yaml.safe_dump(body, sort_keys=False)


def tune(cfg: TuneConfig, out: Path) -> dict[str, Any]:
    """Run (or continue) the study and write its results (see the module docstring).

    Returns:
        ``study``, ``storage``, ``trials`` (one row per trial, this run's and earlier ones),
        ``best`` (number, value, params; None without a completed trial), ``config_files``
        (the tuned algo configs written) and ``mlflow_run_id``.
    """
    configure_torch(1)
    out.mkdir(parents=True, exist_ok=True)
    study = open_study(cfg)
    before = len(study.trials)
    t0 = time.monotonic()
    study.optimize(
        lambda t: objective(t, cfg),
        n_trials=cfg.n_trials,
        timeout=cfg.timeout_s,
        catch=(ValueError,),
        gc_after_trial=True,
    )
    elapsed = time.monotonic() - t0
    study.trials_dataframe().to_csv(out / "trials.csv", index=False)
    rows = [_row(t) for t in study.trials]
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    files: list[Path] = []
    best = None
    if done:
        b = study.best_trial
        best = {
            "number": b.number,
            "value": b.value,
            "params": b.params,
            "hyperparams": b.user_attrs["hyperparams"],
        }
        text = tuned_algo_config(cfg, study)
        files.append(out / f"{cfg.tuned}.yaml")
        if cfg.write_config and cfg.config_dir:
            files.append(Path(cfg.config_dir) / "algo" / f"{cfg.tuned}.yaml")
        for f in files:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
    info = {
        "study": study.study_name,
        "storage": cfg.storage,
        "trials": rows,
        "best": best,
        "new_trials": len(study.trials) - before,
        "elapsed_s": elapsed,
        "config_files": [str(f) for f in files],
        "mlflow_run_id": None,
    }
    info["mlflow_run_id"] = _log_summary(cfg, info, out)
    return info


def _row(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    last = max(t.intermediate_values) if t.intermediate_values else None
    dur = t.duration.total_seconds() if t.duration is not None else None
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "last_step": last,
        "duration_s": dur,
        "params": dict(t.params),
    }


def _log_summary(cfg: TuneConfig, info: dict[str, Any], out: Path) -> str | None:
    """The study as one tracked run: settings, best parameters, per-trial values, files."""
    if cfg.tracking.backend == "disabled":
        return None
    tags = {
        "kind": "tune",
        "study": info["study"],
        "scenario": cfg.scenario,
        "role": cfg.role.name,
        "algo": cfg.algo.name,
        "run_dir": str(out.resolve()),
    }
    tracker = open_tracker(cfg.tracking, f"tune {info['study']}", tags=tags)
    try:
        settings = cfg.model_dump(mode="json", exclude={"tracking", "space"})
        params = flatten(settings)
        params["space"] = yaml.safe_dump(cfg.model_dump(mode="json")["space"])
        if info["best"] is not None:
            params.update(flatten(info["best"]["params"], "best."))
        tracker.log_params(params)
        states = [r["state"] for r in info["trials"]]
        summary = {
            "trials": len(states),
            "trials_complete": states.count("COMPLETE"),
            "trials_pruned": states.count("PRUNED"),
            "trials_failed": states.count("FAIL"),
        }
        if info["best"] is not None:
            summary["best_value"] = info["best"]["value"]
        tracker.log_metrics(summary, 0)
        for r in info["trials"]:
            if r["value"] is not None:
                tracker.log_metrics({"trial/value": r["value"]}, r["number"])
        for f in (out / "trials.csv", *(Path(p) for p in info["config_files"][:1])):
            tracker.log_artifact(f)
        tracker.end("FINISHED")
    except BaseException:
        tracker.end("FAILED")
        raise
    return tracker.run_id
