"""The benchmark protocol: frozen, validated, and its evaluation seeds never met in training."""

from __future__ import annotations

import gymnasium as gym
import pytest
import yaml

from envs.base import ROLES
from envs.factory import make_env
from experiments.errors import UsageError
from experiments.protocol import (
    PROTOCOL_DIR,
    SALT_ENV,
    Protocol,
    eval_seeds,
    load_protocol,
    resolve_salt,
)
from scenarios import load_scenario

V1_SHA256 = "65208ac5694d2cd261d891e1e03467dc47d3341965c0f6411853fa5edeab1f30"
"""sha256 of configs/protocol/v1.yaml: frozen. A change is protocol v2, never an edit here."""
SALT = "test-salt"


def test_v1_is_frozen():
    proto = load_protocol("v1")
    assert proto.sha256 == V1_SHA256, "configs/protocol/v1.yaml changed: write v2.yaml instead"
    assert "FROZEN" in (PROTOCOL_DIR / "v1.yaml").read_text().splitlines()[0]


def test_v1_says_what_the_issue_fixes():
    proto = load_protocol("v1")
    assert sorted(proto.roles) == sorted(ROLES)
    for rp in proto.roles.values():
        assert rp.scenarios == ("sc0001", "sc0002", "sc0003")
        assert rp.generalization == ("mixed",)
        assert rp.training_budget_env_steps == 50_000
        assert len(rp.training_seeds) >= 5
        assert rp.eval_episodes >= 30
        for name in rp.all_scenarios:
            load_scenario(name)  # every scenario of the board is registered
    assert proto.deterministic_actions and proto.full_horizon


def _raw() -> dict:
    return yaml.safe_load((PROTOCOL_DIR / "v1.yaml").read_text())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.update(colour="blue"), "colour"),
        (lambda r: r["roles"]["sla"].update(training_seeds=[0, 1, 2]), "training_seeds"),
        (lambda r: r["roles"]["sla"].update(training_seeds=[0, 0, 1, 2, 3]), "distinct"),
        (lambda r: r["roles"]["cost"].update(eval_episodes=10), "eval_episodes"),
        (lambda r: r["roles"].pop("triage"), "roles"),
    ],
)
def test_a_bad_protocol_is_refused(edit, message):
    raw = _raw()
    edit(raw)
    with pytest.raises(ValueError, match=message):
        Protocol.model_validate(raw)


def test_unknown_protocol_names_the_ones_that_exist():
    with pytest.raises(UsageError, match=r"protocol: unknown protocol 'v9'; expected one of v1"):
        load_protocol("v9")


def test_dev_seeds_are_the_first_eval_seeds():
    sc = load_scenario("sc0001")
    pool = list(sc.spec.seeds.eval.seeds())
    assert eval_seeds(sc, "dev", 30) == pool[:30]


def test_test_seeds_are_salted_and_outside_the_dev_set():
    sc = load_scenario("sc0002")
    dev = eval_seeds(sc, "dev", 30)
    test = eval_seeds(sc, "test", 30, SALT)
    assert len(test) == len(set(test)) == 30
    assert not set(test) & set(dev)
    assert set(test) <= set(sc.spec.seeds.eval.seeds())
    assert eval_seeds(sc, "test", 30, SALT) == test  # same salt, same seeds
    assert set(eval_seeds(sc, "test", 30, "another salt")) != set(test)
    assert set(eval_seeds(load_scenario("sc0003"), "test", 30, SALT)) != set(test)  # per scenario


def test_the_test_split_needs_a_salt(monkeypatch):
    monkeypatch.delenv(SALT_ENV, raising=False)
    with pytest.raises(UsageError, match=r"protocol.salt: the test split needs a salt"):
        eval_seeds(load_scenario("sc0001"), "test", 30, resolve_salt(None))
    monkeypatch.setenv(SALT_ENV, SALT)
    assert resolve_salt(None) == SALT
    assert resolve_salt("given") == "given"


def test_unknown_split_is_refused():
    with pytest.raises(UsageError, match=r"split: expected dev or test, got 'eval'"):
        eval_seeds(load_scenario("sc0001"), "eval", 30)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("scenario", ["sc0001", "sc0002", "sc0003", "mixed"])
def test_training_never_touches_eval_seeds(role, scenario):
    """Training resets without options (SB3's ``vec.seed(s)``, then ``reset()``): train seeds only.

    The draw (``DataOpsEnv._episode_seed``) is exercised 500 times on the env's seeded generator
    without building worlds; one real ``reset(seed=...)`` per case checks the same path end to end.
    """
    env = make_env(scenario, role, days=1)
    sc = env.scenario
    proto = load_protocol("v1").role(role)
    evaluated = set(eval_seeds(sc, "dev", proto.eval_episodes))
    evaluated |= set(eval_seeds(sc, "test", proto.eval_episodes, SALT))
    drawn = []
    for seed in range(50):
        gym.Env.reset(env, seed=seed)  # seeds np_random as DataOpsEnv.reset does first
        drawn += [env._episode_seed(None) for _ in range(10)]
    train = sc.spec.seeds.train.seeds()
    assert all(s in train for s in drawn)
    assert not set(drawn) & (set(sc.spec.seeds.eval.seeds()) | evaluated)
    env.reset(seed=3)
    assert env.episode_seed in train and env.episode_seed not in evaluated


def test_eval_split_is_disjoint_from_train_in_every_protocol_scenario():
    for name in {s for rp in load_protocol("v1").roles.values() for s in rp.all_scenarios}:
        seeds = load_scenario(name).spec.seeds
        assert not set(seeds.train.seeds()) & set(seeds.eval.seeds()), name
