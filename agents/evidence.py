"""The evidence about one incident, gathered once at triage time: what the rules and policies read.

Issue Triage's rule layer (``agents.triage``) and the route slot's feature vector
(``agents.slots.features``) read the same ``IncidentEvidence`` record, computed by
``gather_evidence`` when the incident is triaged, so a learned policy and the rules it is
compared with see the same facts. Everything in it is observable by an operator — alerts, failed
runs and their error messages, which sources delivered, what runs in the warehouse — never the
ground truth.

=======================  ======================================================================
field                    what it is
=======================  ======================================================================
``t``                    minute the evidence was gathered (the incident's triage time)
``signals``              the incident's alert signals
``failing``              assets with a ``run_failure`` alert in the incident, ascending
``recent_failures``      their failed runs that ended at most 60 min before the incident opened
                         or later, by asset then time
``error_classes``        error class → count over ``recent_failures`` (first-seen order)
``error_text``           ``recent_failures``' error messages, lower case, space-joined
``failing_ingestions``   the ``failing`` assets on the Ingestion layer
``sources``              the Source-layer assets directly upstream of ``failing``
``late_sources``         those of ``sources`` whose latest delivered window is past its SLA
``shared_source``        ≥ 2 failing ingestions and exactly one source: one source is down
``external_queries``     warehouse slots held by queries outside the pipeline (priority < 0)
``wide_slow_assets``     assets with a runtime or queue alert in the last 90 min
=======================  ======================================================================
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agents.incidents import Incident
from agents.monitor import PipelineMonitor
from envs.sim.records import RunRecord
from envs.sim.world import World

RECENT_FAILURE_MIN = 60.0
"""Failed runs that ended this many minutes before the incident opened still count as its own."""
WIDE_WINDOW_MIN = 90.0
"""Window in which runtime or queue alerts on several assets mean a warehouse-wide slowdown."""
WIDE_SIGNALS = frozenset({"runtime", "queue"})


@dataclass(frozen=True)
class IncidentEvidence:
    """What an operator can observe about one incident at its triage time (see the module table)."""

    t: float
    signals: frozenset[str]
    failing: tuple[int, ...]
    recent_failures: tuple[RunRecord, ...]
    error_classes: Counter[str]
    error_text: str
    failing_ingestions: tuple[int, ...]
    sources: frozenset[int]
    late_sources: tuple[int, ...]
    shared_source: bool
    external_queries: int
    wide_slow_assets: frozenset[int]


def gather_evidence(world: World, monitor: PipelineMonitor, inc: Incident) -> IncidentEvidence:
    """The evidence about ``inc`` now, from the monitor's records and the world's public state."""
    w, mon = world, monitor
    now = w.now
    failing = tuple(sorted({a.asset for a in inc.alerts if a.signal == "run_failure"}))
    since = inc.opened_at - RECENT_FAILURE_MIN
    recent = tuple(r for a in failing for r in mon.failed_runs[a] if r.ended_at >= since)
    sources = frozenset(u.idx for a in failing for u in w.assets[a].ups if u.layer == "Source")
    ingestions = tuple(a for a in failing if w.assets[a].layer == "Ingestion")
    late = tuple(
        s for s in sorted(sources) if mon.arrived[s] * w.assets[s].every + w.assets[s].sla < now
    )
    return IncidentEvidence(
        t=now,
        signals=frozenset(inc.signals()),
        failing=failing,
        recent_failures=recent,
        error_classes=Counter(r.error_class for r in recent),
        error_text=" ".join(r.error_message.lower() for r in recent),
        failing_ingestions=ingestions,
        sources=sources,
        late_sources=late,
        shared_source=len(ingestions) >= 2 and len(sources) == 1,
        external_queries=sum(1 for q in w.warehouse.users if getattr(q, "priority", 1) < 0),
        wide_slow_assets=frozenset(mon.recent_assets(WIDE_SIGNALS, now - WIDE_WINDOW_MIN)),
    )
