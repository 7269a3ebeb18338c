"""Export run records as OpenLineage run events (spec 2-0-2), as plain JSON-ready dicts.

Each :class:`~envs.sim.records.RunRecord` becomes two events: ``START`` at ``started_at`` and
``COMPLETE`` (status ``success``) or ``FAIL`` (``failed`` or ``killed``) at ``ended_at``. The job
is the asset; its inputs are the upstream assets and its single output is the asset itself.

Facet placement (the ``_schemaURL`` of every facet is the ``$id`` of its definition in the
OpenLineage spec files, pinned below; ``tests/sim/test_telemetry.py`` checks them against the
local copy of the spec):

* job ``facets``: ``jobType`` (BATCH / DATAOPS_GYM / ASSET), ``ownership`` (the owning team) and
  ``tags`` (layer and criticality) on every event.
* run ``facets``: ``nominalTime`` on every event (the partition window end, and the next window
  end as the excluded nominal end); ``tags`` (trigger, attempt, window; plus the resulting
  partition state on the terminal event); ``errorMessage`` on ``FAIL``.
* output dataset ``facets``: ``schema`` (key columns and ``value``) on every event; on
  ``COMPLETE`` also ``version`` (the written schema version), ``dataQualityMetrics`` and
  ``dataQualityAssertions``. The metrics use ``DataQualityMetricsDatasetFacet``, a plain
  ``DatasetFacet`` that the spec allows on any dataset, because they describe the partition this
  run *wrote*; the input-only ``DataQualityMetricsInputDatasetFacet`` would require listing the
  asset as its own input. ``DataQualityAssertionsDatasetFacet`` formally extends
  ``InputDatasetFacet`` (an acknowledged spec slip, OpenLineage issue #1876, with a fix proposed
  to make it a ``DatasetFacet``); both bases are the same ``BaseFacet`` shape, so it validates in
  a dataset's ``facets``, which is where assertions about the written partition belong.
* output dataset ``outputFacets``: ``outputStatistics`` (``rowCount``) on ``COMPLETE`` only; a
  failed or killed run delivers no partition.

For speed, events share sub-objects: one asset's events share the job, inputs and schema facet,
and the two events of one run share the ``nominalTime`` facet. Treat events as read-only, or
``copy.deepcopy`` one before changing it.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from envs.sim.records import PARTITION_STATES, RunRecord
from scenarios.spec import AssetSpec, CheckSpec

__all__ = [
    "DEFAULT_PRODUCER",
    "DEFAULT_START",
    "FACET_SCHEMA_URLS",
    "RUN_EVENT_SCHEMA_URL",
    "run_uuid",
    "to_openlineage",
    "write_jsonl",
]

Event = dict[str, Any]
"""One OpenLineage run event as a JSON-ready dict."""

DEFAULT_START: Final = datetime(2026, 1, 5, tzinfo=UTC)
"""Wall-clock time of simulated minute 0 (a Monday)."""
DEFAULT_PRODUCER: Final = "https://github.com/dataops-gym/dataops-gym"
RUN_EVENT_SCHEMA_URL: Final = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

_SPEC: Final = "https://openlineage.io/spec/facets/"
FACET_SCHEMA_URLS: Final[Mapping[str, str]] = {
    # facet key -> "$id#/$defs/<Definition>" of the spec's facets/*.json (OpenLineage 2-0-2).
    "jobType": f"{_SPEC}2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "ownership": f"{_SPEC}1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet",
    "jobTags": f"{_SPEC}1-0-0/TagsJobFacet.json#/$defs/TagsJobFacet",
    "nominalTime": f"{_SPEC}1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
    "runTags": f"{_SPEC}1-0-0/TagsRunFacet.json#/$defs/TagsRunFacet",
    "errorMessage": f"{_SPEC}1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "schema": f"{_SPEC}1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "version": f"{_SPEC}1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "dataQualityMetrics": (
        f"{_SPEC}1-0-0/DataQualityMetricsDatasetFacet.json#/$defs/DataQualityMetricsDatasetFacet"
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
"""Schema URL of each facet this module emits (``jobTags``/``runTags`` are both keyed ``tags``)."""

_INTEGRATION: Final = "DATAOPS_GYM"
_VALUE_COLUMN: Final = "value"
_TERMINAL: Final = {"success": "COMPLETE", "failed": "FAIL", "killed": "FAIL"}


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
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{asset}/{run_id}"))


def _num(x: float) -> str:
    """Format a number for an assertion's ``expected``/``actual`` strings."""
    return f"{x:.6g}"


class _Check:
    """One compiled check: its assertion name, kind, severity and expected-value text."""

    __slots__ = ("expected", "index", "kind", "name", "severity", "spec")

    def __init__(self, asset: str, index: int, spec: CheckSpec, sla_min: float) -> None:
        self.index = index
        self.spec = spec
        self.kind = spec.kind
        self.severity = spec.severity
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
            parts = []
            if spec.min_value is not None:
                parts.append(f"value_mean >= {_num(spec.min_value)}")
            if spec.max_value is not None:
                parts.append(f"value_mean <= {_num(spec.max_value)}")
            expected = " and ".join(parts)
        else:  # schema: the expected version is the simulator's hidden state
            expected = ""
        self.expected = expected


