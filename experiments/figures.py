"""The lab's key pictures, drawn into ``docs/figures/`` (matplotlib, headless, deterministic).

Usage::

    python -m experiments.figures                     # every figure into docs/figures/
    python -m experiments.figures --only=retail_dag   # one of them
    python -m experiments.figures --out=<dir>
    python -m experiments.figures --only=learning_curve --run=<training run dir>

=====================  ==========================================================================
figure                 what it shows
=====================  ==========================================================================
``retail_dag``         the default retail topology (``scenarios/pipelines/retail.yaml``) by data
                       layer: one column per layer, Source to Delivery, an edge per upstream read;
                       blocking checks (circuit breakers) drawn with a thick border
``incident_timeline``  one SC-0001 eval episode (the first eval seed) with the ``rules``
                       organization: every run per asset over time (failed runs in red), the
                       ground-truth faults from the ledger (onset to resolution, on the assets they
                       reach), the organization's alerts and its remediation steps (verified fixes
                       and failed attempts); the top panel is the whole week, the bottom one the
                       day with the longest incident
``learning_curve``     a training run's held-out return against env steps, with the rules and
                       the oracle as reference lines on the same episodes
                       (``experiments.curve_figure``): by default the committed run log in
                       ``docs/figures/learning_curve_run/`` (a quickstart-size MaskablePPO run on
                       SC-0002), or the run directory given by ``--run=<dir>``; nothing is trained
=====================  ==========================================================================

Each figure is a bare ``Figure`` rendered by Agg (pyplot is never imported, so a caller's backend
is left alone); the PNG metadata carries no software version, so the same code and seed give the
same bytes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from experiments.curve_figure import draw_learning_curve, read_curve
from experiments.errors import UsageError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LAYERS: Final[tuple[str, ...]] = ("Source", "Ingestion", "Transformation", "Warehouse", "Delivery")
TIMELINE_SCENARIO: Final = "sc0001"
TIMELINE_ORG: Final = "rules"
_METADATA: Final = {"Software": None}
_DPI: Final = 100
_LAYER_COLORS: Final = dict(zip(LAYERS, ("#dbe9f6", "#d9f0d3", "#fde6c8", "#e8dcf0", "#f6d5d5"),
                                strict=True))  # fmt: skip


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, metadata=_METADATA)
    return path


def _dag_layout(assets: Sequence[Any]) -> tuple[dict[str, tuple[float, float]], list[float]]:
    """Each asset's (x, y) and each layer's x centre.

    A layer is one column, split into sub-columns when assets of the layer read each other
    (``stg_*`` then ``int_*`` in Transformation), so no edge runs through a box. Within a
    column assets are ordered by the mean row of their upstream assets (fewer crossings), and
    each column is centred vertically.
    """
    by_name = {a.name: a for a in assets}
    depth: dict[str, int] = {}
    for a in assets:  # assets are listed after their upstream (the pipeline validates it)
        same = [depth[u] for u in a.upstream if by_name[u].layer == a.layer]
        depth[a.name] = 1 + max(same) if same else 0
    columns: list[tuple[str, int]] = [
        (layer, d) for layer in LAYERS
        for d in range(1 + max((depth[a.name] for a in assets if a.layer == layer), default=0))
    ]  # fmt: skip
    row: dict[str, float] = {}
    cols: list[list[Any]] = []
    for layer, d in columns:
        col = [a for a in assets if a.layer == layer and depth[a.name] == d]

        def key(a: Any) -> tuple[float, str]:
            ups = [row[u] for u in a.upstream if u in row]
            return (sum(ups) / len(ups) if ups else -1.0, a.name)

        ordered = col if layer == "Source" else sorted(col, key=key)
        for i, a in enumerate(ordered):
            row[a.name] = float(i)
        cols.append(ordered)
    tallest = max(len(c) for c in cols)
    pos: dict[str, tuple[float, float]] = {}
    for x, col in enumerate(cols):
        for a in col:
            pos[a.name] = (float(x), row[a.name] + (tallest - len(col)) / 2)
    centres = [
        sum(i for i, (lay, _) in enumerate(columns) if lay == layer)
        / sum(1 for lay, _ in columns if lay == layer)
        for layer in LAYERS
    ]
    return pos, centres


def draw_retail_dag(path: Path) -> Path:
    """Draw the retail topology by layer into ``path`` (see the module docstring)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, Rectangle

    from scenarios import load_pipeline

    pipe = load_pipeline("retail")
    pos, centres = _dag_layout(pipe.assets)
    n_cols = int(max(x for x, _ in pos.values())) + 1
    tallest = int(max(y for _, y in pos.values())) + 1
    fig = Figure(figsize=(2.55 * n_cols, 0.62 * tallest + 1.8))
    ax = fig.add_subplot()
    box_w, box_h = 0.84, 0.62
    for layer, cx in zip(LAYERS, centres, strict=True):
        xs = [x for a in pipe.assets if a.layer == layer for x in (pos[a.name][0],)]
        lo, hi = min(xs) - 0.48, max(xs) + 0.48
        ax.add_patch(Rectangle((lo, -0.55), hi - lo, tallest + 0.1, facecolor=_LAYER_COLORS[layer],
                               alpha=0.35, edgecolor="none", zorder=0))  # fmt: skip
        n = sum(a.layer == layer for a in pipe.assets)
        ax.text(cx, -0.95, f"{layer} ({n})", ha="center", va="center", fontsize=11,
                fontweight="bold")  # fmt: skip
    for a in pipe.assets:
        for u in a.upstream:
            pts = _edge_route(pos[u], pos[a.name], pos, box_w)
            if len(pts) > 2:
                ax.plot([x for x, _ in pts[:-1]], [y for _, y in pts[:-1]], color="0.5",
                        linewidth=0.8, zorder=1)  # fmt: skip
            ax.add_patch(FancyArrowPatch(
                pts[-2], pts[-1], arrowstyle="-|>", mutation_scale=8,
                color="0.5", linewidth=0.8, shrinkA=0, shrinkB=1, zorder=1,
            ))  # fmt: skip
    for a in pipe.assets:
        x, y = pos[a.name]
        blocking = any(c.blocking for c in a.checks)
        ax.add_patch(_box(x, y, box_w, box_h, _LAYER_COLORS[a.layer], blocking))
        every = {60: "hourly", 1440: "daily"}.get(a.every_min, f"every {a.every_min} min")
        ax.text(x, y - 0.08, a.name, ha="center", va="center", fontsize=7.5, zorder=3)
        ax.text(x, y + 0.17, f"{every} · {a.criticality} criticality", ha="center",
                va="center", fontsize=6, color="0.35", zorder=3)  # fmt: skip
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(tallest - 0.35, -1.3)
    ax.axis("off")
    ax.set_title(
        f"The retail topology: {len(pipe.assets)} assets by data layer, an arrow per upstream "
        "read (thick border: a blocking check, a circuit breaker)",
        fontsize=12,
    )
    fig.tight_layout()
    return _save(fig, path)


