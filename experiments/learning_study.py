"""The learning study: does the organization that learns get better week by week?

Usage::

    python -m experiments.learning_study                          # the committed study
    python -m experiments.learning_study scenarios=sc0001 seeds=2 weeks=2 out=/tmp/ls
    python -m experiments.learning_study scenarios=sc0001 modes=off,on pretrain_weeks=2 \
        out=docs/studies/learning/pretrain2                          # warm starts

For every scenario (``scenarios``), learning mode (``modes``: ``off``, ``on``, ``raw``) and the
first ``seeds`` seeds of ``split`` (default ``eval``: held-out seeds), it runs the ``rules``
organization for ``weeks`` weeks as one continuous run (``agents.learning.longrun.run_weeks``)
and writes one JSON per (scenario, mode, seed) to ``<out>/runs/`` as soon as that run is done:
its week-by-week table (``agents.scoring.weeks``) and its learning summary. A run whose JSON
exists is not run again, so an interrupted study resumes where it stopped (run it in the
background; each run is independent). Then it aggregates whatever runs exist into
``<out>/learning_study.json``, ``<out>/learning_study.md`` (the tables) and
``<out>/learning_curve_weeks.png``.

Aggregation: per scenario, mode and week, the mean over seeds with a 95% percentile-bootstrap
interval over seeds (2,000 resamples, fixed generator); and per week the paired difference
``on - off`` and ``raw - on`` (same seed: the same world until learning acts), also with its
interval. The closing summary compares week 8 with week 1 (MTTR p50) and weeks 7-8 with off
(recurrence of preventable causes).

Learning data apart from test data: the organization learns online during each run from that
run's own past; by default every run starts from an empty knowledge base; eval seeds are never
used to train anything that another run uses. ``pretrain_weeks=<n>`` warm-starts each learning
run from ``n`` weeks learned on its training-split seed (``agents.learning.warmstart``; the eval
split's i-th seed pretrains on the train split's i-th), labelled ``on+pre<n>`` in the tables,
with the paired contrasts ``on+pre<n> - off`` and ``on+pre<n> - on`` (warm vs cold start).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.knowledge import KnowledgeBase
from agents.learning.longrun import run_weeks
from agents.scoring.weeks import weekly_table
from experiments.run_org import learning_summary
from experiments.stats import bootstrap_ci
from scenarios import load_scenario

DEFAULTS: dict[str, Any] = {
    "scenarios": ("sc0001", "sc0002"),
    "modes": ("off", "on", "raw"),
    "seeds": 10,
    "weeks": 8,
    "split": "eval",
    "out": Path("docs/studies/learning"),
    "pretrain_weeks": 0,
}
METRICS: tuple[str, ...] = (
    "mttr_p50_min", "preventable_faults", "false_alarms_per_day", "human_hours", "total_cost",
)  # fmt: skip
"""The week-by-week figures the study reports (``agents.scoring.weeks`` columns)."""
BOOT_REPS = 2000


def run_one(
    scenario: str, mode: str, seed: int, weeks: int, out: Path, pretrain_weeks: int = 0
) -> Path:
    """Run one (scenario, mode, seed) unless its JSON exists; returns the JSON's path.

    ``pretrain_weeks > 0`` (learning on or raw only) warm-starts the run from that many weeks
    learned on the seed's training-split seed; its file and its mode label say so
    (``on+pre2``).
    """
    pre = pretrain_weeks if mode != "off" else 0
    label = f"{mode}+pre{pre}" if pre else mode
    path = out / "runs" / f"{scenario}-{label}-seed{seed}.json"
    if path.exists():
        return path
    t0 = time.perf_counter()
    with KnowledgeBase(":memory:") as kb:
        lr = run_weeks(
            load_scenario(scenario), seed, "rules", weeks=weeks, mode=mode, knowledge=kb,
            pretrain_weeks=pre,
        )  # fmt: skip
        record = {
            "scenario": scenario, "mode": mode, "seed": seed, "weeks": weeks,
            "wall_s": round(time.perf_counter() - t0, 2),
            "table": weekly_table(lr).to_dict("records"),
            "learning": learning_summary(lr),
        }  # fmt: skip
        if pre:
            record["pretrain_weeks"] = pre
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    part.write_text(json.dumps(record, indent=1, default=float))
    part.replace(path)  # a run's file appears whole or not at all
    return path


def bootstrap_mean(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Mean of ``x`` (nan dropped) and its 95% percentile-bootstrap interval (``bootstrap_ci``)."""
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    lo, hi = bootstrap_ci({"seeds": x}, _row_means, reps=BOOT_REPS, seed=rng)
    return float(x.mean()), lo, hi


def _row_means(resampled: np.ndarray) -> np.ndarray:
    return resampled.mean(axis=1)


