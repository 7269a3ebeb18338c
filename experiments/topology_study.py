"""The rules organization on generated topologies: does it hold up off the retail shape?

Usage::

    python -m experiments.topology_study                      # 50, 120, 300 assets; 10 eval eps
    python -m experiments.topology_study sizes=50,120 episodes=3 days=3 slots=scenario

For every base scenario (``bases``, default ``sc0002``) and size ``n`` (``sizes``) it writes a
copy of the base scenario on ``generated:<n>:<topology_seed>`` (its planned backfills dropped: they
name retail assets) and runs ``experiments.run_org.run`` with the ``rules`` organization on the
first ``episodes`` seeds of ``split`` over ``days`` days each. The warehouse is sized by ``slots``:
``fit`` (default) gives the topology its nominal peak (``PipelineSpec.nominal_slot_load``; the
retail pipeline's peak is its scenarios' 8 slots) with ``max_slots`` four times that, as retail
has; ``scenario`` keeps the base scenario's warehouse; an integer sets it. A cell whose warehouse
cannot carry its topology on average is refused by the loader (``ScenarioError``) and recorded so.

Reported per cell (base, size), pooled over its episodes:

=======================  ===========================================================================
column                   meaning
=======================  ===========================================================================
faults_per_episode       ground-truth faults (ledger rows) per episode
incidents_per_fault      incidents / faults (every incident, false alarms included)
matched_per_fault        incidents matching a fault / faults (how many incidents one fault makes)
repeat_incidents         incidents whose first alert repeats the (asset, signal) of an earlier
                         incident of the same episode (re-opened conditions), per episode
rca_ac1, alert_f1,       the scorecard's (``agents.scoring.scorecard``)
false_alarms_per_day,
alerts_per_incident
=======================  ===========================================================================

Results go to ``<out>/topology_study.json`` after every cell (a long run can be watched, and an
interrupted one keeps what it finished); each cell's run_org artifacts stay in ``<out>/cells/``.
The default (3 bases would triple it) takes a few minutes on one core: 30 episodes of 3 days.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from experiments.run_org import run
from scenarios import ScenarioError, load_scenario
from scenarios.generate import generate_pipeline

DEFAULTS: dict[str, Any] = {
    "sizes": (50, 120, 300),
    "bases": ("sc0002",),
    "episodes": 10,
    "days": 3.0,
    "split": "eval",
    "topology_seed": 7,
    "slots": "fit",
    "out": "outputs/topology_study",
}
COLUMNS: dict[str, str] = {
    "faults_per_episode": "faults/ep", "incidents_per_fault": "inc/fault",
    "matched_per_fault": "matched/f", "repeat_incidents": "repeats/ep", "rca_ac1": "rca_ac1",
    "alert_f1": "alert_f1", "false_alarms_per_day": "false/day",
    "alerts_per_incident": "alerts/inc",
}  # fmt: skip
"""The table's columns and their short headers."""


def study_scenario(
    base: str, n_assets: int, topology_seed: int, slots: str | int, out: Path
) -> Path:
    """Write the base scenario's copy on ``generated:<n_assets>:<topology_seed>``; return its path.

    Args:
        base: a registered scenario name.
        n_assets: topology size.
        topology_seed: the generator's seed.
        slots: ``fit`` (the topology's nominal peak), ``scenario`` (the base's) or a slot count.
        out: the folder the file is written to.
    """
    sc = load_scenario(base)
    doc = yaml.safe_load(Path(sc.source).read_text())
    doc["pipeline"] = f"generated:{n_assets}:{topology_seed}"
    doc.setdefault("noise", {})["backfills"] = []
    wh = doc.setdefault("warehouse", {})
    if slots != "scenario":
        size = generate_pipeline(n_assets, topology_seed).nominal_slot_load()[0]
        size = size if slots == "fit" else int(slots)
        wh["slots"] = size
        wh["max_slots"] = max(int(wh.get("max_slots", 32)), 4 * size)
    path = out / f"{base}-g{n_assets}-{topology_seed}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cell_metrics(card: dict[str, Any], run_dir: Path, episodes: int) -> dict[str, Any]:
    """The study's columns for one finished run_org run (its scorecard and its tables)."""
    agg = card["aggregate"]
    ledger = pd.read_csv(run_dir / "ledger.csv")
    inc = pd.read_csv(run_dir / "incidents.csv")
    alerts = pd.read_csv(run_dir / "alerts.csv")
    n_faults = len(ledger)
    first = alerts.sort_values("alert_id").groupby(["seed", "incident_id"], as_index=False).first()
    repeats = int(first.duplicated(["seed", "asset", "signal"]).sum())
    matched = int((inc["primary_fault"] >= 0).sum()) if len(inc) else 0
    per_fault = (lambda x: x / n_faults) if n_faults else (lambda x: None)
    return {
        "episodes": episodes,
        "faults": n_faults,
        "incidents": len(inc),
        "faults_per_episode": n_faults / episodes,
        "incidents_per_fault": per_fault(len(inc)),
        "matched_per_fault": per_fault(matched),
        "repeat_incidents": repeats / episodes,
        **{k: agg.get(k) for k in ("rca_ac1", "alert_f1", "false_alarms_per_day")},
        "alerts_per_incident": agg.get("alerts_per_incident"),
    }


