"""Issue Triage's layer 1: the deterministic rules that classify an incident and propose a route.

``TriageRules.classify`` reads what an operator can see — the incident's alerts, the evidence
gathered once at triage time (``agents.evidence``: failed runs and their error classes and
messages, late sources, outside workload, warehouse-wide slowness), the statistics of the
latest partitions, lineage (RCA), the knowledge base's recurrence counts and the business
calendar — and returns a ``Proposal``: issue type, subtype/cause (the playbook key), the target
asset, the first route and a confidence in [0, 1], with the facts it used. The rule families are
tried in order, the first that recognizes the incident proposing:

==================  ==============================================================================
family              recognizes
==================  ==============================================================================
failed runs         a retry storm (≥ 6 failures of one job in 30 min), a proxy blip (the proxy
                    named in the error: retry), expired credentials (an AuthError, or a 403
                    whose message names a credential: escalate; a bare 403: one retry first,
                    then escalate), a
                    source visibly down (late source, one shared source, a sensor timeout: wait,
                    never retry into it), a likely outage (a 503, or failures at night, when
                    vendors maintain: wait too, since a retry into an outage prolongs it) or a
                    transient failure (one retry: a second would lock a masked expired
                    credential)
schema tests        a failing schema test: a column changed type (escalate), or was renamed
                    (map it back); a test that names neither is taken for the likelier retype
                    and escalated (a mapping would null a retyped column's values)
bad data            duplicates (a whole batch loaded twice, or a loader naming the replay:
                    dedupe; fewer repeated keys at a load: a partial replay or a grain change,
                    so a backfill, which deletes nothing valid; at a join: a bad join), nulls
                    (upstream rename, tried first above 15% nulls, or source nulls), a shifted
                    value mean (unit change or stale reference), a volume change (holiday,
                    data skew, upstream filter change or partial extract)
slowness and rest   warehouse-wide contention (noisy neighbour or undersized warehouse), a slow
                    query (plan regression or data skew), an additive schema change, late data
                    without failures (watch), else unknown (escalate)
==================  ==============================================================================

Layers 2 (the route slot) and 3 (guardrails) are ``agents.triage.IssueTriage``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agents.evidence import IncidentEvidence
from agents.incidents import Incident
from agents.monitor import PipelineMonitor
from agents.rca import RootCauseAnalyzer
from agents.records import RootCandidate
from envs.sim.world import World

RENAME_NULL_RATE = 0.15
"""A key column more null than this, without a schema change, is first treated as a rename: the
schema mapping is tried first because it is cheap to try and to roll back. A source's empty
values (10–60%) and a silent rename (15–90%) overlap (``envs.sim.causal``), and a rename taken
for a bad source waits hours for a backfill that cannot help, while a mapping taken for a bad
source costs one rollback and a human's fix. Chosen on 120 training episodes of SC-0002 v3
(returns: 0.15 → -7.52, 0.30 → -8.44, 0.45 → -11.17, 0.60 → -12.85); below 15% only a bad source
reaches, so the rules backfill."""
HOLIDAY_AS_EXPECTED = 0.75
"""On a business holiday, a partition from this share of its (calendar-aware) expected volume
up to 1.3 times it is the holiday's own drop (more is a volume surge, not the holiday)."""
REPLAY_WORDS = ("already loaded", "offsets")
"""Words of a loader's message that name a replayed batch (the triage feature ``hint_replay``
reads the same words)."""
QUALITY_SIGNALS = frozenset(
    {"null_rate", "duplicate_rate", "value_mean", "volume", "check_failure"}
)


@dataclass(frozen=True)
class Proposal:
    """The rules' classification before guardrails.

    Attributes:
        issue_type: blueprint issue type or ``unknown``.
        subtype: ``<subtype>`` or ``<subtype>/<cause>`` (the playbook key) or ``unknown`` or
            ``benign``.
        target: asset the first action targets (-1 warehouse-wide).
        route: proposed first action kind (``none`` for benign).
        confidence: in [0, 1].
        evidence: facts used.
    """

    issue_type: str
    subtype: str
    target: int
    route: str
    confidence: float
    evidence: tuple[str, ...]


