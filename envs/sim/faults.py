"""Fault state and the fault plan of an episode.

All onsets, root causes, root assets, magnitudes and natural durations of an episode are drawn up
front from the ``faults`` stream (a Poisson process per ``FaultSpec``, after the warm-up, or on the
scenario's holidays only with ``on_holidays``), so the plan does not depend on what agents do
(``envs.sim.cascades`` adds the faults they set off, from its own stream). Root causes are chosen
with their hour-of-day weights (``envs.sim.causal``); expired credentials recur on a few fragile
assets, which is the evidence a knowledge base can learn. The dynamics live in the world; this
module holds the state.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from envs.sim.assets import Asset, compile_pipeline
from envs.sim.causal import CAUSES, INDUCED, Cause, Variant
from envs.sim.records import FaultRecord
from envs.sim.rng import Streams
from scenarios.loader import ScenarioError
from scenarios.spec import Scenario, ScenarioSpec
from scenarios.vocab import TAXONOMY

NAN = math.nan
_CRIT_RANK = {"high": 2, "medium": 1, "low": 0}


class Fault:
    """Mutable state of one fault during an episode (the ledger reads it into ``FaultRecord``).

    Attributes:
        fid: fault id.
        cause: root cause name; ``model`` its dynamics.
        root: root asset (or None for warehouse-wide causes, then ``root_idx`` is the asset first
            hit).
        onset: onset time; ``natural_end`` when the cause stops by itself (inf if never).
        active: the cause is currently acting.
        params: cause-specific parameters (factor, null column, slots held ...).
        damage: (asset, window) pairs whose partitions are wrong, failed or blocked because of it.
        inflight: runs it is failing right now; it does not resolve until they are written (a
            run that started while it acted fails even if the cause ends before the run does).
        affected: asset → first time it was touched.
        hits: partitions written while active (for one-shot causes).
        profile: the variant the fault was drawn as (``envs.sim.causal.Variant``), else the
            cause itself: the source of its failures' error classes and messages.
        held: an outage holds its Source back (False for the ``api`` variant).
        logins: re-executions an action started while the cause acted (retry load, lockout).
        triggered_by: for a cascaded fault, the id of the fault that set it off, else -1
            (``envs.sim.cascades``).
    """

    def __init__(
        self,
        fid: int,
        cause: str,
        root: Asset,
        onset: float,
        severity: str,
        magnitude: float,
        natural_end: float,
        params: dict[str, Any],
        caused_by_action: int = -1,
        triggered_by: int = -1,
    ) -> None:
        self.fid = fid
        self.cause = cause
        self.model: Cause = CAUSES.get(cause, INDUCED)  # type: ignore[call-overload]
        name = params.get("variant")
        variant = next((v for v in self.model.variants if v.name == name), None)
        self.profile: Cause | Variant = variant if variant is not None else self.model
        """Where its failures' error classes, messages and evidence chance come from."""
        self.held = variant.held if variant is not None else True
        """For an outage: the Source is held back (False: its ingestions fail instead)."""
        self.root = root
        self.onset = onset
        self.severity = severity
        self.magnitude = magnitude
        self.natural_end = natural_end
        self.params = params
        self.caused_by_action = caused_by_action
        self.triggered_by = triggered_by
        self.active = False
        self.started = False
        self.hits = 0
        self.damage: set[tuple[int, int]] = set()
        self.inflight = 0
        self.affected: dict[int, float] = {}
        self.reached: set[int] = set()
        self.first_visible_at = NAN
        self.first_symptom_at = NAN
        self.delivery_exposed_at = NAN
        self.cause_ended_at = NAN
        self.resolved_at = NAN
        self.resolved_by = ""
        self.resolving_action = -1
        self.proc: Any = None
        self.escalations = 0
        self.logins = 0

    def human_draws(self, seed: int) -> tuple[float, float, float]:
        """The next escalation's (delay z, hands-on z, success u), fixed per (seed, fault, n)."""
        n = self.escalations
        self.escalations += 1
        rng = np.random.default_rng([seed, 0x48554D, self.fid, n])
        return float(rng.standard_normal()), float(rng.standard_normal()), float(rng.random())

    @property
    def resolved(self) -> bool:
        """True once the fix was verified."""
        return self.resolved_at == self.resolved_at  # not NaN

    def record(self) -> FaultRecord:
        """Snapshot as an immutable ledger row."""
        m = self.model
        return FaultRecord(
            fault_id=self.fid,
            issue_type=m.issue_type,
            subtype=m.subtype,
            root_cause=self.cause,
            root_asset=self.root.idx,
            onset=self.onset,
            severity=self.severity,
            magnitude=self.magnitude,
            acceptable_fixes=tuple(sorted(m.success)),
            best_fix=m.best,
            affected_assets=tuple(sorted(self.affected, key=self.affected.__getitem__)),
            first_visible_at=self.first_visible_at,
            delivery_exposed_at=self.delivery_exposed_at,
            cause_ended_at=self.cause_ended_at,
            resolved_at=self.resolved_at,
            resolved_by=self.resolved_by,
            resolving_action=self.resolving_action,
            caused_by_action=self.caused_by_action,
            first_symptom_at=self.first_symptom_at,
        )


