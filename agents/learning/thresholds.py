"""Anomaly thresholds per asset × signal, moved by reviewed false alarms and misses.

Once a day, from the day's labels (``agents.learning.review.Label``):

- a **false alarm** (label ``false_alarm``) whose incident raised anomaly alerts counts against
  each (asset, signal) that alerted: that detector was too sensitive there;
- a **miss** is a labelled data-quality fault whose labelled root asset raised no alert in its
  incident while assets downstream raised anomaly alerts of a quality signal (volume, nulls,
  duplicates, mean): the root's detector of that signal should have seen it first. (Performance
  causes are not counted: see ``_FAMILY``.)

Each (asset, signal) with more false alarms than misses gets its z-score threshold raised by
``threshold_step``, with more misses lowered by it, within ``[threshold_min, threshold_max]``;
every change is a row of ``thresholds_history`` with its reason (the incidents it rests on).
Only the z-score signals (``agents.monitor.ANOMALY_SIGNALS``) have thresholds: freshness, failures,
checks and schema changes are not tuned.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from agents.learning.config import LearningConfig
from agents.learning.labels import FALSE_ALARM, issue_type_of
from agents.learning.review import Label
from agents.monitor import ANOMALY_SIGNALS, PipelineMonitor

_FAMILY = {
    "quality_anomaly": frozenset({"volume", "null_rate", "duplicate_rate", "value_mean"}),
}
"""The signals whose detector at the root should have seen a labelled cause of an issue type.
Performance causes are left out: contention slows the whole warehouse and a slow plan shows on
the assets that wait for it, so "no alert at the root" is no evidence of a blind detector (on
SC-0003 counting them drove runtime thresholds to the floor and tripled human hours)."""


class ThresholdTuner:
    """Learns and applies per-asset thresholds on one monitor.

    Args:
        monitor: the monitor whose thresholds move (``set_asset_sensitivity``).
        cfg: step and bounds.
    """

    def __init__(self, monitor: PipelineMonitor, cfg: LearningConfig) -> None:
        self.monitor = monitor
        self.cfg = cfg

    def propose(
        self, labels: list[Label], alerts: dict[int, list[Any]], day: int, t: float
    ) -> list[dict[str, Any]]:
        """The threshold changes the day's labels call for, as ``thresholds_history`` rows.

        Nothing is applied: ``apply`` does that once the cycle has committed.
        """
        false_alarms: defaultdict[tuple[int, str], list[int]] = defaultdict(list)
        misses: defaultdict[tuple[int, str], list[int]] = defaultdict(list)
        for lab in labels:
            anomalies = [a for a in alerts.get(lab.incident_id, []) if a.signal in ANOMALY_SIGNALS]
            if not anomalies:
                continue
            if lab.cause == FALSE_ALARM:
                for a in anomalies:
                    ids = false_alarms[(a.asset, a.signal)]
                    if lab.incident_id not in ids:
                        ids.append(lab.incident_id)
                continue
            root = lab.root_asset
            if root < 0 or any(a.asset == root for a in alerts.get(lab.incident_id, [])):
                continue
            family = _FAMILY.get(issue_type_of(lab.cause), frozenset())
            for signal in sorted({a.signal for a in anomalies} & family):
                misses[(root, signal)].append(lab.incident_id)
        rows = []
        lo, hi, step = self.cfg.threshold_min, self.cfg.threshold_max, self.cfg.threshold_step
        for key in sorted(set(false_alarms) | set(misses)):
            asset, signal = key
            fa, miss = false_alarms.get(key, []), misses.get(key, [])
            if len(fa) == len(miss):
                continue
            old = self.monitor.asset_sensitivity(asset, signal)
            new = min(hi, old + step) if len(fa) > len(miss) else max(lo, old - step)
            if new == old:
                continue
            parts = []
            if fa:
                parts.append(f"{len(fa)} reviewed false alarm(s) (incidents {_ids(fa)})")
            if miss:
                parts.append(f"{len(miss)} miss(es) at the root (incidents {_ids(miss)})")
            rows.append({
                "day": day, "t": t, "asset": asset,
                "asset_name": self.monitor.world.assets[asset].name, "signal": signal,
                "old": old, "new": new, "reason": "; ".join(parts),
            })  # fmt: skip
        return rows

    def apply(self, rows: list[dict[str, Any]]) -> None:
        """Apply committed ``thresholds_history`` rows to the monitor."""
        for r in rows:
            self.monitor.set_asset_sensitivity(r["asset"], r["signal"], r["new"])


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids[:5]) + (" …" if len(ids) > 5 else "")
