"""Verify stored results by replaying every episode: nothing on the board is taken on trust.

Usage::

    python -m experiments.verify results=<dir>          # default: results

(The contract ``python -m experiments.leaderboard verify=true results=<dir>`` calls the same
``verify``.) For every result file under ``<dir>`` (``experiments.results.result_files``):

1. the file validates against the result schema;
2. its protocol sha256 is that of ``configs/protocol/<name>.yaml`` now;
3. it sits where the layout puts it (a file moved to another agent's place is refused);
4. its scenario loads from its reference and has the recorded sha256 (so does every replay);
5. its episode seeds are the protocol's: the first seeds of the dev set, or, for test, seeds of
   the eval split outside the dev set (and exactly the salted test seeds when ``salt`` is given
   and its sha256 is the recorded one);
6. every episode is replayed from its replay record — the env reset on the episode seed and the
   action log played (``experiments.replay.replay``), or, for an organization, the organization
   run again — and its return, reward terms, steps, metrics and event-log digest must equal the
   stored ones exactly.

The first failure stops verification with one line naming the file and the episode
(``verify: error: <file>: episode 2 (seed 1000001): return ... stored, the replay gives ...``)
and exit code 1 (2 for a bad command line); success prints how many files and episodes passed.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from envs.factory import make_env
from experiments.agent_specs import ORGS
from experiments.errors import UsageError, fail, run_entry, user_errors
from experiments.protocol import eval_seeds, load_protocol, resolve_salt, salt_sha256
from experiments.replay import ReplayError, play_org, replay
from experiments.results import Episode, Result, read_result, result_files, result_path
from scenarios import load_scenario, scenario_sha256
from scenarios.loader import ScenarioError


class VerifyError(ValueError):
    """A stored result that its replay does not reproduce (one line: the file, the episode, why)."""


def verify(root: Path, salt: str | None = None) -> tuple[int, int]:
    """Verify every result file under ``root``; see the module docstring.

    Args:
        root: the results directory.
        salt: the test set's salt, if known (None: ``DATAOPS_GYM_SALT``, else only checks that
            test seeds are outside the dev set).

    Returns:
        (files, episodes) verified.

    Raises:
        VerifyError: the first result that fails, naming the file and the episode.
        UsageError: ``root`` is not a directory or holds no result file.
    """
    if not root.is_dir():
        raise UsageError(f"results={str(root)!r}: not a directory")
    files = result_files(root)
    if not files:
        raise UsageError(
            f"results={str(root)!r}: no result files (<protocol>/<role>/<scenario>/<kind>/"
            "<agent>/<seed>.json) under it"
        )
    salt = resolve_salt(salt)
    episodes = 0
    for path in files:
        episodes += verify_file(root, path, salt)
    return len(files), episodes


def verify_file(root: Path, path: Path, salt: str | None = None) -> int:
    """Verify one result file (steps 1-6 of the module docstring); returns its episode count.

    Raises:
        VerifyError: naming ``path`` and, for a replay that differs, the episode.
    """
    try:
        result = read_result(path)
        proto = load_protocol(result.protocol.name)
    except UsageError as e:
        raise VerifyError(str(e) if str(e).startswith(str(path)) else f"{path}: {e}") from None
    if proto.sha256 != result.protocol.sha256:
        raise VerifyError(
            f"{path}: protocol {result.protocol.name} sha256 {result.protocol.sha256[:12]}… "
            f"differs from configs/protocol/{proto.name}.yaml ({proto.sha256[:12]}…)"
        )
    _check_kind(path, result)
    where = result_path(root, result)
    if where.resolve() != path.resolve():
        raise VerifyError(f"{path}: its content belongs at {where} (role/scenario/kind/agent/seed)")
    try:
        sc = load_scenario(result.scenario.reference)
    except ScenarioError as e:
        raise VerifyError(f"{path}: scenario {result.scenario.reference}: {e}") from None
    sha = scenario_sha256(sc)
    if sha != result.scenario.sha256:
        raise VerifyError(
            f"{path}: scenario {result.scenario.reference} now has sha256 {sha[:12]}…, the "
            f"result was produced on {result.scenario.sha256[:12]}…"
        )
    _check_seeds(path, result, sc, proto.role(result.role).eval_episodes, salt)
    env = None
    if result.kind != "org":
        env = make_env(sc, result.role, days=result.env.days,
                       reward_weights=dict(result.env.reward_weights))  # fmt: skip
    for i, ep in enumerate(result.episodes):
        tag = f"{path}: episode {i} (seed {ep.seed})"
        if ep.replay.scenario_sha256 != sha or ep.replay.episode_seed != ep.seed:
            raise VerifyError(f"{tag}: its replay record names another scenario or seed")
        try:
            if env is None:
                org = result.agent.spec.partition(":")[2]
                again = play_org(sc, ep.seed, org, result.env.days)
            else:
                again = replay(env, ep.replay)
        except ReplayError as e:
            raise VerifyError(f"{tag}: {e}") from None
        _compare(tag, ep, again)
    return len(result.episodes)


_FORMS = {"baseline": ("baseline",), "org": ("org",), "learned": ("onnx", "sb3"),
          "submission": ("onnx",)}  # fmt: skip


def _check_kind(path: Path, result: Result) -> None:
    form, _, arg = result.agent.spec.partition(":")
    if form not in _FORMS[result.kind] or (result.kind == "org" and arg not in ORGS):
        raise VerifyError(f"{path}: agent {result.agent.spec!r} is not of kind {result.kind!r}")


def _check_seeds(path: Path, result: Result, sc: Any, n: int, salt: str | None) -> None:
    seeds = [ep.seed for ep in result.episodes]
    dev = eval_seeds(sc, "dev", n)
    if result.split == "dev":
        if seeds != dev[: len(seeds)]:
            raise VerifyError(f"{path}: its episode seeds are not the protocol's dev seeds")
        return
    if salt is not None and result.salt_sha256 == salt_sha256(salt):
        expected = eval_seeds(sc, "test", n, salt)
        if seeds != expected[: len(seeds)]:
            raise VerifyError(f"{path}: its episode seeds are not the salted test seeds")
        return
    pool = set(sc.spec.seeds.eval.seeds()) - set(dev)
    if not set(seeds) <= pool or len(set(seeds)) != len(seeds):
        raise VerifyError(f"{path}: its test seeds are not distinct eval seeds outside the dev set")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _compare(tag: str, stored: Episode, again: Episode) -> None:
    """Raise ``VerifyError`` at the first field where the replay differs from the stored episode."""
    checks: list[tuple[str, Any, Any]] = [
        ("event-log digest", stored.replay.event_digest, again.replay.event_digest),
        ("return", stored.return_, again.return_),
        ("steps", stored.steps, again.steps),
    ]
    for k in sorted(set(stored.reward_terms) | set(again.reward_terms)):
        checks.append((f"reward term {k}", stored.reward_terms.get(k), again.reward_terms.get(k)))
    for k in sorted(set(stored.metrics) | set(again.metrics)):
        checks.append((f"metric {k}", stored.metrics.get(k), again.metrics.get(k)))
    for what, a, b in checks:
        if not _same(a, b):
            raise VerifyError(f"{tag}: {what} {a!r} stored, the replay gives {b!r}")


@hydra.main(version_base="1.3", config_path="../configs", config_name="verify")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: verify ``results``; one line either way."""
    root = Path(str(cfg.results))
    with user_errors("verify"):
        try:
            files, episodes = verify(root, None if cfg.get("salt") is None else str(cfg.salt))
        except VerifyError as e:
            fail("verify", str(e), code=1)
    print(f"verify: {files} result files, {episodes} episodes replayed: all match ({root})")


if __name__ == "__main__":
    run_entry("verify", main, sys.argv[1:])
