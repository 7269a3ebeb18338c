"""The Root Cause Analyzer's deep dives: a recurring issue, the owners' teams asked, one remedy.

**When.** An issue *recurs* when the organization's own incident records (the knowledge
manager's) hold ``RECUR_K`` incidents with the same diagnosed root asset and cause class
(``IncidentSummary.root_asset``, ``root_cause``) opened within ``WINDOW_MIN``; the dive opens at
the ``RECUR_K``-th one's diagnosis (once per root asset and cause class per episode).

**Teams.** The root asset's owner team and the owners of its direct upstream assets each answer
from their own assets' observable history up to the time they answer — failed runs by error
class, schema-version changes, failed checks, volume against the asset's median — after a
modeled delay of ``TEAM_BASE_DELAY_MIN`` plus ``TEAM_DELAY_PER_ASSET_MIN`` per asset they own
in the dive; for slow runs and contention the warehouse's operators answer too (the share of
slow runs warehouse-wide, after ``TEAM_BASE_DELAY_MIN``). The recommendation is made when the
last team has answered.

**Correlation.** The teams' facts refine the cause class into a root cause (``_root_cause``:
error classes for late data, the root's layer and its upstream's symptoms for quality issues,
schema changes for nulls, volume for slow queries), and the root cause picks one remediation of
a kind the organization can act on (``REMEDIES``): a ``preventive`` measure, a ``check`` to add
or make blocking, a ``schedule`` change, or an ``escalate`` to the owning team with the evidence.

**Scores** (``dive_scores``; the ledger is read only here): ``deep_dive_cause_accuracy`` — the
recommendation's root cause is the most common true root cause among the primary faults of the
incidents that made the issue recur (ties: the earliest incident's);
``deep_dive_time_to_recommendation_p50_min`` — median of recommendation time minus the
``RECUR_K``-th incident's diagnosis. The learning issue's preventive measures have not landed, so
a recommendation is scored alone (its effect is not measured).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np
import pandas as pd

from agents.records import EpisodeResult, IncidentSummary
from envs.sim.records import RunRecord
from scenarios.spec import PipelineSpec

RECUR_K: Final[int] = 2
WINDOW_MIN: Final[float] = 7 * 1440.0
TEAM_BASE_DELAY_MIN: Final[float] = 20.0
TEAM_DELAY_PER_ASSET_MIN: Final[float] = 10.0
SLOW_X: Final[float] = 1.5
SKEW_VOLUME_X: Final[float] = 1.3
"""Slow runs writing this many times the median rows: the data is skewed, not the plan."""
WIDE_SLOW_SHARE: Final[float] = 0.3
"""A share of slow warehouse runs this large: every run is slow (undersized warehouse)."""
PERSISTENT_CHECKS: Final[int] = 3
"""Runs of a load failing their checks this often since the issue began: the keys repeat in every
partition (a grain change), not in the one a replay loaded twice."""
QUICK_RECOVERY_MIN: Final[float] = 30.0
"""A failed window back within this long came back by a retry: a transient failure."""
DIVE_METRIC_NAMES: Final[tuple[str, ...]] = (
    "deep_dive_cause_accuracy",
    "deep_dive_time_to_recommendation_p50_min",
)
REMEDIES: Final[dict[str, tuple[str, str]]] = {
    "source_outage": ("schedule", "run the ingestion after the vendor's delivery window"),
    "transient_network": ("preventive", "retry with backoff inside the ingestion job"),
    "expired_credentials": ("escalate", "owner: rotate the credentials; alert on token age"),
    "replayed_load": ("preventive", "make the load idempotent on its batch id"),
    "bad_join": ("check", "add a blocking unique test on the join keys"),
    "grain_change": ("escalate", "owner: agree the new grain with the producer; update the model"),
    "source_nulls": ("check", "make the not-null check blocking"),
    "upstream_rename": ("escalate", "owner: a schema contract with the producer"),
    "partial_extract": ("check", "add a blocking completeness check (row counts)"),
    "upstream_filter_change": ("escalate", "owner: confirm the export filter with the source"),
    "unit_change": ("escalate", "owner: confirm units; add an accepted-range check"),
    "stale_reference": ("schedule", "refresh the reference table before the model runs"),
    "column_renamed": ("escalate", "owner: column mappings under version control"),
    "type_changed": ("escalate", "owner: plan the schema migration with the producer"),
    "plan_regression": ("escalate", "owner: pin the query plan; add a run-time check"),
    "data_skew": ("preventive", "repartition the skewed key"),
    "noisy_neighbor": ("schedule", "move ad-hoc workloads off the pipeline's busy hours"),
    "retry_storm": ("check", "cap the job's retry attempts"),
    "undersized_warehouse": ("preventive", "resize the warehouse for the grown demand"),
}
"""Root cause -> (recommendation kind, recommendation)."""


class TeamAnswer(NamedTuple):
    """One owner team's facts about its assets in a dive, as of ``answered_at``.

    ``failures`` counts failed runs by error class; ``volume_ratio`` and ``volume_max_ratio``
    are the smallest and largest rows written over the median; ``recovery_min`` is the median
    time from a window's first failed run to its first success (inf: none recovered);
    ``slow_share`` is the share of successful runs since the issue's first incident slower than
    ``SLOW_X`` times their asset's median run time in the day before it, ``slow_volume_ratio``
    the median rows of those slow runs over the median rows of all (1 if none was slow).
    """

    team: str
    assets: tuple[int, ...]
    answered_at: float
    failures: dict[str, int]
    schema_changes: int
    failed_checks: int
    volume_ratio: float
    volume_max_ratio: float
    recovery_min: float
    slow_share: float = 0.0
    slow_volume_ratio: float = 1.0
    messages: tuple[str, ...] = ()


class DeepDive(NamedTuple):
    """One deep dive: the recurring issue, the teams' answers and the recommendation."""

    root_asset: int
    cause_class: str
    incident_ids: tuple[int, ...]
    opened_at: float
    answers: tuple[TeamAnswer, ...]
    root_cause: str
    kind: str
    recommendation: str
    recommended_at: float


