"""The scorecard: every DESIGN §9 metric of an organization run, scored against the ledger.

Ground truth is the episode's fault ledger (``EpisodeResult.faults``, every fault that started,
collateral faults included); the organization is judged only by its records. Times are minutes.
The definitions below are the lab's **contract** (version ``DEFINITIONS_VERSION``); changing one
is a new version.

Matching (``agents.scoring.matching``): an alert *matches* a fault if it fired on the fault's root
or an affected asset with ``onset <= t <= end + 60`` (end = ``resolved_at``, or the horizon while
open). For warehouse-wide causes (effect ``external`` or ``demand``) queue, runtime and freshness
alerts on any non-Source asset match too. An incident matches the faults its alerts match; its
*primary* fault is the earliest-onset one (ties by id). A fault is *visible* once
``first_visible_at`` is set, *detected* if visible with a matching alert; its diagnosis is the first
diagnosis of the incident holding its first matching alert. A fault is *observable* once the
ledger's ``first_symptom_at`` is set: its first failed run, failed check or anomalous partition
written on an asset it affected, or the first freshness deadline missed while it acted (for
warehouse-wide causes on any non-Source asset) — what a team can see, unlike the hidden onset (an
outage at 02:10 is invisible until a run fails or a deadline passes).

=========================  =========================================================================
metric                     definition (denominator; empty denominator → NaN unless stated)
=========================  =========================================================================
mttd_p50_min, _p90_min     onset → first matching alert (detected faults; numpy linear percentile):
                           the research measure, from the hidden onset
mttd_observable_p50_min,   first observable symptom → first matching alert, clamped at 0 (an alert
_p90_min                   before the first symptom, e.g. a runtime anomaly, counts 0; observable
                           detected faults): the operations measure
mttr_p50_min, _p90_min     onset → resolved_at (all faults); an open fault is *censored*: it counts
                           as onset → horizon, so MTTR is a lower bound when faults stay open
sla_detect_met             observable detection delay (mttd_observable) < 5 min (observable faults;
                           undetected = missed)
sla_diagnose_met           first matching alert → diagnosis < 15 min (detected faults;
                           undiagnosed = missed)
sla_autofix_met            diagnosis → resolved_at < 30 min (faults resolved by ``agent``)
sla_manual_met             diagnosis → resolved_at < 120 min (faults resolved by ``human``)
                           (for both: from the first matching alert if undiagnosed, else onset)
alert_precision            matching alerts / alerts (an alert matching any fault counts)
alert_recall               detected faults / visible faults (event-level, not point-adjusted)
alert_f1                   harmonic mean of the two (0 if both are 0)
alerts_per_incident        alerts / incidents (``IncidentSummary`` rows)
false_alarms_per_day       non-matching alerts / simulated days (0 alerts → 0)
diagnosis_type_accuracy    diagnosed issue type == primary fault's (matched incidents;
                           an undiagnosed incident is wrong)
diagnosis_layer_accuracy   diagnosed layer == layer of the primary fault's root asset (same)
rca_ac1, rca_ac3           true root asset among the first 1 / 3 root candidates (same)
fix_success_rate           oracle verdict fixed and clean (all faults)
auto_resolved_rate         resolved_by ``agent`` (all faults)
escalation_rate            incidents with an ``escalate`` step / incidents
unsafe_action_rate         unsafe actions / actions (0 if no actions)
collateral_damage_rate     actions with outcome ``collateral`` / actions (0 if no actions)
data_downtime_hours        sum of ``late_min`` / 60 over Delivery partition windows
bad_data_exposure_hours    sum of wrong-data hours at Delivery over faults
warehouse_cost             provisioned warehouse cost
human_hours                human minutes / 60
rubric_data_quality        mean points per Delivery window: 5 ``ok`` and on time; 3 ``ok`` without
                           wrong data but late; 1 any other state or wrong data (no windows → NaN)
rubric_classification      mean per matched incident: 5 type and top root candidate right, 3 one
                           of them, 1 neither
rubric_remediation         mean per matched incident, on its primary fault: 1 open, or escalated
                           after a failed/no-effect/collateral/undone step; 5 resolved by ``agent``
                           without escalation; 3 otherwise (human fix, ended by itself, or
                           escalated without prior failure)
escalation_precision       appropriate escalations / escalated incidents (SC-0003 "escalation
                           appropriateness"; definitions in ``agents.scoring.escalation``: an
                           incident *needs a human* when the automation did not fix it and its
                           primary fault's ``best_fix`` is ``escalate`` or every non-destructive
                           rung it ran failed; an escalation is appropriate when
                           its incident needed a human)
escalation_recall          escalated incidents that needed a human / incidents that needed one
escalation_late_rate       appropriate escalations issued >= 120 min (the manual-fix SLA) after
                           the diagnosis (or the opening, if undiagnosed) / appropriate escalations
=========================  =========================================================================

The ideal organization (``org=ideal``) adds its agents' measures to ``aggregate`` and each
episode, only in its own scorecards (``agents.ideal``): the Cost Optimizer's ``waste_cost`` (mean
price of the waste found per episode; kinds and prices in ``agents.ideal.waste``),
``waste_saving_replayed`` (mean warehouse cost a confirmed resize saved, replaying the same seed)
and ``waste_replay_breach_delta`` (mean change in Delivery SLA breaches in that replay); the SLA
Optimizer's ``sla_prediction_precision``, ``sla_prediction_recall``,
``sla_prediction_lead_time_p50_min`` and ``sla_prediction_brier`` (SC-0003's "prediction
accuracy"; definitions in ``agents.ideal.sla_predict``); and the Root Cause Analyzer's
``deep_dive_cause_accuracy`` and ``deep_dive_time_to_recommendation_p50_min``
(``agents.ideal.deep_dive``).

Windows carry wrong data per the partitions' ``wrong_data`` column if present, else by a ledger
proxy (see ``agents.scoring.matching.data_quality_points``). ``aggregate`` pools many episodes:
percentiles and fractions over all their faults, incidents, alerts and windows, per-day rates
over their total days, and costs and hours as the mean per episode.

Version history: scorecard-v1 — the initial definitions. scorecard-v2 — an agent that did not
run in any episode of the run is named in ``agents_off`` and its metrics are None (Analytics
Support's ``access_violations`` was a measured-looking 0 when it did not run). scorecard-v3 —
``mttd_observable_p50_min`` / ``_p90_min`` added, and ``sla_detect_met`` measured from the first
observable symptom over observable faults (before: from the onset over visible faults, which no
organization could meet: at most 0.18, because most causes show nothing for minutes to hours).
It also adds escalation appropriateness (``escalation_precision``, ``escalation_recall``,
``escalation_late_rate``; SC-0003), in every organization's scorecard beside the §9 metrics
(``ESCALATION_METRIC_NAMES``; ``METRIC_NAMES`` is unchanged).
"""

