"""Typed, frozen specifications of pipelines and scenarios (validated with pydantic).

A *pipeline* is a DAG of assets on the five data layers; a *scenario* names a pipeline and adds a
horizon, fault processes, ambient noise, the warehouse, the human responders and a seed split.
Every model forbids unknown fields, so a typo in a YAML file is an error, not a silent default.
Times are in minutes unless the field name says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scenarios.vocab import LAYERS, TAXONOMY, CheckKind, Criticality, Layer, RootCause, Subtype

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Amplitude = Annotated[float, Field(ge=0.0, lt=1.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckSpec(_Frozen):
    """One dbt-like check on an asset's partitions.

    Attributes:
        kind: freshness, not_null, unique, volume, schema or accepted_range.
        severity: ``warn`` records a warning; ``error`` fails the check.
        blocking: a failing error-severity blocking check holds the partition back from
            downstream consumers (a circuit breaker) until it is repaired or quarantined.
        max_null_rate: not_null passes while the worst key-column null rate is at most this.
        max_duplicate_rate: unique passes while the duplicate rate is at most this.
        volume_tolerance: volume passes while |rows / expected - 1| is at most this.
        min_value: accepted_range lower bound on the partition's value mean.
        max_value: accepted_range upper bound on the partition's value mean.
    """

    kind: CheckKind
    severity: Literal["warn", "error"] = "error"
    blocking: bool = False
    max_null_rate: Fraction = 0.02
    max_duplicate_rate: Fraction = 0.005
    volume_tolerance: Annotated[float, Field(gt=0.0)] = 0.5
    min_value: float | None = None
    max_value: float | None = None


class AssetSpec(_Frozen):
    """One data asset (a table or a feed) and how it is produced.

    Attributes:
        name: unique snake_case name.
        layer: Source, Ingestion, Transformation, Warehouse or Delivery.
        upstream: names of the assets this one reads; Source assets have none.
        every_min: schedule period; a run at ``k * every_min + offset_min`` builds the partition
            for the window ending at ``k * every_min``. Must be a multiple of every upstream's.
        offset_min: delay of the scheduled run after its window closes.
        expected_rows: mean rows per partition before seasonality.
        daily_amplitude: relative hour-of-day swing of volume (peak at 14:00).
        weekly_amplitude: relative weekend dip of volume.
        runtime_median_min: median run time with one free warehouse slot.
        runtime_sigma: log-normal sigma of the run time.
        freshness_sla_min: a partition arriving later than window end + this breaches the SLA.
        criticality: business criticality (drives incident severity).
        owner: the owning team.
        key_columns: columns whose null rates are tracked.
        slots: 1 if a run holds one warehouse slot while it runs, 0 for work outside the
            warehouse (Source feeds arrive from external systems).
        value_mean: baseline mean of the tracked measure (distribution summary).
        value_std: baseline standard deviation of the tracked measure.
        checks: dbt-like checks evaluated on each partition.
    """

    name: Name
    layer: Layer
    upstream: tuple[Name, ...] = ()
    every_min: Annotated[int, Field(gt=0, le=10080)] = 60
    offset_min: Annotated[int, Field(ge=0, le=1440)] = 5
    expected_rows: Annotated[float, Field(gt=0.0)] = 10_000.0
    daily_amplitude: Amplitude = 0.3
    weekly_amplitude: Amplitude = 0.2
    runtime_median_min: Annotated[float, Field(gt=0.0)] = 2.0
    runtime_sigma: Annotated[float, Field(ge=0.0, le=3.0)] = 0.25
    freshness_sla_min: Annotated[float, Field(gt=0.0)] = 120.0
    criticality: Criticality = "medium"
    owner: str = "data-engineering"
    key_columns: tuple[Name, ...] = ("id",)
    slots: Annotated[int, Field(ge=0, le=1)] = 1
    value_mean: float = 100.0
    value_std: Annotated[float, Field(ge=0.0)] = 20.0
    checks: tuple[CheckSpec, ...] = ()


class PipelineSpec(_Frozen):
    """A topology: a named DAG of assets.

    Validated on load: names are unique, every upstream exists, the graph is acyclic, Source assets
    have no upstream and every other asset has at least one, no asset reads from a later layer,
    and schedules nest (an asset's period is a multiple of each upstream's period).
    """

    name: Name
    description: str = ""
    assets: tuple[AssetSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_dag(self) -> PipelineSpec:
        by_name: dict[str, AssetSpec] = {}
        for i, a in enumerate(self.assets):
            if a.name in by_name:
                raise ValueError(
                    f"assets[{i}].name: duplicate asset name {a.name!r}; expected unique names"
                )
            by_name[a.name] = a
        for i, a in enumerate(self.assets):
            if a.layer == "Source" and a.upstream:
                raise ValueError(
                    f"assets[{i}].upstream: Source asset {a.name!r} has upstream assets; "
                    "expected none (Source assets are external feeds)"
                )
            if a.layer != "Source" and not a.upstream:
                raise ValueError(
                    f"assets[{i}].upstream: {a.layer} asset {a.name!r} has no upstream; "
                    "expected at least one (only Source assets have none)"
                )
            for u in a.upstream:
                up = by_name.get(u)
                if up is None:
                    raise ValueError(
                        f"assets[{i}].upstream: unknown upstream {u!r} of {a.name!r}; "
                        f"expected one of the pipeline's asset names"
                    )
                if LAYERS.index(up.layer) > LAYERS.index(a.layer):
                    raise ValueError(
                        f"assets[{i}].upstream: {a.name!r} ({a.layer}) reads {u!r} ({up.layer}), "
                        f"a later layer; expected layers in order {', '.join(LAYERS)}"
                    )
                if a.every_min % up.every_min:
                    raise ValueError(
                        f"assets[{i}].every_min: {a.every_min} of {a.name!r} is not a multiple of "
                        f"every_min {up.every_min} of its upstream {u!r}; expected schedules that "
                        "nest"
                    )
        cycle = _find_cycle({a.name: a.upstream for a in self.assets})
        if cycle:
            raise ValueError(f"assets: cycle in the DAG: {' -> '.join(cycle)}; expected a DAG")
        return self

    def nominal_slot_load(self) -> tuple[int, float]:
        """The warehouse slots the nominal schedule needs: (peak, mean) over one day.

        Every slot-holding run occupies one slot from its offset for its median run time, at each
        of its day's periods (daily assets once); the peak is the most runs in flight at once,
        the mean the day's slot-minutes over 1440. A warehouse with at least ``peak`` slots runs
        the nominal schedule without queueing (the retail pipeline's peak is 8, its scenarios'
        warehouse size); below ``mean`` its backlog grows without bound.
        """
        day = 1440.0
        edges: list[tuple[float, int]] = []
        busy = 0.0
        for a in self.assets:
            if not a.slots:
                continue
            run = min(a.runtime_median_min, day)
            busy += run * max(1, round(day / a.every_min))
            start = float(a.offset_min % a.every_min) if a.every_min < day else a.offset_min % day
            while start < day:
                end = start + run
                edges += [(start, 1), (min(end, day), -1)]
                if end > day:  # wraps past midnight
                    edges += [(0.0, 1), (end - day, -1)]
                start += a.every_min
        peak = level = 0
        for _, step in sorted(edges):  # at equal times, ends (-1) before starts (+1)
            level += step
            peak = max(peak, level)
        return peak, busy / day


def _find_cycle(upstream: dict[str, tuple[str, ...]]) -> list[str]:
    """Return one cycle as a list of names (first name repeated at the end), or [].

    Iterative depth-first search, so lineage thousands of assets deep is fine.
    """
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in upstream:
        if root in state:
            continue
        path: list[str] = [root]
        its = [iter(upstream.get(root, ()))]
        state[root] = 1
        while its:
            u = next(its[-1], None)
            if u is None:
                state[path.pop()] = 2
                its.pop()
            elif state.get(u) == 1:
                return [*path[path.index(u) :], u]
            elif u not in state:
                state[u] = 1
                path.append(u)
                its.append(iter(upstream.get(u, ())))
    return []


def _check_root_causes(subtype: Subtype, root_causes: Mapping[RootCause, float] | None) -> None:
    """Root-cause weights must name causes of ``subtype`` and have a positive total."""
    allowed = TAXONOMY[subtype][1]
    for cause in root_causes or {}:
        if cause not in allowed:
            raise ValueError(
                f"root_causes: {cause!r} cannot produce {subtype!r}; "
                f"expected one of {', '.join(allowed)}"
            )
    if root_causes is not None and sum(root_causes.values()) <= 0:
        raise ValueError("root_causes: weights sum to 0; expected a positive total")


class FaultSpec(_Frozen):
    """A fault process: Poisson onsets of one subtype.

    Attributes:
        subtype: the fault subtype (see ``scenarios.vocab.TAXONOMY``).
        rate_per_day: mean onsets per simulated day (after the warm-up).
        root_causes: optional weights over the subtype's root causes; default uniform.
        assets: optional candidate root assets; default every asset whose layer fits the cause.
        magnitude: scale of the fault's effect (1.0 = the documented typical magnitude).
        on_holidays: onsets fall only on the scenario's holidays (``noise.holidays``) after the
            warm-up, at ``rate_per_day`` per holiday (a calendar-correlated fault: a schema
            change shipped while the team is away).
    """

    subtype: Subtype
    rate_per_day: Annotated[float, Field(ge=0.0, le=100.0)]
    root_causes: dict[RootCause, Annotated[float, Field(ge=0.0)]] | None = None
    assets: tuple[Name, ...] = ()
    magnitude: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0
    on_holidays: bool = False

    @model_validator(mode="after")
    def _causes_fit(self) -> FaultSpec:
        _check_root_causes(self.subtype, self.root_causes)
        return self


class CascadeSpec(_Frozen):
    """A cascading fault: each planned fault of one subtype may set off a fault of another.

    Every fault the scenario's ``faults`` processes plan with subtype ``after`` (the trigger)
    sets off, with probability ``prob``, one fault of ``subtype`` whose onset is uniform in
    ``delay_min`` after the trigger's anchor. Cascaded faults trigger nothing further (one level),
    and a scenario without cascades draws nothing for them (``envs.sim.cascades``).

    Attributes:
        after: the trigger's subtype; a fault process of the scenario must inject it.
        anchor: ``recovery`` counts the delay from the trigger's natural end (an outage's
            recovery, when its held-back partitions arrive in one burst and the catch-up load
            starts; triggers whose cause never ends by itself set nothing off); ``onset`` from
            the trigger's onset (faults that come together).
        subtype: the cascaded fault's subtype.
        root_causes: optional weights over its root causes; default uniform.
        prob: chance that one trigger sets the cascade off.
        delay_min: ``[low, high]`` minutes after the anchor.
        scope: ``lineage`` draws the cascaded root among the eligible assets on the trigger's
            lineage (its root asset and everything downstream of it), or anywhere if none there
            is eligible; ``pipeline`` among every eligible asset.
        magnitude: scale of the cascaded fault's effect (as ``FaultSpec.magnitude``).
    """

    after: Subtype
    anchor: Literal["recovery", "onset"] = "recovery"
    subtype: Subtype
    root_causes: dict[RootCause, Annotated[float, Field(ge=0.0)]] | None = None
    prob: Fraction
    delay_min: tuple[
        Annotated[float, Field(ge=0.0, le=10080.0)], Annotated[float, Field(ge=0.0, le=10080.0)]
    ] = (0.0, 30.0)
    scope: Literal["lineage", "pipeline"] = "lineage"
    magnitude: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0

    @model_validator(mode="after")
    def _valid(self) -> CascadeSpec:
        low, high = self.delay_min
        if low > high:
            raise ValueError(
                f"delay_min: [{low}, {high}] has low above high; expected [low, high], low <= high"
            )
        _check_root_causes(self.subtype, self.root_causes)
        return self


class BackfillSpec(_Frozen):
    """A planned backfill: extra warehouse load on one asset, announced in advance (not a fault)."""

    asset: Name
    start_day: Annotated[float, Field(ge=0.0)]
    duration_hours: Annotated[float, Field(gt=0.0, le=72.0)]
    slots: Annotated[int, Field(ge=1, le=64)] = 2


class NoiseSpec(_Frozen):
    """Ambient variation that is not a fault and must not be blamed.

    Attributes:
        seasonality: apply the assets' daily/weekly volume seasonality.
        holidays: day indexes whose volume is scaled by ``holiday_volume_factor``.
        holiday_volume_factor: volume multiplier on holidays.
        backfills: planned backfills.
        late_within_sla_prob: chance that a Source arrival is late but within its SLA.
        benign_column_days: days on which one asset adds a column (schema change, not a fault).
        volume_cv: coefficient of variation of volume around its seasonal expectation.
    """

    seasonality: bool = True
    holidays: tuple[Annotated[int, Field(ge=0)], ...] = ()
    holiday_volume_factor: Annotated[float, Field(gt=0.0, le=2.0)] = 0.45
    backfills: tuple[BackfillSpec, ...] = ()
    late_within_sla_prob: Fraction = 0.05
    benign_column_days: tuple[Annotated[int, Field(ge=0)], ...] = ()
    volume_cv: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05


class SeedRange(_Frozen):
    """The seeds ``start, start + 1, ..., start + count - 1``."""

    start: Annotated[int, Field(ge=0)]
    count: Annotated[int, Field(gt=0, le=1_000_000)]

    def seeds(self) -> range:
        """The seeds as a range."""
        return range(self.start, self.start + self.count)


class SeedSplit(_Frozen):
    """Training seeds and held-out evaluation seeds; they never overlap."""

    train: SeedRange
    eval: SeedRange

    @model_validator(mode="after")
    def _disjoint(self) -> SeedSplit:
        a, b = self.train.seeds(), self.eval.seeds()
        if a.start < b.stop and b.start < a.stop:
            raise ValueError(
                f"eval: seeds {b.start}..{b.stop - 1} overlap train seeds {a.start}..{a.stop - 1}; "
                "expected disjoint ranges (held-out seeds are never trained on)"
            )
        return self


class WarehouseSpec(_Frozen):
    """The shared warehouse: slots (a priced, resizable resource)."""

    slots: Annotated[int, Field(ge=1, le=512)] = 8
    max_slots: Annotated[int, Field(ge=1, le=512)] = 32
    price_per_slot_hour: Annotated[float, Field(ge=0.0)] = 2.0

    @model_validator(mode="after")
    def _bounds(self) -> WarehouseSpec:
        if self.max_slots < self.slots:
            raise ValueError(
                f"max_slots: {self.max_slots} is below slots {self.slots}; expected >= slots"
            )
        return self


class HumanSpec(_Frozen):
    """On-call humans reached by escalation.

    Attributes:
        response_median_min: median delay until a human starts on an escalation.
        response_sigma: log-normal sigma of that delay.
        fix_median_min: median hands-on time of a human fix.
        cost_per_hour: cost of one human hour.
        fix_success_prob: chance a human's fix is right the first time.
    """

    response_median_min: Annotated[float, Field(gt=0.0)] = 60.0
    response_sigma: Annotated[float, Field(ge=0.0, le=3.0)] = 0.5
    fix_median_min: Annotated[float, Field(gt=0.0)] = 30.0
    cost_per_hour: Annotated[float, Field(ge=0.0)] = 120.0
    fix_success_prob: Fraction = 0.95


class ScenarioSpec(_Frozen):
    """A scenario file: what world to simulate and which seeds belong to training or evaluation."""

    id: Annotated[str, Field(pattern=r"^[A-Z]{2,5}-\d{4}$")]
    title: str
    description: str
    pipeline: Annotated[str, Field(min_length=1)]
    horizon_days: Annotated[float, Field(gt=0.0, le=366.0)]
    warmup_days: Annotated[float, Field(ge=0.0)] = 0.0
    faults: tuple[FaultSpec, ...] = ()
    cascades: tuple[CascadeSpec, ...] = ()
    noise: NoiseSpec = NoiseSpec()
    warehouse: WarehouseSpec = WarehouseSpec()
    human: HumanSpec = HumanSpec()
    seeds: SeedSplit

    @model_validator(mode="after")
    def _warmup(self) -> ScenarioSpec:
        if self.warmup_days >= self.horizon_days:
            raise ValueError(
                f"warmup_days: {self.warmup_days} is not below horizon_days {self.horizon_days}; "
                "expected warmup_days < horizon_days"
            )
        return self

    @model_validator(mode="after")
    def _calendar_and_cascades(self) -> ScenarioSpec:
        holidays = [
            d for d in self.noise.holidays if self.warmup_days < d + 1 and d < self.horizon_days
        ]
        for i, f in enumerate(self.faults):
            if f.on_holidays and not holidays:
                raise ValueError(
                    f"faults[{i}].on_holidays: no day of noise.holidays "
                    f"{list(self.noise.holidays)} falls between the warm-up ({self.warmup_days} "
                    f"days) and the horizon ({self.horizon_days} days); expected at least one "
                    "holiday in the episode"
                )
        injected = sorted({f.subtype for f in self.faults if f.rate_per_day > 0})
        for i, c in enumerate(self.cascades):
            if c.after not in injected:
                raise ValueError(
                    f"cascades[{i}].after: no fault process injects {c.after!r}, so the cascade "
                    f"could never fire; expected one of {', '.join(injected) or '(no faults)'}"
                )
        return self


class Scenario(_Frozen):
    """A loaded scenario: its spec, its resolved pipeline, and the name it was loaded as.

    Validated across the two: faults and backfills name assets of the pipeline, and the warehouse
    can carry the pipeline's nominal load on average (``PipelineSpec.nominal_slot_load``).
    """

    name: str
    spec: ScenarioSpec
    pipeline: PipelineSpec
    source: str = ""

    @model_validator(mode="after")
    def _cross_refs(self) -> Scenario:
        names = {a.name for a in self.pipeline.assets}
        for i, f in enumerate(self.spec.faults):
            for a in f.assets:
                if a not in names:
                    raise ValueError(
                        f"faults[{i}].assets: unknown asset {a!r}; expected an asset of "
                        f"pipeline {self.pipeline.name!r}"
                    )
        for i, b in enumerate(self.spec.noise.backfills):
            if b.asset not in names:
                raise ValueError(
                    f"noise.backfills[{i}].asset: unknown asset {b.asset!r}; expected an asset "
                    f"of pipeline {self.pipeline.name!r}"
                )
        peak, mean = self.pipeline.nominal_slot_load()
        if self.spec.warehouse.slots < mean:
            raise ValueError(
                f"warehouse.slots: {self.spec.warehouse.slots} slots cannot carry pipeline "
                f"{self.pipeline.name!r}, whose nominal schedule keeps {mean:.1f} slots busy on "
                f"average (its backlog would grow without bound); expected at least "
                f"{math.ceil(mean)}, and {peak} (its nominal peak) to run without queueing"
            )
        return self
