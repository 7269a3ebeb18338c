"""The monitor's hot path learns exactly what its plain learning path learns."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agents.history import history
from agents.monitor import MonitorConfig, PipelineMonitor, _volume_bucket
from envs.sim.world import World
from scenarios import load_scenario


@pytest.mark.parametrize("seasonality", [True, False])
def test_volume_bucket_table_follows_the_rule_for_every_window(seasonality):
    w = World(load_scenario("sc0002"), 0, days=9.0)  # a weekend and every hour of the day
    mon = PipelineMonitor(w, MonitorConfig(seasonality=seasonality))
    for a in w.assets:
        hours = seasonality and a.every < 1440
        want = [_volume_bucket(k * a.every, seasonality, hours) for k in range(a.n_windows + 1)]
        assert list(mon._vol_slot[a.idx]) == want
        assert [mon._slot0(a.idx, k * a.every)[1] for k in range(a.n_windows + 1)] == want
    if seasonality:  # hourly volume buckets span both halves of the week
        assert {b for t in mon._vol_slot for b in t} >= {1, 24, 25, 48}


@pytest.mark.parametrize("name", ["sc0001", "mixed"])
def test_scoring_path_learns_what_the_learning_path_learns(name):
    """With scoring out of reach (no bucket ever has enough points), both paths learn every value:
    their baselines must be identical, sums included, bit for bit."""
    sc = load_scenario(name)
    runs = [r for r in history(sc, 3.0) if r.status == "success" and r.trigger == "schedule"]
    w = World(sc, 0, days=3.0)
    cfg = MonitorConfig(min_training_points=10**9, training_days=1.0)
    learned, scored = PipelineMonitor(w, cfg), PipelineMonitor(w, replace(cfg))
    for r in runs:
        learned._learn(r, r.ended_at)
        scored._anomalies(r, r.ended_at)
    assert not scored.alerts
    assert len(runs) > 100
    keep = [(i, tuple(b.ts), tuple(b.xs), b.s, b.ss) for i, b in enumerate(learned._base) if b]
    assert keep == [
        (i, tuple(b.ts), tuple(b.xs), b.s, b.ss) for i, b in enumerate(scored._base) if b
    ]
