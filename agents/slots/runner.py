"""The slot runner: one episode with the organization in the loop and its policy slots filled.

``run_episode(scenario, seed, org, slots=resolve_slots(triage=...))`` runs one episode. A policy is
anything with ``act(obs, mask=None)`` (``PolicyLike``): an exported ONNX policy from
``agents.deploy.runtime.load_policy``, an SB3 model behind a small adapter, or a test's numpy
function. It sees arrays, never an environment: the organization builds the same observation and
mask the training environment builds (``features``, ``route_mask``, ``sla_optimizer``,
``cost_optimizer`` of this package) and applies the action the way the environment's ``step`` does.

======  =======================  ============================================================
slot    when it decides          what it does
======  =======================  ============================================================
triage  an incident needs a      ``triage_features`` and ``route_mask`` -> ``act`` -> the
        route                    route ``ROUTES[a]`` (Issue Triage's layer 2; guardrails
                                 still apply)
sla     every ``period_min``     ``SlaOptimizer.observe`` -> ``act`` -> ``SlaOptimizer.apply``
cost    every ``period_min``     ``CostOptimizer.observe`` -> ``act`` -> ``CostOptimizer.apply``
======  =======================  ============================================================

The slot's spaces and the ``onnx:<dir>`` values that fill it are in ``agents.slots.resolve``.

**Same decisions, same world.** An organization running a policy in a slot on seed *s* makes the
decisions, and produces the world, that the role's environment makes on seed *s* when that policy
drives it (``env.step(policy.act(obs, mask))``) — a test checks it for every role. SimPy breaks
ties between events at the same minute by the order they were scheduled, so the slots reproduce
the environments' scheduling exactly, not just their clock:

- the triage environment pauses when an incident asks for a route: the request succeeds a wake-up
  event, the environment's stop condition (an ``any_of`` on it) fires one event later, and only then
  are the pending incidents decided, in order, each route succeeding the incident's event. The
  triage slot is a ``Decider`` that schedules that same wake-up and condition and decides in the
  condition's callback, so every event at the same minute that the environment would process before
  deciding is processed here too;
- the SLA and cost environments apply an action, then run until an ``any_of`` on a timeout one
  period ahead; the optimizer slots decide in that condition's callback, for the first time when
  they start (before the world runs, as ``reset`` then ``step`` do);
- the environments end an episode on a timeout to the horizon created right after the organization
  (``DataOpsEnv._build``) and stop on an ``any_of`` of it, so events at exactly the horizon that
  were scheduled before it still run; ``run_to_horizon`` ends a slotted episode the same way.
  (``World.run`` stops just before the horizon's events: an organization without slots keeps
  that ending, so its results do not change.)
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import simpy

from agents.org import Organization, OrgConfig, org_config
from agents.playbooks import ROUTES
from agents.records import EpisodeResult
from agents.slots.cost_optimizer import CostOptimizer
from agents.slots.features import triage_features
from agents.slots.resolve import NO_SLOTS, PolicyLike, Slots, slotted_config
from agents.slots.route_mask import route_mask
from agents.slots.sla_optimizer import PERIOD_MIN, SlaOptimizer
from agents.triage import RoutePolicy, RouteRequest
from envs.sim.world import World
from scenarios.spec import Scenario


class OptimizerView(Protocol):
    """A periodic role's view and lever (``SlaOptimizer``, ``CostOptimizer``)."""

    world: World

    def observe(self) -> np.ndarray:
        """The observation now."""
        ...

    def apply(self, action: Any) -> None:
        """Apply ``action`` now (raises ``ValueError`` for an invalid one)."""
        ...

    def close_period(self) -> object:
        """Bookkeeping at the end of a period, before the next observation."""
        ...


class RouteSlot:
    """The triage route slot as a ``Decider`` (see ``agents.org.Decider``) driven by a policy.

    Args:
        policy: chooses a route index into ``agents.playbooks.ROUTES``.

    Attributes:
        decisions: routes chosen so far, in order: (incident id, route).
    """

    def __init__(self, policy: PolicyLike) -> None:
        self.policy = policy
        self.org: Organization | None = None
        self.pending: list[tuple[RouteRequest, simpy.Event]] = []
        self.decisions: list[tuple[int, str]] = []
        self._armed = False

    def bind(self, org: Organization) -> None:
        """Attach to the organization whose incidents this slot routes (before the world runs)."""
        self.org = org

    def request(self, req: RouteRequest) -> simpy.Event:
        """Queue ``req``; its route comes in the same SimPy step the triage environment's would."""
        assert self.org is not None, "RouteSlot.bind(org) must be called before the world runs"
        env = self.org.world.env
        ev = env.event()
        self.pending.append((req, ev))
        if not self._armed:
            # the environment's wake-up, then its stop condition one event later
            self._armed = True
            wake = env.event()
            stop = env.any_of([wake])
            stop.callbacks.append(self._decide)
            wake.succeed()
        return ev

    def _decide(self, _stop: simpy.Event) -> None:
        assert self.org is not None
        self._armed = False
        while self.pending:
            req, ev = self.pending.pop(0)
            obs = triage_features(self.org, req)
            action = self.policy.act(obs, route_mask(self.org.world, req.proposal))
            route = ROUTES[_route_index(action)]
            self.decisions.append((req.incident.incident_id, route))
            ev.succeed(route)


