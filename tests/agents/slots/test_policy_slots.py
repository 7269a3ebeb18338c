"""Policy slots: a policy in the organization decides exactly as it does driving the role's env.

The equivalence tests run one episode twice per seed — the role's environment driven by a policy
(``env.step(policy.act(obs, mask))``) and the organization with that policy in the slot — and
require the same decisions, the same records and the same scorecard.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from agents.knowledge import KnowledgeBase
from agents.playbooks import ROUTES
from agents.scoring.scorecard import scorecard
from agents.slots.resolve import (
    SLOT_SPACES,
    PolicyLike,
    SlotError,
    Slots,
    org_label,
    resolve_slot,
    resolve_slots,
    slot_kind,
    slot_provenance,
)
from agents.slots.runner import run_episode
from envs.factory import make_env
from scenarios import load_scenario

DAYS = 2.0
ROLE_SCENARIO = {"triage": "mixed", "sla": "sc0001", "cost": "sc0003"}


class LinearPolicy:
    """A deterministic non-trivial policy: fixed random linear scores, (masked) argmax."""

    def __init__(self, n_features: int, nvec: tuple[int, ...], seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.nvec = nvec
        self.weights = rng.normal(size=(sum(nvec), n_features))
        self.bias = rng.normal(size=sum(nvec))
        self.seen: list[tuple[np.ndarray, np.ndarray | None]] = []

    def act(self, obs: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | int:
        self.seen.append((np.array(obs), None if mask is None else np.array(mask)))
        scores = self.weights @ np.asarray(obs, dtype=np.float64) + self.bias
        if len(self.nvec) == 1:
            # every other decision favours the next route in turn, so that even an episode with
            # few incidents takes more than one route (deterministic: both copies agree)
            if len(self.seen) % 2 == 0:
                scores[(len(self.seen) // 2) % self.nvec[0]] += 100.0
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            return int(np.argmax(scores))
        bounds = np.cumsum((0, *self.nvec))
        return np.array(
            [np.argmax(scores[a:b]) for a, b in itertools.pairwise(bounds)],
            dtype=np.int64,
        )


def _policy(role: str) -> LinearPolicy:
    sp = SLOT_SPACES[role]
    nvec = (sp.action.n,) if hasattr(sp.action, "n") else tuple(sp.action.nvec)
    return LinearPolicy(len(sp.feature_names), nvec)


def _env_episode(role: str, seed: int, policy: LinearPolicy):
    env = make_env(ROLE_SCENARIO[role], role, days=DAYS)
    obs, _ = env.reset(options={"split": "eval", "episode_seed": seed})
    actions = []
    while True:
        mask = env.action_masks() if role == "triage" else None
        a = policy.act(obs, mask)
        actions.append(a)
        obs, _r, terminated, truncated, _info = env.step(a)
        if terminated or truncated:
            break
    assert env.org is not None
    return env.org.finish(), actions


@pytest.mark.parametrize("role", ["triage", "sla", "cost"])
@pytest.mark.parametrize("episode", [0, 1])
def test_policy_in_the_org_equals_the_env_episode(role, episode):
    sc = load_scenario(ROLE_SCENARIO[role])
    seed = sc.spec.seeds.eval.seeds()[episode]
    env_policy, org_policy = _policy(role), _policy(role)
    env_ep, env_actions = _env_episode(role, seed, env_policy)
    _, org_ep = run_episode(
        sc,
        seed,
        "rules",
        days=DAYS,
        knowledge=KnowledgeBase(":memory:"),
        slots=resolve_slots(**{role: org_policy}),
    )
    # the same decisions, from the same observations and masks
    assert len(org_policy.seen) == len(env_policy.seen) > 0
    for (o1, m1), (o2, m2) in zip(env_policy.seen, org_policy.seen, strict=True):
        assert np.array_equal(o1, o2)
        assert (m1 is None and m2 is None) or np.array_equal(m1, m2)
    distinct = {np.asarray(a).tobytes() for a in env_actions}
    assert len(distinct) > 1, "a trivial policy would not test the slot"
    # the same world and the same records ...
    for field in ("alerts", "diagnoses", "remediations", "incidents", "actions", "faults"):
        assert repr(getattr(env_ep, field)) == repr(getattr(org_ep, field)), field
    assert env_ep.warehouse_cost == org_ep.warehouse_cost
    # ... so the same scorecard; only the organization's name says which policy ran
    env_card, org_card = scorecard([env_ep]), scorecard([org_ep])
    assert env_card["aggregate"] == org_card["aggregate"]
    assert env_card["episodes"] == org_card["episodes"]
    assert env_card["protocol"]["org"] == "rules"
    assert org_card["protocol"]["org"] == f"rules+{role}:policy"


@pytest.mark.parametrize("role", ["triage", "sla", "cost"])
def test_slot_spaces_are_the_role_envs_spaces(role):
    env = make_env(ROLE_SCENARIO[role], role, days=DAYS)
    sp = SLOT_SPACES[role]
    assert env.observation_space.shape == sp.observation.shape
    assert np.all(env.observation_space.low == sp.observation.low)
    assert np.all(env.observation_space.high == sp.observation.high)
    if role == "triage":
        assert env.action_space.n == sp.action.n == len(ROUTES)
    else:
        assert tuple(int(k) for k in env.action_space.nvec) == sp.action.nvec
    assert env.feature_names == sp.feature_names
    assert env.action_names == sp.action_names
    assert len(env.feature_names) == env.observation_space.shape[0]
    assert all(isinstance(n, str) for n in (*env.feature_names, *env.action_names))


def test_without_slots_the_org_runs_as_before():
    sc = load_scenario("sc0001")
    seed = sc.spec.seeds.eval.seeds()[0]
    _, plain = run_episode(sc, seed, "rules", days=DAYS)
    _, again = run_episode(sc, seed, "rules", days=DAYS, slots=resolve_slots())
    assert plain.org == again.org == "rules"
    assert repr(plain.diagnoses) == repr(again.diagnoses)


def test_slots_combine_and_name_the_organization():
    sc = load_scenario("sc0003")
    seed = sc.spec.seeds.eval.seeds()[0]
    _, ep = run_episode(
        sc, seed, "rules", days=1.0,
        slots=resolve_slots(_policy("triage"), _policy("sla"), _policy("cost")),
    )  # fmt: skip
    assert ep.org == "rules+triage:policy+sla:policy+cost:policy"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("pkl:model.zip", r"triage: got 'pkl:model.zip'; expected null .* or onnx:<dir>"),
        ("onnx:", r"triage: got 'onnx:'.*expected null"),
        ("onnx:/no/such/dir", r"triage: got 'onnx:/no/such/dir'.*does not exist"),
        ("rules", r"triage: got 'rules'; expected null"),
        (42, r"triage: got 42; expected null"),
    ],
)
def test_bad_slot_values_fail_naming_slot_value_and_expectation(value, match):
    with pytest.raises(SlotError, match=match):
        resolve_slot("triage", value)


def test_unknown_slot_lists_the_slots():
    with pytest.raises(SlotError, match="triage, sla, cost"):
        resolve_slot("janitor", None)


def test_a_route_policy_needs_playbooks():
    sc = load_scenario("sc0001")
    with pytest.raises(SlotError, match=r"triage: .*org=static"):
        run_episode(sc, 1_000_000, "static", days=1.0, slots=Slots(triage=_policy("triage")))


def test_invalid_actions_from_a_policy_name_the_slot():
    class Bad:
        def __init__(self, action):
            self.action = action

        def act(self, obs, mask=None):
            return self.action

    sc = load_scenario("sc0002")
    seed = sc.spec.seeds.eval.seeds()[1]
    with pytest.raises(ValueError, match=r"triage: the policy returned 99"):
        run_episode(sc, seed, "rules", days=DAYS, slots=Slots(triage=Bad(99)))
    with pytest.raises(ValueError, match=r"sla: the policy returned an invalid action"):
        run_episode(sc, seed, "rules", days=DAYS, slots=Slots(sla=Bad(np.array([1, 1]))))
    with pytest.raises(ValueError, match=r"cost: the policy returned an invalid action"):
        run_episode(sc, seed, "rules", days=DAYS, slots=Slots(cost=Bad(np.array([7, 0]))))


def test_policy_objects_pass_through_and_are_labelled():
    p = _policy("sla")
    assert isinstance(p, PolicyLike)
    assert resolve_slot("sla", p) is p
    assert resolve_slot("cost", None) is None
    assert slot_kind(p) == "policy"

    class Carded(LinearPolicy):
        card = object()

    onnx_like = Carded(12, (7, 2))
    assert slot_kind(onnx_like) == "onnx"
    assert org_label("rules", Slots(cost=onnx_like)) == "rules+cost:onnx"
    assert slot_provenance(Slots(sla=p)) == {"sla": {"kind": "policy"}}
    assert resolve_slots(sla=p) == Slots(sla=p) and not Slots(sla=p).empty and Slots().empty


def test_run_episode_takes_resolved_slots_only():
    sc = load_scenario("sc0001")
    with pytest.raises(TypeError, match=r"slots: expected agents.slots.resolve.Slots"):
        run_episode(sc, 1_000_000, "rules", days=1.0, slots={"triage": None})  # type: ignore[arg-type]
