"""The rules organization on generated topologies, as ``experiments.topology_study`` measures it.

Each case copies a benchmark scenario onto ``generated:<n>:7`` with a warehouse of the topology's
nominal peak (``PipelineSpec.nominal_slot_load``) and runs ``experiments.run_org.run`` on three
eval seeds of three days. One fault must not turn into a stream of incidents, and the Root Cause
Analyzer must find the root of the faults it can see on this shape as it does on retail's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agents.scoring.matching import WAREHOUSE_WIDE_EFFECTS
from envs.sim.causal import CAUSES
from experiments.run_org import run
from experiments.topology_study import cell_metrics, study_scenario

EPISODES = 3
DAYS = 3.0


def asset_rooted_ac1(run_dir: Path) -> float:
    """rca_ac1 over the matched incidents whose fault has a root asset one can observe.

    A warehouse-wide cause (a noisy neighbour, an undersized warehouse) acts on every run; its
    ledger root is a nominal Warehouse asset no lineage walk can single out.
    """
    inc = pd.read_csv(run_dir / "incidents.csv")
    led = pd.read_csv(run_dir / "ledger.csv")
    m = inc[inc["primary_fault"] >= 0].merge(
        led[["seed", "fault_id", "root_cause", "root_asset"]],
        left_on=["seed", "primary_fault"],
        right_on=["seed", "fault_id"],
        suffixes=("", "_true"),
    )
    wide = m["root_cause_true"].map(lambda c: CAUSES[c].effect in WAREHOUSE_WIDE_EFFECTS)
    m = m[~wide]
    return float((m["root_asset"] == m["root_asset_true"]).mean())


@pytest.mark.parametrize(
    ("base", "n_assets"),
    [("sc0001", 120), ("sc0002", 120), ("sc0003", 120), ("sc0002", 50)],
)
def test_rules_organization_on_a_generated_topology(
    tmp_path: Path, base: str, n_assets: int
) -> None:
    scenario = study_scenario(base, n_assets, 7, "fit", tmp_path)
    run_dir = tmp_path / "run"
    card = run(str(scenario), "rules", EPISODES, "eval", run_dir, days=DAYS, events_episodes=0)
    m = cell_metrics(card, run_dir, EPISODES)
    assert m["faults"] >= 3, m
    assert m["matched_per_fault"] <= 1.6, m  # one fault, about one incident
    assert m["incidents_per_fault"] <= 2.0, m  # false-alarm incidents included
    assert m["repeat_incidents"] <= 2.0, m  # conditions re-opened per episode
    assert m["false_alarms_per_day"] <= 2.0, m
    # SC-0001 v2's API outages fail the ingestion while the Source looks on time: RCA names the
    # ingestion, the ledger the Source (ambiguity by design, envs.sim.causal)
    assert asset_rooted_ac1(run_dir) >= (0.65 if base == "sc0001" else 0.75)
    if base != "sc0003":  # sc0003's warehouse-wide faults have no observable root asset
        assert m["rca_ac1"] >= (0.65 if base == "sc0001" else 0.7), m