def _answer(
    team: str,
    assets: Sequence[int],
    log: Sequence[RunRecord],
    since: float,
    now: float,
    baseline_until: float | None = None,
) -> TeamAnswer:
    runs = [r for r in log if r.asset in assets and since <= r.ended_at <= now]
    fails = Counter(r.error_class for r in runs if r.status != "success" and r.error_class)
    versions = sorted({r.schema_version for r in runs})
    rows = np.array([r.rows for r in runs if r.status == "success"], dtype=float)
    med = float(np.median(rows)) if rows.size else 0.0
    lo, hi = (float(rows.min() / med), float(rows.max() / med)) if med > 0 else (1.0, 1.0)
    first_fail: dict[tuple[int, int], float] = {}
    recovered = []
    for r in sorted(runs, key=lambda r: r.ended_at):
        key = (r.asset, r.window)
        if r.status != "success":
            first_fail.setdefault(key, r.ended_at)
        elif key in first_fail:
            recovered.append(r.ended_at - first_fail.pop(key))
    rec = float(np.median(recovered)) if recovered else math.inf
    ok = [r for r in runs if r.status == "success"]
    cut = since if baseline_until is None else baseline_until
    before = [r for r in ok if r.ended_at < cut] or ok
    after = [r for r in ok if r.ended_at >= cut]
    base: dict[int, float] = {}
    for a in {r.asset for r in before}:
        base[a] = float(np.median([r.runtime_min for r in before if r.asset == a]))
    slow = [r for r in after if base.get(r.asset, 0) > 0 and r.runtime_min > SLOW_X * base[r.asset]]
    share = len(slow) / len(after) if after else 0.0
    svr = float(np.median([r.rows for r in slow]) / med) if slow and med > 0 else 1.0
    return TeamAnswer(
        team, tuple(assets), now, dict(fails), max(0, len(versions) - 1),
        sum(1 for r in runs if r.failed_checks), lo, hi, rec, share, svr,
        tuple(sorted({r.error_message for r in runs if r.error_message}))[:5],
    )  # fmt: skip


