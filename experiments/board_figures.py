"""The leaderboard's figures (matplotlib, headless): interval estimates and performance profiles.

Per role, from ``experiments.leaderboard.role_rows``:

- ``leaderboard_<role>_intervals.png``: each entry's score (rules-normalized IQM) with its 95 %
  CI, best first; dotted lines at random (0) and the rules (1); the oracle in grey, marked as a
  reference that reads hidden ground truth; the axis starts at ``LEFT_LIMIT`` at the lowest, an
  entry whose whole CI lies further left is an arrow at the edge labelled with its score;
- ``leaderboard_<role>_profile.png``: rliable's performance profile — the fraction of (training
  seed, episode) runs whose normalized score exceeds τ, for τ from −1 to past the best scores.

A bare ``Figure`` renders with Agg without pyplot, so a caller's backend is never touched; PNG
metadata carries no version or date, so the same rows give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.stats import performance_profile

_METADATA = {"Software": None}
LEFT_LIMIT = -1.0
"""Left end of the interval plot's axis: a whole rules-random gap below random."""


def _plotted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["score"] is not None]


def interval_figure(role: str, rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Write the interval-estimate figure of ``role``; None (nothing written) without scores."""
    from matplotlib.figure import Figure

    shown = _plotted(rows)
    if not shown:
        return None
    fig = Figure(figsize=(7.0, 0.5 * len(shown) + 1.4))
    ax = fig.add_subplot()
    ys = np.arange(len(shown))[::-1]
    # a do-nothing entry far below random would squeeze every other interval into a few pixels:
    # the axis stops at LEFT_LIMIT and such an entry is an arrow at the edge with its score
    left = max(min(min(r["ci"][0] for r in shown), -0.2), LEFT_LIMIT) - 0.1
    right = max(max(r["ci"][1] for r in shown), 1.0) + 0.1
    for y, r in zip(ys, shown, strict=True):
        lo, hi = r["ci"]
        color = "0.6" if r["reference"] else "C0"
        if hi < left:
            ax.plot(left, y, marker="<", color=color, markersize=9, clip_on=False)
            ax.annotate(f"{r['score']:.2f} [{lo:.2f}, {hi:.2f}], off the axis", (left, y),
                        xytext=(8, 0), textcoords="offset points", va="center", fontsize=8,
                        color=color)  # fmt: skip
            continue
        ax.errorbar(r["score"], y, xerr=[[r["score"] - lo], [hi - r["score"]]], fmt="o",
                    color=color, capsize=4)  # fmt: skip
    ax.set_xlim(left, right)
    ax.set_yticks(ys)
    ax.set_yticklabels(
        [f"{r['label']} (reference: hidden truth)" if r["reference"] else r["label"] for r in shown]
    )
    for x in (0.0, 1.0):
        ax.axvline(x, color="0.3", linestyle=":", linewidth=1)
    ax.set_xlabel("rules-normalized score: IQM, 95% CI")
    ax.set_title(f"{role} (dotted: random = 0, rules = 1)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata=_METADATA)
    return path


def profile_figure(role: str, rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Write the performance-profile figure of ``role``; None (nothing written) without scores."""
    from matplotlib.figure import Figure

    shown = [r for r in _plotted(rows) if r.get("normalized")]
    if not shown:
        return None
    pooled = np.concatenate([np.concatenate(list(r["normalized"].values())) for r in shown])
    hi = max(float(np.percentile(pooled, 98)), 1.0) + 0.1
    lo = -1.0  # below random by a whole rules-random gap: further left only the do-nothing lines
    taus = np.linspace(lo, hi, 121)
    fig = Figure(figsize=(7.0, 4.2))
    ax = fig.add_subplot()
    for i, r in enumerate(shown):
        style: dict[str, Any] = (
            {"color": "0.6", "linestyle": "--"} if r["reference"] else {"color": f"C{i % 10}"}
        )
        label = f"{r['label']} (reference)" if r["reference"] else r["label"]
        ax.step(taus, performance_profile(r["normalized"], taus), where="post", label=label,
                **style)  # fmt: skip
    ax.axvline(1.0, color="0.3", linestyle=":", linewidth=1)
    ax.set_xlabel("rules-normalized score τ")
    ax.set_ylabel("fraction of runs with score > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{role}: performance profile")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata=_METADATA)
    return path
