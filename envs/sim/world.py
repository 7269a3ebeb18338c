"""The simulated world: scheduled runs of a pipeline on a shared warehouse, with faults and noise.

``World(scenario, seed)`` builds one episode. Each asset has one SimPy process that walks its
schedule: at ``k * every_min + offset_min`` it waits for the upstream partitions of window ``k``
(Ingestion assets give up on a late Source after a sensor timeout and fail), takes one warehouse
slot, runs, evaluates its checks and writes the partition. A run costs two SimPy events (its due
time and its run time, ``envs.sim.wakeups``), one more while it queues for a slot, and a release
event only when a request is queued before it would run (``Warehouse.give``); Source arrivals
cost one.

Partitions move through ``records.PARTITION_STATES``. Consumers need every window of an upstream up
to theirs to be consumable (delivered, delivered with warnings, or quarantined), so a failed or
blocked window holds everything downstream until it is repaired: late data cascades. Wrong
statistics propagate downstream diluted by the share of bad windows read, unless quarantined.

Faults (``envs.sim.faults``, and the cascades they set off: ``envs.sim.cascades``) follow the
causal model (``envs.sim.causal``); the world keeps, per fault, the windows it damaged and resolves
it once its cause has stopped and all of them are repaired — the fix oracle (``envs.sim.oracle``)
reads exactly that. Actions live in ``envs.sim.actions``; the ledger and tables in
``envs.sim.ledger``.

The world imports no learning, configuration or tracking library.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from envs.sim.actions import Action, ActionBook, perform
from envs.sim.assets import Asset, Corruption, compile_pipeline
from envs.sim.cascades import add_cascades
from envs.sim.causal import CAUSES
from envs.sim.corruption import combine, inherit, merge
from envs.sim.dynamics import FaultDynamics
from envs.sim.faults import Fault, check_injectable, fault_params, plan_faults, severity
from envs.sim.noise import NoisePlan, PlannedBackfill
from envs.sim.prevention import MeasureRecord, PreventedFault, PreventionBook
from envs.sim.records import (
    BLOCKED,
    FAILED,
    OK,
    QUARANTINED,
    WARN,
    ActionRecord,
    RunRecord,
)
from envs.sim.rng import Streams
from envs.sim.wakeups import Clock, sleep
from envs.sim.warehouse import Held, Warehouse
from scenarios.spec import Scenario

NAN = math.nan
INF = math.inf
CONSUMABLE = (OK, WARN, QUARANTINED)
_CONSUMABLE = bytes(1 if s in CONSUMABLE else 0 for s in range(8))

Subscriber = Callable[[RunRecord], None]
_new_record = tuple.__new__
"""Builds a ``RunRecord`` from a tuple of its fields without the call through its generated
``__new__`` (the same object; one Python frame fewer per run)."""
_HOLDING = frozenset({"slow", "fail", "sensor_fail", "schema", "storm"})


class World(FaultDynamics):
    """One episode of a scenario.

    Args:
        scenario: the loaded scenario.
        seed: the episode seed; all randomness derives from it.
        days: override of the scenario's horizon in days.

    Attributes:
        env: the SimPy environment (time unit: minutes).
        assets: compiled assets in topological order (index = asset id).
        warehouse: the shared, priced, resizable warehouse.
        faults: every fault of the episode, planned and induced, by id.
        log: every run record, in completion order.
        actions: the audit trail of actions taken.
        book: what the world remembers about the actions taken (``envs.sim.actions``).
        planned_backfills: the noise plan's announced backfills (a monitor may suppress
            alerts during them); a ``reschedule`` measure moves them (``prevent``).
        prevention: the preventive measures taken and what they prevented
            (``envs.sim.prevention``; use ``prevent``, ``retire``, ``measures``).
        horizon: episode end in minutes.
    """

    def __init__(self, scenario: Scenario, seed: int, *, days: float | None = None) -> None:
        spec = scenario.spec
        self.scenario = scenario
        self.seed = int(seed)
        self.streams = Streams(self.seed)
        self.horizon = float(days if days is not None else spec.horizon_days) * 1440.0
        if self.horizon <= 0:
            raise ValueError(f"days: expected a positive number, got {days!r}")
        self.env = Clock()
        self.warehouse = Warehouse(
            self.env,
            spec.warehouse.slots,
            spec.warehouse.max_slots,
            spec.warehouse.price_per_slot_hour,
        )
        self.assets = compile_pipeline(scenario.pipeline, self.horizon)
        check_injectable(scenario, self.assets)
        self.by_name = {a.name: a for a in self.assets}
        for a in self.assets:
            a.predraw(self.streams, spec.noise)
        self.noise = NoisePlan(spec.noise, self.assets, self.streams, self.horizon)
        self.faults: list[Fault] = add_cascades(
            spec,
            self.assets,
            plan_faults(spec, self.assets, self.streams, self.horizon, spec.warehouse.slots),
            self.streams,
            self.horizon,
            spec.warehouse.slots,
        )
        self._planned = len(self.faults)
        self.log: list[RunRecord] = []
        self.actions: list[ActionRecord] = []
        self.exposures: list[list[Any]] = []
        self._open_exposure: dict[tuple[int, int], list[list[Any]]] = {}
        self.window_faults: dict[tuple[int, int], tuple[int, ...]] = {}
        self.collateral: list[list[Any]] = []
        self.demand = 1.0
        self.human_minutes = 0.0
        self.action_cost = 0.0
        self._subs: list[Subscriber] = []
        self._run_id = 0
        self._ctx_action = -1
        self.book = ActionBook()
        self._coll_open: dict[tuple[int, int], list[Any]] = {}
        # the noise plan's own list: a backfill starts when the entry announces it (reschedule)
        self.planned_backfills: list[PlannedBackfill] = self.noise.backfills
        self.prevention = PreventionBook(self)
        ev = self.streams["evidence"]
        self._evidence = ev.random(1 << 14).tolist()
        self._ev_i = 0
        for a in self.assets:
            self.env.process(self._source_loop(a) if a.layer == "Source" else self._loop(a))
        for f in self.faults:
            self.env.process(self._activate(f))
        self.noise.start(self.env, self.warehouse, self.assets)

    # ------------------------------------------------------------------ public
    @property
    def now(self) -> float:
        """Current simulated time in minutes."""
        return float(self.env.now)

    @property
    def action_procs(self) -> dict[int, simpy.Process]:
        """The SimPy process of each action by id (``book.procs``; wait on one to finish)."""
        return self.book.procs

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(record)`` for every run record as it is written."""
        self._subs.append(callback)

    def run(self, until: float | None = None) -> None:
        """Advance the simulation to ``until`` (default: the horizon); never backwards."""
        t = self.horizon if until is None else min(float(until), self.horizon)
        if t < self.env.now:
            # SimPy stops at now + (until - now), which can round one ulp past ``until``: asking
            # for that same time again is "now", not the past
            if self.env.now - t <= 1e-9 * max(1.0, abs(t)):
                return
            raise ValueError(f"until: {t} is before the current time {self.env.now}")
        if t > self.env.now:
            self.env.run(until=t)

    def act(self, kind: str, asset: int | str = -1, **params: Any) -> int:
        """Take an action now (see ``envs.sim.actions``); returns its action id.

        Raises:
            ActionError: if a precondition fails (nothing changes).
        """
        ai = self.asset(asset).idx if isinstance(asset, str) else asset
        return perform(self, Action.make(kind, ai, **params))

    def inject(
        self,
        cause: str,
        asset: int | str,
        at: float,
        magnitude: float = 1.0,
        variant: str | None = None,
    ) -> Fault:
        """Plan one more fault: ``cause`` rooted at ``asset``, starting at time ``at``.

        For tests, notebooks and what-if studies; parameters are drawn as for planned faults.
        ``variant`` chooses how the fault shows itself (one of ``CAUSES[cause].variants``;
        default: drawn with the variants' shares).

        Raises:
            KeyError: for an unknown cause, asset or variant.
            ValueError: if ``at`` is in the past or the asset's layer cannot host the cause.
        """
        if cause not in CAUSES:  # a str key into a Literal-keyed dict
            raise KeyError(f"unknown root cause {cause!r}; expected one of {sorted(CAUSES)}")
        a = self.asset(asset)
        if at < self.env.now:
            raise ValueError(f"at: {at} is before the current time {self.env.now}")
        model = CAUSES[cause]
        if a.layer not in model.layers:
            raise ValueError(
                f"asset: {a.name} is on {a.layer}; {cause} needs one of {model.layers}"
            )
        params, mag = fault_params(
            cause, a, self.streams["faults"], magnitude, int(self.warehouse.capacity), variant
        )
        dur = model.duration_median_min
        end = at + dur * magnitude if dur > 0 else INF
        f = Fault(
            len(self.faults), cause, a, at, severity(cause, a, mag, self.assets), mag, end, params
        )
        self.faults.append(f)
        self.env.process(self._activate(f))
        return f

    def prevent(self, measure: str, asset: int | str, **params: Any) -> int:
        """Start preventive measure ``measure`` on ``asset`` now; returns its measure id.

        See ``envs.sim.prevention.MEASURES`` for the measures, their parameters and effects.

        Raises:
            ValueError: one line naming the unknown measure, the unknown or ineligible asset, or
                the bad parameter, and the valid choices (nothing changes).
        """
        return self.prevention.start(measure, asset, params)

    def retire(self, measure_id: int) -> None:
        """Retire measure ``measure_id`` now: from now on it costs and prevents nothing.

        Raises:
            ValueError: if no measure has that id or it was already retired.
        """
        self.prevention.retire(measure_id)

    @property
    def measures(self) -> tuple[MeasureRecord, ...]:
        """Every measure taken, by id, with its cost accrued to now."""
        return self.prevention.records()

    @property
    def prevention_cost(self) -> float:
        """The cost of every measure so far (not part of ``warehouse.cost``)."""
        return self.prevention.cost()

    @property
    def prevented_faults(self) -> tuple[PreventedFault, ...]:
        """The planned faults measures prevented (never started), in onset order."""
        return tuple(self.prevention.prevented)

    def reexecute(
        self, a: Asset, k: int, trigger: str, aid: int = -1
    ) -> Generator[simpy.Event, Any, RunRecord]:
        """Run window ``k`` of ``a`` again now, as its next attempt (a SimPy sub-process).

        Use it as ``record = yield from world.reexecute(...)`` inside a process: it waits for
        upstream, takes a slot, runs and writes the partition like a scheduled run.

        Args:
            a: the asset.
            k: the window.
            trigger: what asked for it (the run record's ``trigger``, e.g. the action kind).
            aid: the action on whose behalf it runs (-1: none).

        Returns:
            The run record written.
        """
        a.attempts[k] = a.attempts.get(k, 0) + 1
        return (yield from self._execute(a, k, a.attempts[k], trigger, self.now, aid))

    def induce(self, a: Asset, aid: int) -> Fault:
        """Start a collateral fault at ``a`` caused by action ``aid`` (recorded in the ledger)."""
        f = Fault(
            len(self.faults), "induced_by_action", a, self.env.now, "major", 0.5, INF,
            {"null_add": 0.5, "col": 0}, caused_by_action=aid,
        )  # fmt: skip
        self.faults.append(f)
        self.start_fault(f)
        return f

    def asset(self, ref: int | str) -> Asset:
        """Look an asset up by index or name, with a clear error."""
        if isinstance(ref, str):
            a = self.by_name.get(ref)
            if a is None:
                raise KeyError(f"unknown asset {ref!r}; expected one of {sorted(self.by_name)}")
            return a
        if not 0 <= ref < len(self.assets):
            raise KeyError(f"asset index {ref} out of range 0..{len(self.assets) - 1}")
        return self.assets[ref]

    def draw(self) -> float:
        """Next uniform draw of the evidence stream (pre-drawn in blocks)."""
        i = self._ev_i
        if i >= len(self._evidence):
            self._evidence = self.streams["evidence"].random(1 << 14).tolist()
            i = 0
        self._ev_i = i + 1
        return self._evidence[i]

    # ------------------------------------------------------------------ processes
    def _source_loop(self, a: Asset) -> Generator[simpy.Event, Any, None]:
        env = self.env
        delays = self.noise.arrival_delay[a.idx]
        for k in range(1, a.n_windows + 1):
            due = k * a.every + delays[k]
            if env._now < due:
                yield sleep(env, due - env._now)
            if a.faults:
                for f in list(a.faults):
                    if f.model.effect == "sensor_fail" and f.active and f.held:
                        self._reach(f, a)
                        while f.active:
                            yield f.proc
            now = env._now
            self._write_data(a, k, 0, "schedule", k * a.every + a.offset, now, now, -1, now)

    def _loop(self, a: Asset) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for k in range(1, a.n_windows + 1):
            due = k * a.every + a.offset
            if env._now < due:
                yield sleep(env, due - env._now)
            yield from self._execute(a, k, 0, "schedule", due)

    def _execute(
        self, a: Asset, k: int, attempt: int, trigger: str, due: float, aid: int = -1
    ) -> Generator[simpy.Event, Any, RunRecord]:
        """Wait for upstream, take a slot, run and write window ``k`` of ``a``."""
        env = self.env
        end = k * a.every
        for u in a.ups:
            ku = end // u.every
            if u.done_until < ku or u.blocked_out:
                if u.layer == "Source" and a.layer == "Ingestion":
                    ev = self._waiter(u, ku)
                    limit = max(1.0, u.sla - a.offset)
                    yield ev | env.timeout(limit)
                    if not ev.triggered:
                        now = env.now
                        held = self._holding(u)
                        if held is not None:
                            self._login(held, trigger)
                        return self._write(
                            a, k, attempt, trigger, due, now, now, held, aid, sensor=True
                        )
                else:
                    self._touch_waiting(a, u)
                    while u.done_until < ku or u.blocked_out:
                        yield self._waiter(u, ku)
        req = None
        ready = env._now
        if a.uses_slot:
            req = self.warehouse.take(a.priority)
            if not req.triggered:  # granted at once when a slot is free: no need to suspend
                assert not isinstance(req, Held)  # a held slot is always granted
                yield req
            rt = a.rt[k] * self.demand
        else:
            rt = a.rt[k]
        start = env._now
        fail: Fault | None = None
        for f in a.faults:
            if f.active:
                eff = f.model.effect
                if eff == "slow":
                    rt *= f.params["slow"]
                    self._reach(f, a)
                elif eff == "fail":
                    fail = f
                    f.hits += 1
        if a.api_sources:  # an outage of a source's API fails its ingestions
            for u in a.api_sources:
                for f in u.faults:
                    if f.active and not f.held:
                        fail = f
                        f.hits += 1
        if fail is not None:
            self._login(fail, trigger)
            rt = min(rt, 0.5 + 0.1 * rt)
            fail.inflight += 1  # it cannot resolve before this failure is written
        proc = env._active_proc
        assert proc is not None
        running = a.running
        running[k] = proc
        killed = False
        try:
            yield sleep(env, rt)
        except simpy.Interrupt:
            killed = True
        finally:
            running.pop(k, None)
            if req is not None:
                wh = self.warehouse
                wh.give(req)
                wh.busy_slot_minutes += env._now - start
        if fail is not None:
            fail.inflight -= 1
        if killed or fail is not None:
            rec = self._write(
                a, k, attempt, trigger, due, start, env._now, None if killed else fail, aid,
                killed=killed, ready=ready,
            )  # fmt: skip
            if killed and fail is not None:
                self._maybe_resolve(fail)  # its cause may have ended while this run was killed
            return rec
        return self._write_data(a, k, attempt, trigger, due, start, env._now, aid, ready)

    def _touch_waiting(self, a: Asset, u: Asset) -> None:
        """``a`` waits on ``u``: faults holding ``u`` back now reach ``a`` (late data cascades)."""
        for f in u.faults:
            if f.active and f.model.effect in _HOLDING:
                self._touch(f, a)
        held = self.window_faults.get((u.idx, u.done_until + 1)) if self.window_faults else None
        for fid in held or ():
            self._touch(self.faults[fid], a)

    def _waiter(self, u: Asset, ku: int) -> simpy.Event:
        ev = self.env.event()
        u.waiters.append((ku, ev))
        return ev

    def _holding(self, src: Asset) -> Fault | None:
        for f in src.faults:
            if f.active and f.model.effect == "sensor_fail" and f.held:
                return f
        return None

    # ------------------------------------------------------------------ writing partitions
    def _write(
        self,
        a: Asset,
        k: int,
        attempt: int,
        trigger: str,
        due: float,
        start: float,
        end_t: float,
        fail: Fault | None,
        aid: int = -1,
        *,
        killed: bool = False,
        sensor: bool = False,
        ready: float = -1.0,
    ) -> RunRecord:
        """Compute the partition of window ``k``, evaluate checks, record and propagate."""
        if ready < 0:
            ready = start
        if not (killed or fail is not None or sensor):
            return self._write_data(a, k, attempt, trigger, due, start, end_t, aid, ready)
        self._run_id += 1
        slot_h = (end_t - start) / 60.0 if a.uses_slot else 0.0
        cost = slot_h * self.warehouse.price_per_slot_hour
        if killed:
            status, ecls, msg = "killed", "Killed", "query cancelled by operator"
            causes: tuple[int, ...] = ()
        elif fail is not None:
            status = "failed"
            ecls, msg = self._error_for(fail, a)
            causes = (fail.fid,)
            self._touch(fail, a)
        else:
            status, ecls, msg = "failed", "SourceTimeout", "sensor timed out waiting for upstream"
            causes = ()
        rec = RunRecord(
            self._run_id, a.idx, k, attempt, trigger, due, start, end_t, status, 0, (),
            0.0, a.schema_version, 0.0, 0.0, cost, (), FAILED, ecls, msg, ready,
        )  # fmt: skip
        self._store(a, k, rec, FAILED, causes, None, aid)
        if fail is not None and fail.params.get("end_on_hit"):
            self.end_cause(fail)
        return rec

    def _write_data(
        self,
        a: Asset,
        k: int,
        attempt: int,
        trigger: str,
        due: float,
        start: float,
        end_t: float,
        aid: int,
        ready: float,
    ) -> RunRecord:
        """Write the data of a successful run of window ``k`` (``_write`` without a failure)."""
        self._run_id += 1
        slot_h = (end_t - start) / 60.0 if a.uses_slot else 0.0
        cost = slot_h * self.warehouse.price_per_slot_hour
        corr = self._corruption(a, k)
        if corr is None:
            # the common case: the window's statistics and static checks were computed up front
            rows = int(a.clean_rows_f[k])
            nulls = (a.clean_null[k],) * a.n_keys
            dup = a.clean_dup[k]
            vmean = a.clean_vmean[k]
            if a.clean_pass[k] and not end_t - k * a.every > a.fresh_limit_min:
                rec = _new_record(RunRecord, (
                    self._run_id, a.idx, k, attempt, trigger, due, start, end_t, "success", rows,
                    nulls, dup, a.schema_version, vmean, a.spec.value_std, cost, (), OK, "", "",
                    ready,
                ))  # fmt: skip
                self._store(a, k, rec, OK, (), None, aid)
                return rec
            rows_f = a.clean_rows_f[k]
            schema = a.schema_version
            causes: tuple[int, ...] = ()
        else:
            rows_f = a.expected[k] * a.vol_noise[k]
            nn = a.null_noise[k] * a.base_null
            nulls = (nn,) * a.n_keys
            dup = a.base_dup * a.null_noise[k]
            vmean = a.spec.value_mean * a.mean_noise[k]
            schema = a.schema_version
            rows_f *= corr.vol_factor
            if corr.null_add:
                nl = list(nulls)
                c = corr.null_col % a.n_keys
                nl[c] = min(1.0, nl[c] + corr.null_add)
                nulls = tuple(nl)
            dup = min(0.99, dup + corr.dup_add)
            vmean *= corr.mean_factor
            schema += 1 if corr.schema_delta else 0
            causes = corr.faults
            rows = int(rows_f)
        failed_checks: tuple[int, ...] = ()
        state = OK
        msg = ""
        if a.checks:
            fc = []
            exp = a.expected[k]
            for i, code, _is_error, blocking, lo, hi in a.checks:
                if code == 0:
                    bad = end_t - k * a.every > hi
                elif code == 1:
                    bad = max(nulls) > hi
                elif code == 2:
                    bad = dup > hi
                elif code == 3:
                    bad = abs(rows_f / exp - 1.0) > hi
                elif code == 4:
                    bad = corr is not None and corr.schema_delta >= 2
                else:
                    bad = not lo <= vmean <= hi
                if bad:
                    fc.append(i)
                    if blocking:
                        state = BLOCKED
                    elif state == OK:
                        state = WARN
            if fc:
                failed_checks = tuple(fc)
                msg = self._check_message(a, corr, failed_checks)
        rec = _new_record(RunRecord, (
            self._run_id, a.idx, k, attempt, trigger, due, start, end_t, "success", rows, nulls,
            dup, schema, vmean, a.spec.value_std, cost, failed_checks, state, "", msg, ready,
        ))  # fmt: skip
        self._store(a, k, rec, state, causes, corr, aid)
        return rec

    def _store(
        self,
        a: Asset,
        k: int,
        rec: RunRecord,
        state: int,
        causes: tuple[int, ...],
        corr: Corruption | None,
        aid: int = -1,
    ) -> None:
        key = (a.idx, k)
        now = self.env._now
        deadline = k * a.every + a.sla
        if now > deadline:
            old = a.records.get(k)
            if old is None or old.status != "success" or old.ended_at > deadline:
                self._missed_deadline(a, deadline)
        prev = self.window_faults.pop(key, None) if self.window_faults else None
        if prev and state == FAILED and not causes:
            causes = prev  # a failed re-execution keeps its attribution
        if self._coll_open and _CONSUMABLE[state] and state != QUARANTINED:
            c = self._coll_open.pop(key, None)
            if c is not None and c[5] != c[5]:
                c[5] = now
        if prev or key in self._open_exposure:
            self._close_exposure(key)
        a.state[k] = state
        a.records[k] = rec
        if rec.failed_checks:
            a.check_failures.add(k)
        else:
            a.check_failures.discard(k)
        if corr is None:
            if a.bad:
                a.bad.pop(k, None)
        else:
            a.bad[k] = corr
        self.log.append(rec)
        if causes:
            self.window_faults[key] = causes
            held = state in (FAILED, BLOCKED)
            for fid in causes:
                f = self.faults[fid]
                f.damage.add(key)
                self._symptom(f, now)  # a run it failed or a partition it corrupted
                if held:
                    self._reach(f, a)
                else:
                    self._touch(f, a)
            if a.layer == "Delivery" and state in (OK, WARN) and corr is not None:
                self._expose(a, k, causes)
        if prev:
            self._ctx_action = aid
            for fid in prev:
                if fid not in causes:
                    f = self.faults[fid]
                    f.damage.discard(key)
                    self._maybe_resolve(f)
            self._ctx_action = -1
        if _CONSUMABLE[state] and k == a.done_until + 1:
            self._advance(a)
        for cb in self._subs:
            cb(rec)
        if a.faults:
            self._after_run(a, causes)

    def _advance(self, a: Asset) -> None:
        st = a.state
        d = a.done_until
        n = a.n_windows
        while d < n and _CONSUMABLE[st[d + 1]]:
            d += 1
        if d == a.done_until:
            return
        a.done_until = d
        if a.waiters and not a.blocked_out:
            keep = []
            for ku, ev in a.waiters:
                if ku <= d:
                    if not ev.triggered:
                        ev.succeed()
                else:
                    keep.append((ku, ev))
            a.waiters = keep

    def release_waiters(self, a: Asset) -> None:
        """Wake consumers of ``a`` after a state change that may unblock them."""
        if a.blocked_out:
            return
        for ku, ev in a.waiters:
            if ku <= a.done_until and not ev.triggered:
                ev.succeed()
        a.waiters = [(ku, ev) for ku, ev in a.waiters if not ev.triggered]

    def recompute_done(self, a: Asset) -> None:
        """Recompute ``done_until`` from scratch (after a state was lowered) and wake waiters."""
        st = a.state
        d = 0
        while d < a.n_windows and _CONSUMABLE[st[d + 1]]:
            d += 1
        a.done_until = d
        self.release_waiters(a)

    def _corruption(self, a: Asset, k: int) -> Corruption | None:
        own: Corruption | None = None
        for f in a.faults:
            if f.active and f.model.effect in ("corrupt", "schema"):
                p = f.params
                own = Corruption(
                    (f.fid,),
                    p.get("null_add", 0.0),
                    p.get("col", 0),
                    p.get("dup_add", 0.0),
                    p.get("vol_factor", 1.0),
                    p.get("mean_factor", 1.0),
                    p.get("schema_delta", 0),
                )
                f.hits += 1
                break
            if f.active and f.model.effect == "slow" and "vol_factor" in f.params:
                own = Corruption((), vol_factor=f.params["vol_factor"])
        inherited = None
        for u in a.ups:
            if u.bad:
                inherited = merge(inherited, inherit(u, a, k))
        if inherited is None:
            return own
        if own is None:
            return inherited
        return combine(own, inherited)

    def _after_run(self, a: Asset, causes: tuple[int, ...]) -> None:
        for f in a.faults:
            if f.active and f.model.effect == "corrupt":
                limit = f.model.partitions or f.params.get("partitions", 0)
                if limit and f.hits >= limit:
                    self.end_cause(f)
