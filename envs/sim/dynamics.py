"""Fault dynamics of the world: activation, causes ending, evidence, reach, exposure.

``FaultDynamics`` is the part of ``World`` that knows about faults once they exist: it starts
and ends causes (including the external workloads and retry loops some causes run as SimPy
processes), writes the evidence a failing run or check shows (error classes and messages drawn
from the causal model), records which assets a fault reached, resolves faults whose cause
stopped and whose damage is repaired, and keeps wrong-data exposure at Delivery and collateral
damage of actions. ``World`` (runs and partitions) inherits it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from envs.sim.actions import ActionBook
from envs.sim.assets import Asset, Corruption
from envs.sim.causal import (
    GENERIC_MESSAGES,
    LOCKOUT_AFTER,
    RETRY_LOAD_CAP_MIN,
    RETRY_LOAD_MIN,
)
from envs.sim.faults import Fault
from envs.sim.prevention import PreventionBook
from envs.sim.records import RunRecord
from envs.sim.warehouse import Warehouse

NAN = math.nan
INF = math.inf
_WIDE = frozenset({"external", "demand"})
"""Effects that act on the whole warehouse: their lateness shows on any non-Source asset."""


class FaultDynamics:
    """Fault-side behaviour of ``World`` (see the module docstring)."""

    env: simpy.Environment
    assets: list[Asset]
    faults: list[Fault]
    warehouse: Warehouse
    log: list[RunRecord]
    demand: float
    seed: int
    book: ActionBook
    prevention: PreventionBook
    exposures: list[list[Any]]
    collateral: list[list[Any]]
    _open_exposure: dict[tuple[int, int], list[list[Any]]]
    _coll_open: dict[tuple[int, int], list[Any]]
    _subs: list[Callable[[RunRecord], None]]
    _run_id: int
    _ctx_action: int

    def draw(self) -> float:
        """Next uniform draw of the evidence stream (``World.draw``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ evidence
    def _error_for(self, f: Fault, a: Asset) -> tuple[str, str]:
        m = f.profile
        r = self.draw()
        acc = 0.0
        ecls = next(iter(m.error_classes), "RuntimeError")
        for cls, p in m.error_classes.items():
            acc += p
            if r < acc:
                ecls = cls
                break
        return ecls, self._message(f, a)

    def _message(self, f: Fault, a: Asset) -> str:
        m = f.profile
        if self.draw() < m.evidence_prob:
            msg = m.messages[int(self.draw() * len(m.messages)) % len(m.messages)]
        else:
            msg = GENERIC_MESSAGES[int(self.draw() * len(GENERIC_MESSAGES)) % 3]
        col = a.spec.key_columns[f.params.get("col", 0) % a.n_keys]
        return msg.replace("{col}", col)

    def _check_message(self, a: Asset, corr: Corruption | None, failed: tuple[int, ...]) -> str:
        kinds = ", ".join(a.spec.checks[i].kind for i in failed)
        if corr is not None and corr.faults:
            f = self.faults[corr.faults[0]]
            if f.model is not None and f.root is a and self.draw() < f.profile.evidence_prob:
                return f"checks failed: {kinds}; {self._message(f, a)}"
        return f"checks failed: {kinds}"

    # ------------------------------------------------------------------ faults
    def _activate(self, f: Fault) -> Generator[simpy.Event, Any, None]:
        env = self.env
        yield env.timeout(max(0.0, f.onset - env.now))
        if self.prevention.armed and self.prevention.prevents(f):
            return  # a preventive measure kept it from starting (envs.sim.prevention)
        self.start_fault(f)
        if f.natural_end < INF:
            yield env.timeout(max(0.0, f.natural_end - env.now))
            while f.active and f.natural_end > env.now:  # retries loaded the outage: it lasts
                yield env.timeout(f.natural_end - env.now)
            if f.active and f.model.effect == "fail" and f.hits == 0:
                f.params["end_on_hit"] = True  # a blip nobody ran into ends with its first victim
            elif f.active:
                self.end_cause(f)

    def start_fault(self, f: Fault) -> None:
        """Activate a fault now (planned onset, or collateral damage of an action)."""
        f.active = True
        f.started = True
        a = f.root
        a.faults.append(f)
        f.affected.setdefault(a.idx, self.env.now)
        eff = f.model.effect if f.model is not None else "corrupt"
        if eff == "sensor_fail":
            f.proc = self.env.event()
        elif eff == "external":
            f.proc = self.env.process(self._external(f))
        elif eff == "storm":
            f.proc = self.env.process(self._storm(f))
        elif eff == "demand":
            self.demand *= f.params["demand"]
            f.params["capacity_at_onset"] = self.warehouse.capacity
        if eff in ("external", "demand", "slow"):
            f.first_visible_at = self.env.now if eff != "slow" else f.first_visible_at

    def _login(self, f: Fault, trigger: str) -> None:
        """A run met active fault ``f``: an action's re-execution loads an outage or locks out.

        Every re-execution an action started counts as a login (``LOCKOUT_AFTER``); a retry's
        burst of requests also extends an outage (``RETRY_LOAD_MIN``, ``envs.sim.causal``).
        Scheduled runs and the orchestrator's own retries are not counted.
        """
        if trigger in ("schedule", "auto_retry"):
            return
        f.logins += 1
        if f.model.effect == "sensor_fail" and trigger == "retry":
            added = f.params.get("load_min", 0.0)
            more = min(RETRY_LOAD_MIN, RETRY_LOAD_CAP_MIN - added)
            if more > 0:
                f.params["load_min"] = added + more
                f.natural_end += more
        elif f.cause == "expired_credentials" and f.logins >= LOCKOUT_AFTER:
            f.params["locked"] = True

    def end_cause(self, f: Fault, aid: int = -1) -> None:
        """Stop a fault's cause now; it resolves once its damage is repaired.

        Args:
            f: the fault.
            aid: the action that stopped it (-1 if it ended by itself).
        """
        if not f.active:
            return
        f.active = False
        f.cause_ended_at = self.env.now
        if f in f.root.faults:
            f.root.faults.remove(f)
        eff = f.model.effect if f.model is not None else "corrupt"
        if eff == "sensor_fail" and isinstance(f.proc, simpy.Event) and not f.proc.triggered:
            f.proc.succeed()
        elif eff in ("external", "storm") and f.proc is not None and f.proc.is_alive:
            f.proc.interrupt("ended")
        elif eff == "demand":
            self.demand /= f.params["demand"]
        self._ctx_action = aid
        self._maybe_resolve(f)
        self._ctx_action = -1

    def _maybe_resolve(self, f: Fault) -> None:
        if f.active or f.damage or f.inflight or f.resolved or not f.started:
            return
        f.resolved_at = self.env.now
        aid = self._ctx_action
        if aid >= 0:
            f.resolving_action = aid
            kind = self._action_kind(aid)
            f.resolved_by = "human" if kind == "escalate" else "agent"
        else:
            f.resolved_by = "self"

    def _action_kind(self, aid: int) -> str:
        return self.book.kinds[aid]

    def _reach(self, f: Fault, a: Asset) -> None:
        """``f`` holds ``a`` back: it reaches ``a`` and, through late data, all its consumers."""
        self._touch(f, a)
        if a.idx in f.reached:
            return
        f.reached.add(a.idx)
        now = self.env.now
        for d in a.descendants:
            f.affected.setdefault(d, now)

    def _touch(self, f: Fault, a: Asset) -> None:
        now = self.env.now
        if a.idx not in f.affected:
            f.affected[a.idx] = now
        if f.first_visible_at != f.first_visible_at:
            f.first_visible_at = now

    def _symptom(self, f: Fault, t: float) -> None:
        """``f`` showed an observable symptom at ``t`` (keeps the earliest)."""
        if not f.first_symptom_at <= t:  # nan or later
            f.first_symptom_at = t

    def _missed_deadline(self, a: Asset, deadline: float) -> None:
        """A partition of ``a`` missed ``deadline``: a symptom of every fault acting on ``a`` then.

        A fault counts if it started by the deadline, was not resolved before it, and had reached
        ``a`` — or, for a warehouse-wide cause (contention, demand), if ``a`` is not a Source and
        the cause still acted at the deadline.
        """
        for f in self.faults:
            if not f.started or f.onset > deadline or f.first_symptom_at <= deadline:
                continue
            if f.resolved_at <= deadline:
                continue
            if f.model.effect in _WIDE:
                if a.layer == "Source" or f.cause_ended_at <= deadline:
                    continue
            elif a.idx not in f.affected:
                continue
            f.first_symptom_at = deadline

    def _external(self, f: Fault) -> Generator[simpy.Event, Any, None]:
        reqs = [self.warehouse.request(priority=-1) for _ in range(f.params["hold"])]
        try:
            for r in reqs:
                yield r
            yield self.env.timeout(INF if f.natural_end == INF else f.natural_end - self.env.now)
        except simpy.Interrupt:
            pass
        finally:
            for r in reqs:
                if r.triggered:
                    self.warehouse.release(r)
                else:
                    r.cancel()

    def _storm(self, f: Fault) -> Generator[simpy.Event, Any, None]:
        a = f.root
        try:
            while True:
                k = max(1, min(a.n_windows, int(self.env.now // a.every)))
                req = self.warehouse.request(priority=a.priority)
                try:
                    yield req
                    start = self.env.now
                    yield self.env.timeout(3.0)
                finally:
                    if req.triggered:
                        self.warehouse.release(req)
                    else:
                        req.cancel()
                self._run_id += 1
                ecls, msg = self._error_for(f, a)
                rec = RunRecord(
                    self._run_id, a.idx, k, a.attempts.get(k, 0) + 1, "auto_retry", start, start,
                    self.env.now, "failed", 0, (), 0.0, a.schema_version, 0.0, 0.0,
                    3.0 / 60.0 * self.warehouse.price_per_slot_hour, (), int(a.state[k]), ecls, msg,
                    start,
                )  # fmt: skip
                self._touch(f, a)
                self._symptom(f, self.env.now)
                self.log.append(rec)
                for cb in self._subs:
                    cb(rec)
                yield self.env.timeout(0.5)
        except simpy.Interrupt:
            return

    # ------------------------------------------------------------------ exposure
    def _expose(self, a: Asset, k: int, fids: tuple[int, ...]) -> None:
        now = self.env.now
        entries = self._open_exposure.setdefault((a.idx, k), [])
        for fid in fids:
            f = self.faults[fid]
            if f.delivery_exposed_at != f.delivery_exposed_at:
                f.delivery_exposed_at = now
            e = [fid, a.idx, k, now, NAN]
            self.exposures.append(e)
            entries.append(e)

    def _close_exposure(self, key: tuple[int, int]) -> None:
        entries = self._open_exposure.pop(key, None)
        if entries:
            now = self.env.now
            for e in entries:
                e[4] = now

    def close_exposure(self, a: Asset, k: int) -> None:
        """End wrong-data exposure of a Delivery window (it was quarantined or repaired)."""
        self._close_exposure((a.idx, k))

    def add_collateral(self, aid: int, a: Asset, k: int, what: str) -> None:
        """Record collateral damage by action ``aid`` on ``a``[``k``] (open until cleared)."""
        c = [aid, a.idx, k, what, self.env.now, NAN]
        self.collateral.append(c)
        self._coll_open[(a.idx, k)] = c

    def open_faults(self) -> list[Fault]:
        """Faults that started and are not resolved."""
        return [f for f in self.faults if f.started and not f.resolved]