def plan_faults(
    spec: ScenarioSpec, assets: list[Asset], streams: Streams, horizon_min: float, slots: int
) -> list[Fault]:
    """Draw the episode's faults (onset order) from the scenario's fault processes.

    Args:
        spec: the scenario.
        assets: compiled assets in topological order.
        streams: the episode's random streams (uses ``faults``).
        horizon_min: the episode horizon.
        slots: initial warehouse size (sizes contention faults).

    Returns:
        The planned faults, not yet active.
    """
    rng = streams["faults"]
    start = spec.warmup_days * 1440.0
    span = max(0.0, horizon_min - start)
    by_name = {a.name: a for a in assets}
    fragile: dict[str, list[Asset]] = {}
    drafts: list[tuple[float, str, Asset, float, dict[str, Any], float]] = []
    for fs in spec.faults:
        if fs.on_holidays:
            onsets = _holiday_onsets(fs.rate_per_day, spec.noise.holidays, start, horizon_min, rng)
        else:
            n = int(rng.poisson(fs.rate_per_day * span / 1440.0))
            onsets = np.sort(start + rng.random(n) * span).tolist()
        causes = TAXONOMY[fs.subtype][1]
        weights = [1.0 if fs.root_causes is None else fs.root_causes.get(c, 0.0) for c in causes]
        for t in onsets:
            hour = int(t // 60) % 24
            w = np.asarray(
                [wi * CAUSES[c].hour_weight[hour] for wi, c in zip(weights, causes, strict=True)]
            )
            if w.sum() <= 0:
                continue
            cause = causes[int(rng.choice(len(causes), p=w / w.sum()))]
            model = CAUSES[cause]
            pool = [by_name[n] for n in fs.assets] if fs.assets else assets
            cands = [a for a in pool if _eligible(a, cause)]
            if not cands:  # the World refuses such a scenario first (check_injectable)
                raise ValueError(
                    f"faults: {cause} has no eligible root asset; see check_injectable"
                )
            if cause == "expired_credentials":
                fr = fragile.setdefault(cause, [cands[int(i)] for i in rng.permutation(len(cands))])
                root = fr[0] if rng.random() < 0.6 else cands[int(rng.integers(len(cands)))]
            else:
                root = cands[int(rng.integers(len(cands)))]
            dur = (
                model.duration_median_min
                * fs.magnitude
                * math.exp(0.6 * float(rng.standard_normal()))
                if model.duration_median_min > 0
                else math.inf
            )
            params, mag = fault_params(cause, root, rng, fs.magnitude, slots)
            drafts.append((t, cause, root, mag, params, t + dur))
    drafts.sort(key=lambda d: (d[0], d[2].idx, d[1]))
    return [
        Fault(i, cause, root, t, severity(cause, root, mag, assets), mag, end, params)
        for i, (t, cause, root, mag, params, end) in enumerate(drafts)
    ]


def _holiday_onsets(
    rate_per_day: float,
    holidays: tuple[int, ...],
    start: float,
    horizon_min: float,
    rng: np.random.Generator,
) -> list[float]:
    """Poisson onsets at ``rate_per_day`` on the holidays' minutes in [start, horizon), sorted."""
    windows = [
        (max(start, d * 1440.0), min(horizon_min, (d + 1) * 1440.0)) for d in sorted(set(holidays))
    ]
    windows = [(lo, hi) for lo, hi in windows if hi > lo]
    lengths = [hi - lo for lo, hi in windows]
    ends = np.cumsum(lengths)  # each holiday's end on the holidays-only clock
    n = int(rng.poisson(rate_per_day * sum(lengths) / 1440.0))
    xs = np.sort(rng.random(n) * sum(lengths)).tolist()
    onsets = []
    for x in xs:
        i = min(int(np.searchsorted(ends, x, side="right")), len(windows) - 1)
        lo, hi = windows[i]
        onsets.append(min(math.nextafter(hi, lo), lo + x - (float(ends[i]) - lengths[i])))
    return onsets


def check_injectable(scenario: Scenario, assets: list[Asset]) -> None:
    """Refuse a fault process with a root cause that can never be injected on this topology.

    A cause with positive weight (``root_causes``, or every cause of the subtype by default) needs
    a root asset it can act on (``_eligible``: the cause's layers, and a join for ``bad_join``,
    a warehouse slot for schema, slow and storm causes, a downstream ingestion for a source
    outage). If no asset of the process's pool (``assets``, or the whole pipeline) qualifies,
    every onset of that cause would be dropped — the scenario is refused instead. Cascades
    (``cascades[i]``, drawn from the whole pipeline at worst) are checked the same way, and a
    cascade anchored on ``recovery`` needs a trigger subtype with a cause that ends by itself.

    Raises:
        ScenarioError: naming the scenario file, ``faults[i]`` or ``cascades[i]``, the cause and
            what it needs.
    """
    by_name = {a.name: a for a in assets}
    spec = scenario.spec
    processes = [
        (f"faults[{i}]", fs.subtype, fs.root_causes, fs.assets) for i, fs in enumerate(spec.faults)
    ]
    processes += [
        (f"cascades[{i}]", c.subtype, c.root_causes, ()) for i, c in enumerate(spec.cascades)
    ]
    for field, subtype, root_causes, names in processes:
        pool = [by_name[n] for n in names] if names else assets
        for cause in TAXONOMY[subtype][1]:
            weight = 1.0 if root_causes is None else root_causes.get(cause, 0.0)
            if weight <= 0 or any(_eligible(a, cause) for a in pool):
                continue
            where = (
                f"assets {list(names)}"
                if names
                else f"the {len(assets)} assets of pipeline {scenario.pipeline.name!r}"
            )
            raise ScenarioError(
                scenario.source or scenario.name,
                field + (".assets" if names else ".root_causes"),
                f"{subtype}: root cause {cause} can never be injected: it needs "
                f"{_needs(cause)}, and none of {where} is one; expected a pool with such an "
                f"asset, or root_causes.{cause}: 0",
            )
    for i, c in enumerate(spec.cascades):
        if c.anchor == "recovery" and not any(
            CAUSES[t].duration_median_min > 0 for t in TAXONOMY[c.after][1]
        ):
            raise ScenarioError(
                scenario.source or scenario.name,
                f"cascades[{i}].anchor",
                f"recovery: no root cause of {c.after} ends by itself, so no trigger ever "
                "recovers; expected anchor: onset, or a trigger subtype whose cause ends by itself",
            )


def check_scenario(scenario: Scenario) -> None:
    """``check_injectable`` on the scenario's compiled topology, without building a world.

    Entry points call it before they write anything, so a scenario that can never take effect
    fails with its one-line ``ScenarioError`` and leaves no half-written run behind.
    """
    check_injectable(
        scenario, compile_pipeline(scenario.pipeline, scenario.spec.horizon_days * 1440)
    )


def _needs(cause: str) -> str:
    """What ``_eligible`` requires of a root asset for ``cause``, in words."""
    model = CAUSES[cause]  # type: ignore[index]
    layers = " or ".join(model.layers)
    extra = {
        "schema": " that runs in a warehouse slot and has a schema check",
        "slow": " that runs in a warehouse slot",
        "storm": " that runs in a warehouse slot",
        "sensor_fail": " with an Ingestion asset downstream",
    }.get(model.effect, "")
    if cause == "bad_join":
        extra = " with two or more inputs (a join)"
    return f"a root asset on the {layers} layer{extra}"


def _eligible(a: Asset, cause: str) -> bool:
    model = CAUSES[cause]  # type: ignore[index]
    if a.layer not in model.layers:
        return False
    if cause == "bad_join":
        return len(a.ups) >= 2
    if model.effect == "schema":
        return a.uses_slot and any(c.kind == "schema" for c in a.spec.checks)
    if model.effect in ("slow", "storm"):
        return a.uses_slot
    if model.effect == "sensor_fail":
        return any(d.layer == "Ingestion" for d in a.downs)
    return True


def fault_params(
    cause: str,
    root: Asset,
    rng: np.random.Generator,
    mag: float,
    slots: int,
    variant_name: str | None = None,
) -> tuple[dict[str, Any], float]:
    """Draw a fault's cause-specific parameters; returns (params, effective magnitude).

    ``variant_name`` chooses the variant instead of the draw (the draw is made all the same).
    """
    u = float(rng.random())
    col = int(rng.integers(root.n_keys))
    variant = _pick_variant(cause, root, rng, variant_name)
    p: dict[str, Any] = {"col": col}
    if cause in ("replayed_load", "grain_change"):
        # a partial replay repeats as many keys as a grain change: the two look alike (causal)
        whole = cause == "replayed_load" and (variant is None or variant.name != "partial")
        m = 0.45 + 0.05 * u if whole else 0.1 + 0.35 * u
        p.update(dup_add=m, vol_factor=1.0 / (1.0 - m))
    elif cause == "bad_join":
        m = min(0.9, (0.03 + 0.22 * u) * mag)
        p.update(dup_add=m, vol_factor=1.0 + m)
    elif cause == "source_nulls":
        m = min(1.0, (0.1 + 0.5 * u) * mag)
        p.update(null_add=m)
    elif cause == "upstream_rename":
        m = 0.15 + 0.75 * u
        p.update(null_add=m, schema_delta=1)
    elif cause == "partial_extract":
        m = 0.2 + 0.4 * u
        p.update(vol_factor=m, partitions=1 + int(rng.integers(3)))
    elif cause == "upstream_filter_change":
        m = 0.3 + 0.4 * u
        p.update(vol_factor=m)
    elif cause == "unit_change":
        m = 100.0 if rng.random() < 0.5 else 0.01
        p.update(mean_factor=m)
    elif cause == "stale_reference":
        m = 1.0 + (0.15 + 0.25 * u) * (1.0 if rng.random() < 0.5 else -1.0)
        p.update(mean_factor=m)
    elif cause in ("column_renamed", "type_changed"):
        m = 1.0
        p.update(schema_delta=2)  # breaking: the schema check fails
    elif cause == "plan_regression":
        m = (4.0 + 6.0 * u) * mag
        p.update(slow=m)
    elif cause == "data_skew":
        m = (2.0 + 3.0 * u) * mag
        p.update(slow=m, vol_factor=1.5 + 1.5 * float(rng.random()))
    elif cause == "noisy_neighbor":
        m = 0.4 + 0.35 * u
        p.update(hold=max(1, math.ceil(slots * m)))
    elif cause == "undersized_warehouse":
        m = (1.8 + 0.7 * u) * mag
        p.update(demand=m)
    else:
        m = mag
    if variant is not None:
        p["variant"] = variant.name
        p.update(variant.overrides)
    return p, m


def _pick_variant(
    cause: str, root: Asset, rng: np.random.Generator, name: str | None = None
) -> Variant | None:
    """One more draw, only for causes that have variants: which one this fault is.

    A variant that shows at the root's ingestions (``held`` False) needs one: on a Source without
    an Ingestion consumer the fault is drawn as the cause's first variant instead. ``name``
    chooses the variant (after the same draw).

    Raises:
        KeyError: if ``name`` is not one of the cause's variants.
    """
    variants = CAUSES[cause].variants  # type: ignore[index]
    if not variants:
        if name is not None:
            raise KeyError(f"variant: {cause} has no variants; expected none")
        return None
    uv = float(rng.random())
    if name is not None:
        names = [v.name for v in variants]
        if name not in names:
            raise KeyError(f"variant: {cause} has no variant {name!r}; expected {names}")
        return variants[names.index(name)]
    acc = 0.0
    pick = variants[-1]
    for v in variants:
        acc += v.prob
        if uv < acc:
            pick = v
            break
    if not pick.held and not any(d.layer == "Ingestion" for d in root.downs):
        return variants[0]
    return pick


def severity(cause: str, root: Asset, mag: float, assets: list[Asset]) -> str:
    """Blueprint severity: critical drives wrong decisions, major blocks analysis, minor cosmetic.

    Wrong data that can reach a high- or medium-criticality Delivery asset past no blocking check
    of the relevant kind is critical; data that stops (late, failed, blocked) before such an asset
    is major; anything reaching no Delivery asset, or small, is minor.
    """
    model = CAUSES[cause]  # type: ignore[index]
    deliveries = [assets[i] for i in root.descendants if assets[i].layer == "Delivery"]
    if root.layer == "Delivery":
        deliveries.append(root)
    crit = max((_CRIT_RANK[d.spec.criticality] for d in deliveries), default=-1)
    if crit < 0:
        return "minor"
    if model.effect == "corrupt":
        kinds = {
            "duplicates": "unique",
            "nulls": "not_null",
            "volume_drop": "volume",
            "distribution_shift": "accepted_range",
        }
        kind = kinds[model.subtype]
        on_path = [root] + [assets[i] for i in root.descendants]
        blocked = any(kind in a.blocking_kinds for a in on_path if a.layer != "Delivery")
        small = (model.subtype == "duplicates" and mag < 0.05) or (
            model.subtype == "nulls" and mag < 0.15
        )
        if blocked:
            return "major"
        if small or crit == 0:
            return "minor"
        return "critical"
    if model.effect in ("slow", "external", "demand", "storm"):
        return "major" if (mag >= 5.0 or crit == 2) and model.effect != "storm" else "minor"
    return "major" if crit >= 1 else "minor"
