"""Generated pipeline topologies for scale tests: layered random DAGs of any size.

``generate_pipeline(n, seed)`` lays out ``n`` assets over the five layers in the proportions of a
typical warehouse (10% Source, 15% Ingestion, 40% Transformation, 20% Warehouse, 15% Delivery).
Transformations are split in three tiers (staging, intermediate, marts) so the lineage depth stays
bounded at any size, which keeps hourly chains inside their hour. Each asset reads 1–3 assets of
earlier layers; the first upstream is picked round-robin so every feed is consumed, the others
uniformly. Offsets grow with depth so an upstream usually finishes before its downstream starts.
An hourly asset's freshness SLA also covers its inputs' legitimate lateness: a Source may land as
late as ``SOURCE_LATE_SHARE`` of its SLA, and the SLA is at least the time the chain below it then
needs (1.2x median run times), rounded up to 30 minutes — as the retail pipeline's SLAs are set.

Every run but a Source's holds a warehouse slot, so the warehouse a topology needs grows with it:
size a scenario's ``warehouse.slots`` with ``PipelineSpec.nominal_slot_load`` (its peak runs the
nominal schedule without queueing; retail's peak is its 8 slots). The generator does not choose
it — the warehouse belongs to the scenario — but a scenario that copies retail's 8 slots onto a
topology of 120 or 300 assets queues structurally (120 assets: peak about 25; 300: about 60).

All random draws come from one ``numpy.random.Generator`` seeded with ``seed`` and are pre-drawn
as arrays, so the same (n, seed) always gives the same pipeline and generation is O(n).

Version history: v1 — initial. v2 — an hourly asset's SLA covers its inputs' legitimate lateness
(before, every hourly asset got 90 minutes, so a Source landing late but within its SLA made the
deeper assets miss theirs: structural freshness false alarms); ``generated:<n>:<seed>`` gives the
same assets and schedule as v1, only the deeper hourly assets' SLAs rise from 90 to 120 minutes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from scenarios.spec import AssetSpec, CheckSpec, PipelineSpec
from scenarios.vocab import CheckKind, Criticality, Layer

MIN_ASSETS: Final = 5
LAYER_SHARES: Final[tuple[float, ...]] = (0.10, 0.15, 0.40, 0.20, 0.15)
"""Share of assets per layer, in the order of ``scenarios.vocab.LAYERS``."""

_ENTITIES: Final = (
    "orders", "payments", "customers", "products", "inventory", "shipments",
    "returns", "sessions", "campaigns", "suppliers", "stores", "refunds",
)  # fmt: skip
_OWNERS: Final[dict[Layer, str]] = {
    "Source": "platform-integrations",
    "Ingestion": "data-platform",
    "Transformation": "analytics-engineering",
    "Warehouse": "analytics-engineering",
    "Delivery": "bi-team",
}
_HOURLY, _DAILY = 60, 1440
_HOURLY_MAX_OFFSET_MIN: Final = 58
_N_DRAWS: Final = 12  # uniforms pre-drawn per asset
_SOURCE_SLA_MIN: Final = 90.0
SOURCE_LATE_SHARE: Final = 0.9
"""A Source's data may land as late as this share of its SLA after its window closes (the
simulator's late-but-within-SLA arrivals, ``envs.sim.noise``); downstream SLAs allow for it."""


@dataclass(slots=True)
class _Node:
    """Mutable scratch record of one asset while the graph is built."""

    name: str
    layer: Layer
    entity: str
    upstream: tuple[str, ...]
    every_min: int
    offset_min: int
    runtime_min: float
    rows: float
    value_mean: float
    daily_amplitude: float
    weekly_amplitude: float
    late_end_min: float = 0.0
    """Minutes after its window closes by which a run ends when its inputs land as late as they
    legitimately may (Sources late but within their SLA), at 1.2x the median run times."""


