"""The mixed scenario (SC-0004, the logistics topology) runs through every entry point.

simulate, run_org with every organization, a tiny train and its export on mixed, and the
generalization path the leaderboard uses: a policy trained on a retail scenario (SC-0001) fills its
slot in the organization on mixed without retraining. Every role's env on ``dataops/Mixed-v0``
passes the checkers in ``tests/envs/test_env_conformance.py`` (parametrized over the registry).
Short horizons (2 days: the warm-up day and one day of faults) keep this file fast.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from sb3_contrib import MaskablePPO

from agents.deploy.export import export_policy
from agents.deploy.runtime import load_policy
from agents.scoring.scorecard import METRIC_NAMES, scorecard
from agents.slots.resolve import resolve_slots
from agents.slots.runner import run_episode
from envs.factory import make_env
from envs.sim.world import World
from experiments.export import export_model
from experiments.run_org import run
from experiments.simulate import run as simulate
from experiments.training import train
from scenarios import load_scenario
from scenarios.vocab import ISSUE_TYPES
from tests.experiments.test_train import tiny_config

torch.set_num_threads(1)
DAYS = 2.0


def test_simulate_writes_a_ledger_of_every_issue_type(tmp_path: Path) -> None:
    sc = load_scenario("mixed")
    seed = next(s for s in range(20) if len({f.model.issue_type for f in World(sc, s).faults}) == 4)
    summary = simulate("mixed", seed, None, tmp_path)
    assert summary["assets"] == 33
    ledger = pd.read_csv(tmp_path / "ledger.csv")
    assert set(ledger.issue_type) == set(ISSUE_TYPES)
    assert (tmp_path / "events.openlineage.jsonl").stat().st_size > 0


@pytest.mark.parametrize("org", ["manual", "static", "elementary", "rules", "ideal"])
def test_every_organization_runs_on_mixed(tmp_path: Path, org: str) -> None:
    card = run("mixed", org, 1, "train", tmp_path, days=DAYS, events_episodes=0)
    assert set(METRIC_NAMES) <= set(card["aggregate"])
    assert card["agents_off"] == []
    ep = card["episodes"][0]
    assert ep["access_violations"] == 0.0  # the logistics policy, not retail's or a derived one
    assert (tmp_path / "01_agents/alert-record.md").exists()


def test_a_tiny_training_on_mixed_exports(tmp_path: Path) -> None:
    cfg = tiny_config(
        "triage", "maskable_ppo", tmp_path, scenario="mixed",
        train={"timesteps": 64, "checkpoint_every": 64, "days": DAYS}, eval={"every": 64},
    )  # fmt: skip
    info = train(cfg, tmp_path)
    assert info["timesteps"] >= 64
    card = export_model(str(tmp_path / "model.zip"), tmp_path / "export")
    assert card.scenario == "mixed" and card.env_id == "dataops/Mixed-v0"
    assert load_policy(tmp_path / "export").card.onnx_sha256 == card.onnx_sha256


def test_a_policy_trained_on_retail_fills_its_slot_on_mixed(tmp_path: Path) -> None:
    """The generalization column: trained on SC-0001, evaluated on SC-0004 without retraining."""
    env = make_env("sc0001", "triage", days=DAYS)
    model = MaskablePPO("MlpPolicy", env, seed=1, device="cpu", n_steps=32, batch_size=32)
    model.learn(total_timesteps=32)
    export_policy(model, env, tmp_path, algo="maskable_ppo", scenario="sc0001", role="triage",
                  env_id="dataops/LateArrival-v0")  # fmt: skip
    mixed = load_scenario("mixed")
    seed = mixed.spec.seeds.eval.start
    slots = resolve_slots(triage=load_policy(tmp_path))
    _world, ep = run_episode(mixed, seed, "rules", days=DAYS, slots=slots)
    _again, same = run_episode(mixed, seed, "rules", days=DAYS, slots=slots)
    card = scorecard([ep])
    assert card["aggregate"] == scorecard([same])["aggregate"]
    assert set(METRIC_NAMES) <= set(card["aggregate"])


def test_the_storm_follows_the_outage_recovery_the_organization_sees() -> None:
    """No action shortens an outage: its planned recovery is when it ends with agents acting."""
    mixed = load_scenario("mixed")
    seed = next(
        s
        for s in mixed.spec.seeds.train.seeds()
        if any(f.triggered_by >= 0 for f in World(mixed, s, days=DAYS).faults)
    )
    world, _ep = run_episode(mixed, seed, "rules", days=DAYS)
    cascaded = [f for f in world.faults if f.triggered_by >= 0 and f.started]
    assert cascaded
    for f in cascaded:
        trigger = world.faults[f.triggered_by]
        assert trigger.cause_ended_at == trigger.natural_end <= f.onset
