"""Issue Triage, three layers: deterministic rules, a route slot, and guardrails.

Layer 1 (rules, ``agents.triage_rules``) classifies an incident from what an operator can see — its
alerts, the evidence gathered once at triage time (``agents.evidence``), the statistics of the
latest partitions, lineage (RCA), the knowledge base's recurrence counts and the business calendar —
into issue type, subtype, layer, severity (critical: wrong data already visible at Delivery; major:
data late, failed or held back; minor: cosmetic or performance within SLA) and a proposed route with
a confidence. Layer 2 is the route slot: a ``RoutePolicy`` that may replace the rules' choice (the
default keeps it; a learned policy plugs in here). Layer 3 are the guardrails: confidence below the
gate, critical or unknown ⇒ escalate; no destructive action (quarantine, rollback, schema mapping,
kill) without evidence on its target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

from agents.evidence import IncidentEvidence, gather_evidence
from agents.incidents import Incident
from agents.monitor import PipelineMonitor
from agents.playbooks import first_route
from agents.rca import RootCauseAnalyzer
from agents.records import Diagnosis, RootCandidate
from agents.triage_rules import QUALITY_SIGNALS, Proposal, TriageRules
from envs.sim.world import World
from scenarios.vocab import DESTRUCTIVE_ACTIONS, TAXONOMY


class RoutePolicy(Protocol):
    """The route slot: given the rules' proposal, choose the route to take."""

    def choose(self, proposal: Proposal, incident: Incident) -> str:
        """Return an action kind (or ``none`` to close without action)."""
        ...


class RouteRequest(NamedTuple):
    """An incident awaiting its route: what the route slot decides from.

    Attributes:
        incident: the incident.
        proposal: the rules' proposal (layer 1).
        candidates: the Root Cause Analyzer's ranked root candidates.
        severity: the rules' severity.
        evidence: the evidence layer 1 read, gathered once at triage time (the route slot's
            features read the same record).
    """

    incident: Incident
    proposal: Proposal
    candidates: tuple[RootCandidate, ...]
    severity: str
    evidence: IncidentEvidence


class RulesPolicy:
    """The default route policy: take the rules' proposal."""

    def choose(self, proposal: Proposal, incident: Incident) -> str:
        """Return the proposed route."""
        return proposal.route


@dataclass(frozen=True)
class TriageConfig:
    """Guardrail settings.

    Attributes:
        confidence_gate: below it, escalate.
        escalate_critical: critical incidents go to a human.
    """

    confidence_gate: float = 0.5
    escalate_critical: bool = True


