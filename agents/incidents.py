"""Incidents: alerts deduplicated and grouped along lineage, with their lifecycle.

An alert joins an open incident that saw activity within ``group_window_min`` when its asset
explains or is explained by the incident along lineage: it is one of the incident's assets, a
descendant of one (a downstream symptom), or an ancestor of the incident's first asset (a deeper
root). Two problems that merely share consumers (siblings) stay separate incidents — unless
triage found the incident's cause warehouse-wide (contention: an outside workload, an undersized
warehouse), which slows every run: then, while it is active, queue, runtime and freshness alerts
on any other asset are its duplicates (counted, not emitted; they do not widen its lineage).
Otherwise the alert opens a new incident. Within an incident, a second
alert of the same signal on the same asset is a duplicate: it is counted, not emitted. Incidents
move open → diagnosed → resolved (verified fix) or closed (benign / no action needed).

A fix leaves a backlog: the windows held up behind the fault run late while it drains, and the
assets downstream, whose freshness deadlines fall later than the root's, can still breach theirs
after the fix is verified. With ``trailing_symptoms`` (the rules organization's monitor), a
freshness alert at or downstream of an incident resolved less than ``group_window_min`` ago is
such a trailing symptom: a duplicate of the fixed incident, not a new incident that would be
triaged as late data with the wrong root.

A benign dismissal holds its conditions: when an incident is closed as benign (``dismiss``: triage
dismissed it, or its re-check found nothing to fix), each of its (asset, signal) conditions is
*held* for ``dismissed_hold_min``. While held, an alert of that signal on that asset is a re-alert
of the dismissed condition: it is counted as a duplicate of the dismissed incident, not opened as
a new one. So a condition that persists run after run (a volume level dismissed as a holiday dip,
an asset that keeps landing late) does not reopen an incident every run. Only the same signal on
the same asset is held: a symptom elsewhere (downstream, say) is triaged on its own, so a
dismissal that was wrong can still be caught there. A condition's hold ends early when the
monitor sees the signal normal again on that asset (``release``: a run that does not alert it, a
window delivered on time) — a later recurrence is a new condition and alerts — and every hold is
bounded: when it expires, a condition still alerting is raised again, as a new incident that
triage looks at afresh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from agents.records import Alert, Diagnosis, RemediationStep

WAREHOUSE_WIDE_SIGNALS = frozenset({"queue", "runtime", "freshness"})
"""What a warehouse-wide cause does to every asset: runs wait, run slow, land late."""


class Incident:
    """One incident's state during an episode.

    Attributes:
        incident_id: unique id.
        opened_at: time of its first alert; ``last_at`` of its latest.
        assets: asset indexes it covers.
        alerts: its (deduplicated) alerts; ``duplicates`` how many duplicates were dropped.
        diagnosis: triage's diagnosis (None until triaged).
        steps: remediation steps taken.
        status: open, diagnosed, resolved or closed.
        resolved_at: verified fix time (nan while open).
        resolution: auto, manual, escalated, benign or "" while open.
        warehouse_wide: triage found a warehouse-wide cause (contention): while active, the
            slowness and lateness alerts of any asset are its duplicates.
    """

    def __init__(self, incident_id: int, t: float) -> None:
        self.incident_id = incident_id
        self.opened_at = t
        self.last_at = t
        self.assets: set[int] = set()
        self.alerts: list[Alert] = []
        self.seen: set[tuple[int, str]] = set()
        self.duplicates = 0
        self.diagnosis: Diagnosis | None = None
        self.steps: list[RemediationStep] = []
        self.status = "open"
        self.resolved_at = math.nan
        self.resolution = ""
        self.warehouse_wide = False
        self.proc: Any = None

    @property
    def active(self) -> bool:
        """Open or being worked on."""
        return self.status in ("open", "diagnosed")

    def signals(self) -> set[str]:
        """Signals seen in this incident."""
        return {a.signal for a in self.alerts}


class Hold:
    """A benign dismissal's hold on its conditions.

    Attributes:
        incident: the dismissed incident (held re-alerts count as its duplicates).
        until: end of the hold.
        conditions: the (asset, signal) pairs still held.
    """

    __slots__ = ("conditions", "incident", "until")

    def __init__(self, incident: Incident, until: float, conditions: set[tuple[int, str]]) -> None:
        self.incident = incident
        self.until = until
        self.conditions = conditions


class IncidentBook:
    """Groups alerts into incidents along lineage.

    Args:
        ancestors: per asset index, its upstream assets (transitively).
        descendants: per asset index, its downstream assets (transitively).
        group_window_min: an incident quiet for longer does not take new alerts.
        dismissed_hold_min: how long a benign dismissal holds its (asset, signal) conditions.
        trailing_symptoms: late data behind a freshly fixed incident is its duplicate.

    Attributes:
        holds: the benign dismissals still holding conditions.
    """

    def __init__(
        self,
        ancestors: Sequence[frozenset[int]],
        descendants: Sequence[frozenset[int]],
        group_window_min: float = 240.0,
        dismissed_hold_min: float = 360.0,
        trailing_symptoms: bool = False,
    ) -> None:
        self.ancestors = ancestors
        self.descendants = descendants
        self.group_window_min = group_window_min
        self.dismissed_hold_min = dismissed_hold_min
        self.trailing_symptoms = trailing_symptoms
        self.incidents: list[Incident] = []
        self.holds: list[Hold] = []

    def place(self, asset: int, signal: str, t: float) -> tuple[Incident, bool, bool]:
        """Find or open the incident for an alert on ``asset``.

        Returns:
            (incident, opened a new one, the alert is a duplicate within it). A re-alert of a
            held condition is a duplicate of the incident that dismissed it.
        """
        if self.holds:
            held = self._held(asset, signal, t)
            if held is not None:
                return held, False, True
        up = self.ancestors[asset]
        for inc in self.incidents:
            if not inc.active or t - inc.last_at > self.group_window_min:
                continue
            origin = inc.alerts[0].asset if inc.alerts else asset
            if (
                asset in inc.assets
                or not up.isdisjoint(inc.assets)  # downstream of something in the incident
                or asset in self.ancestors[origin]  # a deeper root of where it started
            ):
                dup = (asset, signal) in inc.seen
                return inc, False, dup
            if inc.warehouse_wide and signal in WAREHOUSE_WIDE_SIGNALS:
                return inc, False, True  # one more run slowed by it, not a new lineage branch
        if signal == "freshness" and self.trailing_symptoms:
            drained = self._draining(asset, up, t)
            if drained is not None:
                return drained, False, True
        inc = Incident(len(self.incidents), t)
        self.incidents.append(inc)
        return inc, True, False

    def add(self, inc: Incident, alert: Alert) -> None:
        """Record a (non-duplicate) alert in ``inc``."""
        inc.alerts.append(alert)
        inc.assets.add(alert.asset)
        inc.seen.add((alert.asset, alert.signal))
        inc.last_at = alert.t

    def _draining(self, asset: int, up: frozenset[int], t: float) -> Incident | None:
        """A fixed incident whose backlog still makes ``asset`` late: at or downstream of it."""
        for inc in reversed(self.incidents):
            if (
                inc.status == "resolved"
                and t - inc.resolved_at <= self.group_window_min
                and (asset in inc.assets or not up.isdisjoint(inc.assets))
            ):
                return inc
        return None

    def _held(self, asset: int, signal: str, t: float) -> Incident | None:
        """The dismissed incident holding ``signal`` at ``asset``, if any (expired holds go)."""
        self.holds = [h for h in self.holds if t <= h.until and h.conditions]
        key = (asset, signal)
        return next((h.incident for h in self.holds if key in h.conditions), None)

    def dismiss(self, inc: Incident, t: float) -> None:
        """Hold the conditions of ``inc``, closed as benign at ``t``, for the hold time."""
        if inc.seen and self.dismissed_hold_min > 0:
            self.holds.append(Hold(inc, t + self.dismissed_hold_min, set(inc.seen)))

    def release(self, asset: int, signal: str) -> None:
        """End the hold on ``signal`` at ``asset``: the monitor saw it normal again."""
        for h in self.holds:
            h.conditions.discard((asset, signal))

    def open_incidents(self) -> list[Incident]:
        """Incidents still being worked on."""
        return [i for i in self.incidents if i.active]
