"""The blueprint's artifacts for one organization run: Markdown for review, CSV for analysis.

``write_artifacts`` writes BP-0005's artifact map (DESIGN §4, **contract** paths) into a run's
output folder; ``write_tables`` writes the organization's records as CSV tables with a ``seed``
column. Each Markdown file opens with the run (scenario, organization, episodes), then pooled
figures from the scorecard, then incidents. Times are simulated: ``day 1 00:00`` is the episode
start. Large runs stay readable: the first ``FULL_DETAIL_EPISODES`` episodes are shown in full,
later ones as one row per incident (the files say so). The governance files and the incident
summary are built here; the alert record, diagnosis and remediation log in
``agents.scoring.artifact_sections``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any, Final

import pandas as pd

from agents.records import Alert, Diagnosis, EpisodeResult, IncidentSummary, RemediationStep
from agents.scoring.artifact_sections import (
    EpisodeView,
    alert_sections,
    diagnosis_sections,
    fix_kind,
    fmt_dur,
    fmt_frac,
    remediation_sections,
    rubric_text,
    sla_cell,
    table,
    target_text,
)
from agents.scoring.matching import incident_outcomes

__all__ = ["FULL_DETAIL_EPISODES", "write_artifacts", "write_tables"]

FULL_DETAIL_EPISODES: Final[int] = 2
"""Episodes rendered in full; later episodes get one row per incident."""


# ---------------------------------------------------------------- files
OWNERSHIP: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("Pipeline Monitor", "Data engineering lead", "`agents/monitor.py`",
     "`01_agents/alert-record.md`, `alerts.csv`"),
    ("Issue Triage", "Data ops engineer", "`agents/triage.py`, `agents/rca.py`",
     "`01_agents/diagnosis.md`, `diagnoses.csv`"),
    ("Auto-Remediation", "Data infra team", "`agents/remediation.py`",
     "`01_agents/remediation-log.md`, `remediations.csv`"),
    ("Analytics Support", "Analytics engineer", "`agents/analytics/support.py`",
     "analyst requests and access decisions (audited)"),
    ("Knowledge Manager", "Data quality owner", "`agents/knowledge.py`",
     "`09_learning/incident-summary.md`, `incidents.csv`"),
)  # fmt: skip
"""BP-0005 ownership map: agent, owner role, code it lives in, run outputs it owns."""


_AGENT_KEYS: Final[dict[str, str]] = {"Analytics Support": "analytics_support"}
"""The scorecard's ``agents_off`` name of each agent that can be off in a run."""


def _ownership(meta: dict[str, str], off: Collection[str] = ()) -> list[str]:
    rows = [
        (agent, role, code, "**off in this run** — nothing produced, no metric reported")
        if _AGENT_KEYS.get(agent) in off
        else (agent, role, code, owns)
        for agent, role, code, owns in OWNERSHIP
    ]
    lines = [
        "# File ownership",
        "",
        f"Run: **{meta['scenario_title']}** · organization `{meta['org']}`. Ownership follows the "
        "BP-0005 governance map; every output of this run has exactly one owning agent and team.",
        "",
    ]
    lines += table(["Agent", "Owner role", "Code", "Owns (this run's outputs)"], rows)
    lines += [
        "The Root Cause Analyzer (`agents/rca.py`) ranks the root candidates shown in the "
        "diagnosis and is owned with Issue Triage. The organization runner (`agents/org.py`) "
        "owns `00_governance/`, `scorecard.json` and `events.openlineage.jsonl`.",
        "",
    ]
    return lines


def _spec(meta: dict[str, str], card: dict[str, Any]) -> list[str]:
    agg: dict[str, Any] = card.get("aggregate", {})
    proto: dict[str, Any] = card.get("protocol", {})
    lines = [
        "# Scaffold spec",
        "",
        f"Run: **{meta['scenario_title']}** · organization `{meta['org']}` · "
        f"{proto.get('n_episodes', 0)} episode(s), seeds "
        f"{', '.join(str(s) for s in proto.get('seeds', []))}.",
        "",
    ]
    lines += table(["Item", "Value"], [
        ("Blueprint", "BP-0005 Data Operations (Self-Healing Pipelines) v0.1.0"),
        ("Blueprint alignment", "Data reliability engineering (dbt, Great Expectations)"),
        ("Contract version", "FND-CONTRACT v1"),
        ("Dimensions", "Layer, Issue type, Severity, Remediation complexity"),
        ("Target MAO size", "5 agents (near-term) → 7 agents (ideal)"),
        ("Metric definitions", f"`{proto.get('definitions', '')}` (agents/scoring/scorecard.py)"),
    ])  # fmt: skip
    lines += ["## SLA targets and measured performance", ""]
    lines += table(["SLA", "Target", "Met in this run", "Measured over"], [
        ("Detection", target_text("detect"), fmt_frac(agg.get("sla_detect_met")),
         "observable faults, first observable symptom → first correct alert"),
        ("Diagnosis", target_text("diagnose"), fmt_frac(agg.get("sla_diagnose_met")),
         "detected faults, first correct alert → diagnosis"),
        ("Auto-remediation", target_text("autofix"), fmt_frac(agg.get("sla_autofix_met")),
         "faults fixed by agents, diagnosis → verified fix"),
        ("Manual fix", target_text("manual"), fmt_frac(agg.get("sla_manual_met")),
         "faults fixed by humans, diagnosis → verified fix"),
    ])  # fmt: skip
    lines += ["`n/a`: no fault in that SLA's population during this run.", ""]
    return lines


