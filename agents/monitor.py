"""Pipeline Monitor (event-driven): turns run telemetry into deduplicated, grouped alerts.

It subscribes to the world's run records as they are written and keeps, per asset, what an
observer can see. Detectors:

===============  ===========================================================================
signal           rule
===============  ===========================================================================
freshness        a deadline timer per asset (window end + freshness SLA + grace); it fires
                 only if that partition has not arrived — no polling
run_failure      a run failed (error class and message as evidence)
check_failure    an error-severity dbt-like check failed (warn-severity checks do not alert)
volume,          seasonal z-scores in the style of Elementary's defaults: sensitivity 3,
null_rate,       14-day training window; volume is bucketed by hour of day x weekday/weekend
duplicate_rate,  (weekday/weekend for daily assets), other signals pool all hours; an alert
value_mean,      needs |z| > sensitivity *and* a change that is not tiny (15% of volume, 10%
runtime, queue   of a mean, one point of a rate); values that alerted are not learned;
                 volume and run time are scored on a log scale (their noise is
                 multiplicative); queue is the wait for a slot once the inputs are ready
schema_change    the schema version changed (additive changes alert only if configured)
===============  ===========================================================================

Thresholds are parameters (``MonitorConfig``, with per-signal sensitivity overrides for the SLA
optimizer, and per-asset × signal ones the learning cycle sets with ``set_asset_sensitivity``,
consulted only for an asset that has them). Alerts can be suppressed during announced planned
backfills (runtime, queue, freshness); with a business calendar, volume on a holiday is judged
against the usual holiday dip. Baselines are primed from a history of the same pipeline
(``prime``) before the episode starts, as a deployed monitor would have learned them.

Alerts are deduplicated and grouped into incidents by ``agents.incidents.IncidentBook``. When the
organization closes an incident as benign, the book holds its (asset, signal) conditions for
``dismissed_hold_min`` (6 hours by default): their re-alerts are counted on the dismissed incident
instead of opening a new incident every run. The monitor ends a hold as soon as it sees that
signal normal again on that asset — a successful run (run_failure), no failing error check
(check_failure), an unchanged schema (schema_change), a scored value inside its band (anomaly
signals), a window delivered before its freshness deadline (freshness) — so only a condition that
persists stays held, and never for longer than the hold.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import simpy

from agents.incidents import Incident, IncidentBook
from agents.records import Alert
from envs.sim.records import RunRecord
from envs.sim.world import World

_FLOORS = {  # the smallest standard deviation a baseline may claim (kind, value)
    "volume": ("abs", 0.05),  # log scale: 5%
    "value_mean": ("rel", 0.02),
    "runtime": ("abs", 0.10),  # log scale: 10%
    "null_rate": ("abs", 0.002),
    "duplicate_rate": ("abs", 0.002),
    "queue": ("abs", 2.0),
}
_MIN_CHANGE = {
    "volume": ("abs", 0.15),  # log scale: about 15%
    "value_mean": ("rel", 0.10),
    "runtime": ("abs", 0.25),  # log scale: about 30%
    "null_rate": ("abs", 0.01),
    "duplicate_rate": ("abs", 0.01),
    "queue": ("abs", 5.0),
}
ANOMALY_SIGNALS = tuple(_FLOORS)
SPIKE_ONLY = frozenset({"null_rate", "duplicate_rate", "runtime", "queue"})
"""Signals where only an increase is a problem (Elementary's ``anomaly_direction: spike``)."""
SEASONAL = frozenset({"volume"})
"""Signals with hour-of-day (or weekday) seasonality; the others pool all hours."""


@dataclass(frozen=True)
class MonitorConfig:
    """Detector settings.

    Attributes:
        anomaly_detection: run the seasonal z-score detectors (else only checks, failures and
            freshness — static detection).
        sensitivity: z-score threshold.
        family_sensitivity: per-signal overrides of ``sensitivity``.
        training_days: length of the training window.
        min_training_points: a bucket needs this many values before it may alert.
        seasonality: bucket volume baselines by hour of day and weekday/weekend (sub-daily
            assets) or by weekday/weekend (daily assets).
        freshness_grace_min: minutes past the SLA before a freshness alert.
        alert_on_additive_schema: alert on every schema version change.
        suppress_during_backfills: mute runtime/queue/freshness alerts during planned backfills.
        holidays: business-calendar days on which volume is expected to dip.
        holiday_volume_factor: the usual volume on a holiday relative to a normal day.
        group_window_min: how long a quiet incident still takes related alerts.
        freshness_check_alerts: alert on failing freshness checks (redundant with the timers).
        dismissed_hold_min: how long a benign dismissal holds its (asset, signal) conditions
            (their re-alerts are duplicates of the dismissed incident) while they persist.
        trailing_symptoms: a freshness alert at or downstream of an incident fixed less than
            ``group_window_min`` ago is its duplicate (the fix's backlog still draining).
    """

    anomaly_detection: bool = True
    sensitivity: float = 3.0
    family_sensitivity: Mapping[str, float] = field(default_factory=dict)
    training_days: float = 14.0
    min_training_points: int = 4
    seasonality: bool = True
    freshness_grace_min: float = 0.0
    alert_on_additive_schema: bool = False
    suppress_during_backfills: bool = True
    holidays: tuple[int, ...] = ()
    holiday_volume_factor: float = 1.0
    group_window_min: float = 240.0
    freshness_check_alerts: bool = True
    dismissed_hold_min: float = 360.0
    trailing_symptoms: bool = False


class _Baseline:
    """Running sum and sum of squares of one bucket over a sliding time window (O(1) per update).

    Its values and their times are kept in two deques of floats, oldest first (the count is
    ``len(xs)``): floats are not tracked by the garbage collector, so learning a value allocates
    nothing it has to scan, as a (time, value) tuple would.
    """

    __slots__ = ("s", "ss", "ts", "xs")

    def __init__(self) -> None:
        self.ts: deque[float] = deque()
        self.xs: deque[float] = deque()
        self.s = 0.0
        self.ss = 0.0

    def add(self, t: float, x: float, cut: float) -> None:
        """Learn ``x`` at time ``t`` and forget the values older than ``cut``."""
        ts, xs = self.ts, self.xs
        ts.append(t)
        xs.append(x)
        s = self.s + x
        ss = self.ss + x * x
        while ts[0] < cut:
            ts.popleft()
            old = xs.popleft()
            s -= old
            ss -= old * old
        self.s = s
        self.ss = ss


_Snapshot = tuple[tuple[int, tuple[float, ...], tuple[float, ...], int, float, float], ...]
"""Learned baselines: (slot, times, values, n, sum, sum of squares) per bucket (``baselines()``)."""

_METRICS = ("volume", "null_rate", "duplicate_rate", "value_mean", "runtime", "queue")
"""The anomaly signals in the order a run's values are scored (and its alerts raised)."""
_N_BUCKETS = 49
"""Baseline slots per (asset, signal): bucket -1 (pooled) and 0..47 (hour x weekday/weekend)."""
_ASSET_SLOTS = len(_METRICS) * _N_BUCKETS
"""Baseline slots per asset (asset ``a``'s are ``a * _ASSET_SLOTS`` onwards)."""
_RULES = tuple(  # per metric: (floor is relative, floor, change is relative, tiny, spike only)
    (_FLOORS[m][0] == "rel", _FLOORS[m][1], _MIN_CHANGE[m][0] == "rel", _MIN_CHANGE[m][1],
     m in SPIKE_ONLY)
    for m in _METRICS
)  # fmt: skip
_CHANGE_REL = tuple(rule[2] for rule in _RULES)
_TINY = tuple(rule[3] for rule in _RULES)


def _volume_bucket(end: float, seasonality: bool, hours: bool) -> int:
    """The slot offset of the volume bucket of a window ending at ``end`` (minutes).

    1 + hour of day (+ 24 on a weekend) when ``hours`` (a sub-daily asset), else 1 on a weekday
    and 2 on a weekend; 0 (the pooled bucket) without ``seasonality``.
    """
    if not seasonality:
        return 0
    weekend = int(end // 1440) % 7 >= 5
    if hours:
        return 1 + int(end // 60) % 24 + (24 if weekend else 0)
    return 2 if weekend else 1


@lru_cache(maxsize=256)
def _volume_buckets(
    every: float, n_windows: int, seasonality: bool, hours: bool
) -> tuple[int, ...]:
    """``_volume_bucket`` of windows 0..n_windows of an asset (index: the window).

    The bucket of a window depends only on its end time, so an episode's are computed once per
    (cadence, length) and read by index on the hot path instead of recomputed per run.
    """
    return tuple(_volume_bucket(k * every, seasonality, hours) for k in range(n_windows + 1))


class PipelineMonitor:
    """The Pipeline Monitor of one world.

    Args:
        world: the world to watch (only its telemetry and public schedule are read).
        config: detector settings.
        on_alert: called as ``on_alert(alert, incident, new_incident)`` for every emitted alert.
    """

    def __init__(
        self,
        world: World,
        config: MonitorConfig,
        on_alert: Callable[[Alert, Incident, bool], None] | None = None,
    ) -> None:
        self.world = world
        self.cfg = config
        self.on_alert = on_alert
        n = len(world.assets)
        ancestors = [
            frozenset(u.idx for u in world.assets if a.idx in u.descendants) for a in world.assets
        ]
        self.book = IncidentBook(
            ancestors,
            [a.descendants for a in world.assets],
            config.group_window_min,
            config.dismissed_hold_min,
            config.trailing_symptoms,
        )
        self.alerts: list[Alert] = []
        self.arrived = [0] * n  # latest successfully delivered window per asset
        self.schema = [1] * n
        self.last: list[RunRecord | None] = [None] * n
        self.failed_runs: list[list[RunRecord]] = [[] for _ in range(n)]
        # one slot per (asset, signal, bucket): ((asset * 6 + metric) * 49 + bucket + 1)
        self._base: list[_Baseline | None] = [None] * (n * _ASSET_SLOTS)
        self._every = [a.every for a in world.assets]
        self._seasonal_hours = [
            config.seasonality and a.every < 1440 for a in world.assets
        ]  # volume bucketed by hour of day x weekday/weekend (else by weekday/weekend only)
        self._slotted = [a.uses_slot for a in world.assets]
        # per asset, its volume bucket per window (the hot path reads it; _slot0 is the rule)
        self._vol_slot = [
            _volume_buckets(a.every, a.n_windows, config.seasonality, hours)
            for a, hours in zip(world.assets, self._seasonal_hours, strict=True)
        ]
        self._holidays = frozenset(config.holidays)
        self._detect = config.anomaly_detection
        self._window = config.training_days * 1440.0
        self._sens = {
            s: config.family_sensitivity.get(s, config.sensitivity) for s in ANOMALY_SIGNALS
        }
        self._sens_by_metric = [self._sens[m] for m in _METRICS]
        # per-asset thresholds learned by the learning cycle (None: the signal-wide ones)
        self._sens_asset: list[list[float] | None] = [None] * n
        self.grace = config.freshness_grace_min
        self._backfills = [(b.start, b.end + 60.0) for b in world.planned_backfills]
        self._error_checks = [
            {i for i, c in enumerate(a.spec.checks) if c.severity == "error"} for a in world.assets
        ]

    # ------------------------------------------------------------------ wiring
    def prime(self, history: Iterable[RunRecord], offset_min: float) -> None:
        """Learn baselines from an earlier run of the same pipeline (no alerts).

        Args:
            history: run records of a history simulation.
            offset_min: subtract this from history times so they end before the episode.
        """
        for r in history:
            if r.status == "success" and r.trigger == "schedule":
                self._learn(r, r.ended_at - offset_min)

    def baselines(self) -> _Snapshot:
        """A snapshot of the learned baselines (to prime another monitor of the same pipeline).

        Each bucket's sums are recomputed from its values (not carried over from the running
        sums), so that every monitor loaded from one snapshot starts from the same numbers.
        """
        return tuple(
            (i, tuple(b.ts), xs, len(xs), sum(xs), sum(x * x for x in xs))
            for i, b in enumerate(self._base)
            if b is not None
            for xs in (tuple(b.xs),)
        )

    def load_baselines(self, snapshot: _Snapshot) -> None:
        """Start from a ``baselines()`` snapshot instead of learning from history again."""
        base = self._base
        for i, ts, xs, _n, s, ss in snapshot:
            b = _Baseline()
            b.ts.extend(ts)
            b.xs.extend(xs)  # its count n is len(xs)
            b.s, b.ss = s, ss
            base[i] = b

    def start(self) -> None:
        """Subscribe to telemetry and start the freshness timers."""
        self.world.subscribe(self._on_record)
        for a in self.world.assets:
            if a.n_windows:
                self.world.env.process(self._freshness(a.idx))

    # ------------------------------------------------------------------ detectors
    def _on_record(self, r: RunRecord) -> None:
        a = r.asset
        t = r.ended_at
        if r.status != "success":
            self.failed_runs[a].append(r)
            self._raise(a, "run_failure", t, 1.0, 0.0, f"{r.error_class}: {r.error_message}", r)
            return
        self.last[a] = r
        book = self.book
        holds = bool(book.holds)
        if holds:
            book.release(a, "run_failure")
        if r.window > self.arrived[a]:
            self.arrived[a] = r.window
            if holds:
                asset = self.world.assets[a]
                if t < r.window * asset.every + asset.sla + self.grace:
                    book.release(a, "freshness")  # delivered before its freshness deadline
        errs: list[int] | tuple[()] = ()
        if r.failed_checks:
            errs = [i for i in r.failed_checks if i in self._error_checks[a]]
            if not self.cfg.freshness_check_alerts:
                checks = self.world.assets[a].spec.checks
                errs = [i for i in errs if checks[i].kind != "freshness"]
        if not errs:
            if holds:
                book.release(a, "check_failure")
        else:
            spec = self.world.assets[a].spec
            kinds = ", ".join(spec.checks[i].kind for i in errs)
            detail = f"failed checks: {kinds}" + (
                f" — {r.error_message}" if r.error_message else ""
            )
            self._raise(a, "check_failure", t, float(len(errs)), 0.0, detail, r)
        if r.schema_version == self.schema[a]:
            if book.holds:
                book.release(a, "schema_change")
        else:
            changed = r.schema_version - self.schema[a]
            self.schema[a] = r.schema_version
            if self.cfg.alert_on_additive_schema or r.failed_checks:
                old = r.schema_version - changed
                self._raise(
                    a, "schema_change", t, float(r.schema_version), float(old),
                    f"schema version {old} -> {r.schema_version}", r,
                )  # fmt: skip
        if r.trigger == "schedule":
            if self._detect:
                self._anomalies(r, t)
            else:
                self._learn(r, t)

    def _metrics(self, r: RunRecord) -> tuple[float, ...]:
        """A run's value of each signal of ``_METRICS`` (the first four if it uses no slot)."""
        # volume and run time vary multiplicatively: their baselines live on a log scale
        nulls = r.null_rates
        if not self._slotted[r.asset]:
            return (
                math.log1p(r.rows), max(nulls) if nulls else 0.0, r.duplicate_rate, r.value_mean
            )  # fmt: skip
        ready = r.ready_at
        wait = r.started_at - (ready if ready == ready else r.scheduled_at)
        return (
            math.log1p(r.rows), max(nulls) if nulls else 0.0, r.duplicate_rate, r.value_mean,
            math.log(max(r.ended_at - r.started_at, 1e-3)), wait,
        )  # fmt: skip

    def _slot0(self, asset: int, end: float) -> tuple[int, int]:
        """(first baseline slot of ``asset``, the slot offset of its volume bucket at ``end``).

        Only volume is seasonal (``SEASONAL``); the other signals pool all hours (bucket -1).
        """
        first = asset * _ASSET_SLOTS
        return first, _volume_bucket(end, self.cfg.seasonality, self._seasonal_hours[asset])

    def _learn(self, r: RunRecord, t: float) -> None:
        """Learn a run's values at time ``t`` (no scoring: priming, or anomaly detection off)."""
        first, vol = self._slot0(r.asset, r.window * self._every[r.asset])
        base, cut = self._base, t - self._window
        for m, x in enumerate(self._metrics(r)):
            i = first + m * _N_BUCKETS + (vol if m == 0 else 0)
            b = base[i]
            if b is None:
                b = base[i] = _Baseline()
            b.add(t, x, cut)

    def _anomalies(self, r: RunRecord, t: float) -> None:
        # the hot path of the organization (every scheduled run): a value is scored against its
        # bucket, then learned unless it alerted (an alert handler never reads the baselines)
        a = r.asset
        k = r.window
        first = a * _ASSET_SLOTS
        base, min_points = self._base, self.cfg.min_training_points
        book = self.book
        cut = t - self._window
        holiday = bool(self._holidays) and int(k * self._every[a] // 1440) in self._holidays
        # volume's bucket (seasonal, read from the table), then each other signal's pooled one
        i = first + self._vol_slot[a][k]
        for m, x in enumerate(self._metrics(r)):
            b = base[i]
            if b is None:
                b = base[i] = _Baseline()
            else:
                xs = b.xs
                n = len(xs)
                if n >= min_points:
                    s = b.s
                    mean = mu = s / n
                    if m == 0 and holiday:
                        mean += math.log(self.cfg.holiday_volume_factor)  # the usual dip
                    # an alert needs a change that is not tiny and a large z: the change is cheap
                    # and usually tiny, so the z-score (a sqrt) is computed only when it is not
                    d = x - mean
                    change = abs(d) / abs(mean) if _CHANGE_REL[m] and mean else abs(d)
                    if not change <= _TINY[m] and self._outlier(r, t, m, x, mean, mu, b.ss / n):
                        i = first + (m + 1) * _N_BUCKETS  # the next signal's pooled bucket
                        continue  # values that alerted are not learned
                    if book.holds:
                        book.release(a, _METRICS[m])  # inside its band: a held condition ended
            i = first + (m + 1) * _N_BUCKETS  # the next signal's pooled bucket
            # _Baseline.add(t, x, cut), written out: no method call per learned value
            ts, xs = b.ts, b.xs
            ts.append(t)
            xs.append(x)
            s = b.s + x
            ss = b.ss + x * x
            while ts[0] < cut:
                ts.popleft()
                old = xs.popleft()
                s -= old
                ss -= old * old
            b.s = s
            b.ss = ss

    def _outlier(
        self, r: RunRecord, t: float, m: int, x: float, mean: float, mu: float, mean_sq: float
    ) -> bool:
        """Whether a value whose change is not tiny alerts (its z-score); if so, raise the alert.

        Args:
            r: the run.
            t: the time it is scored at.
            m: the metric (index into ``_METRICS``).
            x: its value of the metric.
            mean: the bucket's mean (with the holiday dip for volume on a holiday).
            mu: the bucket's own mean, and ``mean_sq`` its mean square: its spread.
            mean_sq: see ``mu``.
        """
        var = mean_sq - mu * mu
        std = math.sqrt(var) if var > 0.0 else 0.0
        floor_rel, floor, _, _, spike = _RULES[m]
        lim = floor * abs(mean) if floor_rel else floor
        if std < lim:
            std = lim
        z = (x - mean) / std if std > 0 else 0.0
        sens = (self._sens_asset[r.asset] or self._sens_by_metric)[m]
        if abs(z) <= sens or (z < 0 and spike):
            return False
        self._flag(r, t, m, x, mean, std, z, sens)
        return True

    def _flag(
        self, r: RunRecord, t: float, m: int, x: float, mean: float, std: float, z: float,
        sens: float,
    ) -> None:  # fmt: skip
        """Raise the anomaly alert of metric ``m`` (its detail text is built only here)."""
        name = _METRICS[m]
        if name in ("volume", "runtime"):
            shown = math.expm1(x) if name == "volume" else math.exp(x)
            usual = math.expm1(mean) if name == "volume" else math.exp(mean)
            detail = f"{name}={shown:.4g} vs seasonal typical {usual:.4g} (z={z:+.1f}, log scale)"
        else:
            detail = f"{name}={x:.4g} vs seasonal mean {mean:.4g} (std {std:.3g}, z={z:+.1f})"
        self._raise(r.asset, name, t, z, sens if z > 0 else -sens, detail, r)

    def _freshness(self, asset: int) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        a = self.world.assets[asset]
        alerted = 0  # latest window already reported late
        while True:
            w = max(self.arrived[asset], alerted) + 1
            if w > a.n_windows:
                return
            grace = self.grace
            deadline = w * a.every + a.sla + grace
            if deadline > self.world.horizon:
                return
            if env.now < deadline:
                yield env.timeout(deadline - env.now)
            if self.arrived[asset] < w:
                late = env.now - (w * a.every + a.sla)
                detail = f"window {w} not delivered {a.sla:.0f} min after it closed (SLA)"
                self._raise(asset, "freshness", env.now, late, grace, detail, None, window=w)
                alerted = w

    @property
    def sensitivities(self) -> dict[str, float]:
        """Current z-score threshold per anomaly signal."""
        return dict(self._sens)

    def set_thresholds(self, sensitivities: Mapping[str, float], grace_min: float) -> None:
        """Change detector thresholds now (the SLA optimizer's lever).

        Args:
            sensitivities: z-score threshold per anomaly signal (others keep theirs).
            grace_min: minutes past the SLA before a freshness alert (from the next deadline).

        Raises:
            ValueError: for an unknown signal or a non-positive threshold.
        """
        for k, v in sensitivities.items():
            if k not in self._sens:
                raise ValueError(f"signal: unknown {k!r}; expected one of {ANOMALY_SIGNALS}")
            if not v > 0:
                raise ValueError(f"sensitivity of {k}: expected > 0, got {v}")
            self._sens[k] = float(v)
        self._sens_by_metric = [self._sens[m] for m in _METRICS]
        if grace_min < 0:
            raise ValueError(f"grace_min: expected >= 0, got {grace_min}")
        self.grace = float(grace_min)

    def asset_sensitivity(self, asset: int, signal: str) -> float:
        """The z-score threshold of ``signal`` on ``asset`` (its own if set, else the signal's)."""
        row = self._sens_asset[asset]
        return row[_METRICS.index(signal)] if row is not None else self._sens[signal]

    def set_asset_sensitivity(self, asset: int, signal: str, value: float) -> None:
        """Give ``asset`` its own z-score threshold for ``signal`` (the learning cycle's lever).

        The asset's other signals keep the signal-wide thresholds as they are now.

        Raises:
            ValueError: for an unknown signal or a non-positive threshold.
        """
        if signal not in self._sens:
            raise ValueError(f"signal: unknown {signal!r}; expected one of {ANOMALY_SIGNALS}")
        if not value > 0:
            raise ValueError(f"sensitivity of {signal} on asset {asset}: expected > 0, got {value}")
        row = self._sens_asset[asset]
        if row is None:
            row = self._sens_asset[asset] = list(self._sens_by_metric)
        row[_METRICS.index(signal)] = float(value)

    def recent_assets(self, signals: frozenset[str], since: float) -> set[int]:
        """Assets with an alert of one of ``signals`` at or after ``since``."""
        out = set()
        for al in reversed(self.alerts):
            if al.t < since:
                break
            if al.signal in signals:
                out.add(al.asset)
        return out

    # ------------------------------------------------------------------ alerting
    def _suppressed(self, signal: str, t: float) -> bool:
        if self.cfg.suppress_during_backfills and signal in ("runtime", "queue", "freshness"):
            for start, end in self._backfills:
                if start <= t <= end:
                    return True
        return False

    def _raise(
        self,
        asset: int,
        signal: str,
        t: float,
        value: float,
        threshold: float,
        detail: str,
        r: RunRecord | None,
        *,
        window: int = -1,
    ) -> None:
        if self._suppressed(signal, t):
            return
        inc, new, dup = self.book.place(asset, signal, t)
        if dup:
            inc.duplicates += 1
            inc.last_at = t
            return
        a = self.world.assets[asset]
        alert = Alert(
            len(self.alerts), t, asset, a.name, a.layer, signal, float(value), float(threshold),
            detail, inc.incident_id, r.run_id if r is not None else -1,
            r.window if r is not None else window,
        )  # fmt: skip
        self.alerts.append(alert)
        self.book.add(inc, alert)
        if self.on_alert is not None:
            self.on_alert(alert, inc, new)
