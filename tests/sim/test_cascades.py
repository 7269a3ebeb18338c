"""Correlated and cascading faults (``cascades:``, ``on_holidays:``; envs/sim/cascades.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from envs.sim.faults import check_scenario
from envs.sim.ledger import faults_table
from envs.sim.world import World
from scenarios import ScenarioError, load_scenario
from scenarios.loader import SCENARIOS_DIR

SEEDS = range(12)


def _mixed(tmp_path: Path, **changes: Any):
    """The mixed scenario with top-level keys replaced (``None`` deletes the key)."""
    data = yaml.safe_load((SCENARIOS_DIR / "mixed.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_scenario(path)


def _plan(world: World) -> list[tuple[Any, ...]]:
    """Everything drawn for each fault up front, in id order."""
    return [
        (f.fid, f.cause, f.root.name, f.onset, f.natural_end, f.magnitude, f.severity,
         sorted(f.params.items()), f.triggered_by)
        for f in world.faults
    ]  # fmt: skip


def test_a_cascade_follows_its_trigger_recovery_on_its_lineage():
    sc = load_scenario("mixed")
    rules = sc.spec.cascades
    fired = 0
    for seed in SEEDS:
        w = World(sc, seed)
        assert [f.fid for f in w.faults] == list(range(len(w.faults)))
        assert [f.onset for f in w.faults] == sorted(f.onset for f in w.faults)
        for f in w.faults:
            if f.triggered_by < 0:
                continue
            fired += 1
            trigger = w.faults[f.triggered_by]
            assert trigger.triggered_by == -1  # one level: a cascade sets nothing off
            rule = next(r for r in rules if (r.subtype, r.root_causes) == (
                f.model.subtype, {f.cause: 1.0}))  # fmt: skip
            assert trigger.model.subtype == rule.after == "upstream_outage"
            low, high = rule.delay_min
            assert trigger.natural_end + low <= f.onset <= trigger.natural_end + high
            assert f.root is trigger.root or f.root.idx in trigger.root.descendants
    assert fired >= 5


def test_no_trigger_no_cascade(tmp_path):
    """Without the trigger's fault process, or with prob 0, nothing cascades; all else equal."""
    sc = load_scenario("mixed")
    no_outage = [f for f in sc.spec.faults if f.subtype != "upstream_outage"]
    quiet = _mixed(tmp_path, faults=[f.model_dump(mode="json") for f in no_outage], cascades=None)
    zero = [r.model_copy(update={"prob": 0.0}).model_dump(mode="json") for r in sc.spec.cascades]
    never = _mixed(tmp_path, cascades=zero)
    for seed in SEEDS:
        assert all(f.triggered_by == -1 for f in World(quiet, seed).faults)
        with_cascades = World(sc, seed)
        planned_only = [
            (f.cause, f.root.name, f.onset, f.natural_end, sorted(f.params.items()))
            for f in with_cascades.faults
            if f.triggered_by < 0
        ]
        without = World(never, seed)
        assert all(f.triggered_by == -1 for f in without.faults)
        # the cascades' own stream: removing them leaves every planned fault as it was
        assert planned_only == [
            (f.cause, f.root.name, f.onset, f.natural_end, sorted(f.params.items()))
            for f in without.faults
        ]


def test_a_cascade_needs_an_injected_trigger(tmp_path):
    sc = load_scenario("mixed")
    no_outage = [
        f.model_dump(mode="json") for f in sc.spec.faults if f.subtype != "upstream_outage"
    ]
    with pytest.raises(ScenarioError, match=r"cascades\[0\]\.after: no fault process injects"):
        _mixed(tmp_path, faults=no_outage)


def test_same_seed_same_cascades_other_seed_other_ones():
    sc = load_scenario("mixed")
    assert _plan(World(sc, 3)) == _plan(World(sc, 3))
    assert _plan(World(sc, 3)) != _plan(World(sc, 4))