def _root_cause(
    cause_class: str, layer: str, own: TeamAnswer, up: list[TeamAnswer], wide: TeamAnswer | None
) -> str:
    """The teams' facts, correlated into one root cause of ``cause_class``."""
    errors = Counter(own.failures)
    upstream_low = any(a.volume_ratio < 0.8 for a in up)
    rules: dict[str, str] = {
        "upstream_outage": "source_outage",
        "transient_failure": "transient_network",
        "credentials_expired": "expired_credentials",
        "duplicates": "bad_join"
        if layer != "Ingestion"
        else "grain_change"
        if own.failed_checks >= PERSISTENT_CHECKS
        else "replayed_load",
        "nulls": "upstream_rename" if own.schema_changes else "source_nulls",
        "volume_drop": "upstream_filter_change"
        if layer == "Source" or upstream_low
        else "partial_extract",
        "distribution_shift": "unit_change" if layer == "Source" else "stale_reference",
        "schema_drift": "type_changed"
        if any("expected" in m for m in own.messages)
        else "column_renamed",
        "slow_query": "data_skew" if own.slow_volume_ratio >= SKEW_VOLUME_X else "plan_regression",
        "resource_contention": "retry_storm" if errors else "noisy_neighbor",
    }
    wide_slow = wide is not None and wide.slow_share >= WIDE_SLOW_SHARE
    if cause_class in ("slow_query", "resource_contention") and wide_slow:
        return "undersized_warehouse"  # every run is slow: demand outgrew the warehouse
    if cause_class in ("upstream_outage", "transient_failure", "credentials_expired"):
        # late data: the error says credentials; else how fast the failed windows came back
        if errors["AuthError"] + errors["HTTP403"] > 0:
            return "expired_credentials"
        if own.recovery_min <= QUICK_RECOVERY_MIN:
            return "transient_network"
        if math.isfinite(own.recovery_min):
            return "source_outage"
    return rules.get(cause_class, "")


def deep_dives(
    incidents: Sequence[IncidentSummary], log: Sequence[RunRecord], pipeline: PipelineSpec
) -> list[DeepDive]:
    """Every deep dive of one episode, from the organization's records and the run log."""
    specs = pipeline.assets
    idx = {a.name: i for i, a in enumerate(specs)}
    seen: dict[tuple[int, str], list[IncidentSummary]] = defaultdict(list)
    out: list[DeepDive] = []
    done: set[tuple[int, str]] = set()
    for inc in sorted(incidents, key=lambda i: (i.diagnosed_at, i.incident_id)):
        if inc.root_asset < 0 or inc.root_cause in ("", "unknown") or math.isnan(inc.diagnosed_at):
            continue
        key = (inc.root_asset, inc.root_cause)
        group = [i for i in seen[key] if i.opened_at >= inc.opened_at - WINDOW_MIN]
        group.append(inc)
        seen[key] = group
        if len(group) < RECUR_K or key in done:
            continue
        done.add(key)
        t = inc.diagnosed_at
        since = group[0].opened_at - 1440.0
        root = specs[inc.root_asset]
        scope = {inc.root_asset: root.owner}
        for u in root.upstream:
            scope[idx[u]] = specs[idx[u]].owner
        teams: dict[str, list[int]] = defaultdict(list)
        for a, owner in scope.items():
            teams[owner].append(a)
        answers = []
        for team, assets in teams.items():
            delay = TEAM_BASE_DELAY_MIN + TEAM_DELAY_PER_ASSET_MIN * len(assets)
            answers.append(_answer(team, sorted(assets), log, since, t + delay))
        wide = None
        if inc.root_cause in ("slow_query", "resource_contention"):
            # the warehouse's operators answer from its metrics: how many runs are slow
            slots = [i for i, a in enumerate(specs) if a.slots > 0]
            wide = _answer(
                "warehouse", slots, log, since, t + TEAM_BASE_DELAY_MIN, group[0].opened_at
            )
            answers.append(wide)
        own = _answer(root.owner, [inc.root_asset], log, since, t, group[0].opened_at)
        up = [a for a in answers if inc.root_asset not in a.assets]
        cause = _root_cause(inc.root_cause, root.layer, own, up, wide)
        kind, text = REMEDIES.get(cause, ("escalate", "owner: investigate with the evidence"))
        out.append(DeepDive(
            inc.root_asset, inc.root_cause, tuple(i.incident_id for i in group), t,
            tuple(answers), cause, kind, text, max(a.answered_at for a in answers),
        ))  # fmt: skip
    return out


