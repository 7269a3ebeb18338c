"""Readiness of a dataset: its latest due window, the partitions it is built from, and the truth.

A dataset (an asset) is *ready* at time ``t`` when the partition of its latest due window — the
latest window whose scheduled run time (``k * every_min + offset_min``) has passed — and every
upstream partition that window is built from, transitively, are delivered (``ok`` or ``warn``).
``latest_due`` and ``inputs`` define that set; the Analytics Support agent reads the partitions'
observable states, while ``ReadinessOracle`` adds what only the ground truth knows (wrong data)
to score its answers. The agent never uses the oracle.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from envs.sim.assets import Asset
from envs.sim.records import OK, WARN
from envs.sim.world import World

OK_WARN: Final = (OK, WARN)
"""Delivered partition states (a quarantined partition is withheld: not delivered)."""


def latest_due(a: Asset, t: float) -> int:
    """The latest window of ``a`` whose scheduled run time is at or before ``t`` (0: none)."""
    return max(0, min(int((t - a.offset) // a.every), a.n_windows))


def inputs(a: Asset, k: int, ancestors: Sequence[Asset]) -> tuple[tuple[Asset, int], ...]:
    """Window ``k`` of ``a`` and every upstream window it is built from, transitively.

    In order: ``(a, k)``, then each of ``ancestors`` with its windows ascending.
    """
    start, end = (k - 1) * a.every, k * a.every
    return (
        (a, k),
        *[
            (v, j)
            for v in ancestors
            for j in range(start // v.every + 1, min(end // v.every, v.n_windows) + 1)
        ],
    )


Span = tuple[Asset, int, int]
"""Windows ``first <= j < stop`` of an asset: ``(asset, first, stop)``."""


def input_spans(a: Asset, k: int, ancestors: Sequence[Asset]) -> tuple[Span, ...]:
    """``inputs(a, k, ancestors)`` as one span of windows per asset (empty spans left out).

    ``[(v, j) for v, first, stop in spans for j in range(first, stop)]`` is ``inputs``, in order.
    A span is what a reader of partition states wants: ``v.state[first:stop]`` is one slice.
    """
    start, end = (k - 1) * a.every, k * a.every
    spans = [(a, k, k + 1)]
    for v in ancestors:
        first, stop = start // v.every + 1, min(end // v.every, v.n_windows) + 1
        if first < stop:
            spans.append((v, first, stop))
    return tuple(spans)


def ancestors(assets: Sequence[Asset]) -> list[list[Asset]]:
    """Per asset index, its transitive upstream in topological order."""
    anc: list[set[int]] = [set() for _ in assets]
    for a in assets:  # topological order: upstream sets are complete
        for u in a.ups:
            anc[a.idx] |= anc[u.idx] | {u.idx}
    return [[assets[i] for i in sorted(s)] for s in anc]


class InputIndex:
    """``input_spans`` of each (asset, window), computed once per world (the topology is fixed).

    Args:
        assets: the world's assets in topological order.

    Attributes:
        ancestors: per asset index, its transitive upstream (``ancestors``).
    """

    def __init__(self, assets: Sequence[Asset]) -> None:
        self.ancestors = ancestors(assets)
        self._memo: dict[tuple[int, int], tuple[Span, ...]] = {}

    def spans(self, a: Asset, k: int) -> tuple[Span, ...]:
        """``input_spans(a, k, ancestors[a.idx])``, memoized."""
        key = (a.idx, k)
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = input_spans(a, k, self.ancestors[a.idx])
        return got


class ReadinessOracle:
    """Ground truth of readiness at any past time, replayed from the world's records (scoring only).

    A dataset was ready at ``t`` iff its latest due partition and every upstream partition it is
    built from were ok or warn and carried no wrong data. Partition states are replayed from the run
    log and the quarantines taken (``world.book.undo_data``, timed by the audit trail); wrong data
    at Delivery from the exposure intervals; elsewhere from ``world.window_faults`` for a
    partition's current write, and for a superseded write from the corrupting faults that could have
    spoiled it (acting at the root, unrepaired upstream) and were still open when it was rewritten —
    repairs rewrite damaged partitions; a deliberate backfill of clean ones is the rare exception.
    Checked against the live hidden state under random actions in the tests.

    Args:
        world: the episode, after the answers were given.
        index: the world's ``InputIndex`` to share (Analytics Support's, whose memo already holds
            every dataset and window it answered about); default: a new one.
    """

    def __init__(self, world: World, index: InputIndex | None = None) -> None:
        self.world = world
        self.index = InputIndex(world.assets) if index is None else index
        self.ancestors = self.index.ancestors
        self.writes: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
        for r in world.log:
            if r.trigger != "auto_retry":  # a retry storm's failed attempts write no partition
                self.writes[(r.asset, r.window)].append((r.ended_at, r.partition_state))
        done = {r.action_id: r.done_at for r in world.actions}
        undone = {r.undo_of: r.done_at for r in world.actions if r.kind == "rollback"}
        self.quarantined: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
        for aid, (kind, ai, data) in world.book.undo_data.items():
            if kind == "quarantine" and aid in done:
                for k, *_ in data:
                    self.quarantined[(ai, k)].append((done[aid], undone.get(aid, math.inf)))
        self.exposed: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
        for _fid, ai, k, start, end in world.exposures:
            self.exposed[(ai, k)].append((start, math.inf if end != end else end))
        # asset -> (first touched, last write it can have spoiled, open until) per corrupting fault
        self.corrupting: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
        for f in world.faults:
            if f.started and f.model.effect in ("corrupt", "schema"):
                until = f.resolved_at if f.resolved else math.inf
                for ai, at in f.affected.items():
                    # the root writes bad data while the cause acts; consumers, until repaired
                    spoils = (
                        f.cause_ended_at
                        if ai == f.root.idx and f.cause_ended_at == f.cause_ended_at
                        else until
                    )
                    self.corrupting[ai].append((at, spoils, until))
        self._settled = self._settled_since()

    def _settled_since(self) -> list[list[float]]:
        """Per asset and window, a time from which ``_good`` is true at every later time (or inf).

        That is the time of the partition's last write when it was delivered (ok or warn), was
        never quarantined, and carries no wrong data: at Delivery no exposure interval, elsewhere
        no fault in ``world.window_faults`` — every condition ``_good`` tests for the write in
        force, none of which changes after that write. Any other partition gets inf (``_good``
        decides it). Most inputs of a readiness question are such old, settled partitions.
        """
        out = [[math.inf] * (a.n_windows + 2) for a in self.world.assets]
        window_faults = self.world.window_faults
        for key, hist in self.writes.items():
            ai, j = key
            written, state = hist[-1]
            if state not in OK_WARN or key in self.quarantined:
                continue
            if self.world.assets[ai].layer == "Delivery":
                if key in self.exposed:
                    continue
            elif key in window_faults:
                continue
            out[ai][j] = written
        return out

    def ready(self, dataset: str, t: float) -> bool:
        """Whether ``dataset`` was ready at time ``t``."""
        a = self.world.asset(dataset)
        k = latest_due(a, t)
        if k <= 0:
            return False
        good, settled = self._good, self._settled
        for v, first, stop in self.index.spans(a, k):
            since = settled[v.idx]
            if max(since[first:stop]) <= t:
                continue  # every last write was in force and nothing can have spoiled it since
            for j in range(first, stop):
                if since[j] > t and not good(v, j, t):
                    return False
        return True

    def _good(self, v: Asset, j: int, t: float) -> bool:
        key = (v.idx, j)
        hist = self.writes.get(key)
        if not hist:
            return False
        i = len(hist) - 1
        while i >= 0 and hist[i][0] > t:  # the write in force at t
            i -= 1
        if i < 0:
            return False
        written, state = hist[i]
        if state not in OK_WARN:
            return False
        quarantined = self.quarantined.get(key)
        if quarantined and any(written <= q0 <= t < q1 for q0, q1 in quarantined):
            return False
        if v.layer == "Delivery":
            exposed = self.exposed.get(key)
            return not (exposed and any(e0 <= t < e1 for e0, e1 in exposed))
        if i == len(hist) - 1:
            return key not in self.world.window_faults
        replaced = hist[i + 1][0]
        return not any(
            at <= written <= spoils and replaced <= until
            for at, spoils, until in self.corrupting.get(v.idx, ())
        )
