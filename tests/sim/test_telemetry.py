"""OpenLineage export of run records: event shapes, ordering, ids, files, and spec validity."""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openlineage_schema import (  # the fixtures openlineage_spec and openlineage_validator
    OpenLineageSpec,
    OpenLineageValidator,
    openlineage_spec_fixture,  # noqa: F401
    openlineage_validator_fixture,  # noqa: F401
)

from envs.sim.records import BLOCKED, FAILED, OK, WARN, RunRecord
from envs.sim.telemetry import (
    DEFAULT_START,
    FACET_SCHEMA_URLS,
    RUN_EVENT_SCHEMA_URL,
    export_jsonl,
    run_uuid,
    to_openlineage,
    write_jsonl,
)
from scenarios import load_pipeline
from scenarios.spec import AssetSpec, CheckSpec
from tests.conftest import ROOT

REPO = ROOT

ASSETS = [
    AssetSpec(
        name="orders_feed",
        layer="Source",
        every_min=60,
        key_columns=("order_id",),
        slots=0,
        owner="shop-platform",
        checks=(CheckSpec(kind="freshness", severity="warn"),),
    ),
    AssetSpec(
        name="customers_feed",
        layer="Source",
        every_min=60,
        key_columns=("customer_id",),
        slots=0,
        owner="crm",
    ),
    AssetSpec(
        name="stg_orders",
        layer="Transformation",
        upstream=("orders_feed", "customers_feed"),
        every_min=60,
        key_columns=("order_id", "customer_id"),
        criticality="high",
        checks=(
            CheckSpec(kind="not_null", max_null_rate=0.02),
            CheckSpec(kind="unique", severity="warn"),
            CheckSpec(kind="volume", volume_tolerance=0.5),
            CheckSpec(kind="accepted_range", min_value=10.0, max_value=500.0),
            CheckSpec(kind="schema", blocking=True),
            CheckSpec(kind="freshness"),
        ),
    ),
]
SOURCE, CUSTOMERS, STG = range(3)


def record(**kw: Any) -> RunRecord:
    """A successful, clean run of ``orders_feed`` for window 1, with fields overridden."""
    base: dict[str, Any] = {
        "run_id": 0,
        "asset": SOURCE,
        "window": 1,
        "attempt": 0,
        "trigger": "schedule",
        "scheduled_at": 65.0,
        "started_at": 65.0,
        "ended_at": 67.5,
        "status": "success",
        "rows": 10_000,
        "null_rates": (0.001,),
        "duplicate_rate": 0.0005,
        "schema_version": 1,
        "value_mean": 101.5,
        "value_std": 20.0,
        "cost": 0.07,
        "failed_checks": (),
        "partition_state": OK,
        "error_class": "",
        "error_message": "",
    }
    base.update(kw)
    return RunRecord(**base)


RECORDS = [
    record(run_id=0),
    record(run_id=1, asset=CUSTOMERS, null_rates=(0.0,), started_at=66.0, ended_at=68.25),
    # success with failing checks: not_null on customer_id (error) and unique (warn)
    record(
        run_id=2,
        asset=STG,
        scheduled_at=70.0,
        started_at=71.0,
        ended_at=74.0,
        rows=9_876,
        null_rates=(0.001, 0.25),
        duplicate_rate=0.01,
        value_mean=120.0,
        failed_checks=(0, 1),
        partition_state=WARN,
        error_message="checks failed: not_null, unique",
    ),
    # failed with an error
    record(
        run_id=3,
        asset=STG,
        window=2,
        scheduled_at=130.0,
        started_at=131.0,
        ended_at=161.0,
        status="failed",
        rows=0,
        null_rates=(),
        value_mean=0.0,
        partition_state=FAILED,
        error_class="TimeoutError",
        error_message="query exceeded its 30 min timeout",
    ),
    # killed, without any error text
    record(
        run_id=4,
        asset=CUSTOMERS,
        window=2,
        started_at=126.0,
        ended_at=140.0,
        status="killed",
        rows=0,
        null_rates=(),
        partition_state=FAILED,
    ),
    # a rerun of window 2 that passes; its blocking schema check then fails in another rerun
    record(
        run_id=5,
        asset=STG,
        window=2,
        attempt=1,
        trigger="rerun",
        started_at=170.0,
        ended_at=172.0,
        null_rates=(0.0, 0.0),
    ),
    record(
        run_id=6,
        asset=STG,
        window=2,
        attempt=2,
        trigger="human",
        started_at=180.0,
        ended_at=183.0,
        null_rates=(0.0, 0.0),
        schema_version=2,
        failed_checks=(4,),
        partition_state=BLOCKED,
        error_message="checks failed: schema",
    ),
]


