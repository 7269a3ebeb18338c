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
