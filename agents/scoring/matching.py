"""Ground truth against the organization's records: which alert belongs to which fault.

The scorecard (``agents.scoring.scorecard``) and the artifacts (``agents.scoring.artifacts``) read
the tables built here: one row per ground-truth fault (``fault_outcomes``) and one per incident
(``incident_outcomes``), each carrying the facts the metrics are computed from, so a pooled metric
over many episodes is the same computation over the concatenated tables. The definitions themselves
are documented in ``agents.scoring.scorecard``; this module implements them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Final

import numpy as np
import pandas as pd

from agents.records import Alert, Diagnosis, EpisodeResult, RemediationStep
from envs.sim.causal import CAUSES
from envs.sim.records import FaultRecord

GRACE_MIN: Final[float] = 60.0
"""Alerts up to this long after a fault's end (resolution or horizon) still match it."""
WAREHOUSE_WIDE_EFFECTS: Final[frozenset[str]] = frozenset({"external", "demand"})
WAREHOUSE_WIDE_SIGNALS: Final[frozenset[str]] = frozenset({"queue", "runtime", "freshness"})
SLA_TARGETS_MIN: Final[dict[str, float]] = {
    "detect": 5.0,
    "diagnose": 15.0,
    "autofix": 30.0,
    "manual": 120.0,
}
"""BP-0005 SLA targets in minutes (detection, diagnosis, auto-remediation, manual fix)."""
REWORK_OUTCOMES: Final[frozenset[str]] = frozenset({"no_effect", "failed", "collateral", "undone"})
"""Step outcomes that mean the step did not work (an escalation after one is rework)."""

_EFFECT: Final[dict[str, str]] = {cause: model.effect for cause, model in CAUSES.items()}
NAN: Final[float] = math.nan


def is_warehouse_wide(fault: FaultRecord) -> bool:
    """Whether the fault's root cause acts on the whole warehouse (contention, demand)."""
    return _EFFECT.get(fault.root_cause, "") in WAREHOUSE_WIDE_EFFECTS


def fault_end(fault: FaultRecord, horizon: float) -> float:
    """When the fault stopped counting: its verified fix, or the horizon while open."""
    return horizon if math.isnan(fault.resolved_at) else fault.resolved_at


def match_alert(alert: Alert, fault: FaultRecord, horizon: float) -> bool:
    """Whether ``alert`` is a correct alert for ``fault`` (see ``agents.scoring.scorecard``).

    Args:
        alert: the alert.
        fault: a ground-truth ledger row.
        horizon: the episode end in minutes (end of open faults).

    Returns:
        True if the alert fired within the fault's lifetime (plus ``GRACE_MIN``) on its root or
        an affected asset, or, for warehouse-wide causes, is a queue/runtime/freshness alert on
        any asset outside the Source layer.
    """
    if not fault.onset <= alert.t <= fault_end(fault, horizon) + GRACE_MIN:
        return False
    if alert.asset == fault.root_asset or alert.asset in fault.affected_assets:
        return True
    return (
        is_warehouse_wide(fault)
        and alert.signal in WAREHOUSE_WIDE_SIGNALS
        and alert.layer != "Source"
    )


def match_matrix(ep: EpisodeResult) -> np.ndarray:
    """Boolean matrix ``[alert index, fault index]``: ``match_alert`` for every pair, vectorized."""
    alerts, faults = ep.alerts, ep.faults
    out = np.zeros((len(alerts), len(faults)), dtype=bool)
    if not alerts or not faults:
        return out
    t = np.array([a.t for a in alerts], dtype=float)
    asset = np.array([a.asset for a in alerts], dtype=int)
    wide_ok = np.array(
        [a.signal in WAREHOUSE_WIDE_SIGNALS and a.layer != "Source" for a in alerts], dtype=bool
    )
    for j, f in enumerate(faults):
        window = (t >= f.onset) & (t <= fault_end(f, ep.horizon) + GRACE_MIN)
        on_asset = np.isin(asset, (f.root_asset, *f.affected_assets))
        if is_warehouse_wide(f):
            on_asset |= wide_ok
        out[:, j] = window & on_asset
    return out


def first_diagnoses(diagnoses: list[Diagnosis]) -> dict[int, Diagnosis]:
    """The first diagnosis of each incident (the one that routed its remediation)."""
    out: dict[int, Diagnosis] = {}
    for d in sorted(diagnoses, key=lambda d: d.t):
        out.setdefault(d.incident_id, d)
    return out


def steps_by_incident(steps: list[RemediationStep]) -> dict[int, list[RemediationStep]]:
    """Remediation steps grouped by incident, in step order."""
    out: dict[int, list[RemediationStep]] = defaultdict(list)
    for s in sorted(steps, key=lambda s: (s.incident_id, s.step)):
        out[s.incident_id].append(s)
    return out


def _wait(delay: float) -> float:
    """A delay clamped at zero; NaN (it never happened) stays NaN.

    An incident diagnosed before this fault's first alert joined it made the fault wait for
    nothing.
    """
    return delay if math.isnan(delay) else max(0.0, delay)


