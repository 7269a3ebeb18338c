"""Markdown bodies of the per-agent artifacts (alert record, diagnosis, remediation log).

Used by ``agents.scoring.artifacts`` (which writes the incident summary itself): each ``*_sections``
function returns the lines of one file after its header, given the episodes shown in full, the
episodes shown as one row per incident, and the scorecard's pooled metrics. The formatting
helpers render simulated times as ``day 2 14:05`` and durations as ``12 min``, and never leak a
missing value as ``nan``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from agents.records import Alert, EpisodeResult, IncidentSummary
from agents.scoring.matching import (
    SLA_TARGETS_MIN,
    fault_outcomes,
    first_diagnoses,
    incident_outcomes,
    match_matrix,
    steps_by_incident,
)


# ---------------------------------------------------------------- formatting
def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_time(t: float | None) -> str:
    """Simulated minutes as ``day 2 14:05`` (day 1 is the first day); ``—`` if unknown."""
    if t is None or math.isnan(t):
        return "—"
    day, rem = divmod(round(t), 1440)
    return f"day {day + 1} {rem // 60:02d}:{rem % 60:02d}"


def fmt_dur(minutes: float | None) -> str:
    """A duration as ``12 min`` (``3 h 05 min`` from two hours on); ``—`` if unknown."""
    if minutes is None or math.isnan(minutes):
        return "—"
    if abs(minutes) < 120:
        return f"{minutes:.0f} min"
    h, m = divmod(round(minutes), 60)
    return f"{h} h {m:02d} min"


def fmt_num(x: Any) -> str:
    """A number for a table cell, without float noise; ``—`` if missing."""
    if _missing(x):
        return "—"
    if isinstance(x, bool | str):
        return str(x)
    v = float(x)
    if v == int(v) and abs(v) < 1e9:
        return f"{int(v):,}"
    return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}"


def fmt_frac(x: Any) -> str:
    """A fraction as a percentage; ``n/a`` when undefined (empty denominator)."""
    return "n/a" if _missing(x) else f"{float(x):.0%}"


def mark(ok: Any) -> str:
    """✓ or ✗ for a truth value; ``—`` when it does not apply."""
    return "—" if _missing(ok) else ("✓" if bool(ok) else "✗")


def target_text(kind: str) -> str:
    """The BP-0005 wording of an SLA target: ``< 5 min`` ... ``< 2 hours``."""
    m = SLA_TARGETS_MIN[kind]
    return f"< {m / 60:.0f} hours" if m >= 120 else f"< {m:.0f} min"


def sla_cell(minutes: float | None, kind: str) -> str:
    """A time against its SLA target, e.g. ``4 min ✓`` (never happened: ``— ✗``)."""
    if minutes is None or math.isnan(minutes):
        return "— ✗"
    return f"{fmt_dur(minutes)} {mark(minutes < SLA_TARGETS_MIN[kind])}"


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    """A Markdown table; pipes and line breaks in cells are escaped."""

    def cell(x: Any) -> str:
        s = x if isinstance(x, str) else fmt_num(x)
        return s.replace("|", "\\|").replace("\n", " ") or "—"

    head = list(headers)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return [*out, *("| " + " | ".join(cell(c) for c in r) + " |" for r in rows), ""]


def metric_rows(agg: dict[str, Any], names: Iterable[tuple[str, str, str]]) -> list[str]:
    """A two-column table of scorecard metrics: (label, key, kind ``frac``/``min``/``num``)."""
    fmt: dict[str, Callable[[Any], str]] = {"frac": fmt_frac, "min": fmt_dur, "num": fmt_num}
    return table(["Measure", "Value"], [(lbl, fmt[k](agg.get(key))) for lbl, key, k in names])


# ---------------------------------------------------------------- the episode, cross-referenced
class EpisodeView:
    """One episode with its records cross-referenced to the ground truth, computed once.

    Attributes:
        ep: the episode.
        faults: ``fault_outcomes`` indexed by fault id.
        incidents: ``incident_outcomes`` indexed by incident id.
        alerts: per incident, (alert, matched a fault) in time order.
        diagnoses: first diagnosis per incident.
        steps: remediation steps per incident.
    """

    def __init__(self, ep: EpisodeResult) -> None:
        m = match_matrix(ep)
        self.ep = ep
        self.faults = fault_outcomes(ep, m).set_index("fault_id", drop=False)
        self.incidents = incident_outcomes(ep, m).set_index("incident_id", drop=False)
        self.alerts: dict[int, list[tuple[Alert, bool]]] = {}
        for i in sorted(range(len(ep.alerts)), key=lambda i: (ep.alerts[i].t, i)):
            a = ep.alerts[i]
            self.alerts.setdefault(a.incident_id, []).append((a, bool(m[i].any())))
        self.diagnoses = first_diagnoses(ep.diagnoses)
        self.steps = steps_by_incident(ep.remediations)

    def asset(self, idx: int) -> str:
        """Readable asset name (``warehouse`` for warehouse-wide targets)."""
        return self.ep.asset_names[idx] if 0 <= idx < len(self.ep.asset_names) else "warehouse"

    def truth(self, incident_id: int) -> pd.Series | None:
        """The incident's scored row, or None for a false alarm (or an unknown incident)."""
        if incident_id not in self.incidents.index:
            return None
        row = self.incidents.loc[incident_id]
        return row if int(row["primary_fault"]) >= 0 else None

    def primary(self, incident_id: int) -> pd.Series | None:
        """The ``fault_outcomes`` row of the incident's primary fault (None: false alarm)."""
        t = self.truth(incident_id)
        return None if t is None else self.faults.loc[int(t["primary_fault"])]

    def fault_text(self, incident_id: int) -> str:
        """The incident's true faults in words, or ``false alarm``."""
        t = self.truth(incident_id)
        if t is None:
            return "false alarm (matches no fault)"
        f = self.faults.loc[int(t["primary_fault"])]
        ids = ", ".join(str(i) for i in t["fault_ids"])
        noun = "faults" if len(t["fault_ids"]) > 1 else "fault"
        return (
            f"{noun} {ids}: {f['issue_type']} / {f['root_cause']} at "
            f"{self.asset(int(f['root_asset']))} ({f['root_layer']})"
        )

    def first_alert_t(self, inc: IncidentSummary) -> float:
        """When the incident's first alert fired (its ``opened_at`` if it has none here)."""
        lst = self.alerts.get(inc.incident_id)
        return lst[0][0].t if lst else inc.opened_at

    def signals(self, incident_id: int) -> str:
        """The distinct signals of an incident's alerts, comma-separated."""
        return ", ".join(sorted({a.signal for a, _ in self.alerts.get(incident_id, [])}))

    def incidents_sorted(self) -> list[IncidentSummary]:
        """The episode's incidents in opening order."""
        return sorted(self.ep.incidents, key=lambda s: (s.opened_at, s.incident_id))