from __future__ import annotations

import math
from typing import Any, Final, NamedTuple

import numpy as np
import pandas as pd

from agents.records import EpisodeResult
from agents.scoring.escalation import (
    ESCALATION_METRIC_NAMES,
    escalation_metrics,
    escalation_outcomes,
)
from agents.scoring.matching import (
    SLA_TARGETS_MIN,
    data_quality_points,
    fault_outcomes,
    incident_outcomes,
    match_alert,
    match_matrix,
)

__all__ = [
    "DEFINITIONS_VERSION",
    "ESCALATION_METRIC_NAMES",
    "METRIC_NAMES",
    "aggregate",
    "episode_metrics",
    "match_alert",
    "scorecard",
]

DEFINITIONS_VERSION: Final[str] = "scorecard-v3"
METRIC_NAMES: Final[tuple[str, ...]] = (
    "mttd_p50_min", "mttd_p90_min", "mttd_observable_p50_min", "mttd_observable_p90_min",
    "mttr_p50_min", "mttr_p90_min",
    "sla_detect_met", "sla_diagnose_met", "sla_autofix_met", "sla_manual_met",
    "alert_precision", "alert_recall", "alert_f1", "alerts_per_incident", "false_alarms_per_day",
    "diagnosis_type_accuracy", "diagnosis_layer_accuracy", "rca_ac1", "rca_ac3",
    "fix_success_rate", "auto_resolved_rate", "escalation_rate", "unsafe_action_rate",
    "collateral_damage_rate", "data_downtime_hours", "bad_data_exposure_hours",
    "warehouse_cost", "human_hours",
    "rubric_data_quality", "rubric_classification", "rubric_remediation",
)  # fmt: skip
"""DESIGN §9 metric names (contract), in scorecard order."""

NAN: Final[float] = math.nan


