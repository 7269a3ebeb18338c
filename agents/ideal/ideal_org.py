"""The ideal agents of ``org=ideal``, run beside the rules organization episode by episode.

``IdealAgents(scenario, cfg, days)`` is told each finished episode (``observe(world, ep)``);
at the end ``extend(card)`` adds their measures to the scorecard (pooled in ``aggregate``, one
entry per episode in ``episodes``) and ``write(out, title)`` writes their artifacts. They read
what the organization observed — the run log, the audit trail, the bill — and act on nothing:
the world of ``org=ideal`` is the world of ``org=rules``.

=================  ==================================================  ==========================
agent              measures                                             artifact
=================  ==================================================  ==========================
Cost Optimizer     waste_cost, waste_saving_replayed,                   09_learning/cost-report.md
                   waste_replay_breach_delta (``agents.ideal.cost_report``)
=================  ==================================================  ==========================
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from agents.ideal.cost_report import EpisodeCost, cost_metrics, cost_report_md, episode_cost
from agents.org import OrgConfig
from agents.records import EpisodeResult
from envs.sim.world import World
from scenarios.spec import Scenario


def _safe(x: float) -> float | None:
    return None if isinstance(x, float) and not math.isfinite(x) else x


class IdealAgents:
    """The ideal agents for one ``run_org`` run.

    Args:
        scenario: the run's scenario.
        cfg: the organization's config (the replays run it).
        days: the run's horizon override in days.
    """

    def __init__(self, scenario: Scenario, cfg: OrgConfig, days: float | None) -> None:
        self.scenario = scenario
        self.cfg = cfg
        self.days = days
        self.costs: list[EpisodeCost] = []

    def observe(self, world: World, ep: EpisodeResult) -> None:
        """Take in one finished episode (its world and the organization's records)."""
        self.costs.append(episode_cost(world, self.cfg, self.days))

    def extend(self, card: dict[str, Any]) -> dict[str, Any]:
        """Add the ideal agents' measures to ``card`` (in place; returned for convenience)."""
        card["aggregate"].update({k: _safe(v) for k, v in cost_metrics(self.costs).items()})
        for row, c in zip(card["episodes"], self.costs, strict=True):
            row.update({k: _safe(v) for k, v in cost_metrics([c]).items()})
        return card

    def write(self, out: Path, title: str) -> list[Path]:
        """Write the ideal agents' artifacts into the run folder ``out``."""
        seeds = ", ".join(str(c.seed) for c in self.costs)
        header = [
            "# Cost report",
            "",
            f"Run: **{title}** · organization `ideal` · {len(self.costs)} episode(s), seeds "
            f"{seeds}. Cost Optimizer (`agents/ideal/cost_report.py`): waste with its price, "
            "and recommendations with the saving each would have made.",
            "",
        ]
        p = Path(out) / "09_learning/cost-report.md"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(cost_report_md(self.costs, header)).rstrip() + "\n")
        return [p]