def layer_counts(n_assets: int) -> tuple[int, ...]:
    """Split ``n_assets`` over the five layers by ``LAYER_SHARES``, at least one per layer.

    Args:
        n_assets: total number of assets (at least 5).

    Returns:
        Counts in the order of ``LAYERS``, summing to ``n_assets``.
    """
    raw = [n_assets * s for s in LAYER_SHARES]
    counts = [max(1, math.floor(r)) for r in raw]
    while sum(counts) > n_assets:
        counts[counts.index(max(counts))] -= 1
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - math.floor(raw[i]), reverse=True)
    i = 0
    while sum(counts) < n_assets:
        counts[by_remainder[i % len(raw)]] += 1
        i += 1
    return tuple(counts)


def generate_pipeline(n_assets: int, seed: int = 0) -> PipelineSpec:
    """Generate a valid layered pipeline of ``n_assets`` assets, deterministic in ``seed``.

    Args:
        n_assets: number of assets, at least 5 (one per layer).
        seed: seed of the ``numpy.random.Generator`` that makes every random choice.

    Returns:
        A validated ``PipelineSpec`` named ``generated_<n_assets>_<seed>``.

    Raises:
        ValueError: ``n_assets`` is below 5 or ``seed`` is negative.
    """
    if n_assets < MIN_ASSETS:
        raise ValueError(f"n_assets is {n_assets}; expected at least {MIN_ASSETS} (one per layer)")
    if seed < 0:
        raise ValueError(f"seed is {seed}; expected a non-negative integer")
    rng = np.random.default_rng(seed)
    draws: list[list[float]] = rng.random((n_assets, _N_DRAWS)).tolist()
    n_src, n_ing, n_tr, n_wh, n_del = layer_counts(n_assets)
    n_stg = math.ceil(n_tr / 2)
    n_int = round((n_tr - n_stg) * 0.6)
    builder = _Builder(draws)

    src = builder.sources(n_src)
    ing = builder.layer("Ingestion", "ingest", n_ing, src, src, max_k=1)
    stg = builder.layer("Transformation", "stg", n_stg, ing, ing, max_k=2)
    int_ = builder.layer("Transformation", "int", n_int, stg, stg, max_k=3)
    mart = builder.layer("Transformation", "mart", n_tr - n_stg - n_int, int_ or stg, int_ + stg)
    wh = builder.layer("Warehouse", "fct", n_wh, (mart + int_) or stg, stg + int_ + mart)
    builder.layer("Delivery", "report", n_del, wh, wh)
    assets = tuple(_to_asset(node, d) for node, d in zip(builder.nodes, draws, strict=True))
    return PipelineSpec(
        name=f"generated_{n_assets}_{seed}",
        description=(
            f"Generated layered topology: {n_assets} assets, seed {seed} "
            f"({n_src} Source, {n_ing} Ingestion, {n_tr} Transformation, {n_wh} Warehouse, "
            f"{n_del} Delivery)."
        ),
        assets=assets,
    )


