"""The Cost Optimizer's report: waste per episode and per week, recommendations replay-verified.

For each episode the waste finder (``agents.ideal.waste``) prices what bought nothing. Its
resize recommendation is **replayed**: the same scenario and seed, the same organization, once
as it ran and once with the warehouse at the recommended size from the start (both replays
without a knowledge base, so they differ only by the recommendation). A size is confirmed when
its replay breaches no more Delivery SLAs than the replay as it ran and adds at most
``DOWNTIME_TOLERANCE_H`` of Delivery data downtime; the optimizer starts at
``recommend_size``'s estimate and raises it one slot at a time until a replay confirms it (or
keeps the size it ran with: no saving). The verified saving is the first replay's warehouse
cost minus the confirmed size's; the change in breaches and data downtime hours is reported
beside it. The other recommendations (drop a redundant
rerun, stop a futile retry, kill earlier) have no lever in the simulated organization and are
reported as estimates: the run's own cost.

Figures per episode (``EpisodeCost``) feed the scorecard: ``waste_cost`` (mean waste per
episode), ``waste_saving_replayed`` (mean verified saving per episode) and
``waste_replay_breach_delta`` (mean change in Delivery SLA breaches per episode).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from agents.ideal.waste import (
    WASTE_KINDS,
    WasteItem,
    episode_waste,
    recommend_size,
    waste_by_kind,
)
from agents.org import Organization, OrgConfig
from envs.sim.world import World
from scenarios.spec import Scenario

DOWNTIME_TOLERANCE_H = 0.25
"""Delivery data downtime (hours per episode) a confirmed resize may add."""


class Replay(NamedTuple):
    """One replayed episode: warehouse cost, Delivery SLA breaches, data downtime hours."""

    cost: float
    breaches: int
    downtime_hours: float


class EpisodeCost(NamedTuple):
    """One episode's waste and its replay-verified resize saving.

    Attributes:
        seed: the episode seed.
        days: simulated days.
        items: every ``WasteItem``.
        base_slots: the warehouse size it ran with; ``recommended_slots`` the confirmed
            recommendation.
        as_ran: the replay as it ran; ``resized`` with the recommendation applied.
        tried: the sizes replayed, in order (the last one confirmed unless it is the base).
    """

    seed: int
    days: float
    items: list[WasteItem]
    base_slots: int
    recommended_slots: int
    as_ran: Replay
    resized: Replay
    tried: tuple[int, ...] = ()

    @property
    def waste(self) -> float:
        """Total price of the waste found."""
        return float(sum(i.cost for i in self.items))

    @property
    def verified_saving(self) -> float:
        """Warehouse cost saved by the resize, as replayed."""
        return self.as_ran.cost - self.resized.cost


def replay(scenario: Scenario, seed: int, cfg: OrgConfig, days: float | None, slots: int) -> Replay:
    """Run ``cfg`` on ``seed`` with the warehouse at ``slots`` from the start (no knowledge)."""
    world = World(scenario, seed, days=days)
    world.warehouse.resize(slots)
    org = Organization(world, cfg)
    world.run()
    ep = org.finish()
    parts = ep.partitions
    d = parts.loc[parts["layer"] == "Delivery"]
    late = d["late_min"].to_numpy(dtype=float)
    return Replay(
        float(ep.warehouse_cost), int(d["sla_breached"].sum()), float(np.nansum(late)) / 60.0
    )


def episode_cost(world: World, cfg: OrgConfig, days: float | None) -> EpisodeCost:
    """The waste of the episode ``world`` ran, and its resize recommendation replayed."""
    wh = world.warehouse
    base = int(world.scenario.spec.warehouse.slots)
    as_ran = replay(world.scenario, world.seed, cfg, days, base)
    n, resized, tried = base, as_ran, []
    for size in range(recommend_size(world.log, [a.uses_slot for a in world.assets], base), base):
        tried.append(size)
        r = replay(world.scenario, world.seed, cfg, days, size)
        if r.breaches <= as_ran.breaches and (
            r.downtime_hours <= as_ran.downtime_hours + DOWNTIME_TOLERANCE_H
        ):
            n, resized = size, r
            break
    items = episode_waste(
        world.log,
        recommended_slots=n,
        provisioned_slot_hours=wh.provisioned_slot_hours,
        hours=world.horizon / 60.0,
        price=wh.price_per_slot_hour,
    )
    days_run = world.horizon / 1440.0
    return EpisodeCost(world.seed, days_run, items, base, n, as_ran, resized, tuple(tried))


def cost_metrics(eps: Sequence[EpisodeCost]) -> dict[str, float]:
    """The scorecard's cost measures, mean per episode (NaN for no episodes)."""
    if not eps:
        return dict.fromkeys(COST_METRIC_NAMES, math.nan)
    return {
        "waste_cost": float(np.mean([e.waste for e in eps])),
        "waste_saving_replayed": float(np.mean([e.verified_saving for e in eps])),
        "waste_replay_breach_delta": float(
            np.mean([e.resized.breaches - e.as_ran.breaches for e in eps])
        ),
    }


_HOW = {"idle_slots": "replayed (same seed, resized)", "peak_low_priority": "n/a: flat price"}
COST_METRIC_NAMES = ("waste_cost", "waste_saving_replayed", "waste_replay_breach_delta")


def cost_report_md(eps: Sequence[EpisodeCost], header: list[str]) -> list[str]:
    """``09_learning/cost-report.md``: waste by kind, per episode and per week, and the replays."""
    lines = [*header, "## Waste by kind (all episodes)", ""]
    lines += ["| Kind | Items | Cost | Saving of the recommendation | How verified |"]
    lines += ["|---|---:|---:|---:|---|"]
    pooled = waste_by_kind([i for e in eps for i in e.items])
    weeks = sum(e.days for e in eps) / 7.0
    for k in WASTE_KINDS:
        n, c, s = pooled[k]
        how = _HOW.get(k, "estimate: the run's cost")
        lines.append(f"| {k} | {n} | {c:.2f} | {s:.2f} | {how} |")
    total = sum(e.waste for e in eps)
    saved = sum(e.verified_saving for e in eps)
    lines += [
        "",
        f"Total waste {total:.2f} over {len(eps)} episode(s) ({total / weeks:.2f} per week); "
        f"replay-verified saving of the resize recommendations {saved:.2f} "
        f"({saved / weeks:.2f} per week).",
        "",
        "## Per episode",
        "",
        "| Seed | Waste | Slots → confirmed (replayed) | Cost as ran (replay) | Cost resized "
        "| Verified saving | Delivery SLA breaches as ran → resized "
        "| Downtime h as ran → resized |",
        "|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for e in eps:
        lines.append(
            f"| {e.seed} | {e.waste:.2f} | {e.base_slots} → {e.recommended_slots} "
            f"({', '.join(map(str, e.tried)) or 'none'}) | "
            f"{e.as_ran.cost:.2f} | {e.resized.cost:.2f} | {e.verified_saving:.2f} | "
            f"{e.as_ran.breaches} → {e.resized.breaches} | "
            f"{e.as_ran.downtime_hours:.2f} → {e.resized.downtime_hours:.2f} |"
        )
    lines += [
        "",
        "A resize recommendation is worth taking only if its breaches and downtime stay where "
        "they were; the replay columns say whether they did. Definitions: `agents/ideal/waste.py`.",
        "",
    ]
    return lines