PREVENTION: Final[dict[str, str]] = {
    "upstream_outage": "agree a delivery window with the vendor; let the sensor wait, not fail",
    "transient_failure": "retry with backoff inside the ingestion job",
    "credentials_expired": "rotate credentials before expiry; alert on token age",
    "duplicates": "make loads idempotent on batch id; add a unique test on join keys",
    "nulls": "not-null contract with the producer; alert on schema changes upstream",
    "volume_drop": "check extract completeness (row counts, pagination) at ingestion",
    "distribution_shift": "accepted-range tests on measures; refresh reference tables first",
    "schema_drift": "schema contract with the producer; column mappings under version control",
    "slow_query": "pin known-good query plans; track runtime per model",
    "resource_contention": "isolate ad-hoc workloads; right-size the warehouse ahead of demand",
}
"""Preventive measure per fault subtype (the Knowledge Manager's suggestions)."""


def _incident_row(v: EpisodeView, inc: IncidentSummary) -> tuple[Any, ...]:
    f = v.primary(inc.incident_id)
    acts = ", ".join(f"{s.kind} ({s.outcome})" for s in v.steps.get(inc.incident_id, []))
    diag = inc.root_cause or "not determined"
    if inc.root_asset >= 0:
        diag += f" at {v.asset(inc.root_asset)}"
    if f is None:
        true, detect, diagnose, fix = "false alarm", "—", "—", "—"
    else:
        true = f"{f['root_cause']} at {v.asset(int(f['root_asset']))}"
        detect = (
            sla_cell(f["detect_observable_min"], "detect") if f["observable"]
            else "no observable symptom" if f["visible"] else "never visible"
        )  # fmt: skip
        diagnose = sla_cell(f["diagnose_min"], "diagnose") if f["detected"] else "—"
        fix = "open" if f["censored"] else (
            "ended by itself" if f["resolved_by"] == "self"
            else sla_cell(f["fix_min"], fix_kind(f))
        )  # fmt: skip
    rubric = f"{rubric_text(v, inc.incident_id, 'rubric_classification')} · " + rubric_text(
        v, inc.incident_id, "rubric_remediation"
    )
    return (
        inc.incident_id, f"{inc.asset_name} ({inc.layer})", inc.issue_type, inc.severity,
        detect, diagnose, fix, acts or "none", f"{diag} / {true}", rubric,
    )  # fmt: skip


def _incident_sections(
    full: list[EpisodeView], rest: list[EpisodeView], agg: dict[str, Any]
) -> list[str]:
    """SLA performance, incidents, 20/80 issue review and lessons from recurrences."""
    views = [*full, *rest]
    lines = ["## SLA performance vs targets", ""]
    lines += table(["SLA", "Target", "Met"], [
        ("Detection", target_text("detect"), fmt_frac(agg.get("sla_detect_met"))),
        ("Diagnosis", target_text("diagnose"), fmt_frac(agg.get("sla_diagnose_met"))),
        ("Auto-remediation", target_text("autofix"), fmt_frac(agg.get("sla_autofix_met"))),
        ("Manual fix", target_text("manual"), fmt_frac(agg.get("sla_manual_met"))),
    ])  # fmt: skip
    heads = [
        "Incident", "Asset (layer)", "Type", "Severity", f"Detect ({target_text('detect')})",
        f"Diagnose ({target_text('diagnose')})",
        f"Fix ({target_text('autofix')} auto, {target_text('manual')} manual)",
        "Actions (outcome)", "Root cause: diagnosed / true", "Rubric: class. · remed.",
    ]  # fmt: skip
    for v in full:
        lines += [f"## Episode seed {v.ep.seed}", ""]
        lines += table(heads, [_incident_row(v, inc) for inc in v.incidents_sorted()])
    if rest:
        lines += ["## Other episodes (one row per incident)", ""]
        lines += table(
            ["Seed", *heads],
            [(v.ep.seed, *_incident_row(v, inc)) for v in rest for inc in v.incidents_sorted()],
        )
    lines += _pareto(views) + _lessons(views)
    return lines


