"""OpenLineage run events (spec 2-0-2) of run records, as plain JSON-ready dicts.

Each :class:`~envs.sim.records.RunRecord` becomes two events: ``START`` at ``started_at`` and
``COMPLETE`` (status ``success``) or ``FAIL`` (``failed`` or ``killed``) at ``ended_at``. The job
is the asset; its inputs are the upstream assets and its single output is the asset itself. Every
event is self-contained: it carries the job's facets, the output's declared schema and the run's
nominal time and tags.

Facet placement (every ``_schemaURL`` is the ``$id`` of the facet's file in the OpenLineage spec
plus the pointer to its definition, pinned in :data:`FACET_SCHEMA_URLS` and checked against the
spec files by ``tests/sim/test_telemetry.py``):

* job ``facets``: ``jobType`` (BATCH, integration DATAOPS_GYM, jobType ASSET), ``ownership``
  (``team:<owner>``) and ``tags`` (layer, criticality).
* run ``facets``: ``nominalTime`` (start: the partition window's end; end, excluded: the next
  window's end); ``tags`` (trigger, attempt, window; plus ``partition_state`` on the terminal
  event); ``errorMessage`` on ``FAIL`` (``stackTrace`` = ``"<error_class>: <message>"`` when the
  record names an error class).
* output dataset ``facets``: ``schema`` (the key columns and ``value``) always; on ``COMPLETE``
  also ``version`` (``datasetVersion`` = the written schema version), ``dataQualityMetrics`` and
  ``dataQualityAssertions``. The metrics describe the partition this run *wrote*, so they use
  ``DataQualityMetricsDatasetFacet``, the plain ``DatasetFacet`` variant the spec allows on any
  dataset (``DataQualityMetricsInputDatasetFacet`` is input-only and would need the asset listed
  as its own input, a self-loop in the lineage graph). ``DataQualityAssertionsDatasetFacet``
  formally extends ``InputDatasetFacet`` (a known slip of the spec, OpenLineage issue #1876; the
  proposed fix makes it a ``DatasetFacet``); both bases are the same ``BaseFacet`` shape, so it
  validates in a dataset's ``facets``, next to the metrics of the same partition.
* output dataset ``outputFacets``: ``outputStatistics`` (``rowCount``) on ``COMPLETE`` only; a
  failed or killed run delivers no partition.

This module is the event model: :func:`run_uuid`, the facet and event builder
:class:`EventBuilder` and :func:`to_openlineage`, which yields the events as dicts. It writes no
file and imports no writer: the JSON Lines output (the encoder,
:func:`~envs.sim.telemetry.write_jsonl` and the fast :func:`~envs.sim.telemetry.export_jsonl`) is
in :mod:`envs.sim.telemetry`, which builds on this module and re-exports its public names, so
callers import everything from there.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from envs.sim.records import PARTITION_STATES, RunRecord
from scenarios.spec import AssetSpec, CheckSpec

__all__ = [
    "DEFAULT_PRODUCER",
    "DEFAULT_START",
    "FACET_SCHEMA_URLS",
    "RUN_EVENT_SCHEMA_URL",
    "Event",
    "EventBuilder",
    "run_uuid",
    "to_openlineage",
]

Event = dict[str, Any]
"""One OpenLineage run event (or a part of one) as a JSON-ready dict."""

DEFAULT_START: Final = datetime(2026, 1, 5, tzinfo=UTC)
"""Wall-clock time of simulated minute 0 (a Monday)."""
DEFAULT_PRODUCER: Final = "https://github.com/dataops-gym/dataops-gym"
RUN_EVENT_SCHEMA_URL: Final = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

_SPEC: Final = "https://openlineage.io/spec/facets/"
FACET_SCHEMA_URLS: Final[Mapping[str, str]] = MappingProxyType(
    {
        # facet -> "<$id of spec/facets/<File>.json>#/$defs/<Definition>" (OpenLineage 2-0-2)
        "jobType": f"{_SPEC}2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
        "ownership": f"{_SPEC}1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet",
        "jobTags": f"{_SPEC}1-0-0/TagsJobFacet.json#/$defs/TagsJobFacet",
        "nominalTime": f"{_SPEC}1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
        "runTags": f"{_SPEC}1-0-0/TagsRunFacet.json#/$defs/TagsRunFacet",
        "errorMessage": f"{_SPEC}1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
        "schema": f"{_SPEC}1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
        "version": (
            f"{_SPEC}1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
        ),
        "dataQualityMetrics": (
            f"{_SPEC}1-0-0/DataQualityMetricsDatasetFacet.json"
            "#/$defs/DataQualityMetricsDatasetFacet"
        ),
        "dataQualityAssertions": (
            f"{_SPEC}1-1-0/DataQualityAssertionsDatasetFacet.json"
            "#/$defs/DataQualityAssertionsDatasetFacet"
        ),
        "outputStatistics": (
            f"{_SPEC}1-0-2/OutputStatisticsOutputDatasetFacet.json"
            "#/$defs/OutputStatisticsOutputDatasetFacet"
        ),
    }
)
"""Schema URL of each facet emitted (``jobTags`` and ``runTags`` are both keyed ``tags``)."""

_INTEGRATION: Final = "DATAOPS_GYM"
_MINUTE: Final = timedelta(minutes=1)
_URL_NS: Final = uuid.NAMESPACE_URL.bytes
_VALUE_COLUMN: Final = "value"
_TERMINAL: Final = MappingProxyType({"success": "COMPLETE", "failed": "FAIL", "killed": "FAIL"})


def run_uuid(namespace: str, asset: str, run_id: int) -> str:
    """The OpenLineage ``runId`` of one simulator run: a name-based UUID (version 5).

    Asset names are snake_case and run ids are integers, so the name
    ``"{namespace}/{asset}/{run_id}"`` is unambiguous even when the namespace contains ``/``.

    Args:
        namespace: the OpenLineage job namespace.
        asset: the asset (job) name.
        run_id: the simulator's run id.

    Returns:
        The UUID in its canonical 36-character form.
    """
    # uuid.uuid5, inlined (about three times faster; the tests check it equals uuid.uuid5)
    d = bytearray(hashlib.sha1(_URL_NS + f"{namespace}/{asset}/{run_id}".encode()).digest()[:16])
    d[6] = (d[6] & 0x0F) | 0x50  # version 5
    d[8] = (d[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = d.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _num(x: float) -> str:
    """Format a number for an assertion's ``expected``/``actual`` text."""
    return f"{x:.6g}"