def events_of(records: list[RunRecord] = RECORDS, **kw: Any) -> list[dict[str, Any]]:
    return list(to_openlineage(records, ASSETS, **kw))


def pairs(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return list(zip(events[0::2], events[1::2], strict=True))


def by_run(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        out.setdefault(e["run"]["runId"], []).append(e)
    return out


def output(event: dict[str, Any]) -> dict[str, Any]:
    (out,) = event["outputs"]
    return out


def retail_records(n_per_asset: int = 3) -> tuple[list[AssetSpec], list[RunRecord]]:
    """Records of every asset of the shipped retail topology: clean, all checks failing, failed."""
    specs = list(load_pipeline("retail").assets)
    records: list[RunRecord] = []
    for i, spec in enumerate(specs):
        keys = len(spec.key_columns)
        for k in range(n_per_asset):
            rid = len(records)
            t0 = 60.0 * (k + 1) + i
            if k % 3 == 2:
                rec = record(
                    run_id=rid, asset=i, window=k + 1, status="failed", rows=0, null_rates=(),
                    started_at=t0, ended_at=t0 + 5, error_class="PermissionError",
                    error_message=f"credentials expired for {spec.name}", partition_state=FAILED,
                )  # fmt: skip
            else:
                failing = tuple(range(len(spec.checks))) if k % 3 == 1 else ()
                rec = record(
                    run_id=rid, asset=i, window=k + 1, started_at=t0, ended_at=t0 + 3.5,
                    null_rates=tuple(0.3 if failing else 0.001 for _ in range(keys)),
                    failed_checks=failing, partition_state=WARN if failing else OK,
                )  # fmt: skip
            records.append(rec)
    return specs, records


# ----------------------------------------------------------------------------- shape and order


def test_two_events_per_record_start_first() -> None:
    events = events_of()
    assert len(events) == 2 * len(RECORDS)
    for rec, (start, end) in zip(RECORDS, pairs(events), strict=True):
        assert start["eventType"] == "START"
        expected = "COMPLETE" if rec.status == "success" else "FAIL"
        assert end["eventType"] == expected
        assert start["run"]["runId"] == end["run"]["runId"]
        assert start["job"]["name"] == end["job"]["name"] == ASSETS[rec.asset].name
        assert datetime.fromisoformat(start["eventTime"]) <= datetime.fromisoformat(
            end["eventTime"]
        )
    assert all(len(v) == 2 for v in by_run(events).values())


def test_top_level_fields() -> None:
    for e in events_of():
        assert e["schemaURL"] == RUN_EVENT_SCHEMA_URL
        assert e["producer"] == "https://github.com/dataops-gym/dataops-gym"
        assert e["job"]["namespace"] == "dataops-gym"
        for ds in e["inputs"] + e["outputs"]:
            assert ds["namespace"] == "dataops-gym"
        for facets in _all_facets(e):
            for facet in facets.values():
                assert facet["_producer"] == e["producer"]
                assert facet["_schemaURL"] in FACET_SCHEMA_URLS.values()


def _all_facets(e: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield e["run"].get("facets", {})
    yield e["job"].get("facets", {})
    for ds in e["inputs"] + e["outputs"]:
        yield ds.get("facets", {})
        yield ds.get("inputFacets", {})
        yield ds.get("outputFacets", {})


def test_event_times_are_start_plus_simulated_minutes() -> None:
    events = events_of()
    for rec, (start, end) in zip(RECORDS, pairs(events), strict=True):
        assert datetime.fromisoformat(start["eventTime"]) == DEFAULT_START + timedelta(
            minutes=rec.started_at
        )
        assert datetime.fromisoformat(end["eventTime"]) == DEFAULT_START + timedelta(
            minutes=rec.ended_at
        )
    assert events[0]["eventTime"] == "2026-01-05T01:05:00.000+00:00"
    assert events[3]["eventTime"] == "2026-01-05T01:08:15.000+00:00"


def test_custom_start_keeps_its_offset_and_naive_start_is_refused() -> None:
    cet = timezone(timedelta(hours=1))
    e = events_of(RECORDS[:1], start=datetime(2026, 3, 2, 8, 0, tzinfo=cet))
    assert e[0]["eventTime"] == "2026-03-02T09:05:00.000+01:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        events_of(start=datetime(2026, 1, 5))


def test_run_ids_are_deterministic_uuid5() -> None:
    a, b = events_of(), events_of()
    assert [e["run"]["runId"] for e in a] == [e["run"]["runId"] for e in b]
    for rec, (start, _) in zip(RECORDS, pairs(a), strict=True):
        expected = uuid.uuid5(
            uuid.NAMESPACE_URL, f"dataops-gym/{ASSETS[rec.asset].name}/{rec.run_id}"
        )
        assert start["run"]["runId"] == str(expected)
        assert uuid.UUID(start["run"]["runId"]).version == 5
    assert len(by_run(a)) == len(RECORDS)
    other = events_of(namespace="staging")
    assert not {e["run"]["runId"] for e in other} & {e["run"]["runId"] for e in a}


@pytest.mark.parametrize(
    ("namespace", "asset", "run_id"),
    [("dataops-gym", "a", 0), ("x/y", "b_c", 123456789), ("ünï", "z9", 2**40)],
)
def test_run_uuid_equals_uuid5(namespace: str, asset: str, run_id: int) -> None:
    assert run_uuid(namespace, asset, run_id) == str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{asset}/{run_id}")
    )


def test_inputs_are_upstream_assets_and_output_is_the_asset() -> None:
    events = events_of()
    stg = [e for e in events if e["job"]["name"] == "stg_orders"]
    for e in stg:
        assert [d["name"] for d in e["inputs"]] == ["orders_feed", "customers_feed"]
        assert output(e)["name"] == "stg_orders"
    source = [e for e in events if e["job"]["name"] == "orders_feed"]
    assert all(e["inputs"] == [] for e in source)


def test_job_facets() -> None:
    e = events_of()[4]  # START of stg_orders
    facets = e["job"]["facets"]
    assert facets["jobType"]["processingType"] == "BATCH"
    assert facets["jobType"]["integration"] == "DATAOPS_GYM"
    assert facets["jobType"]["jobType"] == "ASSET"
    assert facets["ownership"]["owners"] == [
        {"name": "team:data-engineering", "type": "MAINTAINER"}
    ]
    assert {t["key"]: t["value"] for t in facets["tags"]["tags"]} == {
        "layer": "Transformation",
        "criticality": "high",
    }


def test_nominal_time_is_the_window_end_and_tags_carry_the_run_context() -> None:
    events = events_of()
    start, end = events[10], events[11]  # run 5: rerun of window 2 of stg_orders
    for e in (start, end):
        nominal = e["run"]["facets"]["nominalTime"]
        assert nominal["nominalStartTime"] == "2026-01-05T02:00:00.000+00:00"
        assert nominal["nominalEndTime"] == "2026-01-05T03:00:00.000+00:00"
    assert {t["key"]: t["value"] for t in start["run"]["facets"]["tags"]["tags"]} == {
        "trigger": "rerun",
        "attempt": "1",
        "window": "2",
    }
    end_tags = {t["key"]: t["value"] for t in end["run"]["facets"]["tags"]["tags"]}
    assert end_tags["partition_state"] == "ok"
    blocked = events[13]["run"]["facets"]["tags"]["tags"]
    assert {t["key"]: t["value"] for t in blocked}["partition_state"] == "blocked"


# ----------------------------------------------------------------------------- COMPLETE facets


def test_complete_event_output_facets() -> None:
    end = events_of()[5]  # run 2: stg_orders succeeded with failing checks
    assert end["eventType"] == "COMPLETE"
    out = output(end)
    assert set(out["facets"]) == {
        "schema",
        "version",
        "dataQualityMetrics",
        "dataQualityAssertions",
    }
    assert [f["name"] for f in out["facets"]["schema"]["fields"]] == [
        "order_id",
        "customer_id",
        "value",
    ]
    assert out["facets"]["version"]["datasetVersion"] == "1"
    assert out["outputFacets"]["outputStatistics"]["rowCount"] == 9_876
    metrics = out["facets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == 9_876
    assert metrics["columnMetrics"] == {
        "order_id": {"nullCount": round(9_876 * 0.001)},
        "customer_id": {"nullCount": round(9_876 * 0.25)},
        "value": {"count": 9_876, "sum": pytest.approx(9_876 * 120.0)},
    }
    assert "errorMessage" not in end["run"]["facets"]


def test_assertions_follow_failed_checks() -> None:
    end = events_of()[5]
    assertions = output(end)["facets"]["dataQualityAssertions"]["assertions"]
    summary = [(a["assertion"], a.get("column"), a["success"], a["severity"]) for a in assertions]
    assert summary == [
        ("not_null", "order_id", True, "error"),
        ("not_null", "customer_id", False, "error"),
        ("unique", None, False, "warn"),
        ("volume", None, True, "error"),
        ("accepted_range", "value", True, "error"),
        ("schema", None, True, "error"),
        ("freshness", None, True, "error"),
    ]
    named = {a["name"]: a for a in assertions}
    assert named["stg_orders.unique[1]"]["actual"] == "0.01"
    assert named["stg_orders.unique[1]"]["expected"] == "duplicate_rate <= 0.005"
    assert named["stg_orders.accepted_range[3]"]["expected"] == (
        "value_mean >= 10 and value_mean <= 500"
    )
    assert named["stg_orders.freshness[5]"]["actual"] == "14"  # ended 74, window ends at 60
    assert "expected" not in named["stg_orders.schema[4]"]
    # the blocked rerun: only the schema check failed, with the new schema version
    blocked = output(events_of()[13])["facets"]
    assert blocked["version"]["datasetVersion"] == "2"
    failing = [
        a["name"] for a in blocked["dataQualityAssertions"]["assertions"] if not a["success"]
    ]
    assert failing == ["stg_orders.schema[4]"]


def test_not_null_failure_is_always_attributed_to_a_column() -> None:
    # the record says not_null failed although no rate exceeds the threshold: the worst column
    # carries the failure, so the assertions never contradict failed_checks
    rec = record(asset=STG, null_rates=(0.004, 0.009), failed_checks=(0,), partition_state=WARN)
    end = events_of([rec])[1]
    flags = [
        (a["column"], a["success"])
        for a in output(end)["facets"]["dataQualityAssertions"]["assertions"]
        if a["assertion"] == "not_null"
    ]
    assert flags == [("order_id", True), ("customer_id", False)]


def test_assets_without_checks_report_an_empty_assertion_list() -> None:
    end = events_of()[3]  # customers_feed has no checks
    assert output(end)["facets"]["dataQualityAssertions"]["assertions"] == []


def test_non_finite_statistics_are_left_out() -> None:
    rec = record(null_rates=(float("nan"),), value_mean=float("inf"))
    metrics = output(events_of([rec])[1])["facets"]["dataQualityMetrics"]["columnMetrics"]
    assert metrics == {"order_id": {}, "value": {"count": 10_000}}


# ----------------------------------------------------------------------------- FAIL facets


def test_failed_run_reports_its_error() -> None:
    events = events_of()
    end = events[7]  # run 3: failed with TimeoutError
    assert end["eventType"] == "FAIL"
    error = end["run"]["facets"]["errorMessage"]
    assert error["message"] == "query exceeded its 30 min timeout"
    assert error["programmingLanguage"] == "python"
    assert error["stackTrace"] == "TimeoutError: query exceeded its 30 min timeout"
    out = output(end)
    assert set(out["facets"]) == {"schema"}
    assert "outputFacets" not in out


def test_killed_run_fails_with_a_default_message() -> None:
    end = events_of()[9]  # run 4: killed, no error text
    assert end["eventType"] == "FAIL"
    error = end["run"]["facets"]["errorMessage"]
    assert error["message"] == "run killed"
    assert "stackTrace" not in error
    tags = {t["key"]: t["value"] for t in end["run"]["facets"]["tags"]["tags"]}
    assert tags["partition_state"] == "failed"


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("rec", "message"),
    [
        (record(asset=3), "asset index 3 out of range"),
        (record(status="skipped"), "status 'skipped'"),
        (record(failed_checks=(1,)), "failed check index 1"),
        (record(null_rates=(0.1, 0.2)), "2 null rates"),
    ],
)
def test_inconsistent_records_are_refused(rec: RunRecord, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        events_of([rec])


def test_export_is_lazy() -> None:
    def endless() -> Iterator[RunRecord]:
        for i in itertools.count():
            yield record(run_id=i, started_at=float(i), ended_at=i + 1.0)

    first = list(itertools.islice(to_openlineage(endless(), ASSETS), 6))
    assert [e["eventType"] for e in first] == ["START", "COMPLETE"] * 3


# ----------------------------------------------------------------------------- files


def test_write_jsonl_is_compact_sorted_and_deterministic(tmp_path: Path) -> None:
    events = events_of()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert write_jsonl(a, events) == len(events)
    assert write_jsonl(b, to_openlineage(RECORDS, ASSETS)) == len(events)
    assert a.read_bytes() == b.read_bytes()
    lines = a.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(events)
    for line, event in zip(lines, events, strict=True):
        assert json.loads(line) == event
        assert line == json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_write_jsonl_refuses_nan(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_jsonl(tmp_path / "x.jsonl", [{"x": float("nan")}])


def test_export_jsonl_writes_the_same_bytes(tmp_path: Path) -> None:
    tricky = [
        record(run_id=100, asset=STG, status="failed", null_rates=(), rows=0,
               error_class="ValueError", error_message='bad "value" 100% {x} é\n\x00\x01tab\t',
               partition_state=FAILED),
        record(run_id=101, asset=STG, null_rates=(np.float64(0.5), 0.0), failed_checks=(0, 5),
               value_mean=np.float64(1e300), rows=np.int64(10**6), trigger='{"x": "%s"}'),
        record(run_id=102, null_rates=(float("nan"),), value_mean=float("nan")),
        record(run_id=103, asset=CUSTOMERS, status="killed", null_rates=(), error_class="Kill"),
    ]  # fmt: skip
    specs, retail = retail_records()
    for recs, assets in ((RECORDS + tricky, ASSETS), (retail, specs)):
        kw: dict[str, Any] = {"namespace": "ns/x", "start": datetime(2025, 6, 1, tzinfo=UTC)}
        slow, fast = tmp_path / "slow.jsonl", tmp_path / "fast.jsonl"
        n = write_jsonl(slow, to_openlineage(recs, assets, **kw))
        assert export_jsonl(fast, recs, assets, **kw) == n == 2 * len(recs)
        assert fast.read_bytes() == slow.read_bytes()


# ----------------------------------------------------------------------------- spec validity


def test_every_event_validates_against_the_official_schemas(
    openlineage_validator: OpenLineageValidator,
) -> None:
    for e in events_of():
        openlineage_validator(e)
    specs, retail = retail_records()
    for e in to_openlineage(retail, specs):
        openlineage_validator(e)


def test_facet_schema_urls_are_the_spec_ids(openlineage_spec: OpenLineageSpec) -> None:
    for name, url in FACET_SCHEMA_URLS.items():
        base, _, pointer = url.partition("#")
        assert base in openlineage_spec.documents, f"{name}: {base} is not a spec $id"
        definition = openlineage_spec.resolve(url)
        assert pointer.startswith("/$defs/") and "allOf" in definition, name
    assert RUN_EVENT_SCHEMA_URL.partition("#")[0] == openlineage_spec.event_schema_id


def test_data_quality_facets_sit_where_the_spec_allows(
    openlineage_spec: OpenLineageSpec,
) -> None:
    def base(url: str) -> str:
        return openlineage_spec.resolve(url)["allOf"][0]["$ref"].rsplit("/", 1)[-1]

    assert base(FACET_SCHEMA_URLS["dataQualityMetrics"]) == "DatasetFacet"
    assert base(FACET_SCHEMA_URLS["outputStatistics"]) == "OutputDatasetFacet"
    # the spec slip the validator tolerates (OpenLineage issue #1876)
    assert base(FACET_SCHEMA_URLS["dataQualityAssertions"]) == "InputDatasetFacet"


@pytest.mark.parametrize(
    ("breakage", "problem"),
    [
        (lambda e: e["run"].update(runId="run-17"), "is not a 'uuid'"),
        (lambda e: e.update(eventTime="2026-01-05 01:08:15"), "is not a 'date-time'"),
        (lambda e: e.update(eventType="DONE"), "is not one of"),
        (lambda e: e["run"]["facets"]["errorMessage"].pop("programmingLanguage"), "required"),
        (lambda e: e["run"]["facets"]["errorMessage"].pop("_producer"), "'_producer'"),
        (
            lambda e: e["run"]["facets"].update(oops=e["run"]["facets"].pop("errorMessage")),
            "keyed ['errorMessage']",
        ),
        (
            lambda e: (
                e["outputs"][0]
                .setdefault("outputFacets", {})
                .update(nominalTime=e["run"]["facets"]["nominalTime"])
            ),
            "must extend OutputDatasetFacet",
        ),
        (
            lambda e: e["run"]["facets"]["errorMessage"].update(
                _schemaURL="https://openlineage.io/spec/facets/9-9-9/X.json#/$defs/X"
            ),
            "does not resolve",
        ),
    ],
)
def test_validator_catches_broken_events(
    openlineage_validator: OpenLineageValidator, breakage: Any, problem: str
) -> None:
    event = copy.deepcopy(events_of()[7])  # a FAIL event
    openlineage_validator(event)
    breakage(event)
    with pytest.raises(AssertionError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        openlineage_validator(event)


def test_validator_checks_dataset_facets_against_their_own_schema(
    openlineage_validator: OpenLineageValidator,
) -> None:
    event = copy.deepcopy(events_of()[5])  # a COMPLETE event
    output(event)["facets"]["dataQualityMetrics"]["rowCount"] = "many"
    del output(event)["facets"]["dataQualityAssertions"]["assertions"][0]["success"]
    problems = openlineage_validator.errors(event)
    assert any(
        "dataQualityMetrics" in p and "'many' is not of type 'integer'" in p for p in problems
    )
    assert any("dataQualityAssertions" in p and "'success' is a required" in p for p in problems)


# ----------------------------------------------------------------------------- dependencies


def test_telemetry_imports_no_training_stack() -> None:
    code = (
        "import sys, envs.sim.telemetry\n"
        "bad = {'gymnasium', 'stable_baselines3', 'hydra', 'omegaconf', 'mlflow', 'torch'}\n"
        "print(sorted(bad & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