class _Template:
    """Per-asset parts of the events, built once per export."""

    __slots__ = (
        "checks",
        "every_min",
        "inputs",
        "job",
        "job_start",
        "key_columns",
        "name",
        "schema",
    )

    def __init__(self, spec: AssetSpec, namespace: str, producer: str) -> None:
        self.name = spec.name
        self.every_min = float(spec.every_min)
        self.key_columns = spec.key_columns
        self.checks = [
            _Check(spec.name, i, c, spec.freshness_sla_min) for i, c in enumerate(spec.checks)
        ]
        job_type: Event = {
            "_producer": producer,
            "_schemaURL": FACET_SCHEMA_URLS["jobType"],
            "processingType": "BATCH",
            "integration": _INTEGRATION,
            "jobType": "ASSET",
        }
        self.job: Event = {
            "namespace": namespace,
            "name": spec.name,
            "facets": {"jobType": job_type},
        }
        self.job_start: Event = {
            "namespace": namespace,
            "name": spec.name,
            "facets": {
                "jobType": job_type,
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
    ``FAIL`` event (``failed`` or ``killed``) at ``start + ended_at``. See the module docstring for
    where each facet goes.

    Args:
        records: run records, e.g. a world's run log.
        assets: the asset specs indexed like ``RunRecord.asset``, i.e. in the simulator's
            compiled (topological) order: ``[a.spec for a in world.assets]``, not necessarily the
            order of ``PipelineSpec.assets``.
        namespace: OpenLineage namespace of the jobs and of the datasets.
        start: timezone-aware wall-clock time of simulated minute 0.
        producer: URI of the producer, used for the events and for every facet.

    Yields:
        JSON-ready event dicts valid against the OpenLineage 2-0-2 ``RunEvent`` schema.

    Raises:
        ValueError: if ``start`` is naive, or a record names an unknown asset, has an unknown
            status, has a failed-check index the asset does not have, or (on success) a
            ``null_rates`` length that differs from the asset's key columns.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start: expected a timezone-aware datetime, got naive {start!r}")
    templates = [_Template(a, namespace, producer) for a in assets]
    n_assets = len(templates)
    url = FACET_SCHEMA_URLS
    minute = timedelta(minutes=1)

    def iso(minutes: float) -> str:
        return (start + minutes * minute).isoformat(timespec="milliseconds")

    for rec in records:
        if not 0 <= rec.asset < n_assets:
            raise ValueError(
                f"record run_id={rec.run_id}: asset index {rec.asset} out of range "
                f"0..{n_assets - 1}; pass the specs in the simulator's asset order"
            )
        terminal = _TERMINAL.get(rec.status)
        if terminal is None:
            raise ValueError(
                f"record run_id={rec.run_id}: status {rec.status!r}; expected one of "
                f"{', '.join(_TERMINAL)}"
            )
        t = templates[rec.asset]
        run_id = run_uuid(namespace, t.name, rec.run_id)
        window_end = rec.window * t.every_min
        nominal = {
            "_producer": producer,
            "_schemaURL": url["nominalTime"],
            "nominalStartTime": iso(window_end),
            "nominalEndTime": iso(window_end + t.every_min),
        }
        run_tags = [
            {"key": "trigger", "value": rec.trigger},
            {"key": "attempt", "value": str(rec.attempt)},
            {"key": "window", "value": str(rec.window)},
        ]
        yield {
            "eventType": "START",
            "eventTime": iso(rec.started_at),
            "producer": producer,
            "schemaURL": RUN_EVENT_SCHEMA_URL,
            "run": {
                "runId": run_id,
                "facets": {
                    "nominalTime": nominal,
                    "tags": {"_producer": producer, "_schemaURL": url["runTags"], "tags": run_tags},
                },
            },
            "job": t.job_start,
            "inputs": t.inputs,
            "outputs": [{"namespace": namespace, "name": t.name}],
        }

        state = (
            PARTITION_STATES[rec.partition_state]
            if 0 <= rec.partition_state < len(PARTITION_STATES)
            else str(rec.partition_state)
        )
        end_tags = [
            *run_tags,
            {"key": "partition_state", "value": state},
        ]
        run_facets: Event = {
            "nominalTime": nominal,
            "tags": {"_producer": producer, "_schemaURL": url["runTags"], "tags": end_tags},
        }
        output: Event = {"namespace": namespace, "name": t.name}
        if terminal == "COMPLETE":
            if len(rec.null_rates) != len(t.key_columns):
                raise ValueError(
                    f"record run_id={rec.run_id}: {len(rec.null_rates)} null rates for asset "
                    f"{t.name!r} with key columns {t.key_columns}; expected one per key column"
                )
            output["facets"] = {
                "schema": t.schema,
                "version": {
                    "_producer": producer,
                    "_schemaURL": url["version"],
                    "datasetVersion": str(rec.schema_version),
                },
                "dataQualityMetrics": _metrics(rec, t, producer),
                "dataQualityAssertions": {
                    "_producer": producer,
                    "_schemaURL": url["dataQualityAssertions"],
                    "assertions": _assertions(rec, t),
                },
            }
            output["outputFacets"] = {
                "outputStatistics": {
                    "_producer": producer,
                    "_schemaURL": url["outputStatistics"],
                    "rowCount": int(rec.rows),
                }
            }
        else:
            message = rec.error_message or (
                "run killed" if rec.status == "killed" else "run failed"
            )
            error: Event = {
                "_producer": producer,
                "_schemaURL": url["errorMessage"],
                "message": message,
                "programmingLanguage": "python",
            }
            if rec.error_class:
                error["stackTrace"] = f"{rec.error_class}: {message}"
            run_facets["errorMessage"] = error
        yield {
            "eventType": terminal,
            "eventTime": iso(rec.ended_at),
            "producer": producer,
            "schemaURL": RUN_EVENT_SCHEMA_URL,
            "run": {"runId": run_id, "facets": run_facets},
            "job": t.job,
            "inputs": t.inputs,
            "outputs": [output],
        }


def _metrics(rec: RunRecord, t: _Template, producer: str) -> Event:
    """The ``dataQualityMetrics`` facet of a successful run's output partition."""
    rows = int(rec.rows)
    columns: Event = {}
    for col, rate in zip(t.key_columns, rec.null_rates, strict=True):
        columns[col] = {"nullCount": round(rows * rate)} if math.isfinite(rate) else {}
    value: Event = {"count": rows}
    total = rows * rec.value_mean
    if math.isfinite(total):
        value["sum"] = total
    columns[_VALUE_COLUMN] = value
    return {
        "_producer": producer,
        "_schemaURL": FACET_SCHEMA_URLS["dataQualityMetrics"],
        "rowCount": rows,
        "columnMetrics": columns,
    }


def _assertions(rec: RunRecord, t: _Template) -> list[Event]:
    """One assertion per check (per key column for ``not_null``); ``success`` from the record."""
    failed = set(rec.failed_checks)
    n_checks = len(t.checks)
    for i in failed:
        if not 0 <= i < n_checks:
            raise ValueError(
                f"record run_id={rec.run_id}: failed check index {i} but asset {t.name!r} has "
                f"{n_checks} checks"
            )
    out: list[Event] = []
    for c in t.checks:
        ok = c.index not in failed
        if c.kind == "not_null":
            # The check fails when the worst key column exceeds the threshold, so a column fails
            # if its own rate does; if the record says the check failed but no rate exceeds it,
            # the worst column carries the failure (success flags always agree with the record).
            hi = c.spec.max_null_rate
            rates = rec.null_rates
            col_ok = [ok or not r > hi for r in rates]
            if not ok and all(col_ok):
                col_ok[max(range(len(rates)), key=rates.__getitem__)] = False
            for col, r, good in zip(t.key_columns, rates, col_ok, strict=True):
                a = _assertion(c, good, _num(r))
                a["column"] = col
                out.append(a)
            continue
        if c.kind == "unique":
            actual = _num(rec.duplicate_rate)
        elif c.kind == "volume":
            actual = str(int(rec.rows))
        elif c.kind == "freshness":
            actual = _num(rec.ended_at - rec.window * t.every_min)
        elif c.kind == "accepted_range":
            actual = _num(rec.value_mean)
        else:
            actual = str(rec.schema_version)
        a = _assertion(c, ok, actual)
        if c.kind == "accepted_range":
            a["column"] = _VALUE_COLUMN
        out.append(a)
    return out


def _assertion(c: _Check, success: bool, actual: str) -> Event:
    """One DataQualityAssertions item."""
    a: Event = {
        "assertion": c.kind,
        "success": success,
        "severity": c.severity,
        "name": c.name,
        "actual": actual,
    }
    if c.expected:
        a["expected"] = c.expected
    return a


def write_jsonl(path: str | os.PathLike[str], events: Iterable[Mapping[str, Any]]) -> int:
    """Write events as JSON Lines: one compact object per line, keys sorted, UTF-8.

    The output is byte-for-byte deterministic for the same events. Non-finite floats are refused
    (they are not JSON).

    Args:
        path: the file to create or overwrite.
        events: the events, e.g. from :func:`to_openlineage`.

    Returns:
        The number of events written.

    Raises:
        ValueError: if an event holds a NaN or infinite float.
    """
    encode = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        write = f.write
        for event in events:
            write(encode(event))
            write("\n")
            n += 1
    return n