def load_runs(out: Path) -> pd.DataFrame:
    """Every finished run's weekly rows, with scenario, mode and seed columns.

    A warm-started run's mode is labelled with its pretraining (``on+pre2``).
    """
    rows = []
    for p in sorted((out / "runs").glob("*.json")):
        r = json.loads(p.read_text())
        pre = r.get("pretrain_weeks", 0)
        mode = f"{r['mode']}+pre{pre}" if pre else r["mode"]
        for row in r["table"]:
            rows.append({"scenario": r["scenario"], "mode": mode, "seed": r["seed"], **row})
    return pd.DataFrame(rows)


def aggregate(df: pd.DataFrame) -> dict[str, Any]:
    """Means with intervals per (scenario, mode, week), paired differences, closing summary."""
    rng = np.random.Generator(np.random.PCG64(16))
    out: dict[str, Any] = {"cells": [], "paired": [], "summary": []}
    for (sc, mode, week), g in df.groupby(["scenario", "mode", "week"]):
        cell = {"scenario": sc, "mode": mode, "week": int(week), "n_seeds": len(g)}
        for m in METRICS:
            cell[m] = bootstrap_mean(g[m].to_numpy(dtype=float), rng)
        out["cells"].append(cell)
    for sc, g in df.groupby("scenario"):
        wide = g.pivot_table(index=["seed", "week"], columns="mode", values=list(METRICS))
        warm = sorted(m for m in g["mode"].unique() if "+pre" in m)
        contrasts = [("on", "off"), ("raw", "on")]
        contrasts += [c for m in warm for c in ((m, "off"), (m, m.split("+")[0]))]
        for a, b in contrasts:
            if a not in g["mode"].unique() or b not in g["mode"].unique():
                continue
            for week in sorted(g["week"].unique()):
                sub = wide.xs(week, level="week")
                row = {"scenario": sc, "contrast": f"{a} - {b}", "week": int(week)}
                for m in METRICS:
                    row[m] = bootstrap_mean((sub[(m, a)] - sub[(m, b)]).to_numpy(dtype=float), rng)
                out["paired"].append(row)
        out["summary"].append(_summary(sc, g, rng))
    return out


def _summary(sc: str, g: pd.DataFrame, rng: np.random.Generator) -> dict[str, Any]:
    """The must-show figures of one scenario (nan where a mode is missing)."""
    weeks = int(g["week"].max())
    res: dict[str, Any] = {"scenario": sc, "weeks": weeks}
    for mode, gm in g.groupby("mode"):
        first = gm[gm["week"] == 1].set_index("seed")
        last = gm[gm["week"] == weeks].set_index("seed")
        tail = gm[gm["week"] > weeks - 2].groupby("seed")
        head = gm[gm["week"] <= 2].groupby("seed")
        res[mode] = {
            "mttr_p50_week1": bootstrap_mean(first["mttr_p50_min"].to_numpy(dtype=float), rng),
            "mttr_p50_last": bootstrap_mean(last["mttr_p50_min"].to_numpy(dtype=float), rng),
            "mttr_last_over_first": float(
                last["mttr_p50_min"].mean() / first["mttr_p50_min"].mean()
            ),
            "preventable_first2": bootstrap_mean(
                head["preventable_faults"].sum().to_numpy(dtype=float), rng
            ),
            "preventable_last2": bootstrap_mean(
                tail["preventable_faults"].sum().to_numpy(dtype=float), rng
            ),
            "human_hours_total": bootstrap_mean(
                gm.groupby("seed")["human_hours"].sum().to_numpy(dtype=float), rng
            ),
            "total_cost_total": bootstrap_mean(
                gm.groupby("seed")["total_cost"].sum().to_numpy(dtype=float), rng
            ),
            "false_alarms_per_day": bootstrap_mean(
                gm.groupby("seed")["false_alarms_per_day"].mean().to_numpy(dtype=float), rng
            ),
        }
    return res


