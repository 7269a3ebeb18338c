"""The causal model: how each hidden root cause shows itself and which actions remove it.

Triage is hard here on purpose. One *visible symptom* has several *hidden root causes* whose best
fixes differ, and every visible feature carries only partial, noisy evidence of the cause.

Symptom "an ingestion run failed and data is late" (issue type ``late_arrival``). Late data is
ambiguous for the first hour, as teams meet it: each fault of these causes is drawn once as one of
its *variants* (``Cause.variants``), which decide what its failures look like.

=====================  ========  ======================================================  =========
root cause             root      evidence (each noisy)                                    best fix
=====================  ========  ======================================================  =========
source_outage          Source    night hours (vendor maintenance) 3x likelier; median     wait
                                 90 min. 45% ``landing``: the source's files stop
                                 landing, so the Source is visibly late and the
                                 ingestion's sensor times out (SourceTimeout, "sensor
                                 timed out"). 55% ``api``: the files land but the
                                 vendor API fails, so the Source looks on time and the
                                 ingestion fails like a blip (ConnectionError 40%,
                                 SourceTimeout 35%, HTTP503 25%; the message names the
                                 503 only half the time)
transient_network      Ingest.   one asset; peak hours 2x likelier; blip ~8 min; a        retry
                                 retry a few minutes later succeeds. 80% ``plain``
                                 (ConnectionError, timeouts); 20% ``proxy_auth``: the
                                 corporate proxy drops its session and answers 403
                                 (HTTP403 70%); the message names the proxy ("407 Proxy
                                 Authentication Required") only 35% of the time, else it
                                 looks like an expired credential
expired_credentials    Ingest.   recurs on a few fragile assets (60%; the rest land on    escalate
                                 any ingestion, where the knowledge base has no
                                 history); retries never succeed. 30% ``direct``
                                 (AuthError / HTTP403, 20% masked as ConnectionError);
                                 70% ``proxy``: behind the proxy the auth failure comes
                                 back as a timeout or a reset (SourceTimeout 40%,
                                 ConnectionError 40%, HTTP503 20%; no auth text)
=====================  ========  ======================================================  =========

What a wrong choice costs (``RETRY_LOAD_MIN``, ``LOCKOUT_AFTER``, ``LOCKOUT_DELAY_MIN``,
``LOCKOUT_HANDS_ON_MIN``): every retry an action starts against an active outage (a burst of
requests with the client's backoff) loads the vendor's recovering API, which sheds load by
throttling the client, and extends the outage by 20 min, up to 120 min, besides the slot it burns
(a wait's single rescheduled run does not). Every re-execution with expired credentials is a
fresh login, and after 2 (each run's client logs in twice) the service account is locked: the
human's fix then waits 180 more minutes for the vendor's support to unlock it (a ticket, not a
button) and takes 30 more hands-on minutes. Escalating a transient blip buys a human's
response and hands-on time for a fault one retry would have fixed.

What stays visible and combinable: time of day, the failing runs' error classes and messages,
whether the Source is late, failures shared by one source's ingestions, the retry history of the
asset, recurrence in the knowledge base. The variant itself is never observed.

Symptom "duplicates" (``quality_anomaly``): ``replayed_load`` at an Ingestion asset loads one
partition's batch again (best fix ``dedupe``). 60% ``full``: the whole batch (duplicate rate
45–50%, volume x1.8–2); 40% ``partial``: some of the batch's files (duplicate rate 10–45%, volume
up by the same). Loads append, so a ``rerun`` appends the batch once more unless the loader's
offsets were restored first (it clears the replay 30% of the time); a ``backfill`` replaces the
window (80%). ``grain_change`` at an Ingestion asset is not a fault of the data but of its
contract: the producer now sends one row per shipment instead of per order, so the unique test
fails on rows that are all valid (duplicate rate 10–45%, volume up by the same, every partition
from then on; producers deploy in business hours, 2x likelier from 9 to 18 h). Only the owner can
change the model's grain (best fix ``escalate``); a ``dedupe`` deletes valid rows — collateral on
every window it touched until a human's fix reloads them — and a rerun or backfill reloads the
same rows. So below 45% duplicates at an ingestion a partial replay and a grain change look
alike: the hour, whether the next partition repeats keys again and the asset's history tell,
none for sure. ``bad_join`` at a Transformation asset fans rows out (duplicate rate 3–25%, volume
up by the same, persists until the model is rerun; ``dedupe`` rarely clears fan-out duplicates;
best fix ``rerun``).

Symptom "nulls": ``source_nulls`` (null rate +10–60% on a key column while the source is bad,
median 6 h; the vendor's nightly export is 3x likelier to go bad at night; best fix ``backfill``
once the source is good) vs ``upstream_rename`` (a renamed column maps to nulls: +15–90%, as much
as the renamed column was populated; producers deploy in business hours, 2x likelier from 9 to
18 h; best ``apply_schema_mapping``). 40% of renames are ``versioned``: the schema version
changes; 60% are ``silent``: the source renames behind a view and keeps its schema version, and
the message names the rename only 15% of the time, so the null rate and the hour tell, neither
for sure (above 60% no source_nulls fault reaches; from 15% to 60% both do). A wrong choice
costs either way: a mapping on a column that was not renamed breaks it (collateral nulls until
rolled back, and the source is still bad); a backfill of a renamed column re-reads the same
nulls, hours later. A benign added column (noise) also changes the schema version, so a schema
change is only partial evidence.

Symptom "volume drop": ``partial_extract`` (1–3 partitions at 20–60% volume; ``backfill``) vs
``upstream_filter_change`` (persistent 30–70% at the Source; ``escalate``). Holidays (noise) drop
volume too and need nothing.

Symptom "distribution shift": ``unit_change`` at a Source (mean x100 or x0.01; ``escalate``)
vs ``stale_reference`` in a Transformation (mean ±15–40%; ``rerun``).

Symptom "schema test fails" (``validation_failure``): ``column_renamed`` (``apply_schema_mapping``)
vs ``type_changed`` (a schema migration, out of the agents' scope: ``escalate``; migrations are
deployed in business hours, 2x likelier from 9 to 18 h); the error text names the cause only half
the time. A mapping cannot convert a retyped column: applied to one, it casts the values that do
not parse to NULL (collateral until rolled back).

Symptom "slow runs / queueing" (``performance_degradation``): ``plan_regression`` (one asset's
runtime x4–10; ``kill_query``, which kills and reruns with the last good plan), ``data_skew``
(runtime x2–5 with volume up; ``scale_warehouse``), ``noisy_neighbor`` (an external workload holds
half the slots; ``kill_query`` on it), ``retry_storm`` (a misconfigured job reruns in a loop;
``reprioritize`` it down or ``kill_query``), ``undersized_warehouse`` (demand grows; every run
needs twice the slot time; ``scale_warehouse`` by at least 1.5x).

Prevention (``envs.sim.prevention``; ``World.prevent``): a measure active at a fault's onset that
matches its root cause and root asset prevents it with the share below (the fault never starts).
Costs per simulated day at the scenarios' 2.0 per slot-hour and 120 per human hour:

==================  ==============================  =====  =============  ========================
measure             prevents                        share  cost/day       wrong (costs, prevents
                                                                          nothing) when
==================  ==============================  =====  =============  ========================
rotate_credentials  expired_credentials rooted at   0.90   5.0            the 403s were proxy_auth
                    the Ingestion it is put on                            blips (transient), or
                                                                          expiry recurs elsewhere
uniqueness_guard    replayed_load rooted at the     0.90   6.0            duplicates are a
                    Ingestion it is put on (the                           bad_join's fan-out in a
                    guard checks batch ids at the                         model or a grain_change
                    load, before the models read)                         (new batch ids), or
                                                                          replays land on another
                                                                          ingestion
schema_contract     upstream_rename, column_renamed 0.75   12.0           nulls are source_nulls,
                    and type_changed rooted at the                        a shift is unit_change,
                    Ingestion it is put on, or at                         or renames hit another
                    any Ingestion reading the                             source
                    Source it is put on
reserved_capacity   noisy_neighbor starting in its  0.85   slots x hours  contention at other
                    ``hours``, holding at most its         x 2.0 (8 x 9   hours, or a retry_storm
                    ``slots`` (warehouse-wide)             peak h = 144)  or undersized_warehouse
reschedule          no fault: it moves the planned  --     2.0            the asset has no
                    backfills of its asset to                             backfill or the new hour
                    ``hour`` (no cause models a                           is as busy
                    backfill's collision)
==================  ==============================  =====  =============  ========================

Every action's success probability given the true root cause is in ``CAUSES[cause].success``;
actions not listed there cannot fix that cause. Destructive actions taken without a matching
cause cause collateral damage (see ``envs.sim.actions``), which the fix oracle counts as failure.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from scenarios.vocab import ActionKind, IssueType, Layer, RootCause, Subtype

NIGHT: Final[tuple[float, ...]] = tuple(3.0 if h < 6 else 1.0 for h in range(24))
PEAK: Final[tuple[float, ...]] = tuple(2.0 if 9 <= h < 18 else 1.0 for h in range(24))
FLAT: Final[tuple[float, ...]] = (1.0,) * 24


class Variant(NamedTuple):
    """One way a fault of a cause shows itself, drawn once per fault (see the module docstring).

    Attributes:
        name: the variant's name (kept in the fault's ``params["variant"]``; never observed).
        prob: its share of the cause's faults (the variants of a cause add up to 1).
        error_classes: error class → probability, for failed runs.
        messages: error texts; ``{col}`` is replaced by a key column.
        evidence_prob: chance a message is one of ``messages`` (else a generic message).
        held: for ``sensor_fail`` causes, whether the Source is held back (its files stop
            landing; False: the files land and the root's ingestions fail instead).
        overrides: fault parameters this variant sets (e.g. ``schema_delta`` 0: a rename
            that leaves the schema version as it was).
    """

    name: str
    prob: float
    error_classes: dict[str, float]
    messages: tuple[str, ...]
    evidence_prob: float
    held: bool = True
    overrides: tuple[tuple[str, Any], ...] = ()


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
        variants: the ways one fault can show itself (empty: always as above); a variant's
            error classes, messages and evidence chance replace the cause's own.
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
    variants: tuple[Variant, ...] = ()


RETRY_LOAD_MIN: Final = 20.0
"""Minutes a retry against an active outage adds to the outage's duration."""
RETRY_LOAD_CAP_MIN: Final = 120.0
"""At most this many minutes of added outage per fault."""
LOCKOUT_AFTER: Final = 2
"""Re-executions with expired credentials after which the service account is locked."""
LOCKOUT_DELAY_MIN: Final = 180.0
"""Minutes a human's fix of a locked account waits for the vendor to unlock it."""
LOCKOUT_HANDS_ON_MIN: Final = 30.0
"""Extra hands-on minutes of a human's fix of a locked account (the unlock ticket and call)."""


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
        (Variant("landing", 0.45, {"SourceTimeout": 0.45, "HTTP503": 0.35,
                                   "ConnectionError": 0.2},
                 ("sensor timed out waiting for new files in landing zone",
                  "503 Service Unavailable from vendor API"), 0.6),
         Variant("api", 0.55, {"ConnectionError": 0.4, "SourceTimeout": 0.35, "HTTP503": 0.25},
                 ("503 Service Unavailable from vendor API", "read timed out after 30s",
                  "connection reset by peer"), 0.5, held=False)),
    ),
    "transient_network": Cause(
        "transient_failure", "late_arrival", ("Ingestion",), "fail", 8.0, 0,
        {"ConnectionError": 0.55, "SourceTimeout": 0.3, "HTTP503": 0.15},
        ("connection reset by peer", "read timed out after 30s"),
        0.6, PEAK, {"retry": 0.95, "wait": 0.95, "rerun": 0.95, "escalate": 1.0}, "retry",
        (Variant("plain", 0.8, {"ConnectionError": 0.55, "SourceTimeout": 0.3, "HTTP503": 0.15},
                 ("connection reset by peer", "read timed out after 30s"), 0.6),
         Variant("proxy_auth", 0.2, {"HTTP403": 0.7, "ConnectionError": 0.3},
                 ("407 Proxy Authentication Required: session expired",), 0.35)),
    ),
    "expired_credentials": Cause(
        "credentials_expired", "late_arrival", ("Ingestion",), "fail", 0.0, 0,
        {"AuthError": 0.5, "HTTP403": 0.3, "ConnectionError": 0.2},
        ("401 Unauthorized: token expired", "access denied for service principal"),
        0.6, FLAT, {"escalate": 0.97}, "escalate",
        (Variant("direct", 0.3, {"AuthError": 0.5, "HTTP403": 0.3, "ConnectionError": 0.2},
                 ("401 Unauthorized: token expired", "access denied for service principal"),
                 0.6),
         Variant("proxy", 0.7, {"SourceTimeout": 0.4, "ConnectionError": 0.4, "HTTP503": 0.2},
                 ("read timed out after 30s", "connection reset by peer"), 0.5)),
    ),
    "replayed_load": Cause(
        "duplicates", "quality_anomaly", ("Ingestion",), "corrupt", 0.0, 1,
        {}, ("batch id already loaded; offsets reset",), 0.3, FLAT,
        {"dedupe": 0.95, "rerun": 0.3, "backfill": 0.8, "escalate": 0.95}, "dedupe",
        (Variant("full", 0.6, {}, ("batch id already loaded; offsets reset",), 0.3),
         Variant("partial", 0.4, {}, ("batch id already loaded; offsets reset",), 0.3)),
    ),
    "bad_join": Cause(
        "duplicates", "quality_anomaly", ("Transformation",), "corrupt", 0.0, 0,
        {}, ("join key not unique in reference input",), 0.3, FLAT,
        {"rerun": 0.9, "dedupe": 0.25, "escalate": 0.95}, "rerun",
    ),
    "grain_change": Cause(
        "duplicates", "quality_anomaly", ("Ingestion",), "corrupt", 0.0, 0,
        {}, ("unique test on {col} failed: keys repeat",), 0.3, PEAK,
        {"escalate": 0.95}, "escalate",
    ),
    "source_nulls": Cause(
        "nulls", "quality_anomaly", ("Ingestion",), "corrupt", 360.0, 0,
        {}, ("source extract contains empty {col} values",), 0.3, NIGHT,
        {"backfill": 0.9, "escalate": 0.95}, "backfill",
    ),
    "upstream_rename": Cause(
        "nulls", "quality_anomaly", ("Ingestion",), "corrupt", 0.0, 0,
        {}, ("column {col} missing in source; mapped to NULL",), 0.3, PEAK,
        {"apply_schema_mapping": 0.95, "escalate": 0.95}, "apply_schema_mapping",
        (Variant("versioned", 0.4, {}, ("column {col} missing in source; mapped to NULL",), 0.3),
         Variant("silent", 0.6, {}, ("column {col} missing in source; mapped to NULL",), 0.15,
                 overrides=(("schema_delta", 0),))),
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
        {"SchemaError": 1.0}, ("column {col} not found; found {col}_v2",), 0.5, FLAT,
        {"apply_schema_mapping": 0.95, "escalate": 0.95}, "apply_schema_mapping",
    ),
    "type_changed": Cause(
        "schema_drift", "validation_failure", ("Ingestion",), "schema", 0.0, 0,
        {"SchemaError": 1.0}, ("column {col} expected DECIMAL, got VARCHAR",), 0.5, PEAK,
        {"escalate": 0.95}, "escalate",
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
