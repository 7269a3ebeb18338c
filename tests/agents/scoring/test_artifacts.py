"""The BP-0005 artifacts of a hand-made run: every file, readable, no leaked reprs or NaNs."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from agents.records import (
    Alert,
    Diagnosis,
    EpisodeResult,
    IncidentSummary,
    RemediationStep,
    RootCandidate,
)
from agents.scoring.artifact_sections import fmt_dur, fmt_time
from agents.scoring.artifacts import FULL_DETAIL_EPISODES, write_artifacts, write_tables
from agents.scoring.scorecard import scorecard
from envs.sim.records import ActionRecord, FaultRecord
from scenarios import vocab
from tests.conftest import ARTIFACT_DOCS, NAN

NAMES = ["crm_api", "ingest_crm", "stg_customers", "fct_revenue", "revenue_dashboard"]
LAYERS = list(vocab.LAYERS)
FILES = list(ARTIFACT_DOCS)
TARGETS = ["< 5 min", "< 15 min", "< 30 min", "< 2 hours"]


def _fault(fid, cause, issue, root, onset, resolved, by) -> FaultRecord:
    return FaultRecord(
        fid, issue, "credentials_expired", cause, root, onset, "critical", 1.0, ("escalate",),
        "escalate", (root, 4), onset + 2.0, NAN, NAN, resolved, by, -1, -1, onset + 2.0,
    )  # fmt: skip


def _alert(aid, t, asset, signal, incident) -> Alert:
    return Alert(
        aid, t, asset, NAMES[asset], LAYERS[asset], signal, 42.5, 15.0,
        "AuthError: 401 Unauthorized | token expired", incident, 3, 12,
    )  # fmt: skip


def _summary(iid, opened, diagnosed, resolved, resolution) -> IncidentSummary:
    return IncidentSummary(
        iid, 1, NAMES[1], LAYERS[1], opened, diagnosed, resolved, "late_arrival", "critical", 1,
        "expired_credentials", resolution, resolution != "open", ("retry", "escalate"), 2, (),
        None, NAN,
    )  # fmt: skip


def make_episode(seed: int) -> EpisodeResult:
    faults = [
        _fault(0, "expired_credentials", "late_arrival", 1, 600.0, 905.0, "human"),
        _fault(1, "transient_network", "late_arrival", 1, 2000.0, NAN, ""),
    ]
    alerts = [
        _alert(0, 604.0, 1, "run_failure", 101),
        _alert(1, 640.0, 4, "freshness", 101),
        _alert(2, 1500.0, 3, "volume", 202),  # no fault then: a false alarm
        _alert(3, 2003.0, 1, "run_failure", 303),
    ]
    cands = (
        RootCandidate(1, NAMES[1], 0.9, "first failing asset upstream of the alerts"),
        RootCandidate(0, NAMES[0], 0.4, "source of ingest_crm"),
    )
    diagnoses = [
        Diagnosis(
            101, 610.0, "late_arrival", "credentials_expired", "Ingestion", "critical",
            "escalate", "escalate", "retry", 0.72, ("AuthError in 3 runs", "no retry succeeded"),
            cands, "critical severity: escalate",
        ),
        Diagnosis(
            202, 1510.0, "quality_anomaly", "volume_drop", "Warehouse", "minor", "auto_fix",
            "wait", "wait", 0.35, (), (), "",
        ),
    ]  # fmt: skip
    steps = [
        RemediationStep(
            101, 1, 0, "retry", 1, NAMES[1], (("attempts", 2), ("backoff_min", 5.0)), 612.0,
            640.0, "no_effect", False, "failed", "failed", -1, 1.5, "playbook rung 1: retry",
        ),
        RemediationStep(
            101, 2, 1, "escalate", 1, NAMES[1], (), 641.0, 905.0, "mitigated", True, "failed",
            "ok", -1, 90.0, "retries exhausted",
        ),
        RemediationStep(
            202, 1, 2, "scale_warehouse", -1, "", (("slots", 8),), 1512.0, 1514.0, "no_effect",
            False, "slots=4", "slots=8", 2, 3.0, "queue above band",
        ),
    ]  # fmt: skip
    actions = [
        ActionRecord(s.action_id, s.kind, s.asset, s.params, s.issued_at, s.done_at, s.cost,
                     0.0, s.outcome, (), -1, s.before, s.after)
        for s in steps
    ]  # fmt: skip
    incidents = [
        _summary(101, 604.0, 610.0, 905.0, "escalated"),
        _summary(202, 1500.0, 1510.0, NAN, "open"),
        _summary(303, 2003.0, NAN, NAN, "open"),
    ]
    parts = pd.DataFrame(
        [(4, NAMES[4], "Delivery", 1, 60.0, 120.0, "ok", 100.0, 0.0, False),
         (4, NAMES[4], "Delivery", 2, 720.0, 780.0, "ok", 910.0, 130.0, True)],
        columns=["asset", "asset_name", "layer", "window", "window_end", "deadline", "state",
                 "arrived_at", "late_min", "sla_breached"],
    )  # fmt: skip
    return EpisodeResult(
        "sc0001", seed, "rules", 2.0, 2880.0, faults, alerts, diagnoses, steps, incidents,
        actions, parts, NAMES, LAYERS, {}, 55.0, 264.0, {0: (True, True)}, (),
    )  # fmt: skip


def _render(tmp_path: Path, n: int) -> tuple[list[Path], dict[str, str]]:
    eps = [make_episode(seed) for seed in range(n)]
    paths = write_artifacts(
        tmp_path, eps, scorecard(eps), scenario_title="SC-0001: Late Data Arrival", org="rules"
    )
    return paths, {p.relative_to(tmp_path).as_posix(): p.read_text("utf-8") for p in paths}


def test_every_artifact_is_written_and_clean(tmp_path: Path) -> None:
    paths, docs = _render(tmp_path, 1)
    assert sorted(docs) == sorted(FILES) and all(p.exists() for p in paths)
    leak = re.compile(r"\bnan\b|\bNaN\b|\bNone\b|NamedTuple\(|RootCandidate\(|Alert\(|\(\(")
    for name, text in docs.items():
        assert text.startswith("# "), name
        assert not leak.search(text), (name, leak.search(text))
        if name.startswith(("01_", "09_")):
            for iid in (101, 202, 303):
                assert f"{iid}" in text, (name, iid)
    for name in ("00_governance/scaffold-spec.md", "09_learning/incident-summary.md"):
        for target in TARGETS:
            assert target in docs[name], (name, target)
    for name, target in [
        ("01_agents/alert-record.md", "< 5 min"),
        ("01_agents/diagnosis.md", "< 15 min"),
        ("01_agents/remediation-log.md", "< 30 min"),
        ("01_agents/remediation-log.md", "< 2 hours"),
    ]:
        assert target in docs[name], (name, target)


def test_artifact_content_reads_as_a_review(tmp_path: Path) -> None:
    _, docs = _render(tmp_path, 1)
    alerts = docs["01_agents/alert-record.md"]
    assert "### Incident 101 — ingest_crm (Ingestion)" in alerts
    assert "| day 1 10:04 | run_failure | ingest_crm | Ingestion | 42.5 | 15 |" in alerts
    assert "false alarm" in alerts and "AuthError: 401 Unauthorized \\| token expired" in alerts
    diag = docs["01_agents/diagnosis.md"]
    assert "retry → escalate" in diag and "critical severity: escalate" in diag
    assert "first failing asset upstream of the alerts" in diag and "6 min ✓" in diag
    rem = docs["01_agents/remediation-log.md"]
    assert "attempts=2, backoff_min=5" in rem and "action 2" in rem
    assert "Fixed by a human at day 1 15:05: 4 h 55 min ✗" in rem
    assert "Remediation rubric: 1 / 5" in rem  # escalated after a retry with no effect
    summary = docs["09_learning/incident-summary.md"]
    assert "20/80" in summary and "What we learned" in summary
    assert (
        "| 101 | ingest_crm (Ingestion) | late_arrival | critical | 2 min ✓ | 6 min ✓ |" in summary
    )
    owners = docs["00_governance/file-ownership.md"]
    for owner in ("Data engineering lead", "Data ops engineer", "Data infra team",
                  "Analytics engineer", "Data quality owner"):  # fmt: skip
        assert owner in owners
    spec = docs["00_governance/scaffold-spec.md"]
    assert "FND-CONTRACT v1" in spec and "| Detection | < 5 min | 100% |" in spec


def test_large_runs_are_capped_and_say_so(tmp_path: Path) -> None:
    n = FULL_DETAIL_EPISODES + 2
    _, docs = _render(tmp_path, n)
    alerts = docs["01_agents/alert-record.md"]
    assert f"first {FULL_DETAIL_EPISODES} episodes are shown in full" in alerts
    assert alerts.count("## Episode seed") == FULL_DETAIL_EPISODES
    assert "## Other episodes (one row per incident)" in alerts
    assert f"| {n - 1} | 303 |" in alerts
    summary = docs["09_learning/incident-summary.md"]
    assert f"occurred {n} times in {n} episode(s)" in summary


def test_write_tables(tmp_path: Path) -> None:
    eps = [make_episode(0), make_episode(5)]
    paths = write_tables(tmp_path, eps)
    assert [p.name for p in paths] == [
        "alerts.csv", "diagnoses.csv", "remediations.csv", "incidents.csv",
    ]  # fmt: skip
    tables = {p.stem: pd.read_csv(p) for p in paths}
    assert {k: len(v) for k, v in tables.items()} == {
        "alerts": 8, "diagnoses": 4, "remediations": 6, "incidents": 6,
    }  # fmt: skip
    assert all(sorted(set(t["seed"])) == [0, 5] for t in tables.values())
    d = tables["diagnoses"].iloc[0]
    assert d["root_candidates"] == "ingest_crm (0.90) | crm_api (0.40)"
    assert d["evidence"] == "AuthError in 3 runs | no retry succeeded"
    assert tables["remediations"].iloc[0]["params"] == "attempts=2 | backoff_min=5.0"
    inc = tables["incidents"].set_index(["seed", "incident_id"])
    assert inc.loc[(0, 101), "true_root_asset"] == "ingest_crm"
    assert inc.loc[(0, 101), "rubric_remediation"] == 1.0
    assert inc.loc[(0, 202), "primary_fault"] == -1


@pytest.mark.parametrize(
    ("minutes", "time", "duration"),
    [(0.0, "day 1 00:00", "0 min"), (12.0, "day 1 00:12", "12 min"),
     (1440.0 + 845.0, "day 2 14:05", "38 h 05 min"), (119.6, "day 1 02:00", "120 min"),
     (NAN, "—", "—")],
)  # fmt: skip
def test_time_formats(minutes: float, time: str, duration: str) -> None:
    assert fmt_time(minutes) == time
    assert fmt_dur(minutes) == duration