def _lt(delay: float, target: float) -> float:
    """1.0 if ``delay`` beats ``target``, 0.0 if not or if it never happened (nan)."""
    return float(not math.isnan(delay) and delay < target)


def fault_outcomes(ep: EpisodeResult, matches: np.ndarray | None = None) -> pd.DataFrame:
    """One row per ground-truth fault: detection, diagnosis, fix and SLA facts.

    SLA columns are 1.0 (met), 0.0 (missed) or nan (the fault is not in that SLA's population).

    Args:
        ep: the episode.
        matches: ``match_matrix(ep)`` if already computed.

    Returns:
        Columns: fault_id, issue_type, subtype, root_cause, root_asset, root_layer, severity,
        onset, visible, collateral, first_alert_t, first_alert_incident, detected, detect_min,
        symptom_at (the ledger's ``first_symptom_at``), observable (it has one),
        detect_observable_min (first matching alert − symptom_at, clamped at 0), diagnosed_at,
        diagnose_min, resolved_at, resolved_by, fix_min, ttr_min, censored, success, sla_detect,
        sla_diagnose, sla_autofix, sla_manual.
    """
    m = match_matrix(ep) if matches is None else matches
    diag = first_diagnoses(ep.diagnoses)
    rows: list[dict[str, Any]] = []
    for j, f in enumerate(ep.faults):
        hits = [ep.alerts[i] for i in np.flatnonzero(m[:, j])]
        first = min(hits, key=lambda a: (a.t, a.alert_id)) if hits else None
        visible = not math.isnan(f.first_visible_at)
        detected = visible and first is not None
        first_t = first.t if first is not None else NAN
        d = diag.get(first.incident_id) if first is not None else None
        diagnosed_at = d.t if d is not None else NAN
        start = next((x for x in (diagnosed_at, first_t) if not math.isnan(x)), f.onset)
        fix_min = f.resolved_at - start
        verdict = ep.verdicts.get(f.fault_id, (False, False))
        detect_min = first_t - f.onset if detected else NAN
        symptom_at = f.first_symptom_at
        observable = not math.isnan(symptom_at)
        detect_obs_min = _wait(first_t - symptom_at) if observable and first is not None else NAN
        rows.append(
            {
                "fault_id": f.fault_id,
                "issue_type": f.issue_type,
                "subtype": f.subtype,
                "root_cause": f.root_cause,
                "root_asset": f.root_asset,
                "root_layer": ep.asset_layers[f.root_asset],
                "severity": f.severity,
                "onset": f.onset,
                "visible": visible,
                "collateral": f.caused_by_action >= 0,
                "first_alert_t": first_t,
                "first_alert_incident": first.incident_id if first is not None else -1,
                "detected": detected,
                "detect_min": detect_min,
                "symptom_at": symptom_at,
                "observable": observable,
                "detect_observable_min": detect_obs_min,
                "diagnosed_at": diagnosed_at,
                "diagnose_min": _wait(diagnosed_at - first_t),
                "resolved_at": f.resolved_at,
                "resolved_by": f.resolved_by,
                "fix_min": fix_min,
                "ttr_min": fault_end(f, ep.horizon) - f.onset,
                "censored": math.isnan(f.resolved_at),
                "success": bool(verdict[0] and verdict[1]),
                "sla_detect": _lt(detect_obs_min, SLA_TARGETS_MIN["detect"]) if observable else NAN,
                "sla_diagnose": _lt(_wait(diagnosed_at - first_t), SLA_TARGETS_MIN["diagnose"])
                if detected
                else NAN,
                "sla_autofix": _lt(fix_min, SLA_TARGETS_MIN["autofix"])
                if f.resolved_by == "agent"
                else NAN,
                "sla_manual": _lt(fix_min, SLA_TARGETS_MIN["manual"])
                if f.resolved_by == "human"
                else NAN,
            }
        )
    return pd.DataFrame(rows, columns=_FAULT_COLUMNS)


_FAULT_COLUMNS: Final[list[str]] = [
    "fault_id", "issue_type", "subtype", "root_cause", "root_asset", "root_layer", "severity",
    "onset", "visible", "collateral", "first_alert_t", "first_alert_incident", "detected",
    "detect_min", "symptom_at", "observable", "detect_observable_min", "diagnosed_at",
    "diagnose_min", "resolved_at", "resolved_by", "fix_min", "ttr_min", "censored", "success",
    "sla_detect", "sla_diagnose", "sla_autofix", "sla_manual",
]  # fmt: skip


def _rubric_remediation(fault: FaultRecord, steps: list[RemediationStep]) -> int:
    kinds = [s.kind for s in steps]
    escalated = "escalate" in kinds
    rework = escalated and any(
        s.outcome in REWORK_OUTCOMES for s in steps[: kinds.index("escalate")]
    )
    if math.isnan(fault.resolved_at) or rework:
        return 1
    if fault.resolved_by == "agent" and not escalated:
        return 5
    return 3


