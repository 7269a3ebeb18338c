"""The Knowledge Manager's daily learning cycle: a SimPy process of a multi-week run.

``LearningCycle(org, kb, cfg)`` attaches to an organization before its world runs. Every day at
``cfg.cycle_hour`` it runs one cycle, in one knowledge-base transaction (``LearningStore.cycle``):

1. **review** — the incidents closed since the last cycle become labels (``review``: gate,
   reviewer, confirmations; under ``raw`` the organization's own diagnoses); each labelled
   incident's ``classification_correct`` is set from its label;
2. **thresholds** — per asset × signal, from the labels' false alarms and misses
   (``thresholds``);
3. **classifier** — yesterday's version is scored on today's labels (held-out), and a new one is
   trained on every label so far (``classifier``);
4. **autonomy** — verified successes promote, failures demote (``autonomy``);
5. **prevention** — recurring learned causes get preventive measures (``prevention``);
6. **weekly review** (every 7th day) — measures that did not pay are retired and the week's
   review (20/80, prevention, SLA, classifier, thresholds, promotions) is stored
   (``weekly_reviews``; ``agents.learning.weekly`` writes the Markdown from the tables);
7. the cycle's own ``learning_cycles`` row, last.

Only after the transaction commits does the organization change: the monitor takes the new
thresholds, triage the new classifier, remediation the new autonomy states, the world the new
measures (``World.prevent`` / ``World.retire``; the measure ids were predicted in order and are
checked). A cycle interrupted at any point — an exception, a ``SIGKILL`` — leaves the knowledge
base as it was before it and the organization unchanged.

The organization calls two hooks while it works: ``refine`` (Issue Triage layer 1: the classifier
may replace the rules' cause; the evidence is kept for learning) and ``approve`` (a playbook with a
destructive action not yet promoted for its cause waits for a person's approval).

Determinism: the reviewer draws from its own generator, seeded from the world's seed and a fixed
salt (never from the world's streams); the classifier's solver is deterministic. Same seed, same
cycles, same knowledge base.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import simpy

from agents.knowledge import KnowledgeBase
from agents.knowledge_review import build_review
from agents.learning import classifier as clf
from agents.learning.autonomy import Autonomy
from agents.learning.config import LearningConfig
from agents.learning.labels import (
    FALSE_ALARM,
    cause_of_key,
    complexity_of,
    issue_type_of,
    key_of_cause,
)
from agents.learning.prevention import plan_measures, review_measures
from agents.learning.review import Label, Reviewer, Triaged, label_incidents
from agents.learning.store import LearningStore, dumps
from agents.learning.thresholds import ThresholdTuner
from agents.learning.warmstart import carried_state
from agents.playbooks import Rung, first_route
from agents.slots.features import triage_features
from agents.triage import RouteRequest

MIN_PER_DAY = 1440.0
REVIEWER_SALT = 0x5EED_0016
"""Mixed with the world's seed for the reviewer's generator (the world's streams stay untouched)."""


class LearningCycle:
    """The learning cycle of one organization (see the module docstring).

    Args:
        org: the organization (``agents.org.Organization``), before its world runs.
        kb: the knowledge base the organization records into.
        cfg: the settings.
        on_write: passed to ``LearningStore`` (a test's crash point).
        warm_start: start from the run's carried rows (``agents.learning.warmstart``: what a
            run on a training-split seed learned) instead of from nothing.

    Attributes:
        labels: every label so far (with ground-truth correctness, for the study's report).
        human_minutes: human minutes the cycle cost per day (reviews and approvals), by day index.
        reviews, approvals: counts so far.
        accuracy: (day, held-out cause accuracy, n) per scored classifier version.
    """

    def __init__(
        self,
        org: Any,
        kb: KnowledgeBase,
        cfg: LearningConfig,
        *,
        on_write: Callable[[str], None] | None = None,
        warm_start: bool = False,
    ) -> None:
        self.org = org
        self.world = w = org.world
        self.cfg = cfg
        self.kb = kb
        self.store = LearningStore(
            kb.connection, scenario=w.scenario.name, seed=w.seed, org=org.cfg.name,
            on_write=on_write,
        )  # fmt: skip
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([w.seed, REVIEWER_SALT])))
        self.reviewer = Reviewer(cfg.reviewer_accuracy, rng)
        self.tuner = ThresholdTuner(org.monitor, cfg)
        self.autonomy = Autonomy(cfg)
        self.model: clf.LinearModel | None = None
        self.triaged: dict[int, Triaged] = {}
        self.labels: list[Label] = []
        self._labelled: set[int] = set()
        self._parsed: dict[int, list[float]] = {}
        self._alerts_seen = 0
        self._alerts: dict[int, list[Any]] = {}
        self.human_minutes: dict[int, float] = {}
        self.reviews = 0
        self.approvals = 0
        self.accuracy: list[tuple[int, float, int]] = []
        self.day = 0
        self.origin = 0.0  # when the organization's memory begins (before 0 after a warm start)
        if warm_start:
            self._warm_start()
        org.learning = self
        w.env.process(self._run())

    def _warm_start(self) -> None:
        """Start from the run's carried rows (``agents.learning.warmstart``), before the world runs.

        The thresholds, the classifier, the autonomy states and the measures come from the
        knowledge base's rows of day 0, so the run starts with exactly what was carried.
        """
        got = carried_state(self.store, self.cfg)
        self.origin = got.origin
        self.tuner.apply(got.thresholds)
        self.model = got.model
        self.autonomy.state = {k: s for k, (s, _) in got.autonomy.items()}
        self.autonomy.successes = {k: n for k, (_, n) in got.autonomy.items()}
        for i, (name, asset, params) in enumerate(got.measures):
            mid = self.world.prevent(name, asset, **params)
            if mid != i:
                raise RuntimeError(f"carried measure id {mid} recorded as {i}")

    # ------------------------------------------------------------------ hooks of the organization
    def refine(self, req: RouteRequest) -> RouteRequest:
        """Issue Triage layer 1 with the classifier: its cause replaces the rules' when surer.

        Keeps what was seen and decided (``Triaged``) for the review. The classifier may only
        name a cause of the rules' issue type (or any cause when the rules found none); the
        target stays the rules'.
        """
        inc, p = req.incident, req.proposal
        x = triage_features(self.org, req)
        cause, version = cause_of_key(p.subtype), 0
        if self.model is not None and p.subtype != "benign":
            named, prob = self.model.predict(x)
            fits = p.subtype == "unknown" or issue_type_of(named) == p.issue_type
            if fits and named != cause and prob > p.confidence:
                key = key_of_cause(named)
                note = (
                    f"classifier v{self.model.version}: {named} (p={prob:.2f}) over the rules' "
                    f"{p.subtype} ({p.confidence:.2f})"
                )
                p = replace(
                    p, issue_type=issue_type_of(named), subtype=key, route=first_route(key),
                    confidence=round(prob, 3), evidence=(*p.evidence, note),
                )  # fmt: skip
                req = req._replace(proposal=p, severity=self.org.triage.severity(inc, p))
                cause, version = named, self.model.version
        self.triaged[inc.incident_id] = Triaged(
            inc.incident_id, cause, p.subtype, p.issue_type, float(p.confidence), int(p.target),
            tuple(float(v) for v in x), version,
        )  # fmt: skip
        return req

    def approve(self, inc: Any, rungs: list[Rung]) -> Generator[simpy.Event, Any, None]:
        """Wait for a person's approval if the rungs hold a destructive action not yet promoted."""
        tri = self.triaged.get(inc.incident_id)
        cause = tri.cause if tri is not None and tri.cause else "unknown"
        if self.autonomy.needs_approval(cause, [k for k, _ in rungs]):
            self.approvals += 1
            day = int(self.world.now // MIN_PER_DAY)
            self.human_minutes[day] = self.human_minutes.get(day, 0.0) + self.cfg.approval_minutes
            yield self.world.env.timeout(self.cfg.approval_delay_min)

    # ------------------------------------------------------------------ the daily process
    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        first = self.cfg.cycle_hour * 60.0
        k = 0
        while True:
            t = first + k * MIN_PER_DAY
            if t >= self.world.horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            self.run_cycle()
            k += 1

    def _new_alerts(self) -> None:
        alerts = self.org.monitor.alerts
        for a in alerts[self._alerts_seen :]:
            self._alerts.setdefault(a.incident_id, []).append(a)
        self._alerts_seen = len(alerts)

    def run_cycle(self) -> None:
        """One daily cycle now (see the module docstring); all of it commits or none of it."""
        cfg, w, st = self.cfg, self.world, self.store
        now, day = w.now, self.day + 1
        self._new_alerts()
        by_id = {inc.incident_id: inc for inc in self.org.closed}
        closed = [
            s for i, s in sorted(self.org.summaries.items())
            if i not in self._labelled and s.resolution != "open"
        ]  # fmt: skip
        labels, n_reviews = label_incidents(
            closed, self.triaged, self._alerts, w, cfg, self.reviewer
        )
        review_min = n_reviews * cfg.review_minutes
        with st.cycle():
            st.insert("incident_labels", [_label_row(lab, day) for lab in labels])
            for lab in labels:
                right = (
                    lab.cause != FALSE_ALARM and issue_type_of(lab.cause) == lab.triaged.issue_type
                )
                st.execute(
                    "incidents",
                    "UPDATE incidents SET classification_correct = ? WHERE scenario = ? AND "
                    "seed = ? AND org = ? AND incident_id = ?",
                    (int(right), *st.key, lab.incident_id),
                )
            thresholds = self.tuner.propose(labels, self._alerts, day, now)
            st.insert("thresholds_history", thresholds)
            model = self._classifier(labels, day, now)
            steps = [
                (s, by_id[s.incident_id].steps if s.incident_id in by_id else []) for s in closed
            ]
            st.insert("promotions", self.autonomy.propose(steps, self.triaged, day, now))
            cols = ["incident_id", "opened_at", "cause", "root_asset"]
            all_labels = pd.DataFrame(st.rows("incident_labels", cols), columns=cols)
            retire = []
            if day % 7 == 0:
                active = st.frame("preventive_measures", "retired_at IS NULL")
                retire = review_measures(all_labels, active, w, cfg, now, self.origin)
                for r in retire:
                    values = {k: r[k] for k in ("recurrence_before", "recurrence_after", "cost")}
                    if r["retire"]:
                        values |= {"retired_at": now, "retire_reason": r["reason"]}
                    st.update("preventive_measures", {"measure_id": r["measure_id"]}, values)
            plans = plan_measures(all_labels, w, st.frame("preventive_measures"), cfg, now)
            first_id = len(w.measures)
            st.insert("preventive_measures", [
                {"measure_id": first_id + i, "measure": p["measure"], "asset": p["asset"],
                 "asset_name": w.assets[p["asset"]].name, "cause": p["cause"],
                 "started_day": day, "started_at": now, "reason": p["reason"]}
                for i, p in enumerate(plans)
            ])  # fmt: skip
            if day % 7 == 0:
                st.insert("weekly_reviews", [self._weekly(day // 7, now, retire)])
            version = (
                model.version if model is not None else (self.model.version if self.model else 0)
            )
            st.insert("learning_cycles", [{
                "day": day, "t": now, "n_labels": len(labels), "review_minutes": review_min,
                "classifier_version": version,
            }])  # fmt: skip
        # committed: now the organization changes
        self.day = day
        self.labels.extend(labels)
        self._labelled.update(s.incident_id for s in closed)
        self.reviews += n_reviews
        d = int(now // MIN_PER_DAY)
        self.human_minutes[d] = self.human_minutes.get(d, 0.0) + review_min
        self.tuner.apply(thresholds)
        self.autonomy.apply()
        if model is not None:
            self.model = model
        for r in retire:
            if r["retire"]:
                w.retire(r["measure_id"])
        for i, p in enumerate(plans):
            mid = w.prevent(p["measure"], p["asset"], **p["params"])
            if mid != first_id + i:
                raise RuntimeError(f"measure id {mid} recorded as {first_id + i}")

    def _classifier(self, labels: list[Label], day: int, now: float) -> clf.LinearModel | None:
        """Score the current version on today's labels; train the next one (inside the cycle)."""
        st = self.store
        if self.model is not None and labels:
            acc = clf.holdout_accuracy(
                self.model, [lab.triaged.features for lab in labels], [lab.cause for lab in labels]
            )
            if acc["n_holdout"]:
                self.accuracy.append((day, float(acc["cause"]), int(acc["n_holdout"])))
                st.update("classifier_versions", {"version": self.model.version}, {
                    "n_holdout": acc["n_holdout"], "holdout_accuracy_cause": acc["cause"],
                    "holdout_accuracy_type": acc["type"],
                    "holdout_accuracy_complexity": acc["complexity"],
                })  # fmt: skip
        rows = st.rows(
            "incident_labels", ("incident_id", "cause", "features"), "cause != ?", (FALSE_ALARM,)
        )
        if len(rows) < self.cfg.min_train or len({c for _, c, _ in rows}) < 2:
            return None
        version = (self.model.version if self.model is not None else 0) + 1
        feats = [self._features(i, f) for i, _, f in rows]
        model = clf.fit(feats, [c for _, c, _ in rows], version, self.cfg.classifier_c)
        st.insert("classifier_versions", [{
            "version": version, "day": day, "t": now, "n_train": len(rows), "n_holdout": 0,
            "holdout_accuracy_type": None, "holdout_accuracy_complexity": None,
            "holdout_accuracy_cause": None, "model": dumps(model.to_json()),
        }])  # fmt: skip
        return model

    def _features(self, incident_id: int, stored: str) -> list[float]:
        """A label's stored feature vector (parsed once per incident)."""
        x = self._parsed.get(incident_id)
        if x is None:
            x = self._parsed[incident_id] = json.loads(stored)
        return x

    def _weekly(self, week: int, now: float, retire: list[dict[str, Any]]) -> dict[str, Any]:
        """The week's review row (its payload: the 20/80 review of the week's incidents)."""
        rows = self.store.conn.execute(
            "SELECT * FROM incidents WHERE scenario = ? AND seed = ? AND org = ? "
            "AND opened_at >= ? AND opened_at < ?",
            (*self.store.key, now - 7 * MIN_PER_DAY, now),
        ).fetchall()
        review = build_review(rows, now, 7.0)._asdict()
        review["measures_reviewed"] = retire
        return {"week": week, "t": now, "payload": dumps(review)}


def _label_row(lab: Label, day: int) -> dict[str, Any]:
    t = lab.triaged
    return {
        "incident_id": lab.incident_id, "day": day, "opened_at": lab.opened_at,
        "source": lab.source, "cause": lab.cause, "issue_type": issue_type_of(lab.cause),
        "complexity": complexity_of(lab.cause), "root_asset": lab.root_asset,
        "diagnosed_cause": t.cause, "diagnosed_issue_type": t.issue_type,
        "confidence": t.confidence, "features": dumps(list(t.features)),
    }  # fmt: skip