def _pareto(views: list[EpisodeView]) -> list[str]:
    f = pd.concat([v.faults for v in views], ignore_index=True)
    lines = ["## Common issue types (20/80 review)", ""]
    if f.empty:
        return [*lines, "No faults occurred in this run.", ""]
    g = f.groupby(["issue_type", "subtype"]).agg(
        faults=("fault_id", "size"), ttr=("ttr_min", "median"),
        auto=("resolved_by", lambda s: (s == "agent").mean()), ok=("success", "mean"),
    ).sort_values("faults", ascending=False)  # fmt: skip
    share = g["faults"] / g["faults"].sum()
    cum = share.cumsum()
    rows = [
        ((it, st), n, fmt_frac(sh), fmt_frac(c), fmt_dur(ttr), fmt_frac(au), fmt_frac(ok),
         "✓" if c - sh < 0.8 else "")
        for ((it, st), n, ttr, au, ok), sh, c in zip(
            g.itertuples(name=None), share, cum, strict=True)
    ]  # fmt: skip
    lines += table(
        ["Issue type / subtype", "Faults", "Share", "Cumulative", "Median time to repair",
         "Resolved by agents", "Fixed and clean", "In the top 80%"],
        [(f"{k[0]} / {k[1]}", *r) for k, *r in rows],
    )  # fmt: skip
    return lines


def _lessons(views: list[EpisodeView]) -> list[str]:
    lines = ["## What we learned", ""]
    groups: dict[tuple[str, str, str], list[pd.Series]] = {}
    seeds: dict[tuple[str, str, str], set[int]] = {}
    for v in views:
        for _, f in v.faults.iterrows():
            key = (str(f["root_cause"]), v.asset(int(f["root_asset"])), str(f["subtype"]))
            groups.setdefault(key, []).append(f)
            seeds.setdefault(key, set()).add(v.ep.seed)
    recurring = sorted(
        ((k, fs) for k, fs in groups.items() if len(fs) > 1), key=lambda x: -len(x[1])
    )
    for key, fs in recurring[:10]:
        cause, asset, sub = key
        auto = sum(f["resolved_by"] == "agent" for f in fs)
        ttr = pd.Series([f["ttr_min"] for f in fs]).median()
        lines.append(
            f"- **{cause}** at **{asset}** occurred {len(fs)} times in {len(seeds[key])} "
            f"episode(s): {auto}/{len(fs)} resolved by agents, median time to repair "
            f"{fmt_dur(ttr)}. Prevention: {PREVENTION.get(sub, 'review with the owning team')}."
        )
    if not recurring:
        lines.append("- No root cause occurred twice on the same asset in this run.")
    confusions: Counter[tuple[str, str]] = Counter()
    for v in views:
        for inc in v.ep.incidents:
            t = v.truth(inc.incident_id)
            if t is not None and not t["type_ok"]:
                d = v.diagnoses.get(inc.incident_id)
                confusions[(str(t["true_type"]), d.issue_type if d else "")] += 1
    for (true, got), n in confusions.most_common(5):
        verb = f"was diagnosed as {got}" if got else "was not diagnosed"
        lines.append(
            f"- {true} {verb} {n} time(s): review these incidents before they feed the "
            "classifier (learn only from reviewed incidents)."
        )
    return [*lines, ""]


def _header(
    title: str, views: list[EpisodeView], card: dict[str, Any], meta: dict[str, str]
) -> list[str]:
    seeds = ", ".join(str(v.ep.seed) for v in views)
    lines = [
        f"# {title}",
        "",
        f"Scenario: **{meta['scenario_title']}** · organization `{meta['org']}` · "
        f"{len(views)} episode(s), seeds {seeds} · metric definitions "
        f"`{card.get('protocol', {}).get('definitions', '')}`.",
        "",
        "Times are simulated: day 1 00:00 is the start of an episode; durations in minutes.",
    ]
    if len(views) > FULL_DETAIL_EPISODES:
        lines.append(
            f"The first {FULL_DETAIL_EPISODES} episodes are shown in full; the remaining "
            f"{len(views) - FULL_DETAIL_EPISODES} as one row per incident, to keep this file "
            "readable (every record is in the CSV tables)."
        )
    return [*lines, ""]


