"""The action API: what an operations agent (or a human) can do to the world.

``perform(world, Action(...))`` checks the action's preconditions (an ``ActionError`` names what
is wrong and nothing changes), assigns an action id and runs it as a SimPy process; when it ends,
an ``ActionRecord`` with before/after state, cost and outcome joins ``world.actions`` (the audit
trail). The world keeps what this module needs to remember about actions (kinds, issue log,
processes, undo data) in its ``ActionBook`` (``world.book``). This module does not import the
world: it acts on anything shaped like it (``WorldLike``, a structural ``Protocol``), and
re-executes windows through the world's public ``reexecute``. Every action here:

=====================  ======================================================================
kind                   effect (preconditions; duration; undo)
=====================  ======================================================================
retry                  re-executes the asset's failed or blocked windows now, up to
                       ``attempts`` times with exponential ``backoff_min`` (needs such a window)
wait                   re-executes them once after ``minutes`` (reschedule; needs such a window)
rerun                  re-executes the asset's damaged windows (or its latest), then damaged
                       windows downstream (not on Source assets)
backfill               re-executes windows ``start``..``end`` (default: damaged ones), then
                       downstream (not on Source assets)
quarantine             withholds a window (default: all damaged, else the latest) from
                       consumers; consumers proceed without it. Undo restores it.
dedupe                 removes duplicates from the asset's damaged windows (10 min; needs a
                       written partition with more than ``DEDUPE_MIN_RATE`` duplicated rows);
                       on an asset whose keys repeat by a ``grain_change`` it deletes valid
                       rows (collateral on each of its windows until they are rewritten)
apply_schema_mapping   maps renamed/retyped columns (10 min); on an asset without such a fault
                       it breaks a column (collateral). Undo removes the mapping.
block_downstream       consumers stop reading the asset (contains bad data, delays
                       everything downstream). Undo unblocks.
scale_warehouse        resizes the warehouse to ``slots`` (2 min). Undo restores the old size.
kill_query             cancels the asset's running queries (``asset=-1``: external workloads);
                       killing a healthy query is collateral (its window fails)
reprioritize           sets the asset's slot priority (0 first, 1 normal, 2 last). Undoable.
rollback               undoes action ``target`` (quarantine, apply_schema_mapping,
                       block_downstream, scale_warehouse, reprioritize)
escalate               a human responds after a log-normal delay, finds the root causes of
                       the open faults on the asset (without one: the oldest open fault) and
                       applies each one's best fix with the scenario's ``fix_success_prob``,
                       oldest first; costs human time. The n-th
                       escalation about a fault always meets the same human (delay, hands-on
                       time, success draw), so organizations compare on common random numbers
=====================  ======================================================================

Whether an action removes a fault's cause depends on the hidden root cause: for causes that act
continuously in the data (``corrupt``, ``schema``, ``slow``, contention), the chance is
``envs.sim.causal.CAUSES[cause].success[kind]``, drawn from the ``actions`` stream; failures and
outages (``fail``, ``sensor_fail``) are not drawn — a re-execution simply fails while the cause
still acts, so retrying during an outage wastes slots and waiting past it succeeds. A removed
cause is followed by re-executing every window it damaged, root first, so the fix oracle can
verify data, not intentions.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any, NamedTuple, Protocol

import simpy

from envs.sim.assets import Asset, Corruption
from envs.sim.causal import LOCKOUT_DELAY_MIN, LOCKOUT_HANDS_ON_MIN, SELF_ENDING
from envs.sim.faults import Fault
from envs.sim.records import BLOCKED, FAILED, PENDING, QUARANTINED, ActionRecord, RunRecord
from envs.sim.rng import Streams
from envs.sim.warehouse import Warehouse
from scenarios.spec import Scenario
from scenarios.vocab import ACTION_KINDS

UNDOABLE = frozenset(
    {"quarantine", "apply_schema_mapping", "block_downstream", "scale_warehouse", "reprioritize"}
)
DRAWN_EFFECTS = frozenset({"corrupt", "schema", "slow", "external", "storm", "demand"})
DEDUPE_MIN_RATE = 0.005
"""``dedupe`` needs a written partition with more duplicated rows than this (ten times the
baseline noise of an asset without a uniqueness test, ``envs.sim.assets.BASE_DUPLICATE_RATE``;
the smallest fault adds 3%): there is nothing to deduplicate on a late or failed asset, and a
dedupe that waited ten minutes and then re-ran would be a wait in disguise."""
_PARAMS: dict[str, dict[str, tuple[type, float, float]]] = {
    "retry": {"attempts": (int, 1, 10), "backoff_min": (float, 0.5, 240.0)},
    "wait": {"minutes": (float, 1.0, 1440.0)},
    "backfill": {"start": (int, 1, 1_000_000), "end": (int, 1, 1_000_000)},
    "quarantine": {"window": (int, 1, 1_000_000)},
    "scale_warehouse": {"slots": (int, 1, 512)},
    "reprioritize": {"priority": (int, 0, 2)},
    "rollback": {"target": (int, 0, 1 << 40)},
}
_DEFAULTS: dict[str, dict[str, float]] = {
    "retry": {"attempts": 3, "backoff_min": 5.0},
    "wait": {"minutes": 60.0},
}


class ActionError(ValueError):
    """An action was refused: its kind, target or parameters fail a precondition."""


class Action(NamedTuple):
    """A request to act on the world.

    Attributes:
        kind: one of ``scenarios.vocab.ACTION_KINDS``.
        asset: target asset index (-1 for warehouse-wide actions and a general escalation).
        params: keyword parameters as sorted (name, value) pairs (see the table above).
    """

    kind: str
    asset: int = -1
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def make(cls, kind: str, asset: int = -1, **params: Any) -> Action:
        """Build an action from keyword parameters."""
        return cls(kind, asset, tuple(sorted(params.items())))


class ActionBook:
    """What the world remembers about the actions taken (owned by the world, kept by this module).

    Action ids are issued in order from 0 when an action starts (``perform``).

    Attributes:
        kinds: the kind of each action, by action id.
        log: (issue time in minutes, action) of each action in issue order; replaying it
            reproduces the episode (``envs.sim.episode``).
        procs: the SimPy process of each action, by action id (wait on it to finish).
        undo_data: per undoable action that took effect, by action id,
            ``(kind, asset index, what rollback restores)``; kept after a rollback (see
            ``undone``). An undoable action without an entry has not taken effect yet.
        undone: ids of the actions that were rolled back.
    """

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.log: list[tuple[float, Action]] = []
        self.procs: dict[int, simpy.Process] = {}
        self.undo_data: dict[int, tuple[str, int, Any]] = {}
        self.undone: set[int] = set()


class WorldLike(Protocol):
    """What actions read and change of the world (``envs.sim.world.World`` is one).

    Attributes:
        env: the SimPy environment (time unit: minutes).
        scenario: the loaded scenario (human response and cost parameters).
        seed: the episode seed (common random numbers of escalations).
        streams: the episode's random streams (``actions``, ``human``).
        assets: compiled assets in topological order (index = asset id).
        warehouse: the shared warehouse.
        faults: every fault of the episode, by id.
        log: every run record, in completion order.
        actions: the audit trail this module appends to.
        book: the bookkeeping of actions this module keeps.
        window_faults: per damaged (asset, window), the ids of the faults that damaged it.
        collateral: collateral damage records ``[aid, asset, window, what, start, end]``.
        human_minutes: human hands-on minutes so far (escalations add to it).
        action_cost: cost of the actions so far (each finished action adds to it).
    """

    env: simpy.Environment
    scenario: Scenario
    seed: int
    streams: Streams
    assets: list[Asset]
    warehouse: Warehouse
    faults: list[Fault]
    log: list[RunRecord]
    actions: list[ActionRecord]
    book: ActionBook
    window_faults: dict[tuple[int, int], tuple[int, ...]]
    collateral: list[list[Any]]
    human_minutes: float
    action_cost: float

    @property
    def now(self) -> float:
        """Current simulated time in minutes."""
        ...

    def reexecute(
        self, a: Asset, k: int, trigger: str, aid: int = -1
    ) -> Generator[simpy.Event, Any, RunRecord]:
        """Run window ``k`` of ``a`` again now, as its next attempt, for action ``aid``."""
        ...

    def end_cause(self, f: Fault, aid: int = -1) -> None:
        """Stop a fault's cause now (``aid``: the action that stopped it)."""
        ...

    def induce(self, a: Asset, aid: int) -> Fault:
        """Start a collateral fault at ``a`` caused by action ``aid``."""
        ...

    def open_faults(self) -> list[Fault]:
        """Faults that started and are not resolved."""
        ...

    def close_exposure(self, a: Asset, k: int) -> None:
        """End wrong-data exposure of a Delivery window."""
        ...

    def add_collateral(self, aid: int, a: Asset, k: int, what: str) -> None:
        """Record collateral damage by action ``aid`` on ``a``[``k``]."""
        ...

    def recompute_done(self, a: Asset) -> None:
        """Recompute ``a.done_until`` from scratch and wake waiting consumers."""
        ...

    def release_waiters(self, a: Asset) -> None:
        """Wake consumers of ``a`` after a state change that may unblock them."""
        ...