def incident_outcomes(ep: EpisodeResult, matches: np.ndarray | None = None) -> pd.DataFrame:
    """One row per incident (``IncidentSummary``) scored against its primary fault.

    An incident matches the faults its alerts match; its primary fault is the earliest-onset one
    (ties by fault id). Score columns are nan for incidents that match no fault (false alarms).

    Args:
        ep: the episode.
        matches: ``match_matrix(ep)`` if already computed.

    Returns:
        Columns: incident_id, fault_ids, primary_fault, true_type, true_root, true_layer,
        diagnosed, type_ok, layer_ok, ac1, ac3, escalated, rubric_classification,
        rubric_remediation.
    """
    m = match_matrix(ep) if matches is None else matches
    diag = first_diagnoses(ep.diagnoses)
    steps = steps_by_incident(ep.remediations)
    by_incident: dict[int, list[int]] = defaultdict(list)
    for i, a in enumerate(ep.alerts):
        by_incident[a.incident_id].append(i)
    rows: list[dict[str, Any]] = []
    for inc in ep.incidents:
        idx = by_incident.get(inc.incident_id, [])
        js = sorted({int(j) for i in idx for j in np.flatnonzero(m[i])})
        matched = [ep.faults[j] for j in js]
        d = diag.get(inc.incident_id)
        inc_steps = steps.get(inc.incident_id, [])
        row: dict[str, Any] = {
            "incident_id": inc.incident_id,
            "fault_ids": tuple(sorted(f.fault_id for f in matched)),
            "primary_fault": -1,
            "true_type": "",
            "true_root": -1,
            "true_layer": "",
            "diagnosed": d is not None,
            "escalated": any(s.kind == "escalate" for s in inc_steps),
        }
        row |= dict.fromkeys(_SCORES, NAN)
        if matched:
            f = min(matched, key=lambda f: (f.onset, f.fault_id))
            cands = [c.asset for c in d.root_candidates] if d is not None else []
            type_ok = d is not None and d.issue_type == f.issue_type
            layer_ok = d is not None and d.layer == ep.asset_layers[f.root_asset]
            ac1 = f.root_asset in cands[:1]
            row |= {
                "primary_fault": f.fault_id,
                "true_type": f.issue_type,
                "true_root": f.root_asset,
                "true_layer": ep.asset_layers[f.root_asset],
                "type_ok": float(type_ok),
                "layer_ok": float(layer_ok),
                "ac1": float(ac1),
                "ac3": float(f.root_asset in cands[:3]),
                "rubric_classification": float(
                    5 if type_ok and ac1 else 3 if type_ok or ac1 else 1
                ),
                "rubric_remediation": float(_rubric_remediation(f, inc_steps)),
            }
        rows.append(row)
    cols = [*_INCIDENT_KEYS, *_SCORES]
    return pd.DataFrame(rows, columns=cols)


_INCIDENT_KEYS: Final[tuple[str, ...]] = (
    "incident_id", "fault_ids", "primary_fault", "true_type", "true_root", "true_layer",
    "diagnosed", "escalated",
)  # fmt: skip
_SCORES: Final[tuple[str, ...]] = (
    "type_ok", "layer_ok", "ac1", "ac3", "rubric_classification", "rubric_remediation",
)  # fmt: skip


def _wrong_data(ep: EpisodeResult, delivery: pd.DataFrame) -> np.ndarray:
    """Whether each Delivery window carried wrong data.

    Uses the partitions' ``wrong_data`` column when the ledger provides one; otherwise a proxy
    from the ledger: the window arrived on an asset the fault reached, between the fault's first
    wrong-data exposure at Delivery and its fix (or the horizon).
    """
    if "wrong_data" in delivery.columns:
        return delivery["wrong_data"].fillna(False).to_numpy(dtype=bool)
    wrong = np.zeros(len(delivery), dtype=bool)
    arrived = delivery["arrived_at"].to_numpy(dtype=float)
    asset = delivery["asset"].to_numpy(dtype=int)
    for f in ep.faults:
        if math.isnan(f.delivery_exposed_at):
            continue
        in_time = (arrived >= f.delivery_exposed_at) & (arrived <= fault_end(f, ep.horizon))
        wrong |= in_time & np.isin(asset, f.affected_assets)
    return wrong


def data_quality_points(ep: EpisodeResult) -> pd.DataFrame:
    """BP-0005 Data Quality Score of every Delivery partition window (5, 3 or 1).

    5: delivered ``ok`` on time; 3: delivered ``ok`` with no wrong data but after its deadline;
    1: any other state (warn, blocked, failed, quarantined, pending) or it carried wrong data.

    Returns:
        The Delivery rows of ``ep.partitions`` with ``wrong_data`` and ``points`` columns.
    """
    parts = ep.partitions
    if parts is None or len(parts) == 0:
        return pd.DataFrame(columns=["asset", "window", "state", "wrong_data", "points"])
    d = parts.loc[parts["layer"] == "Delivery"].copy()
    d["wrong_data"] = _wrong_data(ep, d)
    issue = (d["state"] != "ok").to_numpy() | d["wrong_data"].to_numpy()
    late = d["sla_breached"].to_numpy(dtype=bool)
    d["points"] = np.where(issue, 1, np.where(late, 3, 5))
    return d
