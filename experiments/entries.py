r"""The board's entries: train, export and evaluate every entry of a protocol, resumably.

Usage::

    python -m experiments.entries                                # all of protocol v1 (hours)
    python -m experiments.entries 'roles=[sla,cost]' jobs=2
    python -m experiments.entries 'roles=[triage]' 'algos.triage=[maskable_ppo]' \
        'scenarios=[sc0001]' 'seeds=[0,1]'
    python -m experiments.entries 'algos={triage:[],sla:[],cost:[]}'   # baselines and orgs only

What a board entry is (issue 15, ``configs/protocol/v1.yaml``): per role, a learning algorithm
trained once per (scored scenario, training seed) for the protocol's budget through
``python -m experiments.train`` (so each is an MLflow run, and exports its ONNX policy), then
that **exported policy** — the deployment artifact — evaluated by ``python -m
experiments.evaluate agent=onnx:<run>/policy`` on the scenario it was trained on, and on each
generalization scenario (``mixed``) without retraining. Which of an entry's three policies plays
the generalization scenario is ``generalization_from`` (default ``sc0002``, whose faults cover
the most of mixed's issue types); every result records the policy's card (its ``trained_on``).

Jobs, each a subprocess, ``jobs`` at a time (default 2, one per core; each pins torch to one
thread):

- **baselines** (``baselines=true``): ``baseline:noop|random|rules|oracle`` per role and
  scenario, and the organizations ``org:manual|static|elementary|rules`` per scenario (filed under
  the triage role), on every split of ``splits``;
- **learned**: per (role, algo, scenario, seed) one training run in
  ``<runs>/<role>/<scenario>/<algo>_seed<k>/``; its exported policy (``policy.onnx`` +
  ``policy.json``) is **published** to ``<policies>/<protocol>/<role>/<scenario>/<algo>/<seed>/``
  (default ``results/policies/``, committed beside the results), and that published copy is what
  is evaluated: every ranked policy can be downloaded, deployed and re-evaluated by anyone.

Results go to ``results.<split>`` (default: the test set — the board — to ``results/``, the dev
set to ``results/dev/``), in the layout of ``experiments.results``. The test set needs the salt
(``protocol.salt=`` or ``DATAOPS_GYM_SALT``), checked before anything starts.

Resuming: rerun the same command. An entry whose published policy's card records the budget and
the scenario file it was trained on (``training_run.timesteps``, ``training_run.scenario_sha256``)
is not retrained — on any machine, since the published policies are committed; otherwise a
training run whose ``run.json`` records the budget is not retrained, an interrupted one continues
from its checkpoints (``resume=<run dir>``); a result
file that ``experiments.evaluate.is_current`` finds as asked (the same spec, episode seeds — for
test, of this salt —, horizon, scenario sha256 and policy sha256) is not re-evaluated.
Several ``entries`` processes may run the same command at once (more cores, or machines sharing
``runs`` and the results on one file system): each job is taken under a file lock
(``<runs>/locks/<job>.lock``), a job another process holds is left to it and named at the end, and
the processes share the work without training anything twice.
Each job's output goes to ``<runs>/logs/<job>.log``; a failed job is reported at the end (exit 1)
and does not stop the others. ``dry_run=true`` lists the jobs and what each would do.

Bad values (a role, algo, scenario or split the protocol does not have, a missing salt) stop
with one line naming the key before any job starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments.errors import UsageError, as_int, run_entry, user_errors
from experiments.evaluate import is_current
from experiments.protocol import (
    SALT_ENV,
    SPLITS,
    Protocol,
    check_protocol_args,
    load_protocol,
    resolve_salt,
    salt_sha256,
)
from experiments.results import layout_path
from experiments.run_record import resume_overrides, trained_timesteps
from scenarios import load_scenario, scenario_sha256

ROOT: Final[Path] = Path(__file__).resolve().parents[1]
BASELINES: Final[tuple[str, ...]] = ("noop", "random", "rules", "oracle")
ORGS: Final[tuple[str, ...]] = ("manual", "static", "elementary", "rules")
ALGOS: Final[tuple[str, ...]] = tuple(
    sorted(p.stem for p in (ROOT / "configs/algo").glob("*.yaml"))
)
DISCRETE_ONLY: Final[tuple[str, ...]] = ("dqn", "maskable_ppo")
"""Algorithms for a discrete action space: only the triage role has one."""


@dataclass
class Evaluation:
    """One ``experiments.evaluate`` call and the result file it writes."""

    agent: str
    role: str
    scenario: str
    split: str
    kind: str
    name: str
    seed: int

    def path(self, s: Settings) -> Path:
        """The result file."""
        return layout_path(
            s.results[self.split], s.protocol.name, self.role, self.scenario, self.kind,
            self.name, self.seed,
        )  # fmt: skip

    def args(self, s: Settings) -> list[str]:
        """``experiments.evaluate`` overrides."""
        return [
            f"agent={self.agent}", f"role={self.role}", f"scenario={self.scenario}",
            f"split={self.split}", f"seed={self.seed}", f"name={self.name}",
            f"results={s.results[self.split]}", f"protocol={s.protocol.name}",
            *([f"episodes={s.episodes}"] if s.episodes is not None else []),
            *([f"days={s.days}"] if s.days is not None else []),
        ]  # fmt: skip


@dataclass
class Job:
    """A unit of work: an optional training run, then evaluations."""

    label: str
    evaluations: list[Evaluation]
    train: list[str] | None = None  # experiments.train overrides
    run_dir: Path | None = None
    budget: int = 0  # env steps of the training run
    published: Path | None = None  # where the exported policy is published (and evaluated from)
    scenario: str | None = None  # the scenario trained on


@dataclass
class Settings:
    """The checked settings (see the module docstring and ``configs/entries.yaml``)."""

    protocol: Protocol
    roles: list[str]
    algos: dict[str, list[str]]
    scenarios: list[str] | None
    seeds: list[int] | None
    timesteps: int | None
    splits: list[str]
    generalization_from: str
    baselines: bool
    jobs: int
    runs: Path
    results: dict[str, Path]
    policies: Path
    tracking: str
    n_envs: int
    episodes: int | None
    days: float | None
    train_args: list[str] = field(default_factory=list)
    salt: str | None = field(default=None, repr=False)  # never written: the subprocesses' env
    salt_sha: str | None = None
    dry_run: bool = False


def settings(cfg: DictConfig, tracking: str = "sqlite") -> Settings:
    """Check ``cfg`` (``configs/entries.yaml``; ``tracking``: the tracking group chosen).

    Raises:
        UsageError: one line naming the key.
    """
    proto = load_protocol(str(cfg.protocol.name))
    roles = [str(r) for r in (cfg.roles if cfg.roles is not None else proto.roles)]
    for r in roles:
        if r not in proto.roles:
            raise UsageError(f"roles: {r!r} is not a role of protocol {proto.name}; expected "
                             f"some of {list(proto.roles)}")  # fmt: skip
    algos: dict[str, list[str]] = {}
    for r in roles:
        given = (cfg.algos or {}).get(r)
        algos[r] = [str(a) for a in (given or [])]
        for a in algos[r]:
            if a not in ALGOS:
                raise UsageError(f"algos.{r}: unknown algo {a!r}; expected some of {list(ALGOS)}")
            if a in DISCRETE_ONLY and r != "triage":
                raise UsageError(f"algos.{r}: {a} needs a discrete action space; only the "
                                 "triage role has one")  # fmt: skip
    scenarios = None if cfg.scenarios is None else [str(x) for x in cfg.scenarios]
    for r in roles:
        for x in scenarios or []:
            if x not in proto.role(r).scenarios:
                raise UsageError(f"scenarios: {x!r} is not a scored scenario of protocol "
                                 f"{proto.name}'s {r} role; expected some of "
                                 f"{list(proto.role(r).scenarios)}")  # fmt: skip
    splits = [str(x) for x in cfg.splits]
    for x in splits:
        if x not in SPLITS:
            raise UsageError(f"splits: {x!r}; expected some of {list(SPLITS)}")
    gen = str(cfg.generalization_from)
    for r in roles:
        rp = proto.role(r)
        if rp.generalization and gen not in rp.scenarios:
            raise UsageError(
                f"generalization_from: {gen!r} is not a scored scenario of protocol "
                f"{proto.name}'s {r} role; expected one of {list(rp.scenarios)} (its policy plays "
                f"{list(rp.generalization)})"
            )
    salt = salt_sha = None
    if "test" in splits:
        salt = resolve_salt(cfg.protocol.get("salt"))
        if salt is None:
            raise UsageError(
                "protocol.salt: the test split needs the hidden set's salt; pass "
                f"protocol.salt=<secret> or set {SALT_ENV}, or splits=[dev]"
            )
        salt_sha = salt_sha256(salt)
    results = {x: Path(str(cfg.results[x])) for x in splits}
    return Settings(
        protocol=proto, roles=roles, algos=algos, scenarios=scenarios,
        seeds=None if cfg.seeds is None else [as_int({"seeds": v}, "seeds", minimum=0)
                                              for v in cfg.seeds],
        timesteps=None if cfg.timesteps is None else as_int(cfg, "timesteps", minimum=1),
        splits=splits, generalization_from=gen, baselines=bool(cfg.baselines),
        jobs=as_int(cfg, "jobs", minimum=1), runs=Path(str(cfg.runs)).resolve(), results=results,
        policies=Path(str(cfg.policies)).resolve(),
        tracking=tracking, n_envs=as_int(cfg, "n_envs", minimum=1),
        episodes=None if cfg.episodes is None else as_int(cfg, "episodes", minimum=1),
        days=None if cfg.days is None else float(cfg.days),
        train_args=[str(a) for a in cfg.train_args or []], salt=salt, salt_sha=salt_sha,
        dry_run=bool(cfg.dry_run),
    )  # fmt: skip


def plan(s: Settings) -> list[Job]:
    """Every job, baselines first (they are quick and every score is normalized by them)."""
    jobs: list[Job] = []
    if s.baselines:
        for role in s.roles:
            rp = s.protocol.role(role)
            for sc in rp.all_scenarios:
                evs = [Evaluation(f"baseline:{b}", role, sc, sp, "baseline", b, 0)
                       for b in BASELINES for sp in s.splits]  # fmt: skip
                if role == "triage":
                    evs += [Evaluation(f"org:{o}", role, sc, sp, "org", o, 0)
                            for o in ORGS for sp in s.splits]  # fmt: skip
                jobs.append(Job(f"baselines-{role}-{sc}", evs))
    for role in s.roles:
        rp = s.protocol.role(role)
        budget = s.timesteps or rp.training_budget_env_steps
        for algo in s.algos[role]:
            for seed in s.seeds if s.seeds is not None else rp.training_seeds:
                for sc in s.scenarios or rp.scenarios:
                    run = s.runs / role / sc / f"{algo}_seed{seed}"
                    pub = s.policies / s.protocol.name / role / sc / algo / str(seed)
                    agent = f"onnx:{pub}"
                    targets = [sc, *(rp.generalization if sc == s.generalization_from else ())]
                    evs = [Evaluation(agent, role, t, sp, "learned", algo, seed)
                           for t in targets for sp in s.splits]  # fmt: skip
                    train = [
                        f"scenario={sc}", f"role={role}", f"algo={algo}", f"seed={seed}",
                        f"train.timesteps={budget}", f"train.n_envs={s.n_envs}",
                        "train.vec_env=dummy", f"tracking={s.tracking}", "compare.episodes=0",
                        "train.progress_bar=false", f"hydra.run.dir={run}",
                        *([f"train.days={s.days}"] if s.days is not None else []),
                        *s.train_args,
                    ]  # fmt: skip
                    jobs.append(Job(f"{role}-{sc}-{algo}-seed{seed}", evs, train, run, budget,
                                    pub, sc))  # fmt: skip
    return jobs


def trained(run: Path, budget: int) -> bool:
    """Whether ``run`` holds a finished training of ``budget`` steps and its exported policy."""
    return (run / "policy" / "policy.onnx").is_file() and trained_timesteps(run) >= budget


POLICY_FILES: Final[tuple[str, ...]] = ("policy.onnx", "policy.json")
"""What a published policy directory holds: the ONNX graph and its card."""


def published(pub: Path, budget: int, scenario: str) -> bool:
    """Whether ``pub`` holds a policy trained for ``budget`` steps on ``scenario`` as it is now.

    The card's ``training_run`` records the steps and the scenario file's sha256; a policy of a
    smaller budget, of another scenario version, or whose ``policy.onnx`` is not the one its
    card names is not the entry's policy.
    """
    from agents.deploy.runtime import PolicyError, read_card, sha256_of

    if not all((pub / f).is_file() for f in POLICY_FILES):
        return False
    try:
        card = read_card(pub)
    except PolicyError:
        return False
    run = card.training_run
    return (
        int(run.get("timesteps", 0)) >= budget
        and run.get("scenario_sha256") == scenario_sha256(load_scenario(scenario))
        and card.onnx_sha256 == sha256_of((pub / "policy.onnx").read_bytes())
    )


def publish(run: Path, pub: Path) -> None:
    """Copy ``run``'s exported policy to ``pub``, whole or not at all (via a sibling temp dir)."""
    tmp = pub.with_name(pub.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in POLICY_FILES:
        shutil.copy2(run / "policy" / f, tmp / f)
    shutil.rmtree(pub, ignore_errors=True)
    tmp.rename(pub)


def current(ev: Evaluation, s: Settings) -> bool:
    """Whether ``ev``'s result file is what evaluating it now would write (``is_current``).

    For a learned policy the stored result must also be of the same ONNX file (its card's sha256).
    """
    sha = None
    if ev.agent.startswith("onnx:"):
        card = Path(ev.agent[5:]) / "policy.json"
        if not card.is_file():
            return False
        sha = json.loads(card.read_text()).get("onnx_sha256")
    return is_current(
        ev.path(s), ev.agent, load_scenario(ev.scenario), ev.split,
        s.episodes or s.protocol.role(ev.role).eval_episodes, days=s.days, salt=s.salt,
        sha256=sha,
    )  # fmt: skip


def _call(module: str, args: list[str], log: Path, salt: str | None) -> int:
    """Run ``python -m module args``, appending its output to ``log``; the salt goes by env."""
    env = {**os.environ, **({SALT_ENV: salt} if salt is not None else {})}
    with log.open("a") as f:
        f.write(f"$ python -m {module} {' '.join(args)}\n")
        f.flush()
        return subprocess.run(
            [sys.executable, "-m", module, *args], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
            env=env, check=False,
        ).returncode  # fmt: skip


BUSY: Final[str] = "busy"
"""``run_job``'s answer for a job another ``entries`` process holds."""


def run_job(job: Job, s: Settings) -> str | None:
    """Run one job unless another process holds it; returns None, ``BUSY``, or what failed."""
    from filelock import FileLock, Timeout

    locks = s.runs / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(locks / f"{job.label}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"entries: {job.label}: another entries process is running it", flush=True)
        return BUSY
    try:
        return _run_job(job, s)
    finally:
        lock.release()


def _run_job(job: Job, s: Settings) -> str | None:
    log = s.runs / "logs" / f"{job.label}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if (
        job.train is not None and job.run_dir is not None and job.published is not None
        and job.scenario is not None and not published(job.published, job.budget, job.scenario)
    ):  # fmt: skip
        if not trained(job.run_dir, job.budget):
            args = [*job.train, *resume_overrides(job.run_dir)]
            t = time.time()
            code = _call("experiments.train", args, log, None)
            if code != 0:
                return f"{job.label}: experiments.train exited {code}; see {log}"
            print(f"entries: trained {job.label} in {time.time() - t:.0f} s", flush=True)
        publish(job.run_dir, job.published)
        if not published(job.published, job.budget, job.scenario):
            return (
                f"{job.label}: the exported policy in {job.run_dir / 'policy'} does not record "
                f"the budget ({job.budget} steps) and the scenario's sha256; see {log}"
            )
    for ev in job.evaluations:
        if current(ev, s):
            continue
        code = _call("experiments.evaluate", ev.args(s), log, s.salt)
        if code != 0:
            where = f"{ev.scenario} {ev.split}"
            return f"{job.label}: experiments.evaluate exited {code} on {where}; see {log}"
        print(f"entries: {ev.path(s)}", flush=True)
    return None


def describe(job: Job, s: Settings) -> str:
    """What ``job`` would do now (for ``dry_run``)."""
    todo = [f"{e.agent.partition(':')[0]}:{e.name} {e.scenario} {e.split}"
            for e in job.evaluations if not current(e, s)]  # fmt: skip
    train = ""
    if job.train is not None and job.run_dir is not None and job.published is not None:
        if job.scenario is not None and published(job.published, job.budget, job.scenario):
            train = "published; "
        else:
            train = "trained; " if trained(job.run_dir, job.budget) else "train; "
    return f"{job.label}: {train}{len(todo)} evaluation(s) to run" + (
        f" ({', '.join(todo[:4])}{' …' if len(todo) > 4 else ''})" if todo else ""
    )


def run_all(s: Settings) -> tuple[list[str], list[str]]:
    """Run every job, ``s.jobs`` at a time; returns the failures and the jobs left to others."""
    jobs = plan(s)
    if s.dry_run:
        for job in jobs:
            print(describe(job, s))
        return [], []
    print(f"entries: {len(jobs)} jobs, {s.jobs} at a time; logs in {s.runs / 'logs'}", flush=True)
    with ThreadPoolExecutor(max_workers=s.jobs) as pool:
        outcomes = list(pool.map(lambda j: run_job(j, s), jobs))
    busy = [j.label for j, o in zip(jobs, outcomes, strict=True) if o == BUSY]
    return [o for o in outcomes if o is not None and o != BUSY], busy


@hydra.main(version_base="1.3", config_path="../configs", config_name="entries")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    with user_errors("entries"):
        s = settings(cfg, str(HydraConfig.get().runtime.choices["tracking"]))
    failures, busy = run_all(s)
    for f in failures:
        print(f"entries: failed: {f}", file=sys.stderr)
    if failures:
        raise SystemExit(1)
    if busy:
        print(f"entries: {len(busy)} job(s) left to another entries process ({', '.join(busy)}); "
              "rerun when it ends to check that every job is done")  # fmt: skip
    elif not s.dry_run:
        print("entries: done; rank them with python -m experiments.leaderboard")


if __name__ == "__main__":
    with user_errors("entries"):
        check_protocol_args(sys.argv[1:])
    run_entry("entries", main)
