"""What a triage policy did on held-out episodes: the reward by term and the routes by true cause.

A mean episode reward says how well a policy did, not how. When a learned policy beats the
oracle, or the rules by more than the room they leave, the first question is whether it found
skill or an exploit of the reward; :func:`diagnose` answers it from the env's own ``info``:

==================  ============================================================================
field               meaning (per held-out episode unless stated)
==================  ============================================================================
returns             episode return, one per seed (equal to ``experiments.callbacks.evaluate``)
mean_return         the mean of ``returns``
terms               mean over episodes of each reward term's weighted sum, keyed by term; the
                    terms add up to the mean return
decisions           mean number of routing decisions (incidents routed)
routes              mean count of each route taken (routes never taken are left out)
by_cause            ``{true cause: {route: count over all episodes}}``; ``false_alarm`` is an
                    incident whose alerts match no injected fault
agree_rules         fraction of decisions equal to the rules' proposed route
agree_oracle        fraction of decisions equal to the oracle's route
==================  ============================================================================

Decisions of an episode with no incident at all (one no-op step to its horizon) are not counted.
Only ``info`` is read: ground truth never reaches the policy.

:func:`diagnose_result` gives the same fields for a stored ``experiments.evaluate`` result without
its policy: it replays each episode's recorded action log (its replay record) and refuses a
replay whose returns differ from the stored ones.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.playbooks import ROUTES
from envs.factory import make_env
from experiments.errors import UsageError
from experiments.results import Result
from scenarios import load_scenario


def diagnose(
    policy: Any, env: Any, seeds: Sequence[int], *, masked: bool = False
) -> dict[str, Any]:
    """Run ``policy`` deterministically on held-out ``seeds`` of a triage ``env``; see module doc.

    Args:
        policy: anything with SB3's ``predict(obs, deterministic=True[, action_masks=])``.
        env: a triage env (``envs.triage.TriageEnv`` or a wrapper of one).
        seeds: episode seeds of the scenario's eval split.
        masked: pass ``action_masks=env.action_masks()`` (MaskablePPO).

    Returns:
        A JSON-ready dict with the fields of the module docstring.
    """
    inner = env.unwrapped
    returns: list[float] = []
    terms: Counter[str] = Counter()
    routes: Counter[str] = Counter()
    by_cause: defaultdict[str, Counter[str]] = defaultdict(Counter)
    decisions = same_rules = same_oracle = 0
    for s in seeds:
        obs, info = env.reset(options={"split": "eval", "episode_seed": int(s)})
        done, ret = False, 0.0
        while not done:
            pending = "incident_id" in info
            oracle = inner.oracle_route() if pending else None
            if masked:
                action, _ = policy.predict(obs, deterministic=True, action_masks=env.action_masks())
            else:
                action, _ = policy.predict(obs, deterministic=True)
            if pending:
                route = ROUTES[int(action)]
                decisions += 1
                routes[route] += 1
                by_cause[str(info["true_cause"])][route] += 1
                same_rules += route == info["rules_route"]
                same_oracle += int(action) == oracle
            obs, r, term, trunc, info = env.step(action)
            ret += float(r)
            for k, v in info["reward_terms"].items():
                terms[k] += inner.weights[k] * v
            done = bool(term or trunc)
        returns.append(ret)
    n = max(len(seeds), 1)
    return {
        "returns": returns,
        "terms": {k: round(v / n, 4) for k, v in sorted(terms.items())},
        "decisions": decisions / n,
        "routes": {k: v / n for k, v in routes.most_common()},
        "by_cause": {c: dict(v.most_common()) for c, v in sorted(by_cause.items())},
        "agree_rules": round(same_rules / decisions, 4) if decisions else float("nan"),
        "agree_oracle": round(same_oracle / decisions, 4) if decisions else float("nan"),
        "mean_return": float(np.mean(returns)) if returns else float("nan"),
    }


class _ActionLog:
    """A "policy" that plays recorded actions in order, whatever it is shown."""

    def __init__(self, result: Result) -> None:
        self._log = iter([a for ep in result.episodes for a in ep.replay.actions])
        self.where = str(result.agent.spec)

    def predict(self, obs: Any, deterministic: bool = True, **_: Any) -> tuple[Any, None]:
        try:
            return next(self._log), None
        except StopIteration:
            raise UsageError(
                f"{self.where}: the action log ends before its episodes do; expected a result "
                "of this scenario as it is now (python -m experiments.leaderboard verify=true)"
            ) from None


def diagnose_result(result: Result) -> dict[str, Any]:
    """:func:`diagnose`'s fields for a stored triage result, re-derived from its action logs.

    The episodes are replayed on their seeds in the environment the result records (the
    scenario by its reference, the horizon ``env.days``); ``returns`` are the stored ones.

    Raises:
        UsageError: not a triage result, or a replay that does not give the stored returns (the
            scenario or the environment changed since it was evaluated).
    """
    if result.role != "triage":
        raise UsageError(f"{result.agent.spec}: a {result.role} result; expected a triage one")
    env = make_env(load_scenario(result.scenario.reference), "triage", days=result.env.days)
    d = diagnose(_ActionLog(result), env, [ep.seed for ep in result.episodes])
    for ep, again in zip(result.episodes, d["returns"], strict=True):
        stored = ep.return_
        if stored is None or not math.isclose(stored, again, rel_tol=1e-9, abs_tol=1e-9):
            raise UsageError(
                f"{result.agent.spec} on {result.scenario.name}, episode seed {ep.seed}: return "
                f"{stored!r} stored, the replay gives {again!r}; expected a result of this "
                "scenario as it is now (re-evaluate it)"
            )
    return d
