"""Incidents: alerts deduplicated and grouped along lineage, with their lifecycle.

An alert joins an open incident that saw activity within ``group_window_min`` when its asset
explains or is explained by the incident along lineage: it is one of the incident's assets, a
descendant of one (a downstream symptom), or an ancestor of the incident's first asset (a deeper
root). Two problems that merely share consumers (siblings) stay separate incidents. Otherwise
the alert opens a new incident. Within an incident, a second alert of the
same signal on the same asset is a duplicate: it is counted, not emitted. Incidents move
open → diagnosed → resolved (verified fix) or closed (benign / no action needed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from agents.records import Alert, Diagnosis, RemediationStep


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
        self.proc: Any = None

    @property
    def active(self) -> bool:
        """Open or being worked on."""
        return self.status in ("open", "diagnosed")

    def signals(self) -> set[str]:
        """Signals seen in this incident."""
        return {a.signal for a in self.alerts}


class IncidentBook:
    """Groups alerts into incidents along lineage.

    Args:
        ancestors: per asset index, its upstream assets (transitively).
        descendants: per asset index, its downstream assets (transitively).
        group_window_min: an incident quiet for longer does not take new alerts.
    """

    def __init__(
        self,
        ancestors: Sequence[frozenset[int]],
        descendants: Sequence[frozenset[int]],
        group_window_min: float = 240.0,
    ) -> None:
        self.ancestors = ancestors
        self.descendants = descendants
        self.group_window_min = group_window_min
        self.incidents: list[Incident] = []

    def place(self, asset: int, signal: str, t: float) -> tuple[Incident, bool, bool]:
        """Find or open the incident for an alert on ``asset``.

        Returns:
            (incident, opened a new one, the alert is a duplicate within it).
        """
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
        inc = Incident(len(self.incidents), t)
        self.incidents.append(inc)
        return inc, True, False

    def add(self, inc: Incident, alert: Alert) -> None:
        """Record a (non-duplicate) alert in ``inc``."""
        inc.alerts.append(alert)
        inc.assets.add(alert.asset)
        inc.seen.add((alert.asset, alert.signal))
        inc.last_at = alert.t

    def open_incidents(self) -> list[Incident]:
        """Incidents still being worked on."""
        return [i for i in self.incidents if i.active]
