"""Root Cause Analyzer: ranks candidate root assets by walking lineage upstream from the alerts.

Candidates are the alerted assets and all their ancestors. A candidate scores for every alerted
asset it explains (itself or a descendant), more for explaining alerts on many assets, more for
alerting early, and more if it alerted itself; a candidate that did not alert but is the common
ancestor of several alerted assets (a Source feeding several failing ingestions, say) is a strong
suspect too. The top three come with the reasons that earned their score.

An ancestor whose data is observably overdue — its latest delivered window is past its freshness
SLA (the monitor's arrivals) — counts as alerted from its first missed deadline, even if its own
freshness alert is not out yet: at triage time a Source that stopped delivering has usually only
made its ingestion fail, and the monitor's grace has not yet let its own freshness alert out.
This reads only lineage and arrival times, so it holds on any topology, not just retail's.
"""

from __future__ import annotations

from agents.incidents import Incident
from agents.monitor import PipelineMonitor
from agents.records import RootCandidate
from envs.sim.world import World


class RootCauseAnalyzer:
    """Lineage walker over one world's DAG.

    Args:
        world: the world (its lineage is public).
        monitor: the monitor whose arrivals show overdue ancestors (None: alerts only).
    """

    def __init__(self, world: World, monitor: PipelineMonitor | None = None) -> None:
        self.world = world
        self.monitor = monitor
        self.ancestors = [
            frozenset(u.idx for u in world.assets if a.idx in u.descendants) for a in world.assets
        ]

    def rank(self, incident: Incident, top: int = 3) -> tuple[RootCandidate, ...]:
        """Rank candidate root assets for ``incident``, best first."""
        alerted: dict[int, float] = {}
        for al in incident.alerts:
            alerted[al.asset] = min(alerted.get(al.asset, al.t), al.t)
        if not alerted:
            return ()
        cands: set[int] = set(alerted)
        for a in list(alerted):
            cands |= self.ancestors[a]
        overdue = self._overdue(cands - set(alerted))
        alerted |= overdue
        first = min(alerted.values())
        scored = []
        n = len(alerted)
        for c in cands:
            desc = self.world.assets[c].descendants
            explains = [a for a in alerted if a == c or a in desc]
            if not explains:
                continue
            score = len(explains) / n
            reasons = [f"explains alerts on {len(explains)}/{n} assets"]
            if c in alerted:
                score += 0.5
                reasons.append("overdue past its SLA" if c in overdue else "alerted itself")
                if alerted[c] - first < 1e-6:
                    score += 0.3
                    reasons.append("alerted first")
            else:
                alerted_children = [d.idx for d in self.world.assets[c].downs if d.idx in alerted]
                if len(alerted_children) >= 2:
                    score += 0.6
                    reasons.append(f"common upstream of {len(alerted_children)} alerted assets")
                else:
                    score -= 0.2
            # prefer the most upstream explanation among equals
            score += 0.02 * (4 - self.world.assets[c].layer_idx)
            scored.append((score, -c, c, "; ".join(reasons)))
        scored.sort(reverse=True)
        names = [a.name for a in self.world.assets]
        return tuple(RootCandidate(c, names[c], round(s, 3), why) for s, _, c, why in scored[:top])

    def _overdue(self, assets: set[int]) -> dict[int, float]:
        """Those of ``assets`` whose latest window is past its SLA now → first missed deadline."""
        if self.monitor is None:
            return {}
        now, arrived = self.world.now, self.monitor.arrived
        out = {}
        for c in assets:
            a = self.world.assets[c]
            due = (arrived[c] + 1) * a.every + a.sla
            if a.n_windows and arrived[c] < a.n_windows and due < now:
                out[c] = due
        return out
