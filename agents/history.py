"""The monitor's history: fault-free days of a scenario's pipeline its baselines are primed with.

A team primes its detectors with the weeks before the episode. Here that history is simulated with
the scenario's pipeline and noise but no faults, holidays or planned backfills, on ``HISTORY_SEED``
(outside every scenario's seed split). It is the same for every episode of a scenario, so the run
records are cached per scenario file and the primed baselines are learned once per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from agents.monitor import PipelineMonitor
from envs.sim.records import RunRecord
from envs.sim.world import World
from scenarios.spec import Scenario

HISTORY_SEED = 2**31 - 1
"""Seed of the history a monitor is primed with (outside every scenario's seed split)."""

_PRIMED: dict[tuple[str, str, float], Any] = {}
"""Primed monitor baselines per (scenario file, name, history days)."""


@lru_cache(maxsize=16)
def _history(source: str, name: str, days: float) -> tuple[RunRecord, ...]:
    from scenarios.loader import load_scenario

    sc = load_scenario(source or name)
    return _simulate_history(sc, days)


def _simulate_history(sc: Scenario, days: float) -> tuple[RunRecord, ...]:
    spec = sc.spec.model_copy(update={"faults": (), "horizon_days": days, "warmup_days": 0.0})
    # training data as a team keeps it: no holidays (excluded dates), no planned backfills
    noise = spec.noise.model_copy(update={"backfills": (), "holidays": ()})
    quiet = sc.model_copy(update={"spec": spec.model_copy(update={"noise": noise})})
    w = World(quiet, HISTORY_SEED)
    w.run()
    return tuple(w.log)


def history(scenario: Scenario, days: float) -> tuple[RunRecord, ...]:
    """Run records of ``days`` of fault-free history of ``scenario``'s pipeline (cached)."""
    if scenario.source and scenario.source != "bench":
        return _history(scenario.source, scenario.name, days)
    return _simulate_history(scenario, days)


def prime_monitor(monitor: PipelineMonitor, scenario: Scenario, days: float) -> None:
    """Prime ``monitor``'s baselines with ``days`` of ``scenario``'s history.

    Baselines of a scenario file are learned once per process and loaded afterwards; an in-memory
    scenario (no file, or the benchmark's) is primed from its history every time.
    """
    cacheable = scenario.source not in ("", "bench")
    key = (scenario.source, scenario.name, days)
    snap = _PRIMED.get(key) if cacheable else None
    if snap is None:
        monitor.prime(history(scenario, days), days * 1440.0)
        if cacheable:
            _PRIMED[key] = monitor.baselines()
    else:
        monitor.load_baselines(snap)