def test_cascaded_faults_are_ledger_rows_like_any_fault():
    sc = load_scenario("mixed")
    seed = next(s for s in SEEDS if any(f.cause == "retry_storm" and f.triggered_by >= 0
                                        for f in World(sc, s).faults))  # fmt: skip
    w = World(sc, seed)
    w.run()
    table = faults_table(w)
    storms = [f for f in w.faults if f.triggered_by >= 0 and f.cause == "retry_storm"]
    for f in storms:
        row = table[table.fault_id == f.fid].iloc[0]
        assert (row.issue_type, row.subtype, row.root_cause) == (
            "performance_degradation", "resource_contention", "retry_storm")  # fmt: skip
        assert row.onset == f.onset and row.first_visible_at >= f.onset
        assert "kill_query" in row.acceptable_fixes
    assert sum(r.trigger == "auto_retry" for r in w.log) > 10  # the storm ran


def test_a_holiday_fault_strikes_on_holidays_only(tmp_path):
    holiday_only = [{"subtype": "schema_drift", "rate_per_day": 3.0, "on_holidays": True}]
    sc = _mixed(tmp_path, faults=holiday_only, cascades=None)
    onsets = [f.onset for seed in SEEDS for f in World(sc, seed).faults]
    assert len(onsets) > 20  # 3 per holiday, one holiday, 12 seeds
    assert {int(t // 1440) for t in onsets} == set(sc.spec.noise.holidays)
    assert all(World(sc, s, days=3).faults == [] for s in SEEDS)  # the holiday is day 3
    # several holidays (one inside the warm-up, so never struck), each struck in proportion
    noise = {**sc.spec.noise.model_dump(mode="json"), "holidays": [0, 3, 5, 6]}
    sc = _mixed(tmp_path, faults=holiday_only, cascades=None, noise=noise)
    days = [int(f.onset // 1440) for seed in SEEDS for f in World(sc, seed).faults]
    assert set(days) == {3, 5, 6} and len(days) > 60
    assert all(f.onset >= 1440 for f in World(sc, 0).faults)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"noise": {"holidays": [0]}},
            r"faults\[8\]\.on_holidays: no day of noise\.holidays \[0\] falls between the "
            r"warm-up",
        ),
    ],
)
def test_a_holiday_fault_needs_a_holiday_in_the_episode(tmp_path, changes, match):
    with pytest.raises(ScenarioError, match=match):
        _mixed(tmp_path, **changes)


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        (
            {"delay_min": [30, 0]},
            r"cascades\[0\]\.delay_min: \[30\.0, 0\.0\] has low above high",
        ),
        (
            {"root_causes": {"bad_join": 1.0}},
            r"cascades\[0\]\.root_causes: 'bad_join' cannot produce 'resource_contention'",
        ),
        ({"prob": 1.5}, r"cascades\[0\]\.prob: expected less than or equal to 1"),
        ({"anchor": "later"}, r"cascades\[0\]\.anchor: expected 'recovery' or 'onset'"),
    ],
)
def test_a_malformed_cascade_is_refused(tmp_path, rule, match):
    base = load_scenario("mixed").spec.cascades[0].model_dump(mode="json")
    with pytest.raises(ScenarioError, match=match):
        _mixed(tmp_path, cascades=[{**base, **rule}])


def test_a_cascade_that_can_never_fire_is_refused_before_the_world_runs(tmp_path):
    base = load_scenario("mixed").spec.cascades[0].model_dump(mode="json")
    sc = _mixed(tmp_path, cascades=[{**base, "after": "credentials_expired"}])
    with pytest.raises(ScenarioError, match=r"cascades\[0\]\.anchor: recovery: no root cause of "
                       r"credentials_expired ends by itself"):  # fmt: skip
        check_scenario(sc)
    retail = yaml.safe_load((SCENARIOS_DIR / "sc0001.yaml").read_text())
    retail["cascades"] = [{**base, "subtype": "volume_drop", "root_causes": None}]
    path = tmp_path / "retail.yaml"
    path.write_text(yaml.safe_dump(retail))
    check_scenario(load_scenario(path))  # every volume-drop cause has a root on retail
    retail["pipeline"] = "generated:5:0"  # one chain: no join
    retail["noise"]["backfills"] = []
    retail["cascades"][0] = {**base, "subtype": "duplicates", "root_causes": {"bad_join": 1.0}}
    path.write_text(yaml.safe_dump(retail))
    sc = load_scenario(path)
    assert all(len(a.upstream) < 2 for a in sc.pipeline.assets)
    with pytest.raises(ScenarioError, match=r"cascades\[0\]\.root_causes: duplicates: root cause "
                       r"bad_join can never be injected"):  # fmt: skip
        check_scenario(sc)