def rubric_text(v: EpisodeView, incident_id: int, key: str) -> str:
    """Rubric points of an incident as ``5 / 5`` (``—`` for a false alarm)."""
    t = v.truth(incident_id)
    return "—" if t is None else f"{fmt_num(t[key])} / 5"


def fix_kind(f: pd.Series | None) -> str:
    """Which SLA a fix is held to: ``manual`` if a human fixed it, else ``autofix``."""
    return "manual" if f is not None and f["resolved_by"] == "human" else "autofix"


# ---------------------------------------------------------------- alert record
def alert_sections(
    full: list[EpisodeView], rest: list[EpisodeView], agg: dict[str, Any]
) -> list[str]:
    """Signal-to-noise summary, alerts by signal, then each incident's alerts."""
    lines = ["## Signal-to-noise", ""]
    lines += metric_rows(agg, [
        ("Alert precision (signal-to-noise: correct alerts / alerts)", "alert_precision", "frac"),
        ("Alert recall (faults detected / visible faults)", "alert_recall", "frac"),
        ("Alert F1", "alert_f1", "frac"),
        ("False alarms per day", "false_alarms_per_day", "num"),
        ("Alerts per incident", "alerts_per_incident", "num"),
        ("Time to detect from the first symptom, median", "mttd_observable_p50_min", "min"),
        ("Time to detect from the first symptom, 90th percentile", "mttd_observable_p90_min",
         "min"),
        ("Time to detect from the fault's onset, median", "mttd_p50_min", "min"),
        ("Time to detect from the fault's onset, 90th percentile", "mttd_p90_min", "min"),
        (f"Detection SLA met ({target_text('detect')}, from the first symptom)", "sla_detect_met",
         "frac"),
    ])  # fmt: skip
    by_signal: Counter[str] = Counter()
    good: Counter[str] = Counter()
    for v in [*full, *rest]:
        for lst in v.alerts.values():
            for a, ok in lst:
                by_signal[a.signal] += 1
                good[a.signal] += ok
    lines += ["## Alerts by signal", ""]
    lines += table(
        ["Signal", "Alerts", "Correct", "Precision"],
        [(s, n, good[s], fmt_frac(good[s] / n)) for s, n in by_signal.most_common()],
    )
    for v in full:
        lines += [f"## Episode seed {v.ep.seed}", ""]
        for inc in v.incidents_sorted():
            lines += [
                f"### Incident {inc.incident_id} — {inc.asset_name} ({inc.layer})",
                "",
                f"Ground truth: {v.fault_text(inc.incident_id)}.",
                "",
            ]
            lines += table(
                ["Time", "Signal", "Asset", "Layer", "Value", "Threshold", "Evidence", "Correct"],
                [
                    (fmt_time(a.t), a.signal, a.asset_name, a.layer, a.value, a.threshold,
                     a.detail, mark(ok))
                    for a, ok in v.alerts.get(inc.incident_id, [])
                ],
            )  # fmt: skip
    if rest:
        lines += ["## Other episodes (one row per incident)", ""]
        lines += table(
            ["Seed", "Incident", "Opened", "Asset", "Layer", "Alerts", "Signals", "Ground truth"],
            [
                (v.ep.seed, inc.incident_id, fmt_time(v.first_alert_t(inc)), inc.asset_name,
                 inc.layer, len(v.alerts.get(inc.incident_id, [])), v.signals(inc.incident_id),
                 v.fault_text(inc.incident_id))
                for v in rest for inc in v.incidents_sorted()
            ],
        )  # fmt: skip
    return lines


