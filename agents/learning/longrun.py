"""One long run: a scenario over several weeks with one organization that keeps its memory.

``run_weeks(scenario, seed, "rules", weeks=8, mode="on", knowledge=kb)`` builds one world of
``7 * weeks`` days (the scenario's fault processes and noise over the whole horizon, from the
one seed), attaches the organization, a daily cost meter and — unless ``mode`` is ``off`` — the
daily learning cycle (``agents.learning.cycle``), and runs it to the horizon. The knowledge base,
the thresholds, the classifier, the autonomy states and the measures carry from day to day
because it is one run: the organization learns online, as the blueprint's loop does.

Learning data apart from test data: everything the organization learns in a run comes from that
run's own past (labels of incidents closed before the cycle), and the classifier's reported
accuracy on a day is measured on labels it was not trained on (the next day's). With
``pretrain_weeks = 0`` (the default) a run starts from an empty knowledge base and nothing is
carried over from other seeds. With ``pretrain_weeks = n > 0`` (learning on or raw, an eval-split
seed) the organization first runs ``n`` weeks on the training-split seed ``train_seed_for``
assigns to the eval seed, and the eval run starts from what that run learned, carried through the
knowledge base (``agents.learning.warmstart``); no eval seed is ever learned from by another run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from agents.knowledge import KnowledgeBase
from agents.learning.config import LEARNING_MODES, LearningConfig
from agents.learning.cycle import LearningCycle
from agents.learning.meter import DailyMeter
from agents.learning.warmstart import carry, train_seed_for
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
        warm_start: what was carried from the training run (``agents.learning.warmstart.carry``:
            train seed and counts); None without pretraining.
    """

    world: World
    result: EpisodeResult
    meter: DailyMeter
    cycle: LearningCycle | None
    mode: str
    weeks: int
    warm_start: dict[str, Any] | None = None


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
    pretrain_weeks: int = 0,
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
        pretrain_weeks: weeks of learning on the training-split seed ``train_seed_for(scenario,
            seed)`` first, carried into this run through ``knowledge`` (0: none).

    Raises:
        ValueError: bad ``weeks``, ``mode`` or ``pretrain_weeks``, learning for an organization
            without playbooks, or pretraining without learning or for a seed outside the eval
            split.
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
    if not isinstance(pretrain_weeks, int) or pretrain_weeks < 0:
        raise ValueError(f"pretrain_weeks: expected an int >= 0, got {pretrain_weeks!r}")
    carried = None
    if pretrain_weeks:
        if mode == "off":
            raise ValueError("pretrain_weeks: needs learning=on or raw (nothing is learned off)")
        train_seed = train_seed_for(scenario, seed)
        run_weeks(scenario, train_seed, org, weeks=pretrain_weeks, mode=mode,
                  knowledge=knowledge, config=config)  # fmt: skip
        carried = carry(
            knowledge, scenario=scenario.name, org=cfg.name, train_seed=train_seed,
            eval_seed=seed, train_days=7.0 * pretrain_weeks,
            cfg=config if config is not None else LearningConfig(mode),
        )  # fmt: skip
    world = World(scenario, seed, days=7.0 * weeks)
    o = Organization(world, cfg, knowledge=knowledge)
    meter = DailyMeter(world)
    cycle = None
    if mode != "off":
        lc = config if config is not None else LearningConfig(mode)
        if lc.mode != mode:
            raise ValueError(f"learning: config mode {lc.mode!r} differs from {mode!r}")
        cycle = LearningCycle(o, knowledge, lc, on_write=on_write, warm_start=carried is not None)
    world.run()
    meter.close()
    return LongRun(world, o.finish(), meter, cycle, mode, weeks, carried)
