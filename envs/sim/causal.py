"""The causal model: how each hidden root cause shows itself and which actions remove it.

Triage is hard here on purpose. One *visible symptom* has several *hidden root causes* whose best
fixes differ, and every visible feature carries only partial, noisy evidence of the cause.

Symptom "an ingestion run failed and data is late" (issue type ``late_arrival``):

=====================  ========  ======================================================  =========
root cause             root      evidence (each noisy)                                    best fix
=====================  ========  ======================================================  =========
source_outage          Source    every ingestion of that source fails together; night     wait
                                 hours (vendor maintenance) 3x likelier; SourceTimeout /
                                 HTTP503 errors; retries fail until the outage ends
                                 (median 90 min)
transient_network      Ingest.   one asset; peak hours 2x likelier; ConnectionError;      retry
                                 a retry a few minutes later succeeds (blip ~8 min)
expired_credentials    Ingest.   recurs on the same few assets; AuthError / HTTP403 but   escalate
                                 20% masked as ConnectionError; retries never succeed
=====================  ========  ======================================================  =========

Symptom "duplicates" (``quality_anomaly``): ``replayed_load`` at an Ingestion asset writes one
partition twice (duplicate rate ~0.5, volume x2; best fix ``dedupe``); ``bad_join`` at a
Transformation asset fans rows out (duplicate rate 3–25%, volume up by the same, persists until
the model is rerun; ``dedupe`` rarely clears fan-out duplicates; best fix ``rerun``).

Symptom "nulls": ``source_nulls`` (null rate +10–40% on a key column while the source is bad,
median 6 h; best fix ``backfill`` once the source is good) vs ``upstream_rename`` (a renamed
column maps to nulls, 30–100%, and the schema version changes; best ``apply_schema_mapping``).
A benign added column (noise) also changes the schema version, so a schema change is only partial
evidence.

Symptom "volume drop": ``partial_extract`` (1–3 partitions at 20–60% volume; ``backfill``) vs
``upstream_filter_change`` (persistent 30–70% at the Source; ``escalate``). Holidays (noise) drop
volume too and need nothing.

Symptom "distribution shift": ``unit_change`` at a Source (mean x100 or x0.01; ``escalate``)
vs ``stale_reference`` in a Transformation (mean ±15–40%; ``rerun``).

Symptom "schema test fails" (``validation_failure``): ``column_renamed`` (``apply_schema_mapping``)
vs ``type_changed`` (a schema migration, out of the agents' scope: ``escalate``); the error text
names the cause only 60–70% of the time.

Symptom "slow runs / queueing" (``performance_degradation``): ``plan_regression`` (one asset's
runtime x4–10; ``kill_query``, which kills and reruns with the last good plan), ``data_skew``
(runtime x2–5 with volume up; ``scale_warehouse``), ``noisy_neighbor`` (an external workload holds
half the slots; ``kill_query`` on it), ``retry_storm`` (a misconfigured job reruns in a loop;
``reprioritize`` it down or ``kill_query``), ``undersized_warehouse`` (demand grows; every run
needs twice the slot time; ``scale_warehouse`` by at least 1.5x).

Every action's success probability given the true root cause is in ``CAUSES[cause].success``;
actions not listed there cannot fix that cause. Destructive actions taken without a matching
cause cause collateral damage (see ``envs.sim.actions``), which the fix oracle counts as failure.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from scenarios.vocab import ActionKind, IssueType, Layer, RootCause, Subtype

NIGHT: Final[tuple[float, ...]] = tuple(3.0 if h < 6 else 1.0 for h in range(24))
PEAK: Final[tuple[float, ...]] = tuple(2.0 if 9 <= h < 18 else 1.0 for h in range(24))
FLAT: Final[tuple[float, ...]] = (1.0,) * 24


class Cause(NamedTuple):
    """The dynamics of one root cause.

    Attributes:
        subtype: the fault subtype it produces.
        issue_type: the blueprint issue type.
        layers: layers the root asset can be on.
        effect: mechanism in the world: ``sensor_fail`` (source holds data; ingestions fail),
            ``fail`` (root runs fail), ``corrupt`` (root runs write bad statistics),
            ``schema`` (root runs fail their schema check), ``slow`` (root runs are slower),
            ``external`` (an external workload holds slots), ``storm`` (a job reruns in a loop),
            ``demand`` (every run needs more slot time).
        duration_median_min: median natural duration (0 = until fixed).
        partitions: for one-shot causes, how many partitions it hits (0 = while active).
        error_classes: error class → probability, for failed runs.
        messages: error texts; ``{col}`` is replaced by a key column.
        evidence_prob: chance a message names the cause (else a generic message).
        hour_weight: relative likelihood by hour of onset.
        success: action → probability the action removes this cause.
        best: the cheapest reliable fix.
    """

    subtype: Subtype
    issue_type: IssueType
    layers: tuple[Layer, ...]
    effect: str
    duration_median_min: float
    partitions: int
    error_classes: dict[str, float]
    messages: tuple[str, ...]
    evidence_prob: float
    hour_weight: tuple[float, ...]
    success: dict[ActionKind, float]
    best: ActionKind


GENERIC_MESSAGES: Final[tuple[str, ...]] = (
    "task exited with return code 1",
    "job failed; see logs",
    "upstream step did not complete",
)

# fmt: off
CAUSES: Final[dict[RootCause, Cause]] = {
    "source_outage": Cause(
        "upstream_outage", "late_arrival", ("Source",), "sensor_fail", 90.0, 0,
        {"SourceTimeout": 0.45, "HTTP503": 0.35, "ConnectionError": 0.2},
        ("sensor timed out waiting for new files in landing zone",
         "503 Service Unavailable from vendor API"),
        0.6, NIGHT, {"wait": 1.0, "retry": 1.0, "escalate": 1.0}, "wait",
    ),
    "transient_network": Cause(
        "transient_failure", "late_arrival", ("Ingestion",), "fail", 8.0, 0,
        {"ConnectionError": 0.55, "SourceTimeout": 0.3, "HTTP503": 0.15},
        ("connection reset by peer", "read timed out after 30s"),
        0.6, PEAK, {"retry": 0.95, "wait": 0.95, "rerun": 0.95, "escalate": 1.0}, "retry",
    ),
    "expired_credentials": Cause(
        "credentials_expired", "late_arrival", ("Ingestion",), "fail", 0.0, 0,
        {"AuthError": 0.5, "HTTP403": 0.3, "ConnectionError": 0.2},
        ("401 Unauthorized: token expired", "access denied for service principal"),
        0.6, FLAT, {"escalate": 0.97}, "escalate",
    ),
    "replayed_load": Cause(
        "duplicates", "quality_anomaly", ("Ingestion",), "corrupt", 0.0, 1,
        {}, ("batch id already loaded; offsets reset",), 0.3, FLAT,
        {"dedupe": 0.95, "rerun": 0.8, "backfill": 0.8, "escalate": 0.95}, "dedupe",
    ),
    "bad_join": Cause(
        "duplicates", "quality_anomaly", ("Transformation",), "corrupt", 0.0, 0,
        {}, ("join key not unique in reference input",), 0.3, FLAT,
        {"rerun": 0.9, "dedupe": 0.25, "escalate": 0.95}, "rerun",
    ),
    "source_nulls": Cause(
        "nulls", "quality_anomaly", ("Ingestion",), "corrupt", 360.0, 0,
        {}, ("source extract contains empty {col} values",), 0.3, FLAT,
        {"backfill": 0.9, "escalate": 0.95}, "backfill",
    ),
    "upstream_rename": Cause(
        "nulls", "quality_anomaly", ("Ingestion",), "corrupt", 0.0, 0,
        {}, ("column {col} missing in source; mapped to NULL",), 0.3, FLAT,
        {"apply_schema_mapping": 0.95, "escalate": 0.95}, "apply_schema_mapping",
    ),
    "partial_extract": Cause(
        "volume_drop", "quality_anomaly", ("Ingestion",), "corrupt", 0.0, 2,
        {}, ("extract ended early: pagination cursor expired",), 0.3, FLAT,
        {"backfill": 0.9, "rerun": 0.85, "escalate": 0.95}, "backfill",
    ),
    "upstream_filter_change": Cause(
        "volume_drop", "quality_anomaly", ("Source",), "corrupt", 0.0, 0,
        {}, ("source export filter changed",), 0.3, FLAT,
        {"escalate": 0.9, "backfill": 0.1}, "escalate",
    ),
    "unit_change": Cause(
        "distribution_shift", "quality_anomaly", ("Source",), "corrupt", 0.0, 0,
        {}, ("amount values out of expected range",), 0.3, FLAT,
        {"escalate": 0.9, "apply_schema_mapping": 0.4}, "escalate",
    ),
    "stale_reference": Cause(
        "distribution_shift", "quality_anomaly", ("Transformation",), "corrupt", 0.0, 0,
        {}, ("reference table older than 24h",), 0.3, FLAT,
        {"rerun": 0.9, "backfill": 0.7, "escalate": 0.95}, "rerun",
    ),
    "column_renamed": Cause(
        "schema_drift", "validation_failure", ("Ingestion",), "schema", 0.0, 0,
        {"SchemaError": 1.0}, ("column {col} not found; found {col}_v2",), 0.65, FLAT,
        {"apply_schema_mapping": 0.95, "escalate": 0.95}, "apply_schema_mapping",
    ),
    "type_changed": Cause(
        "schema_drift", "validation_failure", ("Ingestion",), "schema", 0.0, 0,
        {"SchemaError": 1.0}, ("column {col} expected DECIMAL, got VARCHAR",), 0.65, FLAT,
        {"escalate": 0.95, "apply_schema_mapping": 0.15}, "escalate",
    ),
    "plan_regression": Cause(
        "slow_query", "performance_degradation", ("Transformation", "Warehouse"), "slow", 0.0, 0,
        {}, ("query plan changed: full scan on fact table",), 0.4, FLAT,
        {"kill_query": 0.85, "escalate": 0.95, "scale_warehouse": 0.2}, "kill_query",
    ),
    "data_skew": Cause(
        "slow_query", "performance_degradation", ("Transformation", "Warehouse"), "slow", 0.0, 0,
        {}, ("one partition key holds most rows",), 0.4, PEAK,
        {"scale_warehouse": 0.85, "escalate": 0.95, "kill_query": 0.1}, "scale_warehouse",
    ),
    "noisy_neighbor": Cause(
        "resource_contention", "performance_degradation", ("Warehouse",), "external", 180.0, 0,
        {}, ("ad-hoc query from analytics holding warehouse slots",), 0.5, PEAK,
        {"kill_query": 0.9, "scale_warehouse": 0.6, "escalate": 0.95, "wait": 1.0}, "kill_query",
    ),
    "retry_storm": Cause(
        "resource_contention", "performance_degradation", ("Ingestion",), "storm", 240.0, 0,
        {"ConnectionError": 1.0}, ("retry {col}: attempt limit ignored",), 0.5, FLAT,
        {"kill_query": 0.9, "reprioritize": 0.7, "escalate": 0.95, "wait": 1.0}, "kill_query",
    ),
    "undersized_warehouse": Cause(
        "resource_contention", "performance_degradation", ("Warehouse",), "demand", 0.0, 0,
        {}, ("warehouse queue time above 10 minutes",), 0.5, FLAT,
        {"scale_warehouse": 0.95, "escalate": 0.95}, "scale_warehouse",
    ),
}
# fmt: on
"""root cause → its dynamics. ``induced_by_action`` is not here: it is collateral damage."""

SELF_ENDING: Final[frozenset[str]] = frozenset(
    c for c, m in CAUSES.items() if m.duration_median_min > 0
)
"""Causes that end by themselves after their natural duration (wait succeeds once ended)."""

INDUCED: Final[Cause] = Cause(
    "nulls", "quality_anomaly", ("Source", "Ingestion", "Transformation", "Warehouse", "Delivery"),
    "corrupt", 0.0, 0, {}, ("schema mapping points {col} at a missing column",), 0.5, FLAT,
    {"rollback": 1.0}, "rollback",
)  # fmt: skip
"""Collateral damage of an unwarranted schema mapping: nulls until the mapping is rolled back."""
