"""No role's reward can be farmed by spending: a degenerate policy never beats the rules.

Each role gets the policy that spends without judgement — triage: always the most expensive
route (scale the warehouse while it can grow, else page a human) and always escalate; sla: always
lower every threshold; cost: always the largest warehouse, and always the smallest one with
low-priority work deferred (SLAs spent for money, on the contended SC-0003) — on a few held-out
episodes of the scenarios where spending could pay. And the triage reward's ``warehouse`` term is
exactly what the routes held and bought, at the scenario's prices, priced like human time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from agents.playbooks import ROUTES
from envs.baselines import baseline
from envs.cost import SIZE_FACTORS
from envs.factory import make_env
from envs.sla import FAMILIES
from envs.triage import TRIAGE_WEIGHTS

SEEDS = 3
Policy = Callable[[Any, np.ndarray], Any]
SCALE, ESCALATE = ROUTES.index("scale_warehouse"), ROUTES.index("escalate")


def _returns(env: Any, choose: Policy) -> list[float]:
    out = []
    for seed in list(env.scenario.spec.seeds.eval.seeds())[:SEEDS]:
        obs, _info = env.reset(options={"split": "eval", "episode_seed": seed})
        ret, done = 0.0, False
        while not done:
            obs, r, term, trunc, _info = env.step(choose(env, obs))
            ret += float(r)
            done = term or trunc
        out.append(ret)
    return out


def _rules(role: str) -> Policy:
    pol = baseline(role, "rules", None)  # type: ignore[arg-type]  # the rules need no env
    return lambda _env, obs: pol.predict(obs)[0]


def _always_scale(env: Any, _obs: np.ndarray) -> int:
    return SCALE if env.action_masks()[SCALE] else ESCALATE


DEGENERATE: list[tuple[str, str, str, Policy]] = [
    ("triage", "sc0002", "always scale the warehouse", _always_scale),
    ("triage", "sc0003", "always scale the warehouse", _always_scale),
    ("triage", "sc0002", "always escalate", lambda _e, _o: ESCALATE),
    ("sla", "sc0001", "always lower every threshold", lambda _e, _o: np.zeros(len(FAMILIES), int)),
    ("sla", "sc0002", "always lower every threshold", lambda _e, _o: np.zeros(len(FAMILIES), int)),
    ("cost", "sc0003", "always the largest warehouse", lambda _e, _o: [len(SIZE_FACTORS) - 1, 0]),
    ("cost", "sc0002", "always the largest warehouse", lambda _e, _o: [len(SIZE_FACTORS) - 1, 0]),
    ("cost", "sc0003", "always the smallest warehouse, deferring", lambda _e, _o: [0, 1]),
]


@pytest.mark.parametrize(
    ("role", "scenario", "name", "choose"),
    DEGENERATE,
    ids=[f"{r}-{s}-{n}" for r, s, n, _ in DEGENERATE],
)
def test_a_degenerate_policy_does_not_beat_the_rules(
    role: str, scenario: str, name: str, choose: Policy
) -> None:
    env = make_env(scenario, role)
    rules, degenerate = _returns(env, _rules(role)), _returns(env, choose)
    assert sum(degenerate) < sum(rules), (name, degenerate, rules)


def test_the_warehouse_term_is_what_the_routes_held_and_bought() -> None:
    env = make_env("sc0002", "triage")
    obs, _info = env.reset(options={"split": "eval", "episode_seed": 1000002})
    charged, done = 0.0, False
    while not done:
        obs, _r, term, trunc, info = env.step(_always_scale(env, obs))
        charged -= info["reward_terms"]["warehouse"]
        done = term or trunc
    w, spec = env.world, env.scenario.spec
    held = sum(r.cost for r in w.log if r.trigger not in ("schedule", "auto_retry"))
    bought = (
        w.warehouse.cost - spec.warehouse.slots * w.now / 60.0 * spec.warehouse.price_per_slot_hour
    )
    assert bought > 0 and held > 0  # it scaled up and re-executed
    assert charged * spec.human.cost_per_hour == pytest.approx(held + bought, rel=1e-9)


def test_money_costs_the_same_on_slots_as_on_people() -> None:
    # both terms are hours of human time at the scenario's rate, so equal weights price a unit of
    # money equally: one human hour, or its price's worth of slot-hours, cost the same reward
    assert TRIAGE_WEIGHTS["warehouse"] == TRIAGE_WEIGHTS["human"] > 0
