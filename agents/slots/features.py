"""Triage features: what the route slot sees about an incident, as named, normalized floats.

The same vector feeds a learned route policy in training (``envs``), in evaluation and in
deployment (an exported ONNX policy inside the organization), so it is computed here, from what an
operator can observe — never from hidden ground truth. Every feature is scaled into [-1, 1]
(most into [0, 1]); ``TRIAGE_FEATURES`` names them in order, and the triage environment's docstring
documents each one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from agents.playbooks import ROUTES
from agents.records import SIGNALS
from agents.triage import QUALITY_SIGNALS, RouteRequest
from agents.triage_rules import REPLAY_WORDS
from scenarios.vocab import ISSUE_TYPES, LAYERS

if TYPE_CHECKING:
    from agents.org import Organization

ERROR_GROUPS = (
    ("auth", ("AuthError", "HTTP403")),
    ("source_timeout", ("SourceTimeout", "HTTP503")),
    ("connection", ("ConnectionError",)),
    ("schema", ("SchemaError",)),
    ("killed", ("Killed",)),
)
HINTS = (
    ("hint_auth", ("unauthorized", "denied", "token expired")),
    ("hint_source", ("sensor", "503", "vendor", "landing zone")),
    ("hint_network", ("reset", "timed out")),
    ("hint_missing_column", ("not found",)),
    ("hint_type", ("expected", "got")),
    ("hint_replay", REPLAY_WORDS),
    ("hint_join", ("join key",)),
)
SEVERITY_LEVELS = ("critical", "major", "minor")

TRIAGE_FEATURES: tuple[str, ...] = (
    *(f"signal_{s}" for s in SIGNALS),
    *(f"layer_{x}" for x in LAYERS),
    *(f"root_layer_{x}" for x in LAYERS),
    *(f"errors_{name}" for name, _ in ERROR_GROUPS),
    *(name for name, _ in HINTS),
    "max_abs_z",
    "duplicate_rate",
    "max_null_rate",
    "log_volume_ratio",
    "log_value_ratio",
    "schema_changed",
    "alerted_assets",
    "failed_runs_30min",
    "source_late",
    "shared_source_failures",
    "external_workload",
    "wide_slowness",
    "recurrence",
    "incident_age_hours",
    "hour_sin",
    "hour_cos",
    "weekend",
    "holiday",
    "rca_top_score",
    "rules_confidence",
    *(f"rules_issue_{t}" for t in ISSUE_TYPES),
    *(f"severity_{s}" for s in SEVERITY_LEVELS),
    *(f"rules_route_{r}" for r in ROUTES),
)
"""Names of the triage observation, in order."""


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


def triage_features(org: Organization, req: RouteRequest) -> np.ndarray:
    """The observation of the triage route slot for ``req.incident`` now.

    Args:
        org: the organization (its monitor, knowledge base hook and world's public parts).
        req: the incident awaiting a route, with the rules' proposal (its route and confidence
            are features: the rules' prior), the RCA candidates, the rules' severity and the
            evidence the rules read (``agents.evidence``: failed runs, late sources, outside
            workload, warehouse-wide slowness — the same record, so policy and rules agree).

    Returns:
        float32 vector of ``len(TRIAGE_FEATURES)`` values in [-1, 1].
    """
    inc, proposal, cands, severity, ev = req
    w, mon = org.world, org.monitor
    now = w.now
    sig = ev.signals
    f: list[float] = [1.0 if s in sig else 0.0 for s in SIGNALS]
    first = inc.alerts[0]
    f += [1.0 if first.layer == x else 0.0 for x in LAYERS]
    root = cands[0].asset if cands else first.asset
    f += [1.0 if w.assets[root].layer == x else 0.0 for x in LAYERS]
    recent = ev.recent_failures
    n_recent = max(1, len(recent))
    f += [sum(1 for r in recent if r.error_class in group) / n_recent for _, group in ERROR_GROUPS]
    text = " ".join(a.detail.lower() for a in inc.alerts)
    f += [1.0 if any(h in text for h in hints) else 0.0 for _, hints in HINTS]
    zs = [abs(a.value) for a in inc.alerts if a.signal in QUALITY_SIGNALS | {"runtime", "queue"}]
    f.append(_clip(max(zs, default=0.0) / 20.0))
    target = proposal.target if proposal.target >= 0 else root
    r = mon.last[target]
    exp = w.assets[target].expected[r.window] if r is not None else 1.0
    f.append(_clip(r.duplicate_rate * 2.0) if r is not None else 0.0)
    f.append(_clip(max(r.null_rates, default=0.0)) if r is not None else 0.0)
    f.append(_clip(math.log(max(r.rows, 1) / max(exp, 1.0)) / 3.0) if r is not None else 0.0)
    base = w.assets[target].spec.value_mean
    ratio = (r.value_mean / base) if r is not None and base and r.value_mean > 0 else 1.0
    f.append(_clip(math.log(ratio) / 5.0))
    f.append(1.0 if "schema_change" in sig or mon.schema[target] > 1 else 0.0)
    f.append(_clip(len(inc.assets) / 10.0))
    f.append(_clip(sum(1 for x in mon.failed_runs[target] if x.ended_at >= now - 30) / 10.0))
    f.append(1.0 if ev.late_sources else 0.0)
    f.append(1.0 if ev.shared_source else 0.0)
    f.append(1.0 if ev.external_queries else 0.0)
    f.append(_clip(len(ev.wide_slow_assets) / 10.0))
    f.append(_clip(org.recurrence(target, proposal.issue_type, now) / 5.0))
    f.append(_clip((now - inc.opened_at) / 60.0 / 24.0))
    hour = (now / 60.0) % 24.0
    f += [math.sin(2 * math.pi * hour / 24.0), math.cos(2 * math.pi * hour / 24.0)]
    day = int(now // 1440)
    f.append(1.0 if day % 7 >= 5 else 0.0)
    f.append(1.0 if day in w.scenario.spec.noise.holidays else 0.0)
    f.append(_clip(cands[0].score / 3.0) if cands else 0.0)
    f.append(_clip(proposal.confidence))
    f += [1.0 if proposal.issue_type == t else 0.0 for t in ISSUE_TYPES]
    f += [1.0 if severity == s else 0.0 for s in SEVERITY_LEVELS]
    f += [1.0 if proposal.route == x else 0.0 for x in ROUTES]
    return np.asarray(f, dtype=np.float32)
