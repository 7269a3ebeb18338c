"""Evaluation episodes that can be replayed: run one, record its action log, re-derive it later.

``play(env, seed, choose)`` runs one full episode of a role's environment on an eval seed with
``choose(obs, env)`` picking each action, and returns an ``experiments.results.Episode``: the
return, the reward terms (per term, the sum over steps of weight × term, as
``experiments.triage_diagnosis`` sums them), the steps, the scorecard metrics of the episode (the
organization the agent was part of, ``agents.scoring.scorecard``) and the replay record.
``replay(env, episode.replay)`` plays the recorded action log instead of a policy; since the same
(scenario, seed, action log) gives the same event log (DESIGN §2), it re-derives the return and
the digest exactly. ``play_org`` runs an organization on its own (no role's decisions, no return).

The event log's digest (``event_digest``) is sha256 over the ``repr`` of every run record of the
world's log, then every action record, then every fault's ledger record, in order: cheap (one pass
over tuples of numbers and strings, no files) and deterministic (``repr`` of a float is exact).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from agents.knowledge import KnowledgeBase
from agents.records import EpisodeResult
from agents.scoring.scorecard import scorecard
from agents.slots.runner import run_episode
from envs.base import DataOpsEnv
from envs.sim.world import World
from experiments.results import Action, Episode, Replay
from scenarios import scenario_sha256
from scenarios.spec import Scenario

Chooser = Callable[[np.ndarray, DataOpsEnv], Any]
"""Picks the action for an observation (the env is given for masks and for the oracle)."""


class ReplayError(ValueError):
    """An action log that does not fit its episode (too short, too long, or an invalid action)."""


def event_digest(world: World) -> str:
    """sha256 of the world's event log: its runs, actions and faults (see the module docstring)."""
    h = hashlib.sha256()
    for group in (world.log, world.actions, [f.record() for f in world.faults]):
        h.update(b"\x1e")
        for rec in group:
            h.update(repr(tuple(rec)).encode())
            h.update(b"\n")
    return h.hexdigest()


def episode_metrics(ep: EpisodeResult) -> dict[str, float | None]:
    """The scorecard metrics of one episode (NaN as None), without its seed."""
    row = dict(scorecard([ep])["episodes"][0])
    row.pop("seed", None)
    return {str(k): (None if v is None else float(v)) for k, v in row.items()}


def _as_action(action: Any) -> Action:
    a = np.asarray(action)
    if a.ndim == 0:
        return int(a)
    return [int(x) for x in a.ravel()]


def play(env: DataOpsEnv, seed: int, choose: Chooser) -> Episode:
    """Run one eval episode of ``env`` on ``seed`` with ``choose`` acting; see the module doc."""
    obs, _ = env.reset(options={"split": "eval", "episode_seed": int(seed)})
    actions: list[Action] = []
    terms: dict[str, float] = {}
    ret, done = 0.0, False
    while not done:
        action = _as_action(choose(obs, env))
        actions.append(action)
        obs, r, term, trunc, info = env.step(
            np.asarray(action, dtype=np.int64) if isinstance(action, list) else action
        )
        ret += float(r)
        for k, v in info["reward_terms"].items():
            terms[k] = terms.get(k, 0.0) + env.weights[k] * v
        done = bool(term or trunc)
    return _finish(env, seed, ret, terms, actions)


def replay(env: DataOpsEnv, record: Replay) -> Episode:
    """Play the action log of ``record`` on its seed; the episode it re-derives.

    Raises:
        ReplayError: the log ends before the episode does, outlasts it, or holds an action the
            env refuses.
    """
    log: Iterator[Action] = iter(record.actions)
    n = len(record.actions)
    used = 0

    def choose(_obs: np.ndarray, _env: DataOpsEnv) -> Any:
        nonlocal used
        try:
            action = next(log)
        except StopIteration:
            raise ReplayError(f"the action log ({n} actions) ends before the episode") from None
        used += 1
        return action

    try:
        ep = play(env, record.episode_seed, choose)
    except ValueError as e:
        if isinstance(e, ReplayError):
            raise
        raise ReplayError(f"action {used} of the log is refused by the env ({e})") from None
    if used != n:
        raise ReplayError(f"the episode ended after {used} of the log's {n} actions")
    return ep


def _finish(
    env: DataOpsEnv, seed: int, ret: float, terms: dict[str, float], actions: list[Action]
) -> Episode:
    assert env.world is not None and env.org is not None
    digest = event_digest(env.world)  # before the books are closed
    metrics = episode_metrics(env.org.finish())
    return Episode(
        seed=int(seed),
        return_=ret,
        reward_terms=terms,
        steps=len(actions),
        metrics=metrics,
        replay=Replay(
            scenario_sha256=scenario_sha256(env.scenario),
            episode_seed=int(seed),
            actions=actions,
            event_digest=digest,
        ),
    )


def play_org(scenario: Scenario, seed: int, org: str, days: float | None = None) -> Episode:
    """Run organization ``org`` on its own on eval ``seed``: scorecard metrics and replay record.

    Each episode starts with an empty knowledge base, as an environment's episode does, so that
    one episode can be replayed on its own (``run_org`` carries its knowledge base from one
    episode to the next instead).
    """
    world, ep = run_episode(
        scenario, int(seed), org, days=days, knowledge=KnowledgeBase(":memory:")
    )
    return Episode(
        seed=int(seed),
        return_=None,
        reward_terms={},
        steps=0,
        metrics=episode_metrics(ep),
        replay=Replay(
            scenario_sha256=scenario_sha256(scenario),
            episode_seed=int(seed),
            actions=[],
            event_digest=event_digest(world),
        ),
    )