def _edge_route(
    start: tuple[float, float],
    end: tuple[float, float],
    pos: dict[str, tuple[float, float]],
    box_w: float,
) -> list[tuple[float, float]]:
    """The points of an edge from ``start`` to ``end`` (box centres), never under a box.

    Straight to the next column; through a column it crosses, along the gap between two of its
    boxes (half a row from a box) nearest the straight line.
    """
    (x0, y0), (x1, y1) = start, end
    pts = [(x0 + box_w / 2, y0)]
    for col in range(int(x0) + 1, int(x1)):
        rows = sorted(y for x, y in pos.values() if x == col)
        lanes = [rows[0] - 0.5] + [y + 0.5 for y in rows]
        straight = y0 + (y1 - y0) * (col - x0) / (x1 - x0)
        lane = min(lanes, key=lambda y: (abs(y - straight), y))
        pts += [(col - box_w / 2 - 0.03, lane), (col + box_w / 2 + 0.03, lane)]
    return [*pts, (x1 - box_w / 2, y1)]


def _box(x: float, y: float, w: float, h: float, color: str, blocking: bool) -> Any:
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch(
        (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.0,rounding_size=0.08",
        facecolor=color, edgecolor="0.15" if blocking else "0.5",
        linewidth=2.0 if blocking else 0.8, zorder=2,
    )  # fmt: skip


def _timeline_episode(seed: int | None) -> tuple[Any, Any, Any, Any]:
    """The timeline's episode: (world, episode result, runs table, ledger)."""
    from agents.slots.runner import run_episode
    from envs.sim.ledger import faults_table, runs_table
    from scenarios import load_scenario

    sc = load_scenario(TIMELINE_SCENARIO)
    seed = sc.spec.seeds.eval.seeds()[0] if seed is None else seed
    world, ep = run_episode(sc, seed, TIMELINE_ORG)
    return world, ep, runs_table(world), faults_table(world)


def _focus_window(ledger: Any) -> tuple[float, float]:
    """One day (minutes) around the fault that took longest to resolve."""
    dur = ledger["resolved_at"].fillna(ledger["onset"].max()) - ledger["onset"]
    f = ledger.loc[dur.idxmax()]
    start = max(0.0, float(f["onset"]) - 6 * 60.0)
    return start, start + 24 * 60.0


def _timeline_panel(
    ax: Axes, ep: Any, runs: Any, ledger: Any, order: list[str], t0: float, t1: float,
    *, scale_min: float, detail: bool,
) -> None:  # fmt: skip
    """Runs, faults, alerts and fixes between ``t0`` and ``t1``; x in ``scale_min`` units."""
    y = {name: i for i, name in enumerate(order)}
    s = 1.0 / scale_min
    for fid, f in ledger.iterrows():
        end = f["resolved_at"] if f["resolved_at"] == f["resolved_at"] else ep.horizon
        if end < t0 or f["onset"] > t1:
            continue
        for name in f["affected_asset_names"]:
            root = name == f["root_asset_name"]
            ax.barh(y[name], (end - f["onset"]) * s, left=f["onset"] * s, height=0.8,
                    color="#f4a261" if root else "#fbd9bd", zorder=1, linewidth=0)  # fmt: skip
        if detail and end < t1:  # named just after its resolution, on its root's row
            ax.text(end * s + 0.25, y[f["root_asset_name"]], f"fault {fid}: {f['subtype']}",
                    fontsize=7.5, color="#9c4a00", va="center", ha="left", zorder=7,
                    clip_on=True, bbox={"facecolor": "white", "edgecolor": "none",
                                        "alpha": 0.85, "pad": 1.0})  # fmt: skip
    win = runs[(runs["ended_at"] >= t0) & (runs["started_at"] <= t1)]
    for failed, color in ((False, "0.45"), (True, "#d62828")):
        part = win[(win["status"] == "failed") == failed]
        ys = [y[n] for n in part["asset_name"]]
        if detail:
            ax.barh(ys, (part["ended_at"] - part["started_at"]).clip(lower=2.0) * s,
                    left=part["started_at"] * s, height=0.35, color=color, zorder=2)  # fmt: skip
        else:
            ax.scatter(part["started_at"] * s, ys, marker="|", s=12 if failed else 5,
                       color=color, linewidths=0.6 if not failed else 1.2, zorder=2)  # fmt: skip
    alerts = [a for a in ep.alerts if t0 <= a.t <= t1]
    ax.scatter([a.t * s for a in alerts], [y[a.asset_name] for a in alerts], marker="v",
               s=30 if detail else 14, color="#1d3557", zorder=4)  # fmt: skip
    steps = [r for r in ep.remediations if t0 <= r.done_at <= t1]
    ok = [r for r in steps if r.verified]
    bad = [r for r in steps if not r.verified]
    ax.scatter([r.done_at * s for r in ok], [y[r.asset_name] for r in ok], marker="*",
               s=110 if detail else 45, color="#2a9d8f", edgecolors="k", linewidths=0.4,
               zorder=6)  # fmt: skip
    ax.scatter([r.done_at * s for r in bad], [y[r.asset_name] for r in bad], marker="X",
               s=45 if detail else 20, color="#e9c46a", edgecolors="k", linewidths=0.4,
               zorder=6)  # fmt: skip
    if detail:
        for r in steps:
            ax.text(r.done_at * s, y[r.asset_name] + 0.6, r.kind, fontsize=6.5, ha="center",
                    va="top", color="0.2", zorder=6, clip_on=True)  # fmt: skip
    ax.set_xlim(t0 * s, t1 * s)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(order, fontsize=6.5 if detail else 5.5)
    ax.grid(axis="x", alpha=0.3)


def draw_incident_timeline(path: Path, seed: int | None = None) -> Path:
    """Draw one SC-0001 eval episode with the rules organization into ``path``.

    Args:
        path: the PNG to write.
        seed: the episode seed (None: the first seed of SC-0001's eval split).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    _world, ep, runs, ledger = _timeline_episode(seed)
    order = [n for layer in LAYERS for n, lay in zip(ep.asset_names, ep.asset_layers,
                                                      strict=True) if lay == layer]  # fmt: skip
    t0, t1 = _focus_window(ledger)
    fig = Figure(figsize=(13.0, 13.0))
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1.5]})
    _timeline_panel(top, ep, runs, ledger, order, 0.0, ep.horizon, scale_min=1440.0,
                    detail=False)  # fmt: skip
    top.axvspan(t0 / 1440.0, t1 / 1440.0, color="#457b9d", alpha=0.12, zorder=0)
    top.set_xlabel("day of the episode (shaded: the day below)")
    top.set_title(
        f"SC-0001 eval seed {ep.seed}, {TIMELINE_ORG} organization: {len(ledger)} faults, "
        f"{len(ep.alerts)} alerts, {len(ep.remediations)} remediation steps, "
        f"{len(runs)} runs",
        fontsize=11,
    )
    _timeline_panel(bottom, ep, runs, ledger, order, t0, t1, scale_min=60.0, detail=True)
    bottom.set_xlabel("hour of the episode")
    bottom.set_title("one day in detail: each run as a bar from start to end", fontsize=10)
    handles = [
        Line2D([], [], color="0.45", linewidth=4, label="run (succeeded)"),
        Line2D([], [], color="#d62828", linewidth=4, label="run (failed)"),
        Patch(color="#f4a261", label="fault at its root asset (onset → resolved)"),
        Patch(color="#fbd9bd", label="fault reaching a downstream asset"),
        Line2D([], [], marker="v", linestyle="", color="#1d3557", label="alert"),
        Line2D([], [], marker="*", linestyle="", color="#2a9d8f", markeredgecolor="k",
               markersize=11, label="remediation step: verified fix"),
        Line2D([], [], marker="X", linestyle="", color="#e9c46a", markeredgecolor="k",
               markersize=8, label="remediation step: not fixed"),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8.5, frameon=False)
    fig.tight_layout(rect=(0.0, 0.05, 1.0, 1.0))
    return _save(fig, path)


FIGURES: Final[dict[str, Callable[[Path], Path]]] = {
    "retail_dag": draw_retail_dag,
    "incident_timeline": draw_incident_timeline,
    "learning_curve": draw_learning_curve,
}
"""Figure name → drawing function (the PNG is ``<out>/<name>.png``)."""


def make_figures(
    out: Path = Path("docs/figures"), only: str | None = None, run: Path | None = None
) -> list[Path]:
    """Draw every figure (or ``only`` one) into ``out``; returns the files written.

    Args:
        out: the directory of the PNGs.
        only: one figure's name (None: all of them).
        run: the training run directory ``learning_curve`` is drawn from (None: the committed
            ``experiments.curve_figure.DEFAULT_RUN``).

    Raises:
        UsageError: ``only`` names no figure, or ``run`` is not a usable training run.
    """
    if only is not None and only not in FIGURES:
        raise UsageError(f"only={only!r}: unknown figure; expected one of {', '.join(FIGURES)}")
    names = [only] if only is not None else list(FIGURES)
    if run is not None:
        read_curve(run)  # a bad run fails before any figure is drawn
    draw = dict(FIGURES)
    if run is not None:
        draw["learning_curve"] = lambda path: draw_learning_curve(path, run)
    return [draw[n](out / f"{n}.png") for n in names]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--only=<name>``, ``--out=<dir>``; prints each file written."""
    p = argparse.ArgumentParser(prog="python -m experiments.figures", description=__doc__
                                .split("\n", 1)[0])  # fmt: skip
    p.add_argument("--only", default=None, help=f"one of: {', '.join(FIGURES)}")
    p.add_argument("--out", default="docs/figures", help="output directory")
    p.add_argument(
        "--run",
        default=None,
        help="training run directory for learning_curve (default: the committed log)",
    )
    args = p.parse_args(argv)
    try:
        files = make_figures(
            Path(args.out), args.only, None if args.run is None else Path(args.run)
        )
    except UsageError as e:
        print(f"figures: error: {e}", file=sys.stderr)
        return 2
    for f in files:
        print(f"figures: {f} ({f.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
