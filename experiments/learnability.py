r"""Is triage learnable and not trivial? The room table: a view over evaluate and train.

Usage::

    python -m experiments.learnability scenarios=[sc0001,sc0002,sc0003] seeds=[0,1,2] \
        timesteps=50000
    python -m experiments.learnability scenarios=[sc0002] seeds=[] results=results  # baselines
    python -m experiments.learnability agents=[sb3:<run>/model.zip] seeds=[]

One protocol, not two (issue 15): this module measures nothing itself. Per scenario it

1. evaluates ``baseline:random``, ``baseline:rules`` and ``baseline:oracle`` with
   ``experiments.evaluate.evaluate`` on the protocol's **dev** seeds (the first ``eval_episodes``;
   default: all of the protocol's, deterministic actions), writing the result files of the
   layout ``<results>/<protocol>/triage/<scenario>/<kind>/<agent>/<seed>.json``;
2. trains the learned entry (``algo``, default MaskablePPO) once per training seed by running
   ``python -m experiments.train`` itself — its configured hyperparameters (``configs/algo``), its
   tracking, its run directory ``<out>/train/<scenario>/<algo>_seed<k>/`` — for ``timesteps``
   env steps (default: the protocol's budget), with its own post-training comparison turned off
   (``compare.episodes=0``), then evaluates ``sb3:<run>/model.zip`` like any agent (directory
   ``<algo>``, the training seed as the file's seed);
3. evaluates each further ``agents=`` spec (``sb3:<zip>`` or ``onnx:<dir>``) as it is;
4. prints the room table — random, rules and oracle mean returns, room = (oracle − rules) /
   (rules − random), each learned entry's mean (its seeds' means in brackets) — and the
   diagnosis table: per policy the reward by term, decisions per episode and agreement with the
   rules and the oracle. The diagnosis (``experiments.triage_diagnosis.diagnose_result``) replays
   each result file's action logs, so it describes exactly the episodes the numbers come from.

Everything it prints comes from the result files; ``learnability.json`` in the run directory
holds the view: per scenario and policy the spec, the result file (relative to the working
directory when inside it) and its sha256, the returns, their mean and the diagnosis (routes by
true cause included); the room; the learned entries' seed means. Rank the same files with
confidence intervals with ``python -m experiments.leaderboard results=<results> split=dev
out=<file>``.

Keys: ``scenarios``, ``seeds`` (null: the protocol's training seeds; ``[]``: no training),
``timesteps`` (null: the protocol's budget), ``eval_episodes`` (null: the protocol's, at most
that), ``agents``, ``n_envs`` (``train.n_envs``), ``train_args`` (more ``experiments.train``
overrides), ``days`` (a shorter horizon for quick runs, recorded in every result), ``results``
(null: ``<run dir>/results``; ``results`` reuses the repository's board results) and the config
groups ``protocol`` (``configs/protocol``), ``algo`` (``configs/algo``, as ``experiments.train``)
and ``tracking`` (the training runs' tracking, as ``experiments.train``). The keys users of the
earlier module know (``scenarios``, ``seeds``, ``timesteps``, ``eval_episodes``, ``n_envs``) keep
their meaning. Bad values stop with one line naming the key before anything is trained or
written; a training run that fails stops the view with one line (exit 1, or 130/143 when it was
interrupted) saying how to resume.

Resuming: rerun the same command with the same ``hydra.run.dir``. A result file that matches what
is asked (dev split, the same episode seeds, horizon and scenario sha256; for a learned policy the
same model sha256) is read, not re-evaluated; a training run whose ``model.zip`` has the
timesteps asked is not retrained, and one that was interrupted continues from its checkpoints
(``resume=<run dir>``); a diagnosis is kept in ``learnability.json`` beside the sha256 of its
result file. ``agents=`` entries are evaluated anew on every run.

Before issue 15 this module trained MaskablePPO with SB3's default hyperparameters in a loop of
its own, evaluated with its own loop, and wrote ``learnability.json`` in another shape beside
``maskable_ppo_<scenario>_seed<k>.zip`` files: a second protocol. The studies in
``docs/studies/scenario-room/`` were made that way, at the commits their README names.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from envs.sim.faults import check_scenario
from experiments.agent_specs import portable_spec
from experiments.errors import UsageError, as_float, as_int, fail, run_entry, user_errors
from experiments.evaluate import evaluate, is_current
from experiments.protocol import check_protocol_args, load_protocol
from experiments.results import cwd_relative, layout_path, read_result
from experiments.run_record import resume_overrides, trained_timesteps
from experiments.triage_diagnosis import diagnose_result
from scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ("random", "rules", "oracle")
VIEW_FILE = "learnability.json"
ROLE = "triage"


def room(random: float, rules: float, oracle: float) -> float | None:
    """(oracle − rules) / (rules − random): the share of the rules' lead the oracle adds."""
    return None if rules == random else (oracle - rules) / (rules - random)


