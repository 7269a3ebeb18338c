r"""Evaluate an agent under a benchmark protocol and write its result file.

Usage::

    python -m experiments.evaluate agent=baseline:rules role=triage scenario=sc0001 \
        protocol=v1 split=dev
    python -m experiments.evaluate agent=onnx:policies/sc0001-triage role=triage scenario=mixed \
        protocol=v1 split=test protocol.salt=<secret>
    python -m experiments.evaluate --multirun agent=baseline:noop,baseline:random,baseline:rules \
        role=triage scenario=sc0001,sc0002,sc0003 split=dev

``agent`` is ``baseline:noop|random|rules|oracle``, ``onnx:<dir>``, ``sb3:<zip>`` or
``org:manual|static|elementary|rules`` (``experiments.agent_specs``). The episodes are the
protocol's evaluation seeds of ``split`` (``experiments.protocol.eval_seeds``: the public dev set,
or the hidden test set chosen by ``protocol.salt=`` / ``DATAOPS_GYM_SALT``), each run to the full
horizon with deterministic actions. Writes one result file (``experiments.results``)::

    <results>/<protocol>/<role>/<scenario>/<kind>/<agent>/<seed>.json

and prints its path and the mean return. Other keys: ``seed`` (the training seed; default: the
one a learned policy records, else 0), ``name`` (the agent's directory name), ``results``
(default ``results``), ``kind=submission`` (an ``onnx:`` policy filed as a submission:
``leaderboard submit`` does this), and for quick runs ``episodes`` (fewer than the protocol's)
and ``days`` (a shorter horizon) — both recorded in the file, so such a result is never
mistaken for a protocol run.

Bad input — an unknown agent form, a policy for another role or other spaces, a protocol that does
not exist, a test split without a salt, a results directory holding another protocol file's
results — stops with one line naming the key (``experiments.errors``), before anything is
written. Each job of a Hydra multirun writes its own file.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from envs import env_id_of
from envs.base import ROLES, DataOpsEnv
from envs.factory import make_env
from envs.sim.faults import check_scenario
from experiments.agent_specs import portable_spec, resolve_agent
from experiments.errors import (
    UsageError,
    as_float,
    as_int,
    check_writable,
    run_entry,
    user_errors,
)
from experiments.protocol import (
    check_protocol_args,
    eval_seeds,
    load_protocol,
    resolve_salt,
    salt_sha256,
)
from experiments.replay import Chooser, play, play_org
from experiments.results import (
    EnvRef,
    ProtocolRef,
    Result,
    ScenarioRef,
    check_results_dir,
    check_target,
    layout_path,
    read_result,
    write_result,
)
from scenarios import load_scenario, scenario_reference, scenario_sha256
from scenarios.spec import Scenario


def evaluate(
    agent: str,
    role: str,
    scenario: str,
    protocol: str = "v1",
    split: str = "dev",
    *,
    results: Path = Path("results"),
    seed: int | None = None,
    salt: str | None = None,
    episodes: int | None = None,
    days: float | None = None,
    name: str | None = None,
    submission: bool = False,
) -> tuple[Path, Result]:
    """Evaluate ``agent`` as ``role`` on ``scenario`` under ``protocol``; write the result.

    Args:
        agent: the agent spec (see the module docstring).
        role: ``triage``, ``sla`` or ``cost``.
        scenario: a registered scenario name or a path to a scenario file.
        protocol: the protocol's name (``configs/protocol/<name>.yaml``).
        split: ``dev`` or ``test``.
        results: the results directory (the layout's root).
        seed: the training seed (None: the learned policy's recorded one, else 0).
        salt: the test set's salt (None: ``DATAOPS_GYM_SALT``).
        episodes: evaluate only the first ``episodes`` seeds of the set (None: all of them).
        days: horizon override in days (None: the full horizon, as the protocol requires).
        name: the agent's directory name (None: from the spec).
        submission: file an ``onnx:`` policy as kind ``submission`` (``leaderboard submit``)
            instead of ``learned``.

    Returns:
        The file written and the result.

    Raises:
        UsageError: bad input (see the module docstring); ``ScenarioError`` for a bad scenario.
            Nothing is written then.
    """
    proto = load_protocol(protocol)
    if role not in ROLES:
        raise UsageError(f"role: unknown role {role!r}; expected one of {', '.join(ROLES)}")
    rp = proto.role(role)
    sc = load_scenario(scenario)
    check_scenario(sc)
    salt = resolve_salt(salt)
    seeds = eval_seeds(sc, split, rp.eval_episodes, salt)
    if episodes is not None:
        if not 0 < episodes <= len(seeds):
            raise UsageError(f"episodes: expected 1..{len(seeds)}, got {episodes}")
        seeds = seeds[:episodes]
    env = make_env(sc, role, days=days)
    resolved = resolve_agent(agent, role, env, name)
    kind = resolved.kind
    if submission:
        if not agent.startswith("onnx:"):
            raise UsageError(f"kind=submission: expected an onnx:<dir> agent, got {agent!r}")
        kind = "submission"
    training_seed = seed if seed is not None else (resolved.training_seed or 0)
    if training_seed < 0:
        raise UsageError(f"seed: expected an integer >= 0, got {training_seed}")
    check_results_dir(results, proto.name, proto.sha256)
    target = layout_path(results, proto.name, role, sc.name, kind, resolved.ref.name,
                         training_seed)  # fmt: skip
    check_target(results, target, split)

    inference_us: float | None = None
    if resolved.kind == "org":
        assert resolved.org is not None
        eps = [play_org(sc, s, resolved.org, days) for s in seeds]
    else:
        choose, spent = _timed(resolved.chooser(env, training_seed))
        eps = [play(env, s, choose) for s in seeds]
        inference_us = round(1e6 * spent[0] / spent[1], 2) if spent[1] else None
    result = Result(
        protocol=ProtocolRef(name=proto.name, sha256=proto.sha256),
        role=role,
        kind=kind,
        agent=resolved.ref,
        scenario=ScenarioRef(
            name=sc.name, reference=scenario_reference(sc), sha256=scenario_sha256(sc)
        ),
        env=EnvRef(id=env_id_of(sc.name), days=days, reward_weights=dict(env.weights)),
        training_seed=training_seed,
        split=split,
        salt_sha256=salt_sha256(salt) if split == "test" and salt else None,
        training_seconds=resolved.training_seconds,
        training_timesteps=resolved.training_timesteps,
        inference_us=inference_us,
        episodes=eps,
    )
    check_writable(target.parent)
    return write_result(results, result), result


def is_current(
    path: Path,
    agent: str,
    scenario: Scenario,
    split: str,
    episodes: int,
    *,
    days: float | None = None,
    salt: str | None = None,
    sha256: str | None = None,
) -> bool:
    """Whether the result file at ``path`` is what evaluating ``agent`` would write now.

    The same agent spec (``portable_spec``), split and episode seeds (``eval_seeds``: for the test
    set, those of ``salt``), horizon and scenario sha256, and — when ``sha256`` is given — the same
    policy file. Commands that skip an evaluation whose result is already stored (``learnability``,
    ``entries``) ask this; an unreadable file is not current.
    """
    if not path.is_file():
        return False
    try:
        r = read_result(path)
    except UsageError:
        return False
    return (
        r.agent.spec == portable_spec(agent)
        and r.split == split
        and [e.seed for e in r.episodes] == eval_seeds(scenario, split, episodes, salt)
        and r.env.days == days
        and r.scenario.sha256 == scenario_sha256(scenario)
        and (sha256 is None or r.agent.sha256 == sha256)
    )


def _timed(choose: Chooser) -> tuple[Chooser, list[float]]:
    """``choose`` with a stopwatch: ``[seconds spent deciding, decisions]``, updated per call."""
    spent = [0.0, 0.0]

    def timed(obs: np.ndarray, env: DataOpsEnv) -> Any:
        t0 = time.perf_counter()
        action = choose(obs, env)
        spent[0] += time.perf_counter() - t0
        spent[1] += 1
        return action

    return timed, spent


def summary(path: Path, result: Result) -> str:
    """One line: what was evaluated, the mean return (± standard error) and the file."""
    n = len(result.episodes)
    what = (
        f"{result.agent.spec} as {result.role} on {result.scenario.name} "
        f"({result.protocol.name} {result.split}, {n} episode{'s' if n != 1 else ''})"
    )
    rets = [e.return_ for e in result.episodes if e.return_ is not None]
    if rets:
        se = float(np.std(rets) / math.sqrt(len(rets)))
        score = f"mean return {float(np.mean(rets)):.3f} ± {se:.3f}"
    else:
        fix = [e.metrics.get("fix_success_rate") for e in result.episodes]
        vals = [v for v in fix if v is not None]
        score = f"fix_success_rate {float(np.mean(vals)):.3f}" if vals else "no return"
    return f"{what}: {score} -> {path}"


def _submission(kind: Any) -> bool:
    if kind is None:
        return False
    if kind != "submission":
        raise UsageError(f"kind={kind!r}: expected null (from the agent spec) or submission")
    return True


def _check_group_args(argv: list[str]) -> None:
    """Refuse ``protocol=`` or ``role=`` values that do not exist, before Hydra looks for them.

    Both are config groups (``configs/protocol``, ``configs/role``); Hydra's own error for a
    missing option is many lines.
    """
    check_protocol_args(argv)
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        for v in value.split(",") if key == "role" else ():  # a sweep names several
            if v not in ROLES:
                raise UsageError(f"role: unknown role {v!r}; expected one of {', '.join(ROLES)}")


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: plain values in, one result file out."""
    with user_errors("evaluate"):
        proto_cfg: Any = cfg.get("protocol") or {}
        path, result = evaluate(
            str(cfg.agent),
            str(cfg.role.name),
            str(cfg.scenario),
            str(proto_cfg.get("name")),
            str(cfg.split),
            results=Path(str(cfg.results)),
            seed=None if cfg.get("seed") is None else as_int(cfg, "seed", minimum=0),
            salt=None if proto_cfg.get("salt") is None else str(proto_cfg.get("salt")),
            episodes=None if cfg.get("episodes") is None else as_int(cfg, "episodes", minimum=1),
            days=as_float(cfg, "days", allow_none=True, positive=True),
            name=None if cfg.get("name") is None else str(cfg.name),
            submission=_submission(cfg.get("kind")),
        )
    print(summary(path, result))


if __name__ == "__main__":
    with user_errors("evaluate"):
        _check_group_args(sys.argv[1:])
    run_entry("evaluate", main)
