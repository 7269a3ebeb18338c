"""The fixed vocabulary of dataops-gym: layers, issue types, fault subtypes, root causes, actions.

These names are **contract** (see DESIGN.md §2): scenario files, ledgers, scorecards and trained
policies all refer to them, so a name here never changes meaning. Adding a name is a new version
of whatever depends on it.

The taxonomy below says which issue type each fault subtype belongs to and which hidden root
causes can produce it. The *dynamics* of each root cause (how it shows, which actions fix it) live
in the simulator, ``envs.sim.causal``.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Layer = Literal["Source", "Ingestion", "Transformation", "Warehouse", "Delivery"]
LAYERS: Final[tuple[Layer, ...]] = get_args(Layer)

IssueType = Literal[
    "late_arrival", "quality_anomaly", "validation_failure", "performance_degradation"
]
ISSUE_TYPES: Final[tuple[IssueType, ...]] = get_args(IssueType)

Severity = Literal["critical", "major", "minor"]
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
"""Blueprint severities: critical drives wrong decisions, major blocks analysis, minor cosmetic."""

Criticality = Literal["high", "medium", "low"]

Subtype = Literal[
    "upstream_outage",
    "transient_failure",
    "credentials_expired",
    "nulls",
    "duplicates",
    "volume_drop",
    "distribution_shift",
    "schema_drift",
    "slow_query",
    "resource_contention",
]

RootCause = Literal[
    "source_outage",
    "transient_network",
    "expired_credentials",
    "replayed_load",
    "bad_join",
    "grain_change",
    "source_nulls",
    "upstream_rename",
    "partial_extract",
    "upstream_filter_change",
    "unit_change",
    "stale_reference",
    "column_renamed",
    "type_changed",
    "plan_regression",
    "data_skew",
    "noisy_neighbor",
    "retry_storm",
    "undersized_warehouse",
    "induced_by_action",
]

TAXONOMY: Final[dict[Subtype, tuple[IssueType, tuple[RootCause, ...]]]] = {
    "upstream_outage": ("late_arrival", ("source_outage",)),
    "transient_failure": ("late_arrival", ("transient_network",)),
    "credentials_expired": ("late_arrival", ("expired_credentials",)),
    "duplicates": ("quality_anomaly", ("replayed_load", "bad_join", "grain_change")),
    "nulls": ("quality_anomaly", ("source_nulls", "upstream_rename")),
    "volume_drop": ("quality_anomaly", ("partial_extract", "upstream_filter_change")),
    "distribution_shift": ("quality_anomaly", ("unit_change", "stale_reference")),
    "schema_drift": ("validation_failure", ("column_renamed", "type_changed")),
    "slow_query": ("performance_degradation", ("plan_regression", "data_skew")),
    "resource_contention": (
        "performance_degradation",
        ("noisy_neighbor", "retry_storm", "undersized_warehouse"),
    ),
}
"""subtype → (issue type, root causes that can produce it)."""

SUBTYPES: Final[tuple[Subtype, ...]] = tuple(TAXONOMY)

ActionKind = Literal[
    "retry",
    "wait",
    "rerun",
    "backfill",
    "quarantine",
    "dedupe",
    "apply_schema_mapping",
    "block_downstream",
    "scale_warehouse",
    "kill_query",
    "reprioritize",
    "rollback",
    "escalate",
]
ACTION_KINDS: Final[tuple[ActionKind, ...]] = get_args(ActionKind)
"""The action kinds, in the order of ``ActionKind`` (derived from it: one list to edit)."""
DESTRUCTIVE_ACTIONS: Final[frozenset[ActionKind]] = frozenset(
    {"quarantine", "rollback", "apply_schema_mapping", "kill_query"}
)
"""Actions the guardrails allow only with evidence (BP-0005 automation safety)."""

CheckKind = Literal["freshness", "not_null", "unique", "volume", "schema", "accepted_range"]
CHECK_KINDS: Final[tuple[CheckKind, ...]] = get_args(CheckKind)