class _Check:
    """One check of an asset, compiled: assertion name, kind, severity, expected-value text."""

    __slots__ = ("expected", "index", "kind", "max_null_rate", "name", "severity")

    def __init__(self, asset: str, index: int, spec: CheckSpec, sla_min: float) -> None:
        self.index = index
        self.kind: str = spec.kind
        self.severity = spec.severity
        self.max_null_rate = spec.max_null_rate
        self.name = f"{asset}.{spec.kind}[{index}]"
        if spec.kind == "not_null":
            expected = f"null_rate <= {_num(spec.max_null_rate)}"
        elif spec.kind == "unique":
            expected = f"duplicate_rate <= {_num(spec.max_duplicate_rate)}"
        elif spec.kind == "volume":
            expected = f"abs(rows / expected_rows - 1) <= {_num(spec.volume_tolerance)}"
        elif spec.kind == "freshness":
            expected = f"arrival_delay_min <= {_num(sla_min)}"
        elif spec.kind == "accepted_range":
            bounds = []
            if spec.min_value is not None:
                bounds.append(f"value_mean >= {_num(spec.min_value)}")
            if spec.max_value is not None:
                bounds.append(f"value_mean <= {_num(spec.max_value)}")
            expected = " and ".join(bounds)
        else:  # schema: the expected version is hidden simulator state
            expected = ""
        self.expected = expected