def write_artifacts(
    out: Path,
    eps: list[EpisodeResult],
    card: dict[str, Any],
    *,
    scenario_title: str,
    org: str,
) -> list[Path]:
    """Write the BP-0005 Markdown artifacts of one organization run.

    Args:
        out: the run's output folder (created if missing).
        eps: the run's episodes.
        card: ``agents.scoring.scorecard.scorecard(eps)``.
        scenario_title: human title of the scenario (e.g. ``SC-0001: Late Data Arrival``).
        org: the organization's name.

    Returns:
        The paths written, in artifact-map order.
    """
    views = [EpisodeView(ep) for ep in eps]
    full, rest = views[:FULL_DETAIL_EPISODES], views[FULL_DETAIL_EPISODES:]
    agg: dict[str, Any] = card.get("aggregate", {})
    meta = {"scenario_title": scenario_title, "org": org}
    docs: dict[str, list[str]] = {
        "00_governance/file-ownership.md": _ownership(meta, card.get("agents_off", ())),
        "00_governance/scaffold-spec.md": _spec(meta, card),
        "01_agents/alert-record.md": _header("Data quality alert record", views, card, meta)
        + alert_sections(full, rest, agg),
        "01_agents/diagnosis.md": _header("Issue diagnosis", views, card, meta)
        + diagnosis_sections(full, rest, agg),
        "01_agents/remediation-log.md": _header("Remediation log", views, card, meta)
        + remediation_sections(full, rest, agg),
        "09_learning/incident-summary.md": _header("Incident summary", views, card, meta)
        + _incident_sections(full, rest, agg),
    }
    paths = []
    for rel, lines in docs.items():
        p = Path(out) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
        paths.append(p)
    return paths


# ---------------------------------------------------------------- CSV tables
def _flat(x: Any) -> Any:
    """A record field as a CSV cell: tuples joined, root candidates and params spelled out."""
    if isinstance(x, tuple):
        parts = []
        for v in x:
            if hasattr(v, "asset_name") and hasattr(v, "score"):
                parts.append(f"{v.asset_name} ({v.score:.2f})")
            elif isinstance(v, tuple) and len(v) == 2:
                parts.append(f"{v[0]}={v[1]}")
            else:
                parts.append(str(v))
        return " | ".join(parts)
    return "" if x is None else x


def _records_frame(seed: int, records: list[Any], fields: tuple[str, ...]) -> pd.DataFrame:
    rows = [{"seed": seed, **{k: _flat(getattr(r, k)) for k in fields}} for r in records]
    return pd.DataFrame(rows, columns=["seed", *fields])


def write_tables(out: Path, eps: list[EpisodeResult]) -> list[Path]:
    """Write alerts.csv, diagnoses.csv, remediations.csv and incidents.csv into ``out``.

    Every table has a ``seed`` column; tuple fields are joined with `` | ``. incidents.csv also
    carries the ground-truth review: matched fault ids, the primary fault, its issue type and
    root asset, and the classification and remediation rubric points.

    Args:
        out: the run's output folder (created if missing).
        eps: the run's episodes.

    Returns:
        The four paths written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames: dict[str, list[pd.DataFrame]] = {
        k: [] for k in ("alerts", "diagnoses", "remediations", "incidents")
    }
    for ep in eps:
        frames["alerts"].append(_records_frame(ep.seed, ep.alerts, Alert._fields))
        frames["diagnoses"].append(_records_frame(ep.seed, ep.diagnoses, Diagnosis._fields))
        frames["remediations"].append(
            _records_frame(ep.seed, ep.remediations, RemediationStep._fields)
        )
        inc = _records_frame(ep.seed, ep.incidents, IncidentSummary._fields)
        truth = incident_outcomes(ep)
        names = ep.asset_names
        inc["matched_fault_ids"] = [_flat(t) for t in truth["fault_ids"]]
        inc["primary_fault"] = truth["primary_fault"].to_numpy()
        inc["true_issue_type"] = truth["true_type"].to_numpy()
        inc["true_root_asset"] = [names[r] if r >= 0 else "" for r in truth["true_root"]]
        inc["rubric_classification"] = truth["rubric_classification"].to_numpy()
        inc["rubric_remediation"] = truth["rubric_remediation"].to_numpy()
        frames["incidents"].append(inc)
    paths = []
    for name, fs in frames.items():
        p = out / f"{name}.csv"
        df = pd.concat(fs, ignore_index=True) if fs else pd.DataFrame(columns=["seed"])
        df.to_csv(p, index=False)
        paths.append(p)
    return paths
