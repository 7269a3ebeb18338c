"""Auto-Remediation: playbooks per diagnosed cause, non-destructive first, verified, audited.

Each diagnosed cause has a ladder of rungs, least aggressive first (retry and wait before
rerun and backfill, destructive actions only where triage found evidence). After every rung the
fix oracle is asked whether every fault touching the incident's assets is fixed *and* nothing else
broke; if not, the next rung runs (re-plan). When the ladder is exhausted — or triage routed to a
human — the incident is escalated (at most twice); an incident nobody could fix ends ``escalated``
and stays counted: no silent failures. Every action is written to the audit log as a
``RemediationStep`` with before/after state and its rollback handle; a warehouse scaled up only to
ride out a fault is scaled back once the fix is verified. A ``kill_query`` that turns out to have
cancelled a healthy query (outcome ``collateral``: a kill cannot be rolled back) is followed at
once by a ``retry`` of the asset, which re-executes the window it killed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from agents.incidents import Incident
from agents.playbooks import Rung
from agents.records import RemediationStep
from envs.sim.actions import UNDOABLE, ActionError
from envs.sim.oracle import verify_assets
from envs.sim.world import World


class AutoRemediation:
    """Runs playbooks for incidents in one world.

    Args:
        world: the world to act on.
        max_escalations: escalations before an incident is left ``escalated``.
        allow_scaling: playbooks may resize the warehouse (else such rungs are refused).
        on_close: called with the incident when it is resolved, closed or given up.
    """

    def __init__(
        self,
        world: World,
        max_escalations: int = 2,
        on_close: Callable[[Incident], None] | None = None,
        allow_scaling: bool = True,
    ) -> None:
        self.world = world
        self.allow_scaling = allow_scaling
        self.max_escalations = max_escalations
        self.on_close = on_close
        self.log: list[RemediationStep] = []

    def run(
        self, inc: Incident, rungs: list[Rung], target: int, scope: set[int], *, paged: bool = False
    ) -> Generator[simpy.Event, Any, None]:
        """SimPy process: climb ``rungs`` on ``target``, verify after each, escalate if needed.

        Args:
            inc: the incident.
            rungs: the playbook rungs to try.
            target: the asset they act on (-1 warehouse-wide).
            scope: assets whose faults must all be fixed for the incident to count as fixed.
            paged: a human is paged at once (critical incidents) while the non-destructive
                ``rungs`` run; whoever fixes it first closes it.
        """
        scaled: list[int] = []
        page = None
        if paged:
            page = self.world.env.process(
                self._step(inc, "escalate", target, {}, scope, "critical: human paged", scaled)
            )
        for kind, params in rungs:
            if kind == "sleep":
                yield self.world.env.timeout(float(params["minutes"]))
                if verify_assets(self.world, frozenset(scope), since=inc.opened_at - 1440.0):
                    self._close(inc, "auto" if inc.steps else "benign", scaled)
                    return
                continue
            ok = yield from self._step(inc, kind, target, dict(params), scope, "playbook", scaled)
            if ok:
                self._close(inc, "auto", scaled)
                return
        if page is not None:
            ok = yield page
            if ok:
                self._close(inc, "manual", scaled)
                return
        for n in range(1 if page is not None else 0, self.max_escalations):
            reason = "playbook exhausted" if rungs else "routed to a human"
            if n:
                reason = "previous escalation did not fix it"
            ok = yield from self._step(inc, "escalate", target, {}, scope, reason, scaled)
            if ok:
                self._close(inc, "manual", scaled)
                return
        inc.status = "escalated"
        inc.resolution = "escalated"
        if self.on_close is not None:
            self.on_close(inc)

    def _step(
        self,
        inc: Incident,
        kind: str,
        target: int,
        params: dict[str, Any],
        scope: set[int],
        reason: str,
        scaled: list[int],
    ) -> Generator[simpy.Event, Any, bool]:
        w = self.world
        asset = target
        if kind == "scale_warehouse" and not self.allow_scaling:
            why = "warehouse size is owned by the cost optimizer"
            self._audit(
                inc, -1, kind, -1, params, w.now, w.now, "refused", False, why, "", reason, 0.0
            )
            return False
        if kind in ("scale_warehouse",):
            factor = float(params.pop("factor", 1.5))
            params["slots"] = min(w.warehouse.max_slots, math.ceil(w.warehouse.capacity * factor))
            asset = -1
        if kind == "escalate" and target < 0:
            asset = -1
        if kind == "kill_query" and target >= 0 and not w.assets[target].running:
            # wait for the slow query to be running again (at most a few hours)
            for _ in range(24):
                if w.assets[target].running:
                    break
                yield w.env.timeout(10.0)
        issued = w.now
        try:
            aid = w.act(kind, asset, **params)
        except ActionError as e:
            self._audit(
                inc,
                -1,
                kind,
                asset,
                params,
                issued,
                issued,
                "refused",
                False,
                str(e),
                "",
                reason,
                0.0,
            )
            return False
        yield w.action_procs[aid]
        rec = (
            w.actions[-1]
            if w.actions and w.actions[-1].action_id == aid
            else next(r for r in w.actions if r.action_id == aid)
        )
        if kind == "scale_warehouse":
            scaled.append(aid)
        ok = verify_assets(w, frozenset(scope), since=inc.opened_at - 1440.0)
        self._audit(
            inc, aid, kind, asset, params, issued, rec.done_at, rec.outcome, ok, rec.before,
            rec.after, reason, rec.cost, undoable=kind in UNDOABLE,
        )  # fmt: skip
        if kind == "kill_query" and asset >= 0 and rec.outcome == "collateral":
            # The kill cancelled a healthy query: its window is failed (its run record says
            # killed), no schedule runs it again and a kill cannot be rolled back, so everything
            # downstream would wait on it for good (DESIGN §11: every scheduled partition ends
            # delivered, quarantined, or failed-and-alerted). Repair our own damage now.
            why = f"repair collateral of action {aid}: re-execute the window(s) it killed"
            return (yield from self._step(inc, "retry", asset, {}, scope, why, scaled))
        return ok

    def _audit(
        self, inc: Incident, aid: int, kind: str, asset: int, params: dict[str, Any], issued: float,
        done: float, outcome: str, verified: bool, before: str, after: str, reason: str,
        cost: float, *, undoable: bool = False,
    ) -> None:  # fmt: skip
        name = self.world.assets[asset].name if asset >= 0 else "warehouse"
        step = RemediationStep(
            inc.incident_id, len(inc.steps) + 1, aid, kind, asset, name,
            tuple(sorted(params.items())), issued, done, outcome, verified, before, after,
            aid if undoable and aid >= 0 else -1, cost, reason,
        )  # fmt: skip
        inc.steps.append(step)
        self.log.append(step)

    def _close(self, inc: Incident, how: str, scaled: list[int]) -> None:
        inc.status = "resolved"
        inc.resolved_at = self.world.now
        inc.resolution = how
        for aid in scaled:  # the extra capacity was for the fault; give it back
            with contextlib.suppress(ActionError):
                self.world.act("rollback", target=aid)
        if self.on_close is not None:
            self.on_close(inc)
