"""The weekly review artifact: ``09_learning/weekly-review-<n>.md``, one per week of a run.

Generated from the knowledge base's tables only (``agents.learning.store``) — what the
organization itself knows, never the ground truth it cannot see:

1. **20/80** of the week's issue types and assets (``weekly_reviews`` payload: the incidents
   opened in the week, as diagnosed);
2. **SLA performance against the blueprint targets** (auto-fix < 30 min, manual < 2 h);
3. **prevention** — measures taken in the week (why), measures reviewed (learned recurrence
   before/after, cost, kept or retired), and the recurring learned causes still without a measure;
4. **classifier** — versions trained in the week, their training size and held-out accuracy;
5. **thresholds** — every change in the week per asset × signal, with its reason;
6. **autonomy** — promotions and demotions in the week, and the pairs autonomous at its end;
7. **labels** — how the week's incidents were learned (reviewed, confirmed, raw).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from agents.knowledge_review import SLA_AUTOFIX_MIN, SLA_MANUAL_MIN
from agents.learning.store import LearningStore

MIN_PER_DAY = 1440.0


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return [*out, ""]


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:.2f}"
    return str(v).replace("|", "/")


def _pct(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def weekly_review_markdown(store: LearningStore, week: int, title: str) -> str:
    """The Markdown review of ``week`` (1-based) of the store's run.

    Raises:
        KeyError: the run has no stored review for that week.
    """
    reviews = store.frame("weekly_reviews", "week = ?", (week,))
    if reviews.empty:
        raise KeyError(f"week {week}: no weekly review stored for {store.key}")
    payload = json.loads(reviews["payload"].iloc[0])
    end = float(reviews["t"].iloc[0])
    day_lo, day_hi = 7 * (week - 1) + 1, 7 * week
    in_week = "day BETWEEN ? AND ?"
    days = (day_lo, day_hi)
    lines = [
        f"# Weekly review {week} — {title}",
        "",
        f"Days {day_lo}–{day_hi} (the review ran on day {day_hi} at "
        f"{(end % MIN_PER_DAY) / 60:.0f}:00). Generated from the knowledge base: the incidents as "
        "diagnosed and the learning tables, not the ground truth.",
        "",
        f"## 1. Issue types (20/80) — {payload['n_incidents']} incidents, "
        f"{payload['open_incidents']} open",
        "",
        *_table(
            ("issue type", "incidents", "share", "cumulative"),
            [tuple(r) for r in payload["issue_types"]],
        ),
        f"Vital few: {', '.join(payload['vital_issue_types']) or '—'}; assets: "
        f"{', '.join(payload['vital_assets'][:6]) or '—'}.",
        "",
        "## 2. SLA performance against the blueprint targets",
        "",
        *_table(
            ("target", "met"),
            [
                (f"auto-remediation < {SLA_AUTOFIX_MIN:.0f} min", _pct(payload["sla_autofix_met"])),
                (f"manual fix < {SLA_MANUAL_MIN:.0f} min", _pct(payload["sla_manual_met"])),
            ],
        ),
        "## 3. Prevention",
        "",
    ]
    taken = store.frame("preventive_measures", "started_day BETWEEN ? AND ?", days)
    lines += ["Measures taken this week:", ""]
    lines += _table(("id", "measure", "asset", "for cause", "day", "why"), [
        (r.measure_id, r.measure, r.asset_name, r.cause, r.started_day, r.reason)
        for r in taken.itertuples()
    ])  # fmt: skip
    reviewed = payload.get("measures_reviewed", [])
    names = {int(r.measure_id): (r.measure, r.asset_name)
             for r in store.frame("preventive_measures").itertuples()}  # fmt: skip
    lines += ["Measures reviewed (learned incidents per day before/after, cost so far):", ""]
    lines += _table(("id", "measure", "asset", "before", "after", "cost", "decision"), [
        (r["measure_id"], *names.get(r["measure_id"], ("?", "?")), r["recurrence_before"],
         r["recurrence_after"], r["cost"], "retired" if r["retire"] else "kept")
        for r in reviewed
    ])  # fmt: skip
    lines += ["Recurring patterns from reviewed incidents (the knowledge base's suggestions):", ""]
    lines += [f"- {p}" for p in payload["prevention"]] or ["(none)"]
    lines += ["", "## 4. Issue classifier", ""]
    versions = store.frame("classifier_versions", in_week, days)
    lines += _table(("version", "day", "trained on", "held out", "cause acc.", "type acc.",
                     "complexity acc."), [
        (r.version, r.day, r.n_train, r.n_holdout, _pct(r.holdout_accuracy_cause),
         _pct(r.holdout_accuracy_type), _pct(r.holdout_accuracy_complexity))
        for r in versions.itertuples()
    ])  # fmt: skip
    lines += ["Held-out accuracy: a version trained on day *d* scored on day *d + 1*'s labels.", ""]
    lines += ["## 5. Threshold changes (per asset × signal)", ""]
    th = store.frame("thresholds_history", in_week, days)
    lines += _table(("day", "asset", "signal", "old", "new", "why"), [
        (r.day, r.asset_name, r.signal, r.old, r.new, r.reason) for r in th.itertuples()
    ])  # fmt: skip
    lines += ["## 6. Autonomy (cause × destructive action)", ""]
    pr = store.frame("promotions", in_week, days)
    lines += _table(("day", "cause", "action", "from", "to", "successes", "why"), [
        (r.day, r.cause, r.action, r.from_state, r.to_state, r.successes, r.reason)
        for r in pr.itertuples()
    ])  # fmt: skip
    allp = store.frame("promotions", "day <= ?", (day_hi,))
    last = allp.groupby(["cause", "action"])["to_state"].last() if len(allp) else pd.Series()
    auto = [f"{c} × {a}" for (c, a), s in last.items() if s == "autonomous"]
    lines += [f"Autonomous at the end of the week: {', '.join(auto) or 'none'} (every other "
              "pair is proposed to a person first).", ""]  # fmt: skip
    lines += ["## 7. How the week's incidents were learned", ""]
    labs = store.frame("incident_labels", in_week, days)
    counts = labs.groupby("source").size() if len(labs) else pd.Series(dtype=int)
    lines += _table(("source", "labels"), [(k, int(v)) for k, v in counts.items()])
    return "\n".join(lines)


def write_weekly_reviews(out: Path, store: LearningStore, title: str) -> list[Path]:
    """Write ``09_learning/weekly-review-<n>.md`` for every stored week of the store's run."""
    weeks = [int(w) for w in store.frame("weekly_reviews")["week"]]
    folder = out / "09_learning"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for w in weeks:
        p = folder / f"weekly-review-{w}.md"
        p.write_text(weekly_review_markdown(store, w, title) + "\n")
        paths.append(p)
    return paths
