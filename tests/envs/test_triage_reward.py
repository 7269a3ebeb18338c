"""The triage reward pays for handling real faults, never for false alarms or for noise."""

from __future__ import annotations

import numpy as np

from agents.playbooks import ROUTES
from envs.factory import make_env


def _episode(scenario: str, route: str, seed: int) -> tuple[list[dict], list[float], object]:
    env = make_env(scenario, "triage")
    env.reset(options={"split": "eval", "episode_seed": seed})
    terms, rewards, done = [], [], False
    while not done:
        _obs, r, term, trunc, info = env.step(ROUTES.index(route))
        terms.append(info["reward_terms"])
        rewards.append(r)
        done = term or trunc
    return terms, rewards, env


def test_reward_is_the_weighted_sum_of_its_terms():
    terms, rewards, env = _episode("sc0001", "retry", 1000000)
    for t, r in zip(terms, rewards, strict=True):
        assert np.isclose(r, sum(env.weights[k] * v for k, v in t.items()))


def test_dismissing_false_alarms_earns_no_rubric():
    # no faults at all: every incident is a false alarm, and closing them quietly is neutral
    env = make_env("nofault", "triage")
    seeds = env.scenario.spec.seeds.eval.seeds()
    for seed in list(seeds)[:40]:
        terms, _r, env = _episode("nofault", "none", seed)
        if env.org.closed:
            break
    assert env.org.closed, "no false alarm in 40 held-out no-fault episodes"
    assert all(t["rubric"] <= 0.0 for t in terms)
    assert sum(t["rubric"] for t in terms) == 0.0


def _run(env, seed: int, choose) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """Return, rubric and the number of faults started in one held-out episode."""
    _obs, info = env.reset(options={"split": "eval", "episode_seed": seed})
    ret = rubric = 0.0
    done = False
    while not done:
        _obs, r, term, trunc, info2 = env.step(choose(env, info))
        ret += r
        rubric += info2["reward_terms"]["rubric"]
        info, done = info2, term or trunc
    return ret, rubric, sum(f.started for f in env.world.faults)


def _watch_symptoms(env, info) -> int:  # type: ignore[no-untyped-def]
    # fix an undersized warehouse only from its root asset's incident; watch its other symptoms
    prop = env.pending[0][0].proposal
    if info.get("true_cause") == "undersized_warehouse" and prop.target != info["true_root_asset"]:
        return ROUTES.index("watch")
    return env.oracle_route()


def test_a_fault_left_open_raises_incidents_but_earns_its_credit_once():
    env = make_env("sc0003", "triage")
    seeds = list(env.scenario.spec.seeds.eval.seeds())[:8]
    farm = [_run(env, s, _watch_symptoms) for s in seeds]
    fix = [_run(env, s, lambda e, _i: e.oracle_route()) for s in seeds]
    for _ret, rubric, faults in farm + fix:
        assert rubric <= faults  # +1 at most once per fault; false alarms and bad outcomes ≤ 0
    # watching the symptoms of a warehouse-wide fault keeps it open: it must not pay
    assert sum(r for r, *_ in farm) < sum(r for r, *_ in fix)