class _Builder:
    """Appends nodes layer by layer; node ``i`` uses the pre-drawn uniforms ``draws[i]``."""

    def __init__(self, draws: list[list[float]]) -> None:
        self.draws = draws
        self.nodes: list[_Node] = []

    def sources(self, count: int) -> list[_Node]:
        """Add ``count`` Source feeds cycling through the entity names."""
        out = []
        for j in range(count):
            u = self.draws[len(self.nodes)]
            entity = _ENTITIES[j % len(_ENTITIES)]
            node = _Node(
                name=f"src_{entity}_{j}",
                layer="Source",
                entity=entity,
                upstream=(),
                every_min=_HOURLY,
                offset_min=0,
                runtime_min=1.0,
                rows=float(round(10 ** (3 + 2.5 * u[5]))),
                value_mean=round(10 ** (0.7 + 2 * u[6]), 2),
                daily_amplitude=round(0.1 + 0.5 * u[7], 2),
                weekly_amplitude=round(0.05 + 0.25 * u[8], 2),
                late_end_min=SOURCE_LATE_SHARE * _SOURCE_SLA_MIN,
            )
            self.nodes.append(node)
            out.append(node)
        return out

    def layer(
        self,
        layer: Layer,
        prefix: str,
        count: int,
        primary: list[_Node],
        extra: list[_Node],
        max_k: int = 3,
    ) -> list[_Node]:
        """Add ``count`` nodes reading ``primary`` round-robin plus up to ``max_k - 1`` extras."""
        out = []
        for j in range(count):
            u = self.draws[len(self.nodes)]
            first = primary[j % len(primary)]
            ups = {first.name: first}
            for d in u[1 : _fan_in(u[0], max_k)]:
                other = extra[int(d * len(extra))]
                ups.setdefault(other.name, other)
            every = _schedule(layer, tuple(ups.values()), u[9])
            if layer == "Warehouse":
                prefix = "dim" if every == _DAILY and j % 3 == 2 else "fct"
            elif layer == "Delivery":
                prefix = ("report", "dash", "export")[j % 3]
            name = f"{prefix}_{first.entity}_{j}"
            node = self._node(layer, name, every, first, tuple(ups.values()), u)
            self.nodes.append(node)
            out.append(node)
        return out

    def _node(
        self,
        layer: Layer,
        name: str,
        every: int,
        first: _Node,
        ups: tuple[_Node, ...],
        u: list[float],
    ) -> _Node:
        lo, hi = _runtime_range(layer, name, every)
        runtime = round(lo + (hi - lo) * u[4], 1)
        # Start after the slowest upstream's typical finish, so runs rarely wait.
        ready = max(up.offset_min + math.ceil(1.2 * up.runtime_min) for up in ups) + 2
        if every == _HOURLY:
            offset = min(ready, _HOURLY_MAX_OFFSET_MIN)
        else:
            floor_min = 120 + 60 * u[10] if layer == "Warehouse" else 180 + 180 * u[10]
            offset = min(max(ready, 5 * round(floor_min / 5)), 1440)
        if layer == "Delivery":
            rows = float(round(10 ** (1.7 + 2 * u[5])))
        elif every == _DAILY:
            rows = float(round(first.rows * 24 * (0.05 + 0.95 * u[5])))
        else:
            rows = float(round(first.rows * (0.5 + 0.7 * u[5])))
        return _Node(
            name=name,
            layer=layer,
            entity=first.entity,
            upstream=tuple(up.name for up in ups),
            every_min=every,
            offset_min=offset,
            runtime_min=runtime,
            rows=max(rows, 1.0),
            value_mean=round(first.value_mean * (0.8 + 0.4 * u[6]), 2),
            daily_amplitude=first.daily_amplitude,
            weekly_amplitude=first.weekly_amplitude,
            late_end_min=max(offset, *(up.late_end_min for up in ups)) + 1.2 * runtime,
        )


def _fan_in(u: float, max_k: int) -> int:
    """Number of upstreams: 1 for feeds; up to ``max_k`` (1: 30%, 2: 45%, 3: 25%) otherwise."""
    if max_k == 1:
        return 1
    if max_k == 2:
        return 2 if u < 0.15 else 1
    return 1 if u < 0.30 else 2 if u < 0.75 else 3


def _schedule(layer: Layer, ups: tuple[_Node, ...], u: float) -> int:
    """Hourly, except some daily Warehouse/Delivery assets; daily input forces daily (nesting)."""
    if any(up.every_min == _DAILY for up in ups):
        return _DAILY
    daily_share = {"Warehouse": 0.3, "Delivery": 0.6}.get(layer, 0.0)
    return _DAILY if u < daily_share else _HOURLY


def _runtime_range(layer: Layer, name: str, every_min: int) -> tuple[float, float]:
    """Median run time range in minutes for an asset of ``layer``."""
    if layer == "Ingestion":
        return 1.0, 3.0
    if layer == "Transformation":
        return {"stg": (1.0, 4.0), "int": (2.0, 6.0)}.get(name.split("_", 1)[0], (2.0, 8.0))
    if layer == "Warehouse":
        return (5.0, 20.0) if every_min == _DAILY else (3.0, 8.0)
    return 1.0, 4.0


