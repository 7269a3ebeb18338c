"""The operations organization, wired together, and the organizations compared by config.

=============  ==============================================================================
organization   what it is
=============  ==============================================================================
manual         static detection (dbt-like checks, failures, freshness); no automation: every
               incident waits for a human (escalation)
static         static detection + blind retry, then a human — the leaderboard's reference
elementary     seasonal z-score detection (Elementary-style) + blind retry, then a human
rules          the full BP-0005 organization: monitor with z-scores and a business calendar,
               three-layer triage with RCA and the knowledge base, playbooks with guardrails,
               verification, escalation, and the knowledge manager's records
ideal          the rules organization in the world (same config, same actions, same ledger)
               plus BP-0005's ideal agents, which read what it observed: the Cost Optimizer's
               waste report and the SLA Optimizer's breach predictions (``agents.ideal``, run
               by ``experiments.run_org``)
=============  ==============================================================================

``Organization(world, config, ...)`` attaches to a world before it runs: the monitor subscribes to
telemetry, each new incident gets a SimPy process (triage after ``triage_delay_min``, then
remediation), and closed incidents go to the knowledge base in one transaction each.
An incident closed as benign (``BENIGN_RESOLUTIONS``) holds its conditions in the monitor's
incident book (``agents.incidents``), so a condition that persists is not reopened every run.
``finish()`` turns everything into an ``EpisodeResult`` for the scorecard. A daily learning
cycle (``agents.learning.cycle``) may attach itself as ``Organization.learning``; only then does
triage pass through its ``refine`` hook and remediation through its ``approve`` hook. One
episode with an organization in the loop (its policy slots filled or not) is
``agents.slots.runner.run_episode``.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import simpy

from agents.analytics.access_policy import AccessPolicy
from agents.analytics.support import AnalyticsSupport, score_answers
from agents.history import prime_monitor
from agents.incidents import Incident
from agents.monitor import MonitorConfig, PipelineMonitor
from agents.playbooks import plan
from agents.rca import RootCauseAnalyzer
from agents.records import Alert, Diagnosis, EpisodeResult, IncidentSummary, RootCandidate
from agents.remediation import AutoRemediation
from agents.triage import IssueTriage, Proposal, RoutePolicy, RouteRequest, TriageConfig
from envs.sim.ledger import exposure_hours_by_fault, fault_records, partitions_table
from envs.sim.oracle import verify, verify_assets
from envs.sim.world import World
from scenarios.vocab import DESTRUCTIVE_ACTIONS

ORG_NAMES = ("manual", "static", "elementary", "rules", "ideal")
BENIGN_RESOLUTIONS = frozenset({"dismissed", "benign"})
"""Closed without a fix: triage dismissed it, or its re-check found nothing left to fix."""
_SIGNAL_TYPE = {
    "run_failure": "late_arrival",
    "freshness": "late_arrival",
    "check_failure": "validation_failure",
    "schema_change": "validation_failure",
    "volume": "quality_anomaly",
    "null_rate": "quality_anomaly",
    "duplicate_rate": "quality_anomaly",
    "value_mean": "quality_anomaly",
    "runtime": "performance_degradation",
    "queue": "performance_degradation",
}


@dataclass(frozen=True)
class OrgConfig:
    """An organization's settings.

    Attributes:
        name: manual, static, elementary, rules or ideal.
        monitor: detector settings.
        triage: guardrail settings (rules only).
        automation: ``none`` (escalate everything), ``blind_retry`` or ``playbooks``.
        use_calendar: mute volume alerts on business holidays and treat them as benign.
        triage_delay_min: minutes an incident gathers alerts before triage.
        history_days: days of history the monitor's baselines are primed with.
        analytics: run Analytics Support on the analyst workload (any topology: its own
            access policy, ``AccessPolicy.for_pipeline``).
    """

    name: str
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    triage: TriageConfig = field(default_factory=TriageConfig)
    automation: str = "playbooks"
    use_calendar: bool = True
    triage_delay_min: float = 5.0
    history_days: float = 14.0
    analytics: bool = True


def org_config(name: str) -> OrgConfig:
    """The named organization's config.

    Raises:
        ValueError: for an unknown name (lists the valid ones).
    """
    static = MonitorConfig(anomaly_detection=False, alert_on_additive_schema=False)
    if name == "manual":
        return OrgConfig(name, static, automation="none", use_calendar=False)
    if name == "static":
        return OrgConfig(name, static, automation="blind_retry", use_calendar=False)
    if name == "elementary":
        mon = MonitorConfig(alert_on_additive_schema=True, suppress_during_backfills=False)
        return OrgConfig(name, mon, automation="blind_retry", use_calendar=False)
    if name == "rules":
        # a tuned team: noisy families less sensitive, freshness from the timers only, a
        # freshness breach must last 15 minutes before it pages anyone, and late data behind a
        # fix just made is that fix's backlog draining
        mon = MonitorConfig(
            family_sensitivity={"runtime": 4.0, "volume": 4.0},
            freshness_check_alerts=False,
            freshness_grace_min=15.0,
            trailing_symptoms=True,
        )
        return OrgConfig(name, mon)
    if name == "ideal":  # the rules organization acts; the ideal agents only add their reports
        return replace(org_config("rules"), name="ideal")
    raise ValueError(f"org: unknown organization {name!r}; expected one of {', '.join(ORG_NAMES)}")


class LearningHooks(Protocol):
    """The learning cycle's hooks (``agents.learning.cycle.LearningCycle``), called only when set.

    ``refine`` sees layer 1's request before the route slot and may replace the rules' cause with
    the classifier's; ``approve`` runs before a playbook and waits for a person's approval of a
    destructive action not yet promoted for the diagnosed cause.
    """

    def refine(self, req: RouteRequest) -> RouteRequest:
        """Layer 1's request, possibly with the classifier's cause."""
        ...

    def approve(self, inc: Incident, rungs: list[Any]) -> Generator[simpy.Event, Any, None]:
        """Wait for approval if needed."""
        ...


class Decider(Protocol):
    """An outside decision-maker for the triage route slot (an RL environment, say).

    ``request`` returns a SimPy event; the incident's process waits on it and takes its value
    (a route from ``agents.playbooks.ROUTES``) as the route slot's choice.
    """

    def request(self, req: RouteRequest) -> simpy.Event:
        """Ask for a route for ``req.incident``."""
        ...


class Organization:
    """One organization attached to one world.

    Args:
        world: the world, before it runs.
        config: the organization's settings.
        knowledge: a knowledge base with ``record_incident`` and ``recurrence`` (or None).
        route_policy: the triage route slot (rules organization; default: the rules' choice).
        decider: an outside decision-maker for the route slot (replaces ``route_policy``).
        prime: prime the monitor with history (disable only in unit tests).
        allow_scaling: playbooks may resize the warehouse (off when a cost optimizer owns it).
    """

    def __init__(
        self,
        world: World,
        config: OrgConfig,
        *,
        knowledge: Any = None,
        route_policy: RoutePolicy | None = None,
        decider: Decider | None = None,
        prime: bool = True,
        allow_scaling: bool = True,
    ) -> None:
        self.world = world
        self.decider = decider
        self.cfg = config
        self.kb = knowledge
        mcfg = config.monitor
        holidays = world.scenario.spec.noise.holidays if config.use_calendar else ()
        factor = world.scenario.spec.noise.holiday_volume_factor if holidays else 1.0
        mcfg = replace(mcfg, holidays=tuple(holidays), holiday_volume_factor=factor)
        self.monitor = PipelineMonitor(world, mcfg, self._on_alert)
        if prime and config.history_days > 0:
            prime_monitor(self.monitor, world.scenario, config.history_days)
        self.rca = RootCauseAnalyzer(world, self.monitor)
        self.triage = IssueTriage(
            world, self.monitor, self.rca, self.recurrence, route_policy, config.triage,
            tuple(holidays),
        )  # fmt: skip
        self.remediation = AutoRemediation(
            world, on_close=self._on_close, allow_scaling=allow_scaling
        )
        self.analytics: AnalyticsSupport | None = None
        if config.analytics:
            self.analytics = AnalyticsSupport(
                world,
                AccessPolicy.for_pipeline(world.scenario.pipeline),
                knowledge,
                open_incidents=self._open_for_analysts,
            )
            self.analytics.start()
        self.diagnoses: list[Diagnosis] = []
        self.closed: list[Incident] = []
        self.summaries: dict[int, IncidentSummary] = {}
        self.unsafe: list[int] = []
        self.learning: LearningHooks | None = None  # set by agents.learning.cycle.LearningCycle
        self.monitor.start()

    def _open_for_analysts(self) -> list[tuple[int, set[int], float, float]]:
        """Open incidents as analysts see them: id, assets, expected fix time, opened at."""
        out = []
        for inc in self.monitor.book.open_incidents():
            d = inc.diagnosis
            target = 120.0 if d is None or d.route == "escalate" else 30.0
            start = d.t if d is not None else inc.opened_at + self.cfg.triage_delay_min
            out.append((inc.incident_id, set(inc.assets), start + target, inc.opened_at))
        return out

    # ------------------------------------------------------------------ events
    def _on_alert(self, alert: Alert, inc: Incident, new: bool) -> None:
        if new:
            inc.proc = self.world.env.process(self._handle(inc))

    def recurrence(self, asset: int, issue_type: str, now: float) -> int:
        """Earlier incidents of ``issue_type`` on ``asset`` in this episode (knowledge base)."""
        if self.kb is None:
            return 0
        sc = self.world.scenario.name
        return int(
            self.kb.recurrence(
                asset, issue_type, before=now, scenario=sc, seed=self.world.seed, org=self.cfg.name
            )
        )

    def _handle(self, inc: Incident) -> Generator[simpy.Event, Any, None]:
        w = self.world
        yield w.env.timeout(self.cfg.triage_delay_min)
        if self.cfg.automation == "playbooks" and self.decider is not None:
            req = self.triage.propose(inc)
            prop = req.proposal
            chosen = yield self.decider.request(req)
            diag = self.triage.finalize(req, str(chosen))
        elif self.cfg.automation == "playbooks":
            refine = self.learning.refine if self.learning is not None else None
            diag, prop = self.triage.diagnose(inc, refine)
        else:
            diag, prop = self._signal_diagnosis(inc)
        inc.diagnosis = diag
        inc.status = "diagnosed"
        inc.warehouse_wide = prop.target < 0  # contention: every run is slowed
        self.diagnoses.append(diag)
        if diag.route == "none":
            inc.status = "closed"
            inc.resolution = "dismissed"  # closed without action or re-check
            self._on_close(inc)
            return
        if prop.target < 0 and self.cfg.automation == "playbooks":
            # one warehouse-wide remediation at a time: join the one in progress
            others = [
                i for i in self.monitor.book.incidents
                if i is not inc and i.active and i.diagnosis is not None and i.proc is not None
                and i.diagnosis.subtype == diag.subtype and i.proc.is_alive
            ]  # fmt: skip
            if others:
                yield others[0].proc
                if verify_assets(w, frozenset(inc.assets), since=inc.opened_at - 1440.0):
                    inc.status = "resolved"
                    inc.resolved_at = w.now
                    inc.resolution = "auto"
                    self._on_close(inc)
                    return
        rungs = plan(diag.route, prop.subtype, blind=self.cfg.automation == "blind_retry")
        if self.cfg.automation == "none":
            rungs = []
        scope = set(inc.assets) | {c.asset for c in diag.root_candidates}
        if prop.target >= 0:
            scope.add(prop.target)
        paged = diag.guardrail.startswith("critical") and self.cfg.automation == "playbooks"
        if paged:
            # the human is paged; meanwhile the playbook's non-destructive rungs may fix it
            chosen_rungs = plan(diag.proposed_route, prop.subtype)
            rungs = [r for r in chosen_rungs if r[0] not in DESTRUCTIVE_ACTIONS]
        for kind, _ in rungs:
            if kind in DESTRUCTIVE_ACTIONS and not self.triage.has_evidence(inc, kind, prop.target):
                self.unsafe.append(inc.incident_id)
        if self.learning is not None and rungs:
            yield from self.learning.approve(inc, rungs)
        yield from self.remediation.run(inc, rungs, prop.target, scope, paged=paged)

    def _signal_diagnosis(self, inc: Incident) -> tuple[Diagnosis, Proposal]:
        first = inc.alerts[0]
        issue = _SIGNAL_TYPE.get(first.signal, "unknown")
        route = "escalate" if self.cfg.automation == "none" else "retry"
        cand = (RootCandidate(first.asset, first.asset_name, 1.0, "first alerted asset"),)
        diag = Diagnosis(
            inc.incident_id, self.world.now, issue, "unknown", first.layer, "major",
            "escalate" if route == "escalate" else "auto_fix", route, route, 0.0,
            (f"first alert: {first.signal} on {first.asset_name}",), cand, "",
        )  # fmt: skip
        return diag, Proposal(issue, "unknown", first.asset, route, 0.0, diag.evidence)

    def _on_close(self, inc: Incident) -> None:
        self.closed.append(inc)
        if inc.resolution in BENIGN_RESOLUTIONS:
            # its conditions are held: their re-alerts do not reopen it run after run
            self.monitor.book.dismiss(inc, self.world.now)
        s = self._summary(inc)
        self.summaries[inc.incident_id] = s
        if self.kb is not None:
            sc = self.world.scenario
            self.kb.record_incident(
                s, inc.steps, scenario=sc.name, seed=self.world.seed, org=self.cfg.name
            )

    def _summary(self, inc: Incident) -> IncidentSummary:
        d = inc.diagnosis
        first = inc.alerts[0]
        root = d.root_candidates[0].asset if d and d.root_candidates else -1
        resolution = inc.resolution or "open"
        return IncidentSummary(
            inc.incident_id, first.asset, first.asset_name, first.layer, inc.opened_at,
            d.t if d else math.nan, inc.resolved_at, d.issue_type if d else "unknown",
            d.severity if d else "major", root,
            (d.subtype if d else "unknown"), resolution, resolution in ("auto", "manual"),
            tuple(s.kind for s in inc.steps), len(inc.alerts), (), None,
            inc.resolved_at - inc.opened_at,
        )  # fmt: skip

    # ------------------------------------------------------------------ results
    def finish(self) -> EpisodeResult:
        """Close the books at the end of the episode and return everything for the scorecard."""
        w = self.world
        for inc in self.monitor.book.incidents:
            if inc.incident_id not in self.summaries or inc.active:
                self._on_close(inc)  # still open at the end: recorded as open, never dropped
        faults = fault_records(w)
        verdicts = {}
        for f in faults:
            v = verify(w, f.fault_id)
            verdicts[f.fault_id] = (v.fixed, v.clean)
        unsafe = tuple(
            s.action_id for s in self.remediation.log if s.incident_id in set(self.unsafe)
            and s.kind in DESTRUCTIVE_ACTIONS and s.action_id >= 0
        )  # fmt: skip
        return EpisodeResult(
            scenario=w.scenario.name,
            seed=w.seed,
            org=self.cfg.name,
            days=w.horizon / 1440.0,
            horizon=w.horizon,
            faults=faults,
            alerts=list(self.monitor.alerts),
            diagnoses=list(self.diagnoses),
            remediations=list(self.remediation.log),
            incidents=[self.summaries[i] for i in sorted(self.summaries)],
            actions=list(w.actions),
            partitions=partitions_table(w),
            asset_names=[a.name for a in w.assets],
            asset_layers=[a.layer for a in w.assets],
            exposure_hours=exposure_hours_by_fault(w),
            warehouse_cost=w.warehouse.cost,
            human_minutes=w.human_minutes,
            verdicts=verdicts,
            unsafe_actions=unsafe,
            analytics=(
                score_answers(
                    w, self.analytics.answers, self.analytics.policy, self.analytics.index
                )
                if self.analytics is not None
                else {}
            ),
        )