def _route_index(action: Any) -> int:
    a = np.asarray(action)
    if a.size == 1 and np.issubdtype(a.dtype, np.integer) and 0 <= int(a.reshape(())) < len(ROUTES):
        return int(a.reshape(()))
    raise ValueError(
        f"triage: the policy returned {action!r}; expected an int in 0..{len(ROUTES) - 1} "
        "(an index into agents.playbooks.ROUTES)"
    )


class OptimizerSlot:
    """A periodic slot (SLA or cost optimizer): every ``period_min``, observe, act, apply.

    Args:
        slot: ``sla`` or ``cost`` (for error messages).
        policy: chooses the action from the view's observation.
        view: the role's view and lever.
        period_min: minutes between decisions (the environment's ``period_min``).

    Attributes:
        actions: the actions applied so far, in order.
    """

    def __init__(
        self, slot: str, policy: PolicyLike, view: OptimizerView, period_min: float
    ) -> None:
        if not period_min > 0:
            raise ValueError(f"period_min: expected > 0, got {period_min}")
        self.slot = slot
        self.policy = policy
        self.view = view
        self.period = float(period_min)
        self.actions: list[np.ndarray] = []

    def start(self) -> None:
        """Make the first decision now (the environment's ``reset`` and first ``step``)."""
        self._decide(None)

    def _decide(self, stop: simpy.Event | None) -> None:
        if stop is not None:
            self.view.close_period()
        action = np.asarray(self.policy.act(self.view.observe(), None))
        try:
            self.view.apply(action)
        except ValueError as e:
            raise ValueError(f"{self.slot}: the policy returned an invalid action: {e}") from None
        self.actions.append(action)
        w = self.view.world
        t = w.now + self.period
        if t < w.horizon:  # the last period runs to the horizon: no further decision
            tick = w.env.timeout(max(0.0, t - w.now))
            nxt = w.env.any_of([tick])
            nxt.callbacks.append(self._decide)


def run_to_horizon(world: World, starts: tuple[OptimizerSlot, ...] = ()) -> None:
    """Run ``world`` to its horizon as the environments do, starting ``starts`` first.

    Call it right after the organization is built: the end timeout is created before the
    optimizers' first actions, as in ``DataOpsEnv._build`` followed by the first ``step``.
    """
    env = world.env
    end = env.timeout(world.horizon - world.now)
    for slot in starts:
        slot.start()
    env.run(until=env.any_of([end]))


def run_slots(
    org: Organization,
    route: RouteSlot | None,
    sla: PolicyLike | None,
    cost: PolicyLike | None,
    period_min: float,
) -> None:
    """Run ``org``'s world to its horizon with its policy slots filled.

    Call it right after the organization is built (with ``decider=route`` and, for a cost
    policy, ``allow_scaling=False``).

    Args:
        org: the organization, before its world runs.
        route: the triage slot it was built with, or None.
        sla: the SLA optimizer's policy, or None.
        cost: the cost optimizer's policy, or None.
        period_min: minutes between the optimizers' decisions.
    """
    if route is not None:
        route.bind(org)
    starts = []
    if sla is not None:
        starts.append(OptimizerSlot("sla", sla, SlaOptimizer(org.monitor, org.world), period_min))
    if cost is not None:
        view = CostOptimizer(org.world, org.monitor)
        starts.append(OptimizerSlot("cost", cost, view, period_min))
    run_to_horizon(org.world, tuple(starts))


def run_episode(
    scenario: Scenario,
    seed: int,
    org: str | OrgConfig,
    *,
    days: float | None = None,
    knowledge: Any = None,
    route_policy: RoutePolicy | None = None,
    slots: Slots = NO_SLOTS,
    period_min: float = PERIOD_MIN,
) -> tuple[World, EpisodeResult]:
    """Simulate one episode with an organization in the loop.

    Args:
        scenario: the scenario.
        seed: the episode seed.
        org: an organization's name or config.
        days: horizon override in days.
        knowledge: the knowledge base (or None).
        route_policy: the rules organization's triage route slot (default: the rules' choice).
        slots: the policy slots, resolved once by ``agents.slots.resolve.resolve_slots`` (default:
            none filled — the rules, no optimizers). With any slot filled the episode runs as the
            role's environment runs it and the organization is named after its slots
            (``rules+triage:onnx``).
        period_min: minutes between the SLA and cost optimizers' decisions.

    Returns:
        The world (for its telemetry) and the organization's episode result.

    Raises:
        TypeError: ``slots`` is not a ``Slots`` value.
        SlotError: a triage policy for an organization without playbooks.
    """
    if not isinstance(slots, Slots):
        raise TypeError(
            f"slots: expected agents.slots.resolve.Slots (from resolve_slots(...)), got "
            f"{type(slots).__name__}"
        )
    cfg = org_config(org) if isinstance(org, str) else org
    world = World(scenario, seed, days=days)
    if slots.empty:
        o = Organization(world, cfg, knowledge=knowledge, route_policy=route_policy)
        world.run()
        return world, o.finish()
    cfg = slotted_config(cfg, slots, route_policy)
    route = RouteSlot(slots.triage) if slots.triage is not None else None
    o = Organization(
        world, cfg, knowledge=knowledge, route_policy=route_policy, decider=route,
        allow_scaling=slots.cost is None,
    )  # fmt: skip
    run_slots(o, route, slots.sla, slots.cost, period_min)
    return world, o.finish()