def _shown(path: Path) -> str:
    """``path`` as the view records it.

    Relative to the working directory (the repository root, where the lab's commands run) when it
    lies inside it, so that a committed view names no machine path; absolute otherwise.
    """
    return cwd_relative(path) or str(path.resolve())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class View:
    """One run of the view: its settings, the result files it reads or writes, its JSON."""

    def __init__(self, cfg: dict[str, Any], out: Path) -> None:
        self.cfg, self.out = cfg, out
        self.proto = load_protocol(cfg["protocol"])
        self.results = Path(cfg["results"])
        self.path = out / VIEW_FILE
        before = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.cache: dict[str, Any] = {
            p.get("sha256"): p.get("diagnosis")
            for sc in (before.get("scenarios") or {}).values()
            for p in (sc.get("policies") or {}).values()
            if p.get("diagnosis") is not None
        }
        self.view: dict[str, Any] = {
            k: cfg[k] for k in ("protocol", "eval_episodes", "days", "algo", "timesteps")
        }
        self.view.update(split="dev", results=_shown(self.results), scenarios={})

    def result(self, sc: Any, spec: str, name: str, seed: int | None, model: Path | None) -> Path:
        """The result file of ``spec`` on ``sc``: read when it matches, else evaluated anew.

        ``seed`` None: the one the policy records (an ``agents=`` entry, always evaluated anew);
        ``model``: the file whose sha256 a stored learned result must have (None: a baseline).
        """
        kind = "baseline" if spec.startswith("baseline:") else "learned"
        target = layout_path(self.results, self.proto.name, ROLE, sc.name, kind, name, seed or 0)
        reusable = seed is not None and (kind == "baseline" or model is not None)
        sha = _sha256(model) if model is not None else None
        if reusable and is_current(target, spec, sc, "dev", self.cfg["eval_episodes"],
                                   days=self.cfg["days"], sha256=sha):  # fmt: skip
            print(f"learnability: {spec} on {sc.name}: reusing {target}")
            return target
        path, r = evaluate(
            spec, ROLE, str(self.cfg["scenario_refs"][sc.name]), self.proto.name, "dev",
            results=self.results, seed=seed, episodes=self.cfg["eval_episodes"],
            days=self.cfg["days"], name=name,
        )  # fmt: skip
        print(f"learnability: {spec} on {sc.name}: mean return {r.mean_return:.3f} -> {path}")
        return path

    def record(
        self, sc_name: str, key: str, spec: str, path: Path, entry_name: str | None = None
    ) -> None:
        """Add a policy's numbers and diagnosis (replayed, or kept from before) to the view.

        ``entry_name`` groups a learned policy's seeds into one entry (None: a baseline).
        """
        r = read_result(path)
        sha = _sha256(path)
        diagnosis = self.cache.get(sha)
        if diagnosis is None:
            diagnosis = {k: v for k, v in diagnose_result(r).items() if k != "returns"}
        returns = [float(e.return_) for e in r.episodes if e.return_ is not None]
        entry = {"spec": portable_spec(spec), "entry": entry_name, "file": _shown(path),
                 "sha256": sha, "training_seed": r.training_seed,
                 "mean_return": float(np.mean(returns)), "returns": returns,
                 "diagnosis": diagnosis}  # fmt: skip
        sc = self.view["scenarios"].setdefault(sc_name, {"policies": {}})
        sc["policies"][key] = entry
        self._summarize(sc)
        self.path.write_text(json.dumps(self.view, indent=1))  # after each policy: resumable

    def _summarize(self, sc: dict[str, Any]) -> None:
        pol = sc["policies"]
        means = {b: pol[b]["mean_return"] for b in BASELINES if b in pol}
        sc["room"] = room(means["random"], means["rules"], means["oracle"]) if len(means) == 3 \
            else None  # fmt: skip
        learned: dict[str, dict[str, Any]] = {}
        for p in pol.values():
            if p["entry"] is None:
                continue
            entry = learned.setdefault(p["entry"], {"seed_means": {}})
            entry["seed_means"][str(p["training_seed"])] = p["mean_return"]
        for entry in learned.values():
            entry["mean"] = float(np.mean(list(entry["seed_means"].values())))
        sc["learned"] = learned


