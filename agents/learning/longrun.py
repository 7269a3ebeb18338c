"""One long run: a scenario over several weeks with one organization that keeps its memory.

``run_weeks(scenario, seed, "rules", weeks=8, mode="on", knowledge=kb)`` builds one world of
``7 * weeks`` days (the scenario's fault processes and noise over the whole horizon, from the
one seed), attaches the organization, a daily cost meter and — unless ``mode`` is ``off`` — the
daily learning cycle (``agents.learning.cycle``), and runs it to the horizon. The knowledge base,
the thresholds, the classifier, the autonomy states and the measures carry from day to day
because it is one run: the organization learns online, as the blueprint's loop does.

Learning data apart from test data: everything the organization learns in a run comes from that
run's own past (labels of incidents closed before the cycle), and the classifier's reported
accuracy on a day is measured on labels it was not trained on (the next day's). A run on an eval
seed therefore reports figures of an organization that learned only during the run; nothing is
carried over from other seeds (each run starts from an empty knowledge base).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from agents.knowledge import KnowledgeBase
from agents.learning.config import LEARNING_MODES, LearningConfig
from agents.learning.cycle import LearningCycle
from agents.learning.meter import DailyMeter
from agents.org import Organization, org_config
from agents.records import EpisodeResult
from envs.sim.world import World
from scenarios.spec import Scenario


class LongRun(NamedTuple):
    """A finished multi-week run.

    Attributes:
        world: the world (its ledger, measures and prevented faults).
        result: the organization's ``EpisodeResult`` over the whole run.
        meter: the daily cost meter.
        cycle: the learning cycle (None when learning is off).
        mode: ``off``, ``on`` or ``raw``.
        weeks: the run's length in weeks.
    """

    world: World
    result: EpisodeResult
    meter: DailyMeter
    cycle: LearningCycle | None
    mode: str
    weeks: int


def run_weeks(
    scenario: Scenario,
    seed: int,
    org: str,
    *,
    weeks: int,
    mode: str,
    knowledge: KnowledgeBase,
    config: LearningConfig | None = None,
    on_write: Callable[[str], None] | None = None,
) -> LongRun:
    """Run ``org`` on ``scenario`` for ``weeks`` weeks from ``seed``.

    Args:
        scenario: the scenario.
        seed: the run's seed (from the split the caller chose).
        org: the organization's name (learning needs ``rules``: the playbook organization).
        weeks: the run's length (≥ 1).
        mode: ``off``, ``on`` or ``raw``.
        knowledge: the knowledge base (the learning tables go into its file).
        config: the learning settings (default ``LearningConfig(mode)``); ignored when off.
        on_write: a test's crash point inside each cycle's transaction.

    Raises:
        ValueError: bad ``weeks``, ``mode``, or learning for an organization without playbooks.
    """
    if not isinstance(weeks, int) or weeks < 1:
        raise ValueError(f"weeks: expected an int >= 1, got {weeks!r}")
    if mode not in LEARNING_MODES:
        raise ValueError(f"learning: expected one of {', '.join(LEARNING_MODES)}, got {mode!r}")
    cfg = org_config(org)
    if mode != "off" and cfg.automation != "playbooks":
        raise ValueError(
            f"learning={mode}: needs an organization with playbooks (rules), got {org}"
        )
    world = World(scenario, seed, days=7.0 * weeks)
    o = Organization(world, cfg, knowledge=knowledge)
    meter = DailyMeter(world)
    cycle = None
    if mode != "off":
        lc = config if config is not None else LearningConfig(mode)
        if lc.mode != mode:
            raise ValueError(f"learning: config mode {lc.mode!r} differs from {mode!r}")
        cycle = LearningCycle(o, knowledge, lc, on_write=on_write)
    world.run()
    meter.close()
    return LongRun(world, o.finish(), meter, cycle, mode, weeks)