def study(
    sizes: Sequence[int] = DEFAULTS["sizes"],
    bases: Sequence[str] = DEFAULTS["bases"],
    *,
    episodes: int = DEFAULTS["episodes"],
    days: float = DEFAULTS["days"],
    split: str = DEFAULTS["split"],
    topology_seed: int = DEFAULTS["topology_seed"],
    slots: str | int = DEFAULTS["slots"],
    out: Path = Path(DEFAULTS["out"]),
) -> dict[str, Any]:
    """Run every (base, size) cell and write ``topology_study.json`` after each; return it."""
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "config": {
            "sizes": list(sizes), "bases": list(bases), "episodes": episodes, "days": days,
            "split": split, "topology_seed": topology_seed, "slots": slots, "org": "rules",
        },
        "cells": [],
    }  # fmt: skip
    path = out / "topology_study.json"
    for base in bases:
        for n in sizes:
            scenario = study_scenario(base, n, topology_seed, slots, out)
            run_dir = out / "cells" / scenario.stem
            t0 = time.perf_counter()
            cell: dict[str, Any] = {"base": base, "assets": n}
            try:
                sc = load_scenario(scenario)
            except ScenarioError as e:  # e.g. a warehouse that cannot carry the topology
                cell["slots"] = yaml.safe_load(scenario.read_text())["warehouse"]["slots"]
                cell["refused"] = str(e)
            else:
                card = run(
                    str(scenario), "rules", episodes, split, run_dir, days=days, events_episodes=0
                )
                cell |= {
                    "slots": sc.spec.warehouse.slots,
                    "nominal_peak_slots": sc.pipeline.nominal_slot_load()[0],
                    **cell_metrics(card, run_dir, episodes),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            result["cells"].append(cell)
            path.write_text(json.dumps(result, indent=2))
            print(format_row(cell), flush=True)
    return result


def format_row(cell: dict[str, Any]) -> str:
    """One cell as a table row."""

    def fmt(v: Any) -> str:
        return "–" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)

    head = f"{cell['base']:>7} {cell['assets']:>6} {cell['slots']:>5}"
    if "refused" in cell:
        return f"{head} refused: {cell['refused']}"
    return head + " " + " ".join(f"{fmt(cell[c]):>10}" for c in COLUMNS)


def header() -> str:
    """The table's header row."""
    return f"{'base':>7} {'assets':>6} {'slots':>5} " + " ".join(
        f"{c:>10}" for c in COLUMNS.values()
    )


def _parse(argv: Sequence[str]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in DEFAULTS:
            raise SystemExit(f"topology_study: expected key=value with key in {sorted(DEFAULTS)}")
        if key == "sizes":
            kw[key] = tuple(int(v) for v in value.split(","))
        elif key == "bases":
            kw[key] = tuple(value.split(","))
        elif key in ("episodes", "topology_seed"):
            kw[key] = int(value)
        elif key == "days":
            kw[key] = float(value)
        elif key == "slots":
            kw[key] = value if value in ("fit", "scenario") else int(value)
        elif key == "out":
            kw[key] = Path(value)
        else:
            kw[key] = value
    return kw


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``key=value`` arguments (see ``DEFAULTS``); prints the table as it goes."""
    kw = _parse(sys.argv[1:] if argv is None else argv)
    print(header(), flush=True)
    study(**kw)
    print(f"results: {Path(kw.get('out', DEFAULTS['out'])) / 'topology_study.json'}")


if __name__ == "__main__":
    main()