def _train(cfg: dict[str, Any], out: Path, sc_name: str, seed: int) -> Path:
    """Train one seed through ``python -m experiments.train`` (or reuse/resume its run)."""
    run = (out / "train" / sc_name / f"{cfg['algo']}_seed{seed}").resolve()
    model = run / "model.zip"
    if model.is_file() and trained_timesteps(run) >= cfg["timesteps"]:
        print(f"learnability: {cfg['algo']} seed {seed} on {sc_name}: reusing {model}")
        return model
    cmd = [
        sys.executable, "-m", "experiments.train", f"scenario={cfg['scenario_refs'][sc_name]}",
        f"role={ROLE}", f"algo={cfg['algo']}", f"seed={seed}",
        f"train.timesteps={cfg['timesteps']}", f"train.n_envs={cfg['n_envs']}",
        f"tracking={cfg['tracking']}", "compare.episodes=0", f"hydra.run.dir={run}",
        *([f"train.days={cfg['days']}"] if cfg["days"] is not None else []),
        *resume_overrides(run), *cfg["train_args"],
    ]  # fmt: skip
    print(f"learnability: training {cfg['algo']} seed {seed} on {sc_name}: {' '.join(cmd[1:])}")
    code = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    if code != 0:
        fail("learnability", f"experiments.train exited {code} for {sc_name} seed {seed} (its "
             f"message is above); rerun with hydra.run.dir={out} to resume from {run}",
             code=code if code in (130, 143) else 1)  # fmt: skip
    return model


def run(cfg: dict[str, Any], out: Path) -> dict[str, Any]:
    """Evaluate, train and evaluate; returns the view (also ``out/learnability.json``).

    Args:
        cfg: the checked settings (``settings``).
        out: the run directory (training runs, ``learnability.json``).
    """
    view = View(cfg, out)
    for sc_name, ref in cfg["scenario_refs"].items():
        sc = load_scenario(str(ref))
        for b in BASELINES:
            view.record(sc_name, b, f"baseline:{b}", view.result(sc, f"baseline:{b}", b, 0, None))
        for seed in cfg["seeds"]:
            model = _train(cfg, out, sc_name, seed)
            spec = f"sb3:{model}"
            path = view.result(sc, spec, cfg["algo"], seed, model)
            view.record(sc_name, f"{cfg['algo']}_seed{seed}", spec, path, cfg["algo"])
        for spec in cfg["agents"]:
            name = _agent_name(spec)
            path = view.result(sc, spec, name, None, None)
            view.record(sc_name, name, spec, path, name)
    view.path.write_text(json.dumps(view.view, indent=1))
    return view.view


def _agent_name(spec: str) -> str:
    """The agent's directory in the layout, as ``evaluate`` names it by default."""
    p = Path(spec.partition(":")[2]).resolve()
    return p.parent.name if p.suffix == ".zip" and p.stem == "model" else p.stem or p.name


def settings(cfg: Any, choices: dict[str, Any]) -> dict[str, Any]:
    """The plain settings of ``cfg``, checked; defaults filled from the protocol.

    Args:
        cfg: the composed config (``configs/learnability.yaml``).
        choices: the config groups chosen (``protocol``, ``algo``, ``tracking``).

    Raises:
        UsageError: one line naming the key (a ``ScenarioError`` for a bad scenario).
    """
    proto = load_protocol(str(choices["protocol"]))
    rp = proto.role(ROLE)
    refs: dict[str, str] = {}
    for s in cfg.scenarios or []:
        sc = load_scenario(str(s))
        check_scenario(sc)
        # a scenario file is passed on by absolute path: training runs from the repository root
        refs[sc.name] = str(Path(str(s)).resolve()) if Path(str(s)).is_file() else str(s)
    if not refs:
        raise UsageError("scenarios=[]: expected at least one scenario")
    seeds_given = cfg.get("seeds")
    seeds = list(rp.training_seeds) if seeds_given is None else [
        as_int({"seeds": s}, "seeds", minimum=0) for s in seeds_given
    ]  # fmt: skip
    out: dict[str, Any] = {"protocol": proto.name, "scenario_refs": refs, "seeds": seeds}
    for key, default in (("timesteps", rp.training_budget_env_steps),
                         ("eval_episodes", rp.eval_episodes)):  # fmt: skip
        out[key] = default if cfg.get(key) is None else as_int(cfg, key, minimum=1)
    if out["eval_episodes"] > rp.eval_episodes:
        raise UsageError(f"eval_episodes={out['eval_episodes']}: expected 1..{rp.eval_episodes} "
                         f"(the dev seeds of protocol {proto.name})")  # fmt: skip
    out["n_envs"] = as_int(cfg, "n_envs", minimum=1)
    out["days"] = as_float(cfg, "days", allow_none=True, positive=True)
    out["algo"] = str(cfg.algo.name)
    out["agents"] = [str(a) for a in cfg.get("agents") or []]
    for a in out["agents"]:
        if not a.startswith(("sb3:", "onnx:")):
            raise UsageError(f"agents: {a!r}; expected sb3:<zip> or onnx:<dir> (the baselines "
                             "and the trained entry are evaluated anyway)")  # fmt: skip
    out["train_args"] = [str(a) for a in cfg.get("train_args") or []]
    out["tracking"] = str(choices["tracking"])
    out["results"] = cfg.get("results")
    return out