def plot(df: pd.DataFrame, agg: dict[str, Any], path: Path) -> None:
    """``learning_curve_weeks.png``: one row per scenario, one column per metric, CI bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = pd.DataFrame(agg["cells"])
    scenarios = sorted(cells["scenario"].unique())
    fig, axes = plt.subplots(
        len(scenarios), len(METRICS), figsize=(4 * len(METRICS), 3.2 * len(scenarios)),
        squeeze=False,
    )  # fmt: skip
    colors = {"off": "tab:gray", "on": "tab:blue", "raw": "tab:orange"}
    warm = {"on": "tab:green", "raw": "tab:red"}  # warm-started modes (``on+pre2``), dashed
    for i, sc in enumerate(scenarios):
        for j, m in enumerate(METRICS):
            ax = axes[i][j]
            for mode, g in cells[cells["scenario"] == sc].groupby("mode"):
                g = g.sort_values("week")
                mean = np.array([v[0] for v in g[m]])
                lo = np.array([v[1] for v in g[m]])
                hi = np.array([v[2] for v in g[m]])
                base, _, pre = str(mode).partition("+")
                color = warm.get(base) if pre else colors.get(mode)
                ax.plot(
                    g["week"], mean, marker="o", color=color, label=f"learning={mode}",
                    linestyle="--" if pre else "-",
                )  # fmt: skip
                ax.fill_between(g["week"], lo, hi, color=color, alpha=0.15)
            ax.set_title(f"{sc}: {m}", fontsize=9)
            ax.set_xlabel("week")
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    n = int(df.groupby(["scenario", "mode"])["seed"].nunique().min())
    fig.suptitle(f"The rules organization week by week (mean over {n}+ eval seeds, 95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)) and len(v) == 3:
        m, lo, hi = v
        return "—" if math.isnan(m) else f"{m:.1f} [{lo:.1f}, {hi:.1f}]"
    return str(v)


def markdown(agg: dict[str, Any]) -> str:
    """The study's tables in Markdown (means with 95% bootstrap intervals over seeds)."""
    lines = ["# Learning study: week-by-week tables", ""]
    cells = pd.DataFrame(agg["cells"])
    for sc in sorted(cells["scenario"].unique()):
        lines += [f"## {sc}", ""]
        for m in METRICS:
            sub = cells[cells["scenario"] == sc]
            modes = sorted(sub["mode"].unique())
            lines += [f"### {m}", "", "| week | " + " | ".join(modes) + " |",
                      "|---|" + "---|" * len(modes)]  # fmt: skip
            for week, g in sub.groupby("week"):
                by = {r["mode"]: r[m] for _, r in g.iterrows()}
                lines.append(f"| {week} | " + " | ".join(_fmt(by.get(x)) for x in modes) + " |")
            lines.append("")
        paired = [p for p in agg["paired"] if p["scenario"] == sc]
        if paired:
            lines += ["### Paired differences (same seed)", "",
                      "| contrast | week | " + " | ".join(METRICS) + " |",
                      "|---|---|" + "---|" * len(METRICS)]  # fmt: skip
            for p in paired:
                lines.append(
                    f"| {p['contrast']} | {p['week']} | "
                    + " | ".join(_fmt(p[m]) for m in METRICS) + " |"
                )  # fmt: skip
            lines.append("")
    return "\n".join(lines)


def study(
    scenarios: Sequence[str] = DEFAULTS["scenarios"],
    modes: Sequence[str] = DEFAULTS["modes"],
    seeds: int = DEFAULTS["seeds"],
    weeks: int = DEFAULTS["weeks"],
    split: str = DEFAULTS["split"],
    out: Path = DEFAULTS["out"],
    pretrain_weeks: int = DEFAULTS["pretrain_weeks"],
) -> dict[str, Any]:
    """Run (or resume) the study and aggregate every finished run; returns the aggregate.

    ``pretrain_weeks > 0`` warm-starts the learning modes' runs (``on+pre<n>``, ``raw+pre<n>``)
    from that many weeks learned on training-split seeds; ``off`` runs are the same as without.
    Every run in ``out`` is aggregated: put a warm-start study in its own directory.
    """
    out = Path(out)
    if pretrain_weeks and split != "eval":
        raise SystemExit(
            "learning_study: pretrain_weeks: needs split=eval (pretraining uses train)"
        )
    for sc in scenarios:
        all_seeds = getattr(load_scenario(sc).spec.seeds, split).seeds()
        for seed in all_seeds[:seeds]:
            for mode in modes:
                p = run_one(sc, mode, int(seed), weeks, out, pretrain_weeks)
                print(f"{sc} {mode} seed {seed}: {p.name}", flush=True)
    df = load_runs(out)
    agg = aggregate(df)
    (out / "learning_study.json").write_text(json.dumps(agg, indent=1, default=float))
    (out / "learning_study.md").write_text(markdown(agg) + "\n")
    plot(df, agg, out / "learning_curve_weeks.png")
    return agg


def _parse(argv: Sequence[str]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in DEFAULTS:
            raise SystemExit(f"learning_study: expected key=value with key in {sorted(DEFAULTS)}")
        if key in ("scenarios", "modes"):
            kw[key] = tuple(value.split(","))
            bad = [m for m in kw[key] if key == "modes" and m not in ("off", "on", "raw")]
            if bad:
                raise SystemExit(f"learning_study: modes: unknown {bad}; expected off, on, raw")
        elif key in ("seeds", "weeks", "pretrain_weeks"):
            try:
                kw[key] = int(value)
            except ValueError:
                raise SystemExit(f"learning_study: {key}={value!r}: expected an integer") from None
            least = 0 if key == "pretrain_weeks" else 1
            if kw[key] < least:
                raise SystemExit(f"learning_study: {key}={value!r}: expected an integer >= {least}")
        elif key == "split":
            if value not in ("train", "eval"):
                raise SystemExit(f"learning_study: split={value!r}: expected train or eval")
            kw[key] = value
        else:
            kw[key] = Path(value)
    return kw


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``key=value`` arguments (see ``DEFAULTS``)."""
    kw = _parse(sys.argv[1:] if argv is None else argv)
    study(**kw)
    print(f"results: {Path(kw.get('out', DEFAULTS['out']))}")


if __name__ == "__main__":
    main()