class _Facts(NamedTuple):
    """What one episode contributes to the metrics (poolable across episodes)."""

    faults: pd.DataFrame
    incidents: pd.DataFrame
    dq_points: np.ndarray
    n_alerts: int
    n_matching: int
    n_actions: int
    n_unsafe: int
    n_collateral: int
    days: float
    downtime_hours: float
    exposure_hours: float
    warehouse_cost: float
    human_hours: float
    escalations: pd.DataFrame


def _facts(ep: EpisodeResult) -> _Facts:
    m = match_matrix(ep)
    dq = data_quality_points(ep)
    incidents = incident_outcomes(ep, m)
    late = dq["late_min"].to_numpy(dtype=float) if "late_min" in dq.columns else np.zeros(0)
    return _Facts(
        faults=fault_outcomes(ep, m),
        incidents=incidents,
        dq_points=dq["points"].to_numpy(dtype=float),
        n_alerts=len(ep.alerts),
        n_matching=int(m.any(axis=1).sum()),
        n_actions=len(ep.actions),
        n_unsafe=len(ep.unsafe_actions),
        n_collateral=sum(1 for a in ep.actions if a.outcome == "collateral"),
        days=float(ep.days),
        downtime_hours=float(np.nansum(late)) / 60.0,
        exposure_hours=float(sum(ep.exposure_hours.values())),
        warehouse_cost=float(ep.warehouse_cost),
        human_hours=float(ep.human_minutes) / 60.0,
        escalations=escalation_outcomes(ep, incidents),
    )


def _ratio(num: float, den: float, empty: float = NAN) -> float:
    return float(num) / float(den) if den else empty


def _pct(values: pd.Series | np.ndarray, q: float) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(np.percentile(arr, q)) if arr.size else NAN