class _Asset:
    """The per-asset parts of the events, built once per export."""

    __slots__ = ("checks", "every_min", "index", "inputs", "job", "key_columns", "name", "schema")

    def __init__(self, index: int, spec: AssetSpec, namespace: str, producer: str) -> None:
        self.index = index
        self.name = spec.name
        self.every_min = float(spec.every_min)
        self.key_columns = spec.key_columns
        self.checks = [
            _Check(spec.name, i, c, spec.freshness_sla_min) for i, c in enumerate(spec.checks)
        ]
        self.job: Event = {
            "namespace": namespace,
            "name": spec.name,
            "facets": {
                "jobType": {
                    "_producer": producer,
                    "_schemaURL": FACET_SCHEMA_URLS["jobType"],
                    "processingType": "BATCH",
                    "integration": _INTEGRATION,
                    "jobType": "ASSET",
                },
                "ownership": {
                    "_producer": producer,
                    "_schemaURL": FACET_SCHEMA_URLS["ownership"],
                    "owners": [{"name": f"team:{spec.owner}", "type": "MAINTAINER"}],
                },
                "tags": {
                    "_producer": producer,
                    "_schemaURL": FACET_SCHEMA_URLS["jobTags"],
                    "tags": [
                        {"key": "layer", "value": spec.layer},
                        {"key": "criticality", "value": spec.criticality},
                    ],
                },
            },
        }
        self.inputs: list[Event] = [{"namespace": namespace, "name": u} for u in spec.upstream]
        fields: list[Event] = [
            {"name": c, "ordinal_position": i + 1} for i, c in enumerate(spec.key_columns)
        ]
        fields.append(
            {"name": _VALUE_COLUMN, "type": "DOUBLE", "ordinal_position": len(fields) + 1}
        )
        self.schema: Event = {
            "_producer": producer,
            "_schemaURL": FACET_SCHEMA_URLS["schema"],
            "fields": fields,
        }


