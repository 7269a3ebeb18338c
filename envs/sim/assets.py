"""Compiled assets: static spec plus per-episode state and pre-drawn randomness.

The simulator's hot path touches one ``Asset`` per run, so everything a run needs is a plain
attribute or a Python list indexed by window: seasonal expected volume, volume noise, run-time
multipliers and arrival delays are drawn once per episode with vectorized numpy calls (no per-run
numpy scalar draws) and converted to lists.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import simpy

from envs.sim import portable
from envs.sim.records import PENDING, RunRecord
from envs.sim.rng import Streams
from scenarios.spec import AssetSpec, CheckSpec, NoiseSpec, PipelineSpec
from scenarios.vocab import LAYERS

CHECK_CODES = {
    "freshness": 0,
    "not_null": 1,
    "unique": 2,
    "volume": 3,
    "schema": 4,
    "accepted_range": 5,
}
BASE_NULL_RATE = 0.002
BASE_DUPLICATE_RATE = 0.0005


class Corruption:
    """Wrong statistics carried by a partition (and what it inherits from upstream).

    Attributes:
        faults: ids of the faults responsible.
        null_add: added null rate on ``null_col`` (or on every key column if -1).
        null_col: which key column.
        dup_add: added duplicate rate.
        vol_factor: multiplier on rows.
        mean_factor: multiplier on the value mean.
        schema_delta: schema version offset (a renamed or retyped column).
    """

    __slots__ = (
        "dup_add",
        "faults",
        "mean_factor",
        "null_add",
        "null_col",
        "schema_delta",
        "vol_factor",
    )

    def __init__(
        self,
        faults: tuple[int, ...],
        null_add: float = 0.0,
        null_col: int = 0,
        dup_add: float = 0.0,
        vol_factor: float = 1.0,
        mean_factor: float = 1.0,
        schema_delta: int = 0,
    ) -> None:
        self.faults = faults
        self.null_add = null_add
        self.null_col = null_col
        self.dup_add = dup_add
        self.vol_factor = vol_factor
        self.mean_factor = mean_factor
        self.schema_delta = schema_delta


class Asset:
    """One asset: its compiled spec, its state in this episode and its pre-drawn noise.

    State attributes (mutated by the world): ``state`` (partition state per window, a bytearray),
    ``records`` (latest RunRecord per window), ``done_until`` (largest k such that windows 1..k are
    all consumable), ``waiters`` (downstream events waiting for a window), ``bad`` (window →
    Corruption), ``faults`` (active faults rooted here), ``running`` (window → process),
    ``priority``, ``blocked_out``, ``schema_version``, ``mapping`` (a schema mapping is applied),
    ``check_failures`` (windows whose latest record failed a check).
    """

    def __init__(self, idx: int, spec: AssetSpec, horizon_min: float) -> None:
        self.idx = idx
        self.spec = spec
        self.name = spec.name
        self.layer = spec.layer
        self.layer_idx = LAYERS.index(spec.layer)
        self.every = spec.every_min
        self.offset = spec.offset_min
        self.sla = spec.freshness_sla_min
        self.uses_slot = spec.slots > 0
        self.n_windows = max(0, int((horizon_min - spec.offset_min) // spec.every_min))
        self.ups: list[Asset] = []
        self.downs: list[Asset] = []
        self.descendants: frozenset[int] = frozenset()
        self.api_sources: tuple[Asset, ...] = ()
        """For an Ingestion asset, its Source inputs (an outage of their API fails its runs)."""
        self.checks: list[tuple[int, int, bool, bool, float, float]] = [
            _compile_check(i, c, spec) for i, c in enumerate(spec.checks)
        ]
        self.blocking_kinds = frozenset(c.kind for c in spec.checks if c.blocking)
        self.n_keys = len(spec.key_columns)
        # Baseline noise stays well inside the asset's own tests: a healthy asset passes them.
        uniq = [c.max_duplicate_rate for c in spec.checks if c.kind == "unique"]
        nn = [c.max_null_rate for c in spec.checks if c.kind == "not_null"]
        self.base_dup = 0.0 if uniq else BASE_DUPLICATE_RATE
        self.base_null = min([BASE_NULL_RATE, *(x / 8.0 for x in nn)])
        # state
        self.state = bytearray(self.n_windows + 2)
        self.state[0] = 1  # window 0 is the empty past: consumable
        self.records: dict[int, RunRecord] = {}
        self.check_failures: set[int] = set()
        """Windows whose record in ``records`` failed a check (kept with ``records``)."""
        self.done_until = 0
        self.waiters: list[tuple[int, simpy.Event]] = []
        self.bad: dict[int, Corruption] = {}
        self.faults: list[Any] = []
        self.running: dict[int, simpy.Process] = {}
        self.priority = 1
        self.blocked_out = False
        self.schema_version = 1
        self.mapping = False
        self.attempts: dict[int, int] = {}
        # pre-drawn per window (filled by predraw)
        self.expected: list[float] = []
        self.vol_noise: list[float] = []
        self.rt: list[float] = []
        self.mean_noise: list[float] = []
        self.null_noise: list[float] = []
        self.clean_rows_f: list[float] = []
        self.clean_null: list[float] = []
        self.clean_dup: list[float] = []
        self.clean_vmean: list[float] = []
        self.clean_pass: list[bool] = []
        self.fresh_limit_min = math.inf

    def predraw(self, streams: Streams, noise: NoiseSpec) -> None:
        """Draw this episode's per-window randomness in a few vectorized calls."""
        n = self.n_windows + 1
        s = self.spec
        ends = np.arange(n, dtype=np.float64) * self.every
        season = np.ones(n)
        if noise.seasonality:
            hour = (ends / 60.0) % 24.0
            day = (ends // 1440).astype(np.int64)
            season = season * (1.0 + s.daily_amplitude * portable.cos((hour - 14.0) * np.pi / 12.0))
            weekend = (day % 7) >= 5
            season = season * np.where(weekend, 1.0 - s.weekly_amplitude, 1.0)
        if noise.holidays:
            day = (ends // 1440).astype(np.int64)
            season = season * np.where(
                np.isin(day, np.asarray(noise.holidays)), noise.holiday_volume_factor, 1.0
            )
        expected = s.expected_rows * season
        vol = streams["volume"]
        vol_noise = 1.0 + noise.volume_cv * vol.standard_normal(n)
        mean_noise = 1.0 + 0.02 * vol.standard_normal(n)
        null_noise = vol.gamma(2.0, 0.5, n)
        rt = streams["runtime"]
        self.rt = (
            s.runtime_median_min * portable.exp(s.runtime_sigma * rt.standard_normal(n))
        ).tolist()
        self.expected = expected.tolist()
        self.vol_noise = vol_noise.tolist()
        self.mean_noise = mean_noise.tolist()
        self.null_noise = null_noise.tolist()
        self._precompute_clean(expected, vol_noise, mean_noise, null_noise)

    def _precompute_clean(
        self,
        expected: np.ndarray,
        vol_noise: np.ndarray,
        mean_noise: np.ndarray,
        null_noise: np.ndarray,
    ) -> None:
        """The statistics of each window written without corruption, and whether they pass.

        Fills ``clean_rows_f``, ``clean_null``, ``clean_dup``, ``clean_vmean`` (the products the
        world's run computes, elementwise in float64: the same IEEE values) and ``clean_pass``
        (no check but freshness can fail on them; a window that divides by a zero expected volume
        or has a not_null check without key columns is marked failing, so the world takes its
        full path and raises as before). ``fresh_limit_min`` is the smallest freshness limit: a
        run that ends within it of its window end passes every freshness check.
        """
        rows_f = expected * vol_noise
        nn = null_noise * self.base_null
        dup = self.base_dup * null_noise
        vmean = self.spec.value_mean * mean_noise
        bad = np.zeros(len(expected), dtype=bool)
        fresh = math.inf
        for _i, code, _is_error, _blocking, lo, hi in self.checks:
            if code == 0:
                fresh = min(fresh, hi)
            elif code == 1:
                bad |= (nn > hi) if self.n_keys else True
            elif code == 2:
                bad |= dup > hi
            elif code == 3:
                with np.errstate(divide="ignore", invalid="ignore"):
                    bad |= (expected == 0.0) | (np.abs(rows_f / expected - 1.0) > hi)
            elif code == 5:
                bad |= ~((lo <= vmean) & (vmean <= hi))
        self.clean_rows_f = rows_f.tolist()
        self.clean_null = nn.tolist()
        self.clean_dup = dup.tolist()
        self.clean_vmean = vmean.tolist()
        self.clean_pass = (~bad).tolist()
        self.fresh_limit_min = fresh


def _compile_check(i: int, c: CheckSpec, a: AssetSpec) -> tuple[int, int, bool, bool, float, float]:
    code = CHECK_CODES[c.kind]
    lo, hi = 0.0, 0.0
    if c.kind == "not_null":
        hi = c.max_null_rate
    elif c.kind == "unique":
        hi = c.max_duplicate_rate
    elif c.kind == "volume":
        hi = c.volume_tolerance
    elif c.kind == "accepted_range":
        lo = -math.inf if c.min_value is None else c.min_value
        hi = math.inf if c.max_value is None else c.max_value
    elif c.kind == "freshness":
        hi = a.freshness_sla_min
    return (i, code, c.severity == "error", c.blocking and c.severity == "error", lo, hi)


def compile_pipeline(spec: PipelineSpec, horizon_min: float) -> list[Asset]:
    """Build the assets of a pipeline, wired up- and downstream, with descendant sets.

    Args:
        spec: the validated pipeline.
        horizon_min: episode horizon in minutes (sets the number of windows per asset).

    Returns:
        Assets in topological order (every upstream before its consumers).
    """
    by_name = {a.name: a for a in spec.assets}
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        stack = [(name, iter(by_name[name].upstream))]
        seen.add(name)
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                order.append(node)
            elif nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, iter(by_name[nxt].upstream)))

    for spec_a in spec.assets:
        if spec_a.name not in seen:
            visit(spec_a.name)
    assets = [Asset(i, by_name[n], horizon_min) for i, n in enumerate(order)]
    idx = {a.name: a for a in assets}
    for a in assets:
        a.ups = [idx[u] for u in a.spec.upstream]
        for u in a.ups:
            u.downs.append(a)
        if a.layer == "Ingestion":
            a.api_sources = tuple(u for u in a.ups if u.layer == "Source")
    desc: list[int] = [0] * len(assets)
    for a in reversed(assets):
        bits = 0
        for d in a.downs:
            bits |= desc[d.idx] | (1 << d.idx)
        desc[a.idx] = bits
    for a in assets:
        bits = desc[a.idx]
        found = []
        while bits:
            low = bits & -bits
            found.append(low.bit_length() - 1)
            bits ^= low
        a.descendants = frozenset(found)
    return assets


def is_pending(a: Asset, k: int) -> bool:
    """True if window ``k`` of ``a`` has not produced a partition yet."""
    return a.state[k] == PENDING