class TriageRules:
    """Layer 1 of Issue Triage: classify an incident from observable evidence.

    Args:
        world: the world (public parts: lineage, latest partitions' specs, schedule).
        monitor: the monitor (latest partitions and failed runs per asset).
        rca: the root cause analyzer (its lineage ancestors).
        recurrence: ``recurrence(asset, issue_type, now) -> int`` from the knowledge base.
        holidays: business-calendar days.
    """

    def __init__(
        self,
        world: World,
        monitor: PipelineMonitor,
        rca: RootCauseAnalyzer,
        recurrence: Callable[[int, str, float], int],
        holidays: tuple[int, ...] = (),
    ) -> None:
        self.world = world
        self.monitor = monitor
        self.rca = rca
        self.recurrence = recurrence
        self.holidays = holidays

    def classify(
        self, inc: Incident, cands: tuple[RootCandidate, ...], evidence: IncidentEvidence
    ) -> Proposal:
        """The rules: issue type, subtype/cause, target, route and confidence.

        The rule families are tried in order — failed runs, schema tests, bad data, slowness and
        what is left — and the first that recognizes the incident proposes.
        """
        root = cands[0].asset if cands else inc.alerts[0].asset
        facts: list[str] = [f"signals: {', '.join(sorted(evidence.signals))}"]
        if evidence.external_queries:
            facts.append(
                f"{evidence.external_queries} warehouse slots held by queries outside the pipeline"
            )
        if "run_failure" in evidence.signals:
            return self._failed_runs(evidence, facts)
        if evidence.signals & {"check_failure", "schema_change"}:
            p = self._schema_tests(inc, facts)
            if p is not None:
                return p
        p = self._bad_data(inc, evidence, facts)
        if p is not None:
            return p
        return self._slowness_or_rest(inc, evidence, root, facts)

    def _failed_runs(self, evidence: IncidentEvidence, facts: list[str]) -> Proposal:
        """Failed runs: a retry storm, expired credentials, a source outage or a transient."""
        w, mon = self.world, self.monitor
        now = w.now
        failing = evidence.failing
        classes = evidence.error_classes
        text = evidence.error_text
        facts.append("errors: " + ", ".join(f"{c}x{n}" for c, n in classes.most_common()))
        storm = max(
            (sum(1 for r in mon.failed_runs[a] if r.ended_at >= now - 30) for a in failing),
            default=0,
        )
        if storm >= 6:
            a = max(failing, key=lambda a: len(mon.failed_runs[a]))
            facts.append(f"{storm} failed runs of one job in 30 min: a retry loop")
            return Proposal(
                "performance_degradation",
                "resource_contention/retry_storm",
                a,
                "kill_query",
                0.75,
                tuple(facts),
            )
        ing = evidence.failing_ingestions
        if not ing:
            return Proposal(
                "late_arrival", "transient_failure", failing[0], "retry", 0.55, tuple(facts)
            )
        a = ing[0]
        src_late = evidence.late_sources
        shared = evidence.shared_source
        auth = classes["AuthError"] + classes["HTTP403"]
        if "proxy" in text:  # the proxy dropped its session: a blip, whatever the status code
            facts.append("the proxy answered for the source: a network blip")
            return Proposal("late_arrival", "transient_failure", a, "retry", 0.6, tuple(facts))
        if auth or "unauthorized" in text or "denied" in text:
            rec = self.recurrence(a, "late_arrival", now)
            facts.append(f"authentication errors; {rec} earlier late-arrival incidents here")
            bare_403 = not classes["AuthError"] and not any(
                h in text for h in ("unauthorized", "token expired", "denied")
            )
            if bare_403:
                # a 403 whose message names no credential may be the proxy's: one retry (one
                # login, below the lockout) is cheap before paging a human
                return Proposal(
                    "late_arrival", "credentials_expired/unconfirmed", a, "retry", 0.6,
                    tuple(facts),
                )  # fmt: skip
            return Proposal(
                "late_arrival", "credentials_expired", a, "escalate", 0.85, tuple(facts)
            )
        if src_late or shared or "sensor" in text:  # the source is down: retrying only loads it
            facts.append(
                "source data missing"
                if src_late or "sensor" in text
                else "several ingestions of one source fail"
            )
            return Proposal(
                "late_arrival", "upstream_outage/source_down", a, "wait", 0.75, tuple(facts)
            )
        night = int(now // 60) % 24 < 6
        if "503" in text or night:
            facts.append(
                "failures at night, when vendors maintain their systems"
                if night
                else "the source's service answers unavailable"
            )
            # a retry into an outage prolongs it (envs.sim.causal): wait it out instead
            return Proposal(
                "late_arrival", "upstream_outage/source_down", a, "wait", 0.6, tuple(facts)
            )
        rec = self.recurrence(a, "late_arrival", now)
        if rec >= 2:  # evidence for credentials, but a retry is cheap: try it first
            facts.append(f"{rec} earlier late-arrival incidents on this asset")
        if classes["SourceTimeout"] + classes["HTTP503"] > classes["ConnectionError"]:
            return Proposal("late_arrival", "upstream_outage", a, "wait", 0.55, tuple(facts))
        return Proposal("late_arrival", "transient_failure", a, "retry", 0.65, tuple(facts))

    def _schema_tests(self, inc: Incident, facts: list[str]) -> Proposal | None:
        """A failing schema test: a column changed type or was renamed (None: no schema test)."""
        details = " ".join(
            al.detail.lower()
            for al in inc.alerts
            if al.signal in ("check_failure", "schema_change")
        )
        schema_alert = next(
            (
                al
                for al in inc.alerts
                if (al.signal == "check_failure" and "failed checks: schema" in al.detail)
                or (al.signal == "check_failure" and ", schema" in al.detail.split("—")[0])
            ),
            None,
        )
        if schema_alert is None:
            return None
        a = schema_alert.asset
        if "expected" in details and "got" in details:
            facts.append("schema test: a column changed type")
            return Proposal(
                "validation_failure", "schema_drift/type_changed", a, "escalate", 0.85,
                tuple(facts),
            )  # fmt: skip
        if "not found" in details:
            facts.append("schema test: a column is missing and a similar one appeared")
            return Proposal(
                "validation_failure", "schema_drift/column_renamed", a, "apply_schema_mapping",
                0.85, tuple(facts),
            )  # fmt: skip
        # without detail a retype is the likelier cause (56% of schema drift) and a mapping on a
        # retyped column nulls what does not parse: a person looks before anything is mapped
        facts.append("schema test failed without detail: a retype is likelier than a rename")
        return Proposal(
            "validation_failure", "schema_drift/type_changed", a, "escalate", 0.55, tuple(facts)
        )

    def _bad_data(
        self, inc: Incident, evidence: IncidentEvidence, facts: list[str]
    ) -> Proposal | None:
        """Duplicates, nulls, shifted values or volume changes (None: no quality signal fits)."""
        w, mon = self.world, self.monitor
        quality = [
            al
            for al in inc.alerts
            if al.signal in QUALITY_SIGNALS
            and (al.signal != "check_failure" or self.failed_kinds(al.asset) - {"freshness"})
        ]
        if not quality:
            return None
        first = min(quality, key=lambda al: (w.assets[al.asset].layer_idx, al.t))
        a = first.asset
        r = mon.last[a]
        kinds = {al.signal for al in quality}
        for al in quality:
            if al.signal == "check_failure":
                kinds |= self.failed_kinds(al.asset)
        exp = w.assets[a].expected[r.window] if r is not None else 1.0
        ratio = (r.rows / exp) if r is not None and exp else 1.0
        if "duplicate_rate" in kinds or "unique" in kinds:
            dup = r.duplicate_rate if r is not None else 0.0
            facts.append(f"duplicate rate {dup:.2f}, volume x{ratio:.2f} of expected")
            at_load = w.assets[a].layer == "Ingestion"
            whole = dup >= 0.35 and ratio >= 1.6
            if whole or (at_load and _names_replay(inc)):
                if not whole:
                    facts.append("the loader names a replayed batch")
                return Proposal(
                    "quality_anomaly", "duplicates/replayed_load", a, "dedupe", 0.8, tuple(facts)
                )
            if at_load:
                # a partial replay or a grain change (envs.sim.causal): a backfill replaces the
                # window, which clears a replay and deletes nothing if the keys repeat validly
                facts.append("repeated keys at a load, below a whole batch: replay or grain change")
                return Proposal(
                    "quality_anomaly", "duplicates/partial_replay", a, "backfill", 0.5,
                    tuple(facts),
                )  # fmt: skip
            tgt = self._join_root(a)
            return Proposal(
                "quality_anomaly", "duplicates/bad_join", tgt, "rerun", 0.65, tuple(facts)
            )
        if "null_rate" in kinds or "not_null" in kinds:
            recent_schema = any(al.signal == "schema_change" for al in inc.alerts) or (
                r is not None and r.schema_version > 1 and mon.schema[a] != 1
            )
            if recent_schema:
                facts.append("nulls together with a schema version change")
                return Proposal(
                    "quality_anomaly", "nulls/upstream_rename", a, "apply_schema_mapping", 0.7,
                    tuple(facts),
                )  # fmt: skip
            worst = max(r.null_rates, default=0.0) if r is not None else 0.0
            if worst > RENAME_NULL_RATE:
                facts.append(f"{worst:.0%} of a key column null: try mapping a renamed column")
                return Proposal(
                    "quality_anomaly", "nulls/upstream_rename", a, "apply_schema_mapping", 0.6,
                    tuple(facts),
                )  # fmt: skip
            facts.append("nulls without a schema change: the source sends empty values")
            return Proposal(
                "quality_anomaly", "nulls/source_nulls", a, "backfill", 0.6, tuple(facts)
            )
        if "value_mean" in kinds or "accepted_range" in kinds:
            shift = (r.value_mean / w.assets[a].spec.value_mean) if r is not None else 1.0
            facts.append(f"value mean x{shift:.3g} of usual")
            if shift > 20 or shift < 0.05:
                return Proposal(
                    "quality_anomaly", "distribution_shift/unit_change", a, "escalate", 0.85,
                    tuple(facts),
                )  # fmt: skip
            return Proposal(
                "quality_anomaly", "distribution_shift/stale_reference", a, "rerun", 0.6,
                tuple(facts),
            )  # fmt: skip
        if "volume" in kinds:
            day = int(w.now // 1440)
            if day in self.holidays and HOLIDAY_AS_EXPECTED <= ratio <= 1.3:
                # the expectation knows the calendar: a partition at a holiday's usual size is
                # the holiday; one well below it is a fault that happened on a holiday
                facts.append("volume drop on a business holiday, of the usual holiday size")
                return Proposal("quality_anomaly", "benign", a, "none", 0.8, tuple(facts))
            if ratio > 1.3 and "runtime" in evidence.signals:
                facts.append("volume and runtime up together")
                return _data_skew(a, facts)
            src_wide = w.assets[a].layer == "Source" or (
                all(w.assets[x.asset].layer in ("Source", "Ingestion") for x in quality)
                and len({x.asset for x in quality}) >= 2
            )
            facts.append(f"volume x{ratio:.2f} of expected")
            if src_wide:
                return Proposal(
                    "quality_anomaly", "volume_drop/upstream_filter_change", a, "escalate", 0.6,
                    tuple(facts),
                )  # fmt: skip
            return Proposal(
                "quality_anomaly", "volume_drop/partial_extract", a, "backfill", 0.65, tuple(facts)
            )
        return None

    def _slowness_or_rest(
        self, inc: Incident, evidence: IncidentEvidence, root: int, facts: list[str]
    ) -> Proposal:
        """Slow or queued runs, an additive schema change, late data, or unknown."""
        w, mon = self.world, self.monitor
        sig = evidence.signals
        ext = bool(evidence.external_queries)
        wide = evidence.wide_slow_assets
        if len(wide) >= 3 and sig & {"runtime", "queue", "freshness"}:
            facts.append(f"slow or queued runs on {len(wide)} assets in 90 min: warehouse-wide")
            return _contention(facts, ext, 0.65)
        if "runtime" in sig:
            a = next(al.asset for al in inc.alerts if al.signal == "runtime")
            r = mon.last[a]
            exp = w.assets[a].expected[r.window] if r is not None else 1.0
            ratio = (r.rows / exp) if r is not None and exp else 1.0
            facts.append(f"runtime anomaly on {w.assets[a].name}; volume x{ratio:.2f}")
            if ratio > 1.3:
                return _data_skew(a, facts)
            return Proposal(
                "performance_degradation", "slow_query/plan_regression", a, "kill_query", 0.65,
                tuple(facts),
            )  # fmt: skip
        if "queue" in sig or ("freshness" in sig and len(inc.assets) >= 3):
            if not ext:
                facts.append("queueing across assets with no outside workload")
            return _contention(facts, ext, 0.55)
        if "schema_change" in sig and sig <= {"schema_change"}:
            a = next(al.asset for al in inc.alerts if al.signal == "schema_change")
            if "schema" not in self.failed_kinds(a):
                facts.append("additive schema change, no test fails")
                return Proposal("validation_failure", "benign", root, "none", 0.8, tuple(facts))
            r = mon.last[a]
            text = r.error_message.lower() if r is not None else ""
            facts.append("schema version changed and a warn-level schema test fails")
            if "expected" in text and "got" in text:
                return Proposal(
                    "validation_failure", "schema_drift/type_changed", a, "escalate", 0.8,
                    tuple(facts),
                )  # fmt: skip
            conf = 0.8 if "not found" in text else 0.5
            return Proposal(
                "validation_failure", "schema_drift/column_renamed", a, "apply_schema_mapping",
                conf, tuple(facts),
            )  # fmt: skip
        if "freshness" in sig:
            facts.append("late data without failures: wait and re-check before paging anyone")
            return Proposal(
                "late_arrival", "late_arrival/delayed", root, "watch", 0.6, tuple(facts)
            )
        return Proposal("unknown", "unknown", root, "escalate", 0.2, tuple(facts))

    def failed_kinds(self, asset: int) -> set[str]:
        """Kinds of the checks the asset's latest partition failed."""
        r = self.monitor.last[asset]
        checks = self.world.assets[asset].spec.checks
        return {checks[i].kind for i in r.failed_checks} if r is not None else set()

    def _join_root(self, a: int) -> int:
        """The most upstream join (≥ 2 inputs) at or above ``a`` that shows duplicates."""
        w, mon = self.world, self.monitor
        best = a
        for u in sorted(self.rca.ancestors[a] | {a}, key=lambda i: w.assets[i].layer_idx):
            asset = w.assets[u]
            r = mon.last[u]
            if len(asset.ups) >= 2 and r is not None and r.duplicate_rate > 0.01:
                return u
            if len(asset.ups) >= 2 and best == a and u != a and a in asset.descendants:
                best = u
        return best


def _names_replay(inc: Incident) -> bool:
    """Whether an alert of the incident carries a loader's message naming a replayed batch."""
    text = " ".join(al.detail.lower() for al in inc.alerts)
    return any(word in text for word in REPLAY_WORDS)


def _contention(ev: list[str], external: bool, confidence: float) -> Proposal:
    """Warehouse-wide contention: a query outside the pipeline, else an undersized warehouse."""
    if external:
        return Proposal(
            "performance_degradation", "resource_contention/noisy_neighbor", -1, "kill_query",
            0.8, tuple(ev),
        )  # fmt: skip
    return Proposal(
        "performance_degradation", "resource_contention/undersized_warehouse", -1,
        "scale_warehouse", confidence, tuple(ev),
    )  # fmt: skip


def _data_skew(asset: int, ev: list[str]) -> Proposal:
    """Volume and run time up together on ``asset``: skewed data, scale the warehouse."""
    return Proposal(
        "performance_degradation", "slow_query/data_skew", asset, "scale_warehouse", 0.65,
        tuple(ev),
    )  # fmt: skip