class EventBuilder:
    """Turns records into the values of their two events, and values into events.

    The *values* of a record (:meth:`values`) are the only per-record data; :meth:`events` places
    them into the structure. :meth:`events` branches only on which value keys are present, never
    on the values themselves, so calling it with placeholder values yields a skeleton that
    :func:`~envs.sim.telemetry.export_jsonl` compiles into a JSON template with the same
    structure.

    Args:
        assets: the asset specs indexed like ``RunRecord.asset`` (see :func:`to_openlineage`).
        namespace: OpenLineage namespace of the jobs and of the datasets.
        start: timezone-aware wall-clock time of simulated minute 0.
        producer: URI of the producer, used for the events and for every facet.

    Raises:
        ValueError: if ``start`` is naive.
    """

    def __init__(
        self, assets: Sequence[AssetSpec], namespace: str, start: datetime, producer: str
    ) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"start: expected a timezone-aware datetime, got naive {start!r}")
        self.assets = [_Asset(i, a, namespace, producer) for i, a in enumerate(assets)]
        self.namespace = namespace
        self.start = start
        self.producer = producer
        self._times: dict[float, str] = {}  # window ends recur: cache their ISO text

    def iso(self, minutes: float) -> str:
        """ISO 8601 text (milliseconds, offset of ``start``) of a simulated time."""
        return (self.start + minutes * _MINUTE).isoformat(timespec="milliseconds")

    def _window_iso(self, minutes: float) -> str:
        text = self._times.get(minutes)
        if text is None:
            if len(self._times) >= 65536:
                self._times.clear()
            text = self._times[minutes] = self.iso(minutes)
        return text

    def asset(self, rec: RunRecord) -> _Asset:
        """The compiled asset of a record (validated)."""
        if not 0 <= rec.asset < len(self.assets):
            raise ValueError(
                f"record run_id={rec.run_id}: asset index {rec.asset} out of range "
                f"0..{len(self.assets) - 1}; pass the specs in the simulator's asset order"
            )
        return self.assets[rec.asset]

    def values(self, rec: RunRecord, a: _Asset) -> dict[str, Any]:
        """The per-record values of a record's two events, keyed by placeholder name."""
        terminal = _TERMINAL.get(rec.status)
        if terminal is None:
            raise ValueError(
                f"record run_id={rec.run_id}: status {rec.status!r}; expected one of "
                f"{', '.join(_TERMINAL)}"
            )
        window_end = rec.window * a.every_min
        ps = rec.partition_state
        v: dict[str, Any] = {
            "runId": run_uuid(self.namespace, a.name, rec.run_id),
            "startTime": self.iso(rec.started_at),
            "endTime": self.iso(rec.ended_at),
            "eventType": terminal,
            "nominalStart": self._window_iso(window_end),
            "nominalEnd": self._window_iso(window_end + a.every_min),
            "trigger": rec.trigger,
            "attempt": str(rec.attempt),
            "window": str(rec.window),
            "state": PARTITION_STATES[ps] if 0 <= ps < len(PARTITION_STATES) else str(ps),
        }
        if terminal == "FAIL":
            message = rec.error_message or f"run {rec.status}"
            v["message"] = message
            if rec.error_class:
                v["stackTrace"] = f"{rec.error_class}: {message}"
            return v
        rates = rec.null_rates
        if len(rates) != len(a.key_columns):
            raise ValueError(
                f"record run_id={rec.run_id}: {len(rates)} null rates for asset {a.name!r} with "
                f"key columns {a.key_columns}; expected one per key column"
            )
        rows = int(rec.rows)
        v["version"] = str(rec.schema_version)
        v["rows"] = rows
        for j, rate in enumerate(rates):
            if math.isfinite(rate):
                v[f"nullCount{j}"] = round(rows * float(rate))
        total = rows * float(rec.value_mean)
        if math.isfinite(total):
            v["valueSum"] = total
        failed = set(rec.failed_checks)
        for i in failed:
            if not 0 <= i < len(a.checks):
                raise ValueError(
                    f"record run_id={rec.run_id}: failed check index {i} but asset {a.name!r} "
                    f"has {len(a.checks)} checks"
                )
        for c in a.checks:
            i = c.index
            ok = i not in failed
            if c.kind == "not_null":
                # The check fails when the worst key column exceeds the threshold, so a column
                # fails when its own rate does; should the record say the check failed while no
                # rate exceeds it, the worst column carries the failure, so the flags always
                # agree with ``failed_checks``.
                hi = c.max_null_rate
                col_ok = [ok or not r > hi for r in rates]
                if not ok and all(col_ok):
                    col_ok[max(range(len(rates)), key=rates.__getitem__)] = False
                for j, r in enumerate(rates):
                    v[f"ok{i}_{j}"] = col_ok[j]
                    v[f"actual{i}_{j}"] = _num(r)
                continue
            v[f"ok{i}"] = ok
            if c.kind == "unique":
                v[f"actual{i}"] = _num(rec.duplicate_rate)
            elif c.kind == "volume":
                v[f"actual{i}"] = str(rows)
            elif c.kind == "freshness":
                v[f"actual{i}"] = _num(rec.ended_at - window_end)
            elif c.kind == "accepted_range":
                v[f"actual{i}"] = _num(rec.value_mean)
            else:
                v[f"actual{i}"] = str(rec.schema_version)
        return v

    def events(self, a: _Asset, v: Mapping[str, Any]) -> tuple[Event, Event]:
        """The START and the terminal event of one run from its values."""
        producer = self.producer
        url = FACET_SCHEMA_URLS
        nominal = {
            "_producer": producer,
            "_schemaURL": url["nominalTime"],
            "nominalStartTime": v["nominalStart"],
            "nominalEndTime": v["nominalEnd"],
        }
        tags = [
            {"key": "trigger", "value": v["trigger"]},
            {"key": "attempt", "value": v["attempt"]},
            {"key": "window", "value": v["window"]},
        ]
        start_event = {
            "eventType": "START",
            "eventTime": v["startTime"],
            "producer": producer,
            "schemaURL": RUN_EVENT_SCHEMA_URL,
            "run": {
                "runId": v["runId"],
                "facets": {
                    "nominalTime": nominal,
                    "tags": {"_producer": producer, "_schemaURL": url["runTags"], "tags": tags},
                },
            },
            "job": a.job,
            "inputs": a.inputs,
            "outputs": [
                {"namespace": self.namespace, "name": a.name, "facets": {"schema": a.schema}}
            ],
        }
        end_tags = [*tags, {"key": "partition_state", "value": v["state"]}]
        run_facets: Event = {
            "nominalTime": nominal,
            "tags": {"_producer": producer, "_schemaURL": url["runTags"], "tags": end_tags},
        }
        output: Event = {"namespace": self.namespace, "name": a.name}
        if "rows" in v:  # COMPLETE
            output["facets"] = {
                "schema": a.schema,
                "version": {
                    "_producer": producer,
                    "_schemaURL": url["version"],
                    "datasetVersion": v["version"],
                },
                "dataQualityMetrics": self._metrics(a, v),
                "dataQualityAssertions": {
                    "_producer": producer,
                    "_schemaURL": url["dataQualityAssertions"],
                    "assertions": self._assertions(a, v),
                },
            }
            output["outputFacets"] = {
                "outputStatistics": {
                    "_producer": producer,
                    "_schemaURL": url["outputStatistics"],
                    "rowCount": v["rows"],
                }
            }
        else:  # FAIL
            output["facets"] = {"schema": a.schema}
            error: Event = {
                "_producer": producer,
                "_schemaURL": url["errorMessage"],
                "message": v["message"],
                "programmingLanguage": "python",
            }
            if "stackTrace" in v:
                error["stackTrace"] = v["stackTrace"]
            run_facets["errorMessage"] = error
        end_event = {
            "eventType": v["eventType"],
            "eventTime": v["endTime"],
            "producer": producer,
            "schemaURL": RUN_EVENT_SCHEMA_URL,
            "run": {"runId": v["runId"], "facets": run_facets},
            "job": a.job,
            "inputs": a.inputs,
            "outputs": [output],
        }
        return start_event, end_event

    def _metrics(self, a: _Asset, v: Mapping[str, Any]) -> Event:
        """The ``dataQualityMetrics`` facet of the written partition."""
        columns: Event = {}
        for j, col in enumerate(a.key_columns):
            key = f"nullCount{j}"
            columns[col] = {"nullCount": v[key]} if key in v else {}
        value: Event = {"count": v["rows"]}
        if "valueSum" in v:
            value["sum"] = v["valueSum"]
        columns[_VALUE_COLUMN] = value
        return {
            "_producer": self.producer,
            "_schemaURL": FACET_SCHEMA_URLS["dataQualityMetrics"],
            "rowCount": v["rows"],
            "columnMetrics": columns,
        }

    @staticmethod
    def _assertions(a: _Asset, v: Mapping[str, Any]) -> list[Event]:
        """One assertion per check, one per key column for ``not_null``."""
        out: list[Event] = []
        for c in a.checks:
            i = c.index
            if c.kind == "not_null":
                for j, col in enumerate(a.key_columns):
                    item = _assertion(c, v[f"ok{i}_{j}"], v[f"actual{i}_{j}"])
                    item["column"] = col
                    out.append(item)
                continue
            item = _assertion(c, v[f"ok{i}"], v[f"actual{i}"])
            if c.kind == "accepted_range":
                item["column"] = _VALUE_COLUMN
            out.append(item)
        return out