class IssueTriage:
    """Classify, route and guard incidents.

    Args:
        world: the world (public parts: lineage, warehouse queries, schedule).
        monitor: the monitor (latest partitions and failed runs per asset).
        rca: the root cause analyzer.
        recurrence: ``recurrence(asset, issue_type, now) -> int`` from the knowledge base.
        policy: the route slot.
        config: guardrail settings.
        holidays: business-calendar days.
    """

    def __init__(
        self,
        world: World,
        monitor: PipelineMonitor,
        rca: RootCauseAnalyzer,
        recurrence: Callable[[int, str, float], int] | None = None,
        policy: RoutePolicy | None = None,
        config: TriageConfig | None = None,
        holidays: tuple[int, ...] = (),
    ) -> None:
        self.world = world
        self.monitor = monitor
        self.rca = rca
        self.rules = TriageRules(
            world, monitor, rca, recurrence or (lambda asset, issue, now: 0), holidays
        )
        self.policy = policy or RulesPolicy()
        self.cfg = config or TriageConfig()

    # ------------------------------------------------------------------ layer 1
    def severity(self, inc: Incident, proposal: Proposal) -> str:
        """Critical: wrong data visible at Delivery; major: late/failed/held; minor otherwise."""
        w = self.world
        delivery_quality = any(
            al.signal in QUALITY_SIGNALS
            and w.assets[al.asset].layer == "Delivery"
            and (al.signal != "check_failure" or self.rules.failed_kinds(al.asset) - {"freshness"})
            for al in inc.alerts
        )
        if proposal.subtype == "benign":
            return "minor"
        if delivery_quality:
            return "critical"
        if proposal.issue_type in ("late_arrival", "validation_failure", "quality_anomaly"):
            return "major"
        return "major" if "freshness" in inc.signals() else "minor"

    def propose(self, inc: Incident) -> RouteRequest:
        """Layer 1 on ``inc`` now: the evidence, the rules' proposal, candidates and severity."""
        cands = self.rca.rank(inc)
        evidence = gather_evidence(self.world, self.monitor, inc)
        p = self.rules.classify(inc, cands, evidence)
        if p.subtype not in ("benign", "unknown"):
            p = replace(p, route=first_route(p.subtype))
        return RouteRequest(inc, p, cands, self.severity(inc, p), evidence)

    def diagnose(
        self, inc: Incident, refine: Callable[[RouteRequest], RouteRequest] | None = None
    ) -> tuple[Diagnosis, Proposal]:
        """Run the three layers on ``inc`` now with this triage's route policy.

        ``refine`` (the learning cycle's hook) may replace layer 1's request before the route
        slot sees it.
        """
        req = self.propose(inc)
        if refine is not None:
            req = refine(req)
        return self.finalize(req, self.policy.choose(req.proposal, inc)), req.proposal

    def finalize(self, req: RouteRequest, chosen: str) -> Diagnosis:
        """Layers 2 and 3: apply the guardrails to the route slot's choice and write it up."""
        inc, p, cands, sev = req.incident, req.proposal, req.candidates, req.severity
        route, guard = self._guard(inc, p, chosen, sev)
        layer = self.world.assets[p.target].layer if p.target >= 0 else "Warehouse"
        if p.subtype == "benign":
            complexity = "auto_fix"
        elif route == "escalate":
            complexity = "manual" if chosen == "escalate" and not guard else "escalate"
        else:
            complexity = "auto_fix"
        issue = p.issue_type
        subtype = p.subtype.split("/")[0]
        if subtype not in TAXONOMY and subtype != "benign":
            subtype = "unknown"
        return Diagnosis(
            inc.incident_id, self.world.now, issue, subtype, layer, sev, complexity, route,
            chosen, round(p.confidence, 3), p.evidence, cands, guard,
        )  # fmt: skip

    def _guard(self, inc: Incident, p: Proposal, route: str, sev: str) -> tuple[str, str]:
        """Layer 3: return (route, reason it was overridden or "").

        The confidence gate and the unknown rule judge the rules' own proposal; a route policy
        that chose otherwise answers for its choice. No policy escapes the critical rule or the
        evidence rule.
        """
        if route == "none" or (route == "watch" and sev != "critical"):
            return route, ""
        own = route == p.route
        if own and (p.issue_type == "unknown" or p.subtype == "unknown"):
            return "escalate", "unknown issue: escalate"
        if own and p.confidence < self.cfg.confidence_gate and route != "escalate":
            return (
                "escalate",
                f"confidence {p.confidence:.2f} below gate {self.cfg.confidence_gate}",
            )
        if sev == "critical" and self.cfg.escalate_critical and route != "escalate":
            return "escalate", "critical: wrong data reached consumers"
        if route in DESTRUCTIVE_ACTIONS and not self.has_evidence(inc, route, p.target):
            return "escalate", f"{route} needs evidence on its target"
        return route, ""

    def has_evidence(self, inc: Incident, route: str, target: int) -> bool:
        """Whether a destructive ``route`` on ``target`` is backed by this incident's alerts."""
        sig_on = {al.signal for al in inc.alerts if al.asset == target}
        if route == "quarantine":
            return bool(sig_on & QUALITY_SIGNALS)
        if route == "apply_schema_mapping":
            return bool(sig_on & {"check_failure", "schema_change", "null_rate"})
        if route == "kill_query":
            if target < 0:
                return any(getattr(r, "priority", 1) < 0 for r in self.world.warehouse.users)
            return bool(sig_on & {"runtime", "run_failure", "queue"})
        return route == "rollback" and bool(inc.steps)