# ---------------------------------------------------------------- diagnosis
def diagnosis_sections(
    full: list[EpisodeView], rest: list[EpisodeView], agg: dict[str, Any]
) -> list[str]:
    """Accuracy summary, then each incident's diagnosis against the ground truth."""
    lines = ["## Accuracy", ""]
    lines += metric_rows(agg, [
        ("Issue type accuracy", "diagnosis_type_accuracy", "frac"),
        ("Layer accuracy", "diagnosis_layer_accuracy", "frac"),
        ("Root asset in top 1 candidate (AC@1)", "rca_ac1", "frac"),
        ("Root asset in top 3 candidates (AC@3)", "rca_ac3", "frac"),
        (f"Diagnosis SLA met ({target_text('diagnose')})", "sla_diagnose_met", "frac"),
        ("Classification rubric (mean of 5/3/1)", "rubric_classification", "num"),
    ])  # fmt: skip
    for v in full:
        lines += [f"## Episode seed {v.ep.seed}", ""]
        for inc in v.incidents_sorted():
            d = v.diagnoses.get(inc.incident_id)
            lines += [f"### Incident {inc.incident_id} — {inc.asset_name} ({inc.layer})", ""]
            if d is None:
                lines += [
                    "Not diagnosed.",
                    "",
                    f"Ground truth: {v.fault_text(inc.incident_id)}.",
                    "",
                ]
                continue
            t = v.truth(inc.incident_id)
            first = v.first_alert_t(inc)
            route = d.route if d.route == d.proposed_route else f"{d.proposed_route} → {d.route}"
            lines += table(["Field", "Value"], [
                ("Diagnosed at", f"{fmt_time(d.t)}: {sla_cell(d.t - first, 'diagnose')} after "
                 f"the first alert (target {target_text('diagnose')})"),
                ("Issue type", f"{d.issue_type} ({d.subtype})"),
                ("Layer", d.layer), ("Severity", d.severity),
                ("Remediation complexity", d.complexity), ("Route (proposed → chosen)", route),
                ("Confidence", f"{d.confidence:.2f}"),
                ("Guardrail", d.guardrail or "none (the proposal stood)"),
            ])  # fmt: skip
            lines += ["Evidence:", "", *(f"- {e}" for e in d.evidence or ("none recorded",)), ""]
            lines += ["Root candidates (best first):", ""]
            lines += table(
                ["Rank", "Asset", "Score", "Reason"],
                [(i + 1, c.asset_name, c.score, c.reason)
                 for i, c in enumerate(d.root_candidates[:3])],
            ) if d.root_candidates else ["- none proposed", ""]  # fmt: skip
            verdict = "" if t is None else (
                f"; type {mark(t['type_ok'])}, layer {mark(t['layer_ok'])} ({t['true_layer']}), "
                f"root asset {mark(t['ac1'])} (true root {v.asset(int(t['true_root']))}, "
                f"in top 3 {mark(t['ac3'])})"
            )  # fmt: skip
            lines += [
                f"Ground truth: {v.fault_text(inc.incident_id)}{verdict}.",
                "",
                "Classification rubric: "
                f"{rubric_text(v, inc.incident_id, 'rubric_classification')}.",
                "",
            ]
    if rest:
        lines += ["## Other episodes (one row per incident)", ""]
        rows = []
        for v in rest:
            for inc in v.incidents_sorted():
                d, t = v.diagnoses.get(inc.incident_id), v.truth(inc.incident_id)
                rows.append((
                    v.ep.seed, inc.incident_id, d.issue_type if d else "not diagnosed",
                    d.layer if d else "—", d.route if d else "—",
                    f"{d.confidence:.2f}" if d else "—",
                    "false alarm" if t is None else t["true_type"],
                    "—" if t is None else mark(t["type_ok"]),
                    rubric_text(v, inc.incident_id, "rubric_classification"),
                ))  # fmt: skip
        lines += table(
            ["Seed", "Incident", "Type", "Layer", "Route", "Confidence", "True type",
             "Type correct", "Rubric"], rows,
        )  # fmt: skip
    return lines