def _assertion(c: _Check, success: Any, actual: Any) -> Event:
    """One item of a ``dataQualityAssertions`` facet."""
    item: Event = {
        "assertion": c.kind,
        "success": success,
        "severity": c.severity,
        "name": c.name,
        "actual": actual,
    }
    if c.expected:
        item["expected"] = c.expected
    return item


def to_openlineage(
    records: Iterable[RunRecord],
    assets: Sequence[AssetSpec],
    *,
    namespace: str = "dataops-gym",
    start: datetime = DEFAULT_START,
    producer: str = DEFAULT_PRODUCER,
) -> Iterator[Event]:
    """Turn run records into OpenLineage run events, two per record, lazily.

    For each record, in the order given, yields a ``START`` event (``eventTime`` =
    ``start + started_at`` minutes) and then a ``COMPLETE`` event (status ``success``) or a
    ``FAIL`` event (``failed`` or ``killed``) at ``start + ended_at``. Times are ISO 8601 with
    milliseconds and the offset of ``start``. See the module docstring for the facets.

    Events share sub-objects (one asset's events share the job, the inputs and the schema facet;
    one run's two events share the ``nominalTime`` facet): treat them as read-only, or
    ``copy.deepcopy`` one before changing it.

    Args:
        records: run records, e.g. a world's run log.
        assets: the asset specs indexed like ``RunRecord.asset``, i.e. in the simulator's
            compiled (topological) order, ``[a.spec for a in world.assets]``, which need not be
            the order of ``PipelineSpec.assets``.
        namespace: OpenLineage namespace of the jobs and of the datasets.
        start: timezone-aware wall-clock time of simulated minute 0.
        producer: URI of the producer, used for the events and for every facet.

    Yields:
        JSON-ready event dicts, valid against the OpenLineage 2-0-2 ``RunEvent`` schema.

    Raises:
        ValueError: if ``start`` is naive, or a record names an unknown asset, has an unknown
            status, a failed-check index the asset does not have, or (if successful) a number
            of null rates other than the asset's number of key columns.
    """
    ex = EventBuilder(assets, namespace, start, producer)
    for rec in records:
        a = ex.asset(rec)
        start_event, end_event = ex.events(a, ex.values(rec, a))
        yield start_event
        yield end_event
