"""Episodes as data: (scenario, seed, horizon, action log) — saved, loaded and replayed.

A world is a pure function of its scenario, seed, horizon and the actions taken at given times,
so an episode saved as those four things replays to the same event log and the same ledger. The
action log holds the simulated time at which each action was issued; replay advances the world to
that time (``World.run(until=t)``, which stops before any event at ``t``) and issues it, exactly
as a controller that acts between ``run`` calls does. Preventive measures taken and retired
(``World.prevent``, ``World.retire``) are logged and replayed the same way; an episode without
any is saved exactly as before (no ``measures`` key).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from envs.sim.actions import Action, perform
from envs.sim.prevention import MeasureOp
from envs.sim.world import World
from scenarios.loader import load_scenario


class Episode(NamedTuple):
    """What is needed to reproduce a world exactly.

    Attributes:
        scenario: registered scenario name or path to a scenario file.
        seed: the episode seed.
        days: horizon override in days (None: the scenario's).
        actions: (issue time in minutes, action) pairs in issue order.
        measures: the preventive measures taken and retired, in order
            (``envs.sim.prevention.MeasureOp``).
    """

    scenario: str
    seed: int
    days: float | None
    actions: tuple[tuple[float, Action], ...] = ()
    measures: tuple[MeasureOp, ...] = ()


def simulate(scenario: str, seed: int, days: float | None = None) -> World:
    """Build a world for ``scenario`` and ``seed`` and run it to its horizon with no agents."""
    world = World(load_scenario(scenario), seed, days=days)
    world.run()
    return world


def record(world: World, scenario: str) -> Episode:
    """The episode that reproduces ``world`` so far (``scenario`` as it was referenced)."""
    return Episode(
        scenario,
        world.seed,
        world.horizon / 1440.0,
        tuple(world.book.log),
        tuple(world.prevention.log),
    )


def replay(episode: Episode) -> World:
    """Rebuild the world of ``episode``: same seed, same actions at the same times, to the end."""
    world = World(load_scenario(episode.scenario), episode.seed, days=episode.days)
    # measures and actions issued at the same time do not interact (a measure acts at fault
    # onsets and backfill starts, an action through its process): measures first, by time
    steps = [(m.t, 0, i) for i, m in enumerate(episode.measures)]
    steps += [(t, 1, i) for i, (t, _a) in enumerate(episode.actions)]
    for t, kind, i in sorted(steps):
        world.run(until=t)
        if kind == 1:
            perform(world, episode.actions[i][1])
        elif (m := episode.measures[i]).op == "prevent":
            world.prevent(m.measure, m.asset, **dict(m.params))
        else:
            world.retire(m.measure_id)
    world.run()
    return world


def save(episode: Episode, path: str | Path) -> None:
    """Write ``episode`` as JSON."""
    doc: dict[str, Any] = {
        "scenario": episode.scenario,
        "seed": episode.seed,
        "days": episode.days,
        "actions": [
            {"t": t, "kind": a.kind, "asset": a.asset, "params": dict(a.params)}
            for t, a in episode.actions
        ],
    }
    if episode.measures:
        doc["measures"] = [
            {"t": m.t, "op": m.op, "measure": m.measure, "asset": m.asset,
             "params": dict(m.params), "measure_id": m.measure_id}
            for m in episode.measures
        ]  # fmt: skip
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True))


def load(path: str | Path) -> Episode:
    """Read an episode written by ``save``.

    Raises:
        ValueError: naming the file and the field if the document is malformed.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
        actions = tuple(
            (float(x["t"]), Action.make(str(x["kind"]), int(x["asset"]), **x.get("params", {})))
            for x in doc["actions"]
        )
        measures = tuple(
            MeasureOp(
                float(x["t"]), str(x["op"]), str(x["measure"]), int(x["asset"]),
                tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                             for k, v in x["params"].items())),
                int(x["measure_id"]),
            )
            for x in doc.get("measures", ())
        )  # fmt: skip
        return Episode(str(doc["scenario"]), int(doc["seed"]), doc.get("days"), actions, measures)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{p}: not an episode file ({e!r}); expected keys scenario, seed, days, actions"
        ) from e