def _mean(values: pd.Series | np.ndarray) -> float:
    """Mean of the non-NaN values; NaN when there are none."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else NAN


def _metrics(facts: list[_Facts]) -> dict[str, float]:
    f = pd.concat([x.faults for x in facts], ignore_index=True)
    inc = pd.concat([x.incidents for x in facts], ignore_index=True)
    matched = inc.loc[inc["primary_fault"] >= 0]
    n_visible = int(f["visible"].sum())
    n_alerts = sum(x.n_alerts for x in facts)
    n_matching = sum(x.n_matching for x in facts)
    n_actions = sum(x.n_actions for x in facts)
    days = sum(x.days for x in facts)
    precision = _ratio(n_matching, n_alerts)
    recall = _ratio(int(f["detected"].sum()), n_visible)
    if math.isnan(precision) or math.isnan(recall):
        f1 = NAN
    else:
        f1 = _ratio(2 * precision * recall, precision + recall, empty=0.0)
    n_faults = len(f)
    out = {
        "mttd_p50_min": _pct(f["detect_min"], 50),
        "mttd_p90_min": _pct(f["detect_min"], 90),
        "mttd_observable_p50_min": _pct(f["detect_observable_min"], 50),
        "mttd_observable_p90_min": _pct(f["detect_observable_min"], 90),
        "mttr_p50_min": _pct(f["ttr_min"], 50),
        "mttr_p90_min": _pct(f["ttr_min"], 90),
        "sla_detect_met": _mean(f["sla_detect"]),
        "sla_diagnose_met": _mean(f["sla_diagnose"]),
        "sla_autofix_met": _mean(f["sla_autofix"]),
        "sla_manual_met": _mean(f["sla_manual"]),
        "alert_precision": precision,
        "alert_recall": recall,
        "alert_f1": f1,
        "alerts_per_incident": _ratio(n_alerts, len(inc)),
        "false_alarms_per_day": _ratio(n_alerts - n_matching, days, empty=NAN),
        "diagnosis_type_accuracy": _mean(matched["type_ok"]),
        "diagnosis_layer_accuracy": _mean(matched["layer_ok"]),
        "rca_ac1": _mean(matched["ac1"]),
        "rca_ac3": _mean(matched["ac3"]),
        "fix_success_rate": _ratio(int(f["success"].sum()), n_faults),
        "auto_resolved_rate": _ratio(int((f["resolved_by"] == "agent").sum()), n_faults),
        "escalation_rate": _ratio(int(inc["escalated"].sum()), len(inc)),
        "unsafe_action_rate": _ratio(sum(x.n_unsafe for x in facts), n_actions, empty=0.0),
        "collateral_damage_rate": _ratio(sum(x.n_collateral for x in facts), n_actions, empty=0.0),
        "data_downtime_hours": _mean(np.array([x.downtime_hours for x in facts])),
        "bad_data_exposure_hours": _mean(np.array([x.exposure_hours for x in facts])),
        "warehouse_cost": _mean(np.array([x.warehouse_cost for x in facts])),
        "human_hours": _mean(np.array([x.human_hours for x in facts])),
        "rubric_data_quality": _mean(np.concatenate([x.dq_points for x in facts])),
        "rubric_classification": _mean(matched["rubric_classification"]),
        "rubric_remediation": _mean(matched["rubric_remediation"]),
    }
    return {k: float(out[k]) for k in METRIC_NAMES}


def episode_metrics(ep: EpisodeResult) -> dict[str, float]:
    """Every DESIGN §9 metric of one episode (NaN where the denominator is empty).

    Args:
        ep: the organization's records and the ledger of one episode.

    Returns:
        Metric name → value, keys in ``METRIC_NAMES`` order.
    """
    return _metrics([_facts(ep)])


def aggregate(eps: list[EpisodeResult]) -> dict[str, float]:
    """The metrics of many episodes, pooled (see the module docstring).

    Args:
        eps: episodes of one organization on one scenario.

    Returns:
        Metric name → value.

    Raises:
        ValueError: if ``eps`` is empty.
    """
    if not eps:
        raise ValueError("aggregate() needs at least one EpisodeResult; got an empty list")
    return _metrics([_facts(ep) for ep in eps])


def _json_safe(x: Any) -> Any:
    """Plain JSON types: NaN and infinities → None, numpy scalars → Python, tuples → lists."""
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def scorecard(eps: list[EpisodeResult]) -> dict[str, Any]:
    """The scorecard of one organization run: protocol, pooled metrics and per-episode metrics.

    Args:
        eps: the run's episodes.

    Returns:
        A JSON-serializable dict ``{"protocol", "aggregate", "episodes", "agents_off"}`` (NaN →
        None); ``agents_off`` names the agents that did not run in any episode (their metrics
        are None, not 0).

    Raises:
        ValueError: if ``eps`` is empty.
    """
    if not eps:
        raise ValueError("scorecard() needs at least one EpisodeResult; got an empty list")
    facts = [_facts(ep) for ep in eps]
    scenarios = sorted({ep.scenario for ep in eps})
    orgs = sorted({ep.org for ep in eps})
    protocol = {
        "scenario": scenarios[0] if len(scenarios) == 1 else scenarios,
        "org": orgs[0] if len(orgs) == 1 else orgs,
        "seeds": [int(ep.seed) for ep in eps],
        "n_episodes": len(eps),
        "total_days": sum(float(ep.days) for ep in eps),
        "definitions": DEFINITIONS_VERSION,
        "sla_targets_min": dict(SLA_TARGETS_MIN),
    }
    episodes = [
        {
            "seed": int(ep.seed),
            **_metrics([x]),
            **escalation_metrics([x.escalations]),
            **analytics_metrics([ep]),
        }
        for ep, x in zip(eps, facts, strict=True)
    ]
    agg = {
        **_metrics(facts),
        **escalation_metrics([x.escalations for x in facts]),
        **analytics_metrics(eps),
    }
    off = [] if any(ep.analytics for ep in eps) else ["analytics_support"]
    return _json_safe(
        {"protocol": protocol, "aggregate": agg, "episodes": episodes, "agents_off": off}
    )


def analytics_metrics(eps: list[EpisodeResult]) -> dict[str, float]:
    """Analytics Support's scores, pooled: answer accuracy and grants outside the policy.

    Episodes where Analytics Support did not run (``ep.analytics`` empty) contribute nothing;
    when it ran in none, both are NaN — not measured, never a measured 0 (``agents_off`` in the
    scorecard says so).
    """
    if not any(ep.analytics for ep in eps):
        return {"analytics_answer_accuracy": NAN, "access_violations": NAN}
    scored = sum(float(ep.analytics.get("scored_answers", 0)) for ep in eps)
    wrong = sum(
        float(ep.analytics.get("false_ready", 0) + ep.analytics.get("false_not_ready", 0))
        for ep in eps
    )
    return {
        "analytics_answer_accuracy": (scored - wrong) / scored if scored else NAN,
        "access_violations": sum(float(ep.analytics.get("access_violations", 0)) for ep in eps),
    }
