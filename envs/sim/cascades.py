"""Cascading faults: faults set off by another fault (``ScenarioSpec.cascades``).

A rule such as::

    cascades:
      - after: upstream_outage
        anchor: recovery
        subtype: resource_contention
        root_causes: {retry_storm: 1.0}
        prob: 0.5
        delay_min: [0, 30]

lets every planned upstream outage set off, with probability 0.5, a retry storm 0–30 minutes
after the outage's recovery: the source delivers what it held back in one burst, and the catch-up
ingestion on the outage's lineage keeps retrying past its attempt limit.

Cascades are drawn at plan time, like every planned fault, so the plan does not depend on what
agents do. The anchor is the trigger's onset or its planned natural end: no action shortens a
self-ending cause such as a source outage (a human waits it out too, ``envs.sim.actions``), so
for those the planned end is the recovery unless retries loaded the outage and pushed it back
(at most ``envs.sim.causal.RETRY_LOAD_CAP_MIN``); the cascade keeps its planned time even then,
so an agent that retries into an outage may meet the storm before the source is back. A cascaded
fault sets off nothing further (one level).

Every draw comes from the ``cascades`` stream, rule by rule and trigger by trigger in onset
order: one uniform per trigger for "does it fire", then, if it fires, the delay, the root cause
(with its hour-of-day weights), the root asset, the duration and the cause's parameters. A
scenario without cascades draws nothing there and its other streams are untouched, so its episodes
are bit-identical to the simulator without this module. Cascaded faults are ordinary faults of the
ledger (issue type, subtype, root cause, root asset, onset, acceptable fixes, resolution),
numbered with the planned ones in onset order; ``Fault.triggered_by`` names the trigger.
"""

from __future__ import annotations

import math

import numpy as np

from envs.sim.assets import Asset
from envs.sim.causal import CAUSES
from envs.sim.faults import Fault, _eligible, fault_params, severity
from envs.sim.rng import Streams
from scenarios.spec import CascadeSpec, ScenarioSpec
from scenarios.vocab import TAXONOMY


def add_cascades(
    spec: ScenarioSpec,
    assets: list[Asset],
    planned: list[Fault],
    streams: Streams,
    horizon_min: float,
    slots: int,
) -> list[Fault]:
    """The planned faults with the cascades they set off, renumbered in onset order.

    Args:
        spec: the scenario (its ``cascades``).
        assets: compiled assets in topological order.
        planned: the faults of ``plan_faults`` (onset order, not yet active).
        streams: the episode's random streams (uses ``cascades``).
        horizon_min: the episode horizon; a cascade due at or after it is dropped.
        slots: initial warehouse size (sizes contention faults).

    Returns:
        ``planned`` itself when the scenario has no cascades; else every fault, ids reassigned
        in (onset, root asset, cause) order — the order of ``plan_faults`` — with each cascaded
        fault's ``triggered_by`` set to its trigger's new id.
    """
    if not spec.cascades:
        return planned
    rng = streams["cascades"]
    added: list[tuple[Fault, Fault]] = []  # (cascaded, trigger)
    for rule in spec.cascades:
        for trigger in planned:
            if trigger.model.subtype != rule.after:
                continue
            fault = _draw(rule, trigger, assets, rng, horizon_min, slots)
            if fault is not None:
                added.append((fault, trigger))
    faults = planned + [f for f, _ in added]
    faults.sort(key=lambda f: (f.onset, f.root.idx, f.cause))  # stable: ties keep plan order
    for i, f in enumerate(faults):
        f.fid = i
    for f, trigger in added:
        f.triggered_by = trigger.fid
    return faults


def _draw(
    rule: CascadeSpec,
    trigger: Fault,
    assets: list[Asset],
    rng: np.random.Generator,
    horizon_min: float,
    slots: int,
) -> Fault | None:
    """Draw whether ``trigger`` sets ``rule`` off, and the cascaded fault if it does."""
    if rng.random() >= rule.prob:
        return None
    low, high = rule.delay_min
    anchor = trigger.onset if rule.anchor == "onset" else trigger.natural_end
    t = anchor + low + (high - low) * float(rng.random())
    if not t < horizon_min:  # also a trigger that never recovers by itself (inf)
        return None
    causes = TAXONOMY[rule.subtype][1]
    hour = int(t // 60) % 24
    w = np.asarray(
        [
            (1.0 if rule.root_causes is None else rule.root_causes.get(c, 0.0))
            * CAUSES[c].hour_weight[hour]
            for c in causes
        ]
    )
    if w.sum() <= 0:
        return None
    cause = causes[int(rng.choice(len(causes), p=w / w.sum()))]
    model = CAUSES[cause]
    cands: list[Asset] = []
    if rule.scope == "lineage":
        lineage = [trigger.root] + [assets[i] for i in sorted(trigger.root.descendants)]
        cands = [a for a in lineage if _eligible(a, cause)]
    if not cands:
        cands = [a for a in assets if _eligible(a, cause)]  # check_injectable: never empty
    root = cands[int(rng.integers(len(cands)))]
    dur = (
        model.duration_median_min * rule.magnitude * math.exp(0.6 * float(rng.standard_normal()))
        if model.duration_median_min > 0
        else math.inf
    )
    params, mag = fault_params(cause, root, rng, rule.magnitude, slots)
    return Fault(-1, cause, root, t, severity(cause, root, mag, assets), mag, t + dur, params)