def _fmt(p: dict[str, Any] | None) -> str:
    if p is None:
        return "–"
    r = p["returns"]
    return f"{np.mean(r):.2f} ± {np.std(r) / math.sqrt(len(r)):.2f}"


def print_view(view: dict[str, Any]) -> None:
    """The room table and the diagnosis table."""
    n = view["eval_episodes"]
    names = sorted({k for sc in view["scenarios"].values() for k in sc["learned"]})
    t = Table(title=f"triage: mean return on the first {n} dev episodes of protocol "
              f"{view['protocol']} (room = (oracle − rules) / (rules − random))")  # fmt: skip
    for col in ("scenario", *BASELINES, "room", *names):
        t.add_column(col)
    for sc_name, sc in view["scenarios"].items():
        pol = sc["policies"]
        cells = []
        for name in names:
            e = sc["learned"].get(name)
            seeds = ", ".join(f"{m:.2f}" for m in (e or {}).get("seed_means", {}).values())
            cells.append("–" if e is None else f"{e['mean']:.2f} ({seeds})")
        rm = "–" if sc.get("room") is None else f"{100 * sc['room']:.1f}%"
        t.add_row(sc_name, *(_fmt(pol.get(b)) for b in BASELINES), rm, *cells)
    console = Console(width=160)
    console.print(t)
    terms = sorted({k for sc in view["scenarios"].values() for p in sc["policies"].values()
                    for k in p["diagnosis"]["terms"]})  # fmt: skip
    d = Table(title="how: mean per episode of each weighted reward term, decisions, agreement")
    for col in ("scenario", "policy", "return", *terms, "decisions", "=rules", "=oracle"):
        d.add_column(col)
    for sc_name, sc in view["scenarios"].items():
        for key, p in sc["policies"].items():
            g = p["diagnosis"]
            d.add_row(
                sc_name, key, f"{g['mean_return']:.2f}",
                *(f"{g['terms'].get(k, 0.0):.2f}" for k in terms), f"{g['decisions']:.1f}",
                f"{g['agree_rules']:.2f}", f"{g['agree_oracle']:.2f}",
            )  # fmt: skip
    console.print(d)


@hydra.main(version_base="1.3", config_path="../configs", config_name="learnability")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: checked settings in, the view printed and written."""
    out = Path(HydraConfig.get().runtime.output_dir)
    choices = dict(HydraConfig.get().runtime.choices)
    with user_errors("learnability"):  # bad values fail before anything is trained or written
        s = settings(cfg, choices)
        s["results"] = str(out / "results") if s["results"] is None else str(s["results"])
        view = run(s, out)
    print_view(view)
    print(f"outputs: {out}  (results: {view['results']})")


def _check_group_args(argv: list[str]) -> None:
    """Refuse ``protocol=``, ``algo=`` or ``tracking=`` options that do not exist, before Hydra.

    They are config groups (``configs/<group>/<option>.yaml``); Hydra's own error is many lines.
    """
    check_protocol_args(argv)
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key in ("algo", "tracking"):
            options = sorted(p.stem for p in (ROOT / "configs" / key).glob("*.yaml"))
            if value not in options:
                raise UsageError(f"{key}: unknown option {value!r}; expected one of "
                                 f"{', '.join(options)}")  # fmt: skip


if __name__ == "__main__":
    with user_errors("learnability"):
        _check_group_args(sys.argv[1:])
    run_entry("learnability", main)