def dive_scores(dives: Sequence[DeepDive], ep: EpisodeResult, truth: pd.DataFrame) -> list[dict]:
    """Per dive: the true recurring root cause, whether the recommendation addresses it, timing.

    Args:
        dives: the episode's deep dives.
        ep: the episode (its ledger).
        truth: ``agents.scoring.matching.incident_outcomes(ep)``.
    """
    primary = dict(zip(truth["incident_id"], truth["primary_fault"], strict=True))
    causes = {f.fault_id: f.root_cause for f in ep.faults}
    rows = []
    for d in dives:
        true = Counter(causes[primary[i]] for i in d.incident_ids if primary.get(i, -1) >= 0)
        top = true.most_common(1)[0][0] if true else ""
        rows.append({
            "true_root_cause": top, "correct": float(d.root_cause == top),
            "time_to_recommendation_min": d.recommended_at - d.opened_at,
        })  # fmt: skip
    return rows


def dive_metrics(rows: Sequence[dict]) -> dict[str, float]:
    """``DIVE_METRIC_NAMES`` pooled over dives' score rows (NaN when there was no dive)."""
    if not rows:
        return dict.fromkeys(DIVE_METRIC_NAMES, math.nan)
    return {
        "deep_dive_cause_accuracy": float(np.mean([r["correct"] for r in rows])),
        "deep_dive_time_to_recommendation_p50_min": float(
            np.median([r["time_to_recommendation_min"] for r in rows])
        ),
    }


def deep_dives_md(
    dives: Sequence[tuple[int, DeepDive, dict]], names: Sequence[str], header: list[str]
) -> list[str]:
    """``09_learning/rca-deep-dives.md``: each dive (seed, dive, score row) with its evidence."""
    m = dive_metrics([r for _, _, r in dives])
    acc = m["deep_dive_cause_accuracy"]
    p50 = m["deep_dive_time_to_recommendation_p50_min"]
    lines = [
        *header,
        f"{len(dives)} deep dive(s) (an issue recurs at {RECUR_K} incidents with the same "
        f"diagnosed root asset and cause class within {WINDOW_MIN / 1440:g} days). Cause "
        f"accuracy {'n/a' if math.isnan(acc) else f'{acc:.3f}'}; time from the recurrence to the "
        f"recommendation, median {'n/a' if math.isnan(p50) else f'{p50:.0f} min'}.",
        "",
    ]
    for seed, d, r in dives:
        lines += [
            f"## Seed {seed}: {names[d.root_asset]} — {d.cause_class}",
            "",
            f"Incidents {', '.join(map(str, d.incident_ids))}; opened at minute {d.opened_at:.0f}, "
            f"recommended at {d.recommended_at:.0f}. Root cause found: **{d.root_cause}** "
            f"(ledger: {r['true_root_cause'] or 'no matched fault'}; "
            f"{'addressed' if r['correct'] else 'not addressed'}).",
            "",
            f"Recommendation ({d.kind}): {d.recommendation}.",
            "",
            "| Team | Assets | Answered at | Failures by error | Schema changes | Failed checks | "
            "Volume min/max vs median | Recovery |",
            "|---|---|---:|---|---:|---:|---|---:|",
        ]
        for a in d.answers:
            fails = ", ".join(f"{k} {v}" for k, v in sorted(a.failures.items())) or "none"
            rec = "n/a" if math.isinf(a.recovery_min) else f"{a.recovery_min:.0f} min"
            lines.append(
                f"| {a.team} | {', '.join(names[i] for i in a.assets)} | {a.answered_at:.0f} | "
                f"{fails} | {a.schema_changes} | {a.failed_checks} | "
                f"{a.volume_ratio:.2f} / {a.volume_max_ratio:.2f} | {rec} |"
            )
        lines.append("")
    return lines