def precondition(world: WorldLike, action: Action) -> str:
    """Why ``action`` cannot be taken now ("" if it can). Never changes the world."""
    kind, ai = action.kind, action.asset
    if kind not in ACTION_KINDS:
        return f"kind: unknown action {kind!r}; expected one of {', '.join(ACTION_KINDS)}"
    p = dict(action.params)
    spec = _PARAMS.get(kind, {})
    for name, value in p.items():
        if name not in spec:
            allowed = ", ".join(spec) or "none"
            return f"params: {kind} takes no parameter {name!r}; expected {allowed}"
        typ, lo, hi = spec[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"params.{name}: expected a number, got {value!r}"
        if typ is int and value != int(value):
            return f"params.{name}: expected an integer, got {value!r}"
        if not lo <= value <= hi:
            return f"params.{name}: expected {lo}..{hi}, got {value!r}"
    needs_asset = kind not in ("scale_warehouse", "rollback", "escalate", "kill_query")
    if (needs_asset or ai != -1) and not 0 <= ai < len(world.assets):
        return f"asset: index {ai} out of range 0..{len(world.assets) - 1}"
    a = world.assets[ai] if ai >= 0 else None
    if kind in ("retry", "wait"):
        assert a is not None
        if not _stuck_windows(a):
            return f"{kind}: {a.name} has no failed or blocked partition to re-execute"
    elif kind in ("rerun", "backfill", "dedupe", "apply_schema_mapping"):
        assert a is not None
        if kind in ("rerun", "backfill") and a.layer == "Source":
            return f"{kind}: {a.name} is a Source; it cannot be re-executed (wait or escalate)"
        if a.done_until == 0 and not a.records:
            return f"{kind}: {a.name} has written no partition yet"
        if kind == "backfill" and "start" in p and "end" in p and p["start"] > p["end"]:
            return f"params: start {p['start']} is after end {p['end']}"
        if kind == "apply_schema_mapping" and a.mapping:
            return f"{kind}: {a.name} already has a schema mapping"
        if kind == "dedupe" and not any(
            r.duplicate_rate > DEDUPE_MIN_RATE for r in a.records.values()
        ):
            return (
                f"dedupe: {a.name} has no partition with duplicates "
                f"(more than {DEDUPE_MIN_RATE:.1%} of rows)"
            )
    elif kind == "quarantine":
        assert a is not None
        w = p.get("window")
        if w is not None:
            if w not in a.records:
                return f"quarantine: {a.name} has no partition for window {w}"
            if a.state[w] == QUARANTINED:
                return f"quarantine: window {w} of {a.name} is already quarantined"
        elif not a.records:
            return f"quarantine: {a.name} has written no partition yet"
    elif kind == "block_downstream":
        assert a is not None
        if not a.downs:
            return f"block_downstream: {a.name} has no downstream consumer"
        if a.blocked_out:
            return f"block_downstream: {a.name} is already blocked"
    elif kind == "scale_warehouse":
        n = p.get("slots")
        if n is None:
            return "params.slots: scale_warehouse needs slots"
        if not 1 <= n <= world.warehouse.max_slots:
            return f"params.slots: expected 1..{world.warehouse.max_slots}, got {n}"
        if n == world.warehouse.capacity:
            return f"params.slots: the warehouse already has {n} slots"
    elif kind == "kill_query":
        if a is not None and not a.running and not _storming(a):
            return f"kill_query: {a.name} has no running query"
        if a is None and not any(
            f.active and f.model is not None and f.model.effect == "external" for f in world.faults
        ):
            return "kill_query: no external workload is running in the warehouse"
    elif kind == "reprioritize":
        assert a is not None
        pr = p.get("priority")
        if pr is None:
            return "params.priority: reprioritize needs priority (0, 1 or 2)"
        if pr == a.priority:
            return f"params.priority: {a.name} already has priority {pr}"
    elif kind == "rollback":
        t = p.get("target")
        if t is None:
            return "params.target: rollback needs the action id to undo"
        book = world.book
        if t >= len(book.kinds):
            return f"params.target: no action {t}"
        tk = book.kinds[t]
        if tk not in UNDOABLE:
            return f"params.target: {tk} cannot be undone; undoable: {', '.join(sorted(UNDOABLE))}"
        if t in book.undone:
            return f"params.target: action {t} was already undone"
        if t not in book.undo_data:
            return f"params.target: action {t} has not finished yet"
    return ""


def allowed(world: WorldLike, kind: str, asset: int = -1, **params: Any) -> bool:
    """True if ``kind`` on ``asset`` passes its preconditions now."""
    return precondition(world, Action.make(kind, asset, **params)) == ""


def perform(world: WorldLike, action: Action) -> int:
    """Start ``action`` now and return its id; raise ``ActionError`` if a precondition fails.

    Args:
        world: the world to act on.
        action: what to do.

    Returns:
        The action id; ``world.book.procs[id]`` is the SimPy process (wait on it to finish).
    """
    why = precondition(world, action)
    if why:
        target = world.assets[action.asset].name if 0 <= action.asset < len(world.assets) else ""
        raise ActionError(f"{action.kind}{' on ' + target if target else ''} refused: {why}")
    book = world.book
    aid = len(book.kinds)
    book.kinds.append(action.kind)
    book.log.append((world.now, action))
    book.procs[aid] = world.env.process(_run(world, aid, action))
    return aid


def _run(world: WorldLike, aid: int, action: Action) -> Generator[simpy.Event, Any, None]:
    a = world.assets[action.asset] if action.asset >= 0 else None
    p = {**_DEFAULTS.get(action.kind, {}), **dict(action.params)}
    issued = world.now
    before = _state(world, a)
    runs_before = len(world.log)
    human_before = world.human_minutes
    ctx = _Ctx(world, aid, action.kind)
    handler = _HANDLERS[action.kind]
    yield from handler(ctx, a, p)
    cost = sum(r.cost for r in world.log[runs_before:]) + ctx.extra_cost
    human_min = world.human_minutes - human_before
    cost += human_min / 60.0 * world.scenario.spec.human.cost_per_hour
    world.action_cost += cost
    fixed = tuple(f.fid for f in world.faults if f.resolving_action == aid)
    outcome = ctx.outcome
    if fixed:
        outcome = "fixed"
    elif ctx.collateral:
        outcome = "collateral"
    world.actions.append(
        ActionRecord(
            aid,
            action.kind,
            action.asset,
            action.params,
            issued,
            world.now,
            cost,
            human_min,
            outcome,
            fixed or tuple(ctx.touched),
            int(p.get("target", -1)) if action.kind == "rollback" else -1,
            before,
            _state(world, a),
        )
    )


class _Ctx:
    def __init__(self, world: WorldLike, aid: int, kind: str) -> None:
        self.world = world
        self.aid = aid
        self.kind = kind
        self.outcome = "no_effect"
        self.collateral = False
        self.touched: list[int] = []
        self.extra_cost = 0.0

    def draw(self) -> float:
        return float(self.world.streams["actions"].random())

    def try_fix(self, faults: list[Fault]) -> list[Fault]:
        """Draw whether this action removes each fault's cause; end the causes it removes."""
        fixed = []
        for f in faults:
            m = f.model
            if m.effect not in DRAWN_EFFECTS or (m.effect == "corrupt" and f.cause in SELF_ENDING):
                continue  # a bad source stays bad until it recovers by itself
            p = m.success.get(self.kind, 0.0)  # type: ignore[call-overload]
            if p > 0 and self.draw() < p:
                self.world.end_cause(f, self.aid)
                fixed.append(f)
                self.touched.append(f.fid)
                self.outcome = "mitigated"
        return fixed

    def repair(self, faults: list[Fault]) -> Generator[simpy.Event, Any, None]:
        """Re-execute every window these faults damaged, in topological order.

        Runs that were in flight when the cause stopped may still write wrong data downstream,
        so passes repeat (at most 5) until no damage of a stopped fault is left.
        """
        for _ in range(5):
            keys = sorted({key for f in faults for key in f.damage})
            if not keys:
                return
            for ai, k in keys:
                if any((ai, k) in f.damage for f in faults):
                    yield from self.reexecute(self.world.assets[ai], k)
            if any(f.active for f in faults):
                return

    def reexecute(self, a: Asset, k: int) -> Generator[simpy.Event, Any, RunRecord]:
        return (yield from self.world.reexecute(a, k, self.kind, self.aid))


def _stuck_windows(a: Asset) -> list[int]:
    st = a.state
    return [k for k in a.records if st[k] in (FAILED, BLOCKED)]


def _damaged_windows(world: WorldLike, a: Asset) -> list[int]:
    return sorted(
        k for k in a.records if (a.idx, k) in world.window_faults or a.state[k] in (FAILED, BLOCKED)
    )


def _storming(a: Asset) -> bool:
    return any(f.active and f.model is not None and f.model.effect == "storm" for f in a.faults)


def _rooted(world: WorldLike, a: Asset) -> list[Fault]:
    return [f for f in world.faults if f.started and not f.resolved and f.root is a]


def _state(world: WorldLike, a: Asset | None) -> str:
    """What an operator sees of the target: partition states, flags, the warehouse.

    Only observable state: the audit trail must not leak the hidden ground truth.
    """
    wh = f"warehouse slots={world.warehouse.capacity} queued={len(world.warehouse.queue)}"
    if a is None:
        return wh
    # Counted without a pass over every record (an episode's actions would be quadratic): a
    # window has a non-pending state only once it has a record (a run wrote it; a quarantine and
    # its rollback act on written windows), so the states can be counted in the bytearray.
    st = a.state
    counts = {
        "failed": st.count(FAILED),
        "blocked": st.count(BLOCKED),
        "quarantined": st.count(QUARANTINED),
        "failing_checks": sum(st[k] != QUARANTINED for k in a.check_failures),
    }
    parts = " ".join(f"{k}={v}" for k, v in counts.items())
    flags = f" priority={a.priority}" if a.priority != 1 else ""
    flags += " blocked_out" if a.blocked_out else ""
    flags += " schema_mapping" if a.mapping else ""
    return f"{a.name}: delivered_through={a.done_until} {parts}{flags}; {wh}"


# ---------------------------------------------------------------------- handlers
Handler = Any


def _retry(ctx: _Ctx, a: Asset, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    attempts, backoff = int(p.get("attempts", 1)), float(p.get("backoff_min", 0.0))
    if ctx.kind == "wait":
        attempts, backoff = 1, 0.0
        yield world.env.timeout(float(p["minutes"]))
    fixed = ctx.try_fix(_rooted(world, a))
    ok = True
    for k in _stuck_windows(a):
        for i in range(attempts):
            rec = yield from ctx.reexecute(a, k)
            if rec.status == "success" and a.state[k] != BLOCKED:
                break
            if i + 1 < attempts:
                yield world.env.timeout(backoff * 2**i)
        else:
            ok = False
    yield from ctx.repair(fixed)
    ctx.outcome = "mitigated" if ok else "failed"


def _rerun(ctx: _Ctx, a: Asset, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    fixed = ctx.try_fix(_rooted(world, a))
    if ctx.kind == "backfill" and "start" in p:
        end = int(p.get("end", p["start"]))
        windows = [k for k in range(int(p["start"]), end + 1) if k in a.records]
    else:
        windows = _damaged_windows(world, a) or [max(a.records)]
    carried = {fid for k in windows for fid in world.window_faults.get((a.idx, k), ())}
    for k in windows:
        yield from ctx.reexecute(a, k)
    downstream = sorted(
        key
        for f in (world.faults[fid] for fid in carried)
        for key in f.damage
        if key[0] in a.descendants
    )
    for ai, k in downstream:
        if (ai, k) in world.window_faults:
            yield from ctx.reexecute(world.assets[ai], k)
    yield from ctx.repair(fixed)
    ctx.outcome = "mitigated"


def _quarantine(ctx: _Ctx, a: Asset, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    yield world.env.timeout(1.0)
    if "window" in p:
        windows = [int(p["window"])]
    else:
        windows = [k for k in _damaged_windows(world, a) if a.state[k] != QUARANTINED]
        windows = windows or [max(a.records)]
    undo = []
    for k in windows:
        if a.state[k] in (QUARANTINED, PENDING):
            continue
        undo.append((k, a.state[k], a.bad.get(k)))
        a.state[k] = QUARANTINED
        a.bad.setdefault(k, Corruption(()))
        world.close_exposure(a, k)
        if (a.idx, k) not in world.window_faults:
            ctx.collateral = True
            world.add_collateral(ctx.aid, a, k, "quarantined_clean")
    world.recompute_done(a)
    world.book.undo_data[ctx.aid] = ("quarantine", a.idx, undo)
    ctx.outcome = "mitigated"


def _dedupe(ctx: _Ctx, a: Asset, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    yield world.env.timeout(10.0)
    rooted = _rooted(world, a)
    grain = [f for f in rooted if f.cause == "grain_change" and f.active]
    if grain:  # the repeated keys are valid rows: deleting them is data loss
        ctx.collateral = True
        for k in sorted({k for f in grain for ai, k in f.damage if ai == a.idx}):
            world.add_collateral(ctx.aid, a, k, "deleted_valid_rows")
    fixed = ctx.try_fix(rooted)
    yield from ctx.repair(fixed)


def _mapping(ctx: _Ctx, a: Asset, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    yield world.env.timeout(10.0)
    a.mapping = True
    rooted = _rooted(world, a)
    fixable = [
        f for f in rooted if f.model is not None and "apply_schema_mapping" in f.model.success
    ]
    induced = None
    if not fixable:
        ctx.collateral = True
        induced = world.induce(a, ctx.aid)
    fixed = ctx.try_fix(fixable)
    world.book.undo_data[ctx.aid] = ("apply_schema_mapping", a.idx, induced)
    yield from ctx.repair(fixed)


def _block(ctx: _Ctx, a: Asset, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    yield world.env.timeout(1.0)
    a.blocked_out = True
    world.book.undo_data[ctx.aid] = ("block_downstream", a.idx, None)
    ctx.outcome = "mitigated"


def _scale(ctx: _Ctx, a: Asset | None, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    yield world.env.timeout(2.0)
    old = world.warehouse.capacity
    new = int(p["slots"])
    world.warehouse.resize(new)
    world.book.undo_data[ctx.aid] = ("scale_warehouse", -1, old)
    if new >= 1.5 * old:
        ctx.try_fix([f for f in world.open_faults() if f.model is not None and f.active])
    ctx.outcome = ctx.outcome if ctx.touched else "no_effect"


def _kill(ctx: _Ctx, a: Asset | None, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    yield world.env.timeout(1.0)
    if a is None:
        ext = [f for f in world.faults if f.active and f.model is not None
               and f.model.effect == "external"]  # fmt: skip
        ctx.try_fix(ext)
        return
    rooted = [f for f in _rooted(world, a) if f.active]
    warranted = [f for f in rooted if f.model is not None and "kill_query" in f.model.success]
    fixed = ctx.try_fix(warranted)
    killed = list(a.running.items())
    for _k, proc in killed:
        if proc.is_alive:
            proc.interrupt("kill_query")
    yield world.env.timeout(0)
    if not warranted and killed:
        ctx.collateral = True
        for k, _proc in killed:
            world.add_collateral(ctx.aid, a, k, "killed_healthy")
    for k, _proc in killed:
        if warranted and a.state[k] == FAILED:
            yield from ctx.reexecute(a, k)
    yield from ctx.repair(fixed)


def _reprioritize(ctx: _Ctx, a: Asset, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    yield world.env.timeout(1.0)
    old = a.priority
    a.priority = int(p["priority"])
    world.book.undo_data[ctx.aid] = ("reprioritize", a.idx, old)
    if a.priority == 2:
        ctx.try_fix([f for f in _rooted(world, a) if f.active])
    ctx.outcome = ctx.outcome if ctx.touched else "no_effect"


def _rollback(ctx: _Ctx, a: Asset | None, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    yield world.env.timeout(2.0)
    target = int(p["target"])
    kind, ai, data = world.book.undo_data[target]
    world.book.undone.add(target)
    t = world.assets[ai] if ai >= 0 else None
    if kind == "quarantine" and t is not None:
        for k, state, corr in data:
            t.state[k] = state
            if corr is None:
                t.bad.pop(k, None)
            else:
                t.bad[k] = corr
        world.recompute_done(t)
    elif kind == "apply_schema_mapping" and t is not None:
        t.mapping = False
        if data is not None:
            world.end_cause(data, ctx.aid)
            yield from ctx.repair([data])
    elif kind == "block_downstream" and t is not None:
        t.blocked_out = False
        world.release_waiters(t)
    elif kind == "scale_warehouse":
        world.warehouse.resize(int(data))
    elif kind == "reprioritize" and t is not None:
        t.priority = int(data)
    for c in world.collateral:
        if c[0] == target and c[5] != c[5]:
            c[5] = world.now
    ctx.outcome = "undone"


def _escalate(ctx: _Ctx, a: Asset | None, p: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
    world = ctx.world
    h = world.scenario.spec.human
    cands = _human_candidates(world, a)
    if cands:  # common random numbers: the n-th escalation of a fault gets the same human
        f0 = min(cands, key=lambda f: (f.onset, f.fid))
        z_delay, z_fix, u = f0.human_draws(world.seed)
    else:
        rng = world.streams["human"]
        z_delay, z_fix, u = rng.standard_normal(), rng.standard_normal(), rng.random()
    yield world.env.timeout(h.response_median_min * math.exp(h.response_sigma * z_delay))
    hands_on = h.fix_median_min * math.exp(0.5 * z_fix)
    world.human_minutes += hands_on
    yield world.env.timeout(hands_on)
    if any(f.params.get("locked") for f in _human_candidates(world, a)):
        # retries locked the service account: a ticket to the vendor, then the wait for it
        world.human_minutes += LOCKOUT_HANDS_ON_MIN
        yield world.env.timeout(LOCKOUT_HANDS_ON_MIN + LOCKOUT_DELAY_MIN)
    cands = sorted(_human_candidates(world, a), key=lambda f: (f.onset, f.fid))
    if a is None:
        cands = cands[:1]  # no asset named: the oldest open problem
    if not cands:
        return
    # the engineer fixes every problem found on the asset, oldest first; each further fault
    # costs more hands-on time and has its own chance of being fixed right
    fixed = []
    for i, f in enumerate(cands):
        ctx.touched.append(f.fid)
        if i:
            z_more, _z, u = f.human_draws(world.seed)
            more = 0.5 * h.fix_median_min * math.exp(0.5 * z_more)
            world.human_minutes += more
            yield world.env.timeout(more)
        if u >= h.fix_success_prob:
            continue
        if f.active and f.cause in SELF_ENDING and f.natural_end < math.inf:
            yield world.env.timeout(max(0.0, f.natural_end - world.now))
        world.end_cause(f, ctx.aid)
        fixed.append(f)
    if not fixed:
        ctx.outcome = "failed"
        return
    yield from ctx.repair(fixed)
    ctx.outcome = "mitigated"


def _human_candidates(world: WorldLike, a: Asset | None) -> list[Fault]:
    """Open faults a human escalated about ``a`` would find (any open fault if ``a`` is None)."""
    cands = world.open_faults()
    if a is not None:
        near = [f for f in cands if f.root is a or a.idx in f.affected]
        cands = near or [f for f in cands if f.root.idx in _ancestors(world, a)]
    return cands


def _ancestors(world: WorldLike, a: Asset) -> set[int]:
    return {u.idx for u in world.assets if a.idx in u.descendants}


_HANDLERS: dict[str, Handler] = {
    "retry": _retry,
    "wait": _retry,
    "rerun": _rerun,
    "backfill": _rerun,
    "quarantine": _quarantine,
    "dedupe": _dedupe,
    "apply_schema_mapping": _mapping,
    "block_downstream": _block,
    "scale_warehouse": _scale,
    "kill_query": _kill,
    "reprioritize": _reprioritize,
    "rollback": _rollback,
    "escalate": _escalate,
}