# ---------------------------------------------------------------- remediation log
def _fix_line(v: EpisodeView, inc: IncidentSummary) -> str:
    f = v.primary(inc.incident_id)
    if f is None:
        return "No fault to fix (false alarm)."
    if f["censored"]:
        return "Not fixed by the end of the episode."
    if f["resolved_by"] == "self":
        return f"The fault ended by itself at {fmt_time(f['resolved_at'])}."
    kind = fix_kind(f)
    who = "agents" if kind == "autofix" else "a human"
    return (
        f"Fixed by {who} at {fmt_time(f['resolved_at'])}: {sla_cell(f['fix_min'], kind)} "
        f"from diagnosis (target {target_text(kind)})."
    )


def remediation_sections(
    full: list[EpisodeView], rest: list[EpisodeView], agg: dict[str, Any]
) -> list[str]:
    """Effectiveness summary, then each incident's audit trail of steps."""
    lines = ["## Effectiveness", ""]
    lines += metric_rows(agg, [
        ("Fix success rate (oracle: fixed and clean)", "fix_success_rate", "frac"),
        ("Resolved by agents", "auto_resolved_rate", "frac"),
        ("Incidents escalated", "escalation_rate", "frac"),
        ("Escalations that needed a human (precision)", "escalation_precision", "frac"),
        ("Incidents needing a human that were escalated (recall)", "escalation_recall", "frac"),
        ("Needed escalations after the manual-fix budget (late)", "escalation_late_rate", "frac"),
        ("Unsafe actions", "unsafe_action_rate", "frac"),
        ("Actions with collateral damage", "collateral_damage_rate", "frac"),
        ("Time to repair, median", "mttr_p50_min", "min"),
        ("Time to repair, 90th percentile", "mttr_p90_min", "min"),
        (f"Auto-remediation SLA met ({target_text('autofix')})", "sla_autofix_met", "frac"),
        (f"Manual fix SLA met ({target_text('manual')})", "sla_manual_met", "frac"),
        ("Remediation rubric (mean of 5/3/1)", "rubric_remediation", "num"),
    ])  # fmt: skip
    for v in full:
        lines += [f"## Episode seed {v.ep.seed}", ""]
        for inc in v.incidents_sorted():
            steps = v.steps.get(inc.incident_id, [])
            lines += [f"### Incident {inc.incident_id} — {inc.asset_name} ({inc.layer})", ""]
            lines += table(
                ["Step", "Action", "Target", "Params", "Issued", "Done", "Outcome", "Verified",
                 "Before → after", "Rollback", "Why"],
                [
                    (s.step, s.kind, s.asset_name or v.asset(s.asset),
                     ", ".join(f"{k}={fmt_num(x)}" for k, x in s.params) or "—",
                     fmt_time(s.issued_at), fmt_time(s.done_at), s.outcome, mark(s.verified),
                     f"{s.before or '—'} → {s.after or '—'}",
                     f"action {s.rollback_handle}" if s.rollback_handle >= 0 else "not undoable",
                     s.reason)
                    for s in steps
                ],
            ) if steps else ["No remediation steps.", ""]  # fmt: skip
            lines += [
                _fix_line(v, inc),
                "",
                f"Remediation rubric: {rubric_text(v, inc.incident_id, 'rubric_remediation')}.",
                "",
            ]
    if rest:
        lines += ["## Other episodes (one row per incident)", ""]
        lines += table(
            ["Seed", "Incident", "Steps", "Resolution", "Time to fix", "Rubric"],
            [
                (v.ep.seed, inc.incident_id,
                 ", ".join(f"{s.kind} ({s.outcome})" for s in v.steps.get(inc.incident_id, []))
                 or "none", inc.resolution, _fix_line(v, inc),
                 rubric_text(v, inc.incident_id, "rubric_remediation"))
                for v in rest for inc in v.incidents_sorted()
            ],
        )  # fmt: skip
    return lines
