"""Episodes as data: (scenario, seed, horizon, action log) — saved, loaded and replayed.

A world is a pure function of its scenario, seed, horizon and the actions taken at given times,
so an episode saved as those four things replays to the same event log and the same ledger. The
action log holds the simulated time at which each action was issued; replay advances the world to
that time (``World.run(until=t)``, which stops before any event at ``t``) and issues it, exactly
as a controller that acts between ``run`` calls does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from envs.sim.actions import Action, perform
from envs.sim.world import World
from scenarios.loader import load_scenario


class Episode(NamedTuple):
    """What is needed to reproduce a world exactly.

    Attributes:
        scenario: registered scenario name or path to a scenario file.
        seed: the episode seed.
        days: horizon override in days (None: the scenario's).
        actions: (issue time in minutes, action) pairs in issue order.
    """

    scenario: str
    seed: int
    days: float | None
    actions: tuple[tuple[float, Action], ...] = ()


def simulate(scenario: str, seed: int, days: float | None = None) -> World:
    """Build a world for ``scenario`` and ``seed`` and run it to its horizon with no agents."""
    world = World(load_scenario(scenario), seed, days=days)
    world.run()
    return world


def record(world: World, scenario: str) -> Episode:
    """The episode that reproduces ``world`` so far (``scenario`` as it was referenced)."""
    return Episode(scenario, world.seed, world.horizon / 1440.0, tuple(world.book.log))


def replay(episode: Episode) -> World:
    """Rebuild the world of ``episode``: same seed, same actions at the same times, to the end."""
    world = World(load_scenario(episode.scenario), episode.seed, days=episode.days)
    for t, action in episode.actions:
        world.run(until=t)
        perform(world, action)
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
        return Episode(str(doc["scenario"]), int(doc["seed"]), doc.get("days"), actions)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{p}: not an episode file ({e!r}); expected keys scenario, seed, days, actions"
        ) from e