def _to_asset(node: _Node, u: list[float]) -> AssetSpec:
    """Freeze a scratch node into an ``AssetSpec`` with realistic checks."""
    daily = node.every_min == _DAILY
    tail = node.offset_min + 2 * node.runtime_min
    if daily:
        sla = max(360.0, 30.0 * math.ceil((node.offset_min + 3 * node.runtime_min + 120) / 30))
    elif node.layer == "Source":
        sla = _SOURCE_SLA_MIN
    else:
        # an SLA its inputs' legitimate lateness cannot break on its own (as retail's are set)
        sla = max(90.0 if tail <= 60 else 120.0, 30.0 * math.ceil(node.late_end_min / 30))
    keys: tuple[str, ...] = (f"{node.entity}_id",)
    if node.layer not in ("Source", "Ingestion") and node.entity != "customers":
        keys += ("customer_id",)
    return AssetSpec(
        name=node.name,
        layer=node.layer,
        upstream=node.upstream,
        every_min=node.every_min,
        offset_min=node.offset_min,
        expected_rows=node.rows,
        daily_amplitude=node.daily_amplitude,
        weekly_amplitude=node.weekly_amplitude,
        runtime_median_min=node.runtime_min,
        runtime_sigma=0.5 if node.layer == "Source" else 0.3,
        freshness_sla_min=sla,
        criticality=_criticality(node.layer, u[11]),
        owner=_OWNERS[node.layer],
        key_columns=keys,
        slots=0 if node.layer == "Source" else 1,
        value_mean=node.value_mean,
        value_std=round(0.25 * node.value_mean, 2),
        checks=_checks(node, u),
    )


def _criticality(layer: Layer, u: float) -> Criticality:
    """Delivery is often high; upstream layers mostly medium or low."""
    high, medium = {
        "Source": (0.0, 0.5),
        "Ingestion": (0.0, 0.5),
        "Transformation": (0.0, 0.5),
        "Warehouse": (0.1, 0.8),
        "Delivery": (0.4, 0.8),
    }[layer]
    return "high" if u < high else "medium" if u < medium else "low"


@functools.cache
def _check(kind: CheckKind, severity: str = "error", blocking: bool = False) -> CheckSpec:
    """A shared check without per-asset parameters (frozen, so safely reused across assets)."""
    return CheckSpec(kind=kind, severity=severity, blocking=blocking)


def _checks(node: _Node, u: list[float]) -> tuple[CheckSpec, ...]:
    """Layer-typical checks; the draws in ``u`` pick severities and circuit breakers."""
    a, b, c = u[7], u[8], u[9]
    if node.layer == "Source":
        return (_check("freshness", "warn"),)
    if node.layer == "Ingestion":
        return (
            _check("freshness"),
            _check("volume", "error" if a < 0.5 else "warn"),
            _check("schema", "error", blocking=b < 0.3),
            _check("not_null"),
        )
    if node.layer == "Delivery":
        return (_check("freshness"), _check("volume", "warn"))
    accepted_range = CheckSpec(
        kind="accepted_range",
        severity="error" if c < 0.4 else "warn",
        min_value=round(0.4 * node.value_mean, 2),
        max_value=round(2.5 * node.value_mean, 2),
    )
    if node.layer == "Transformation":
        checks = [
            _check("not_null", "warn" if a < 0.3 else "error"),
            _check("unique", "warn" if b < 0.2 else "error", blocking=b > 0.65),
        ]
        return (*checks, accepted_range) if c < 0.5 else tuple(checks)
    return (
        _check("unique", "error", blocking=b < 0.5),
        _check("not_null"),
        _check("volume", "error" if a < 0.5 else "warn"),
        accepted_range,
    )
