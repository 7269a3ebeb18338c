"""The review gate: which closed incidents become learning labels, and who labels them.

Each daily cycle takes the incidents closed since the last one and labels them (``Label``):

=========  ===================================================================================
mode       label
=========  ===================================================================================
``on``     diagnosed with a confidence ≥ the gate *and* fixed by the organization with a fix the
           oracle verified: ``confirmed`` — the verified fix confirms the cause it fixed (the
           diagnosed one). Anything else (less confident, dismissed, escalated, not fixed) is an
           edge case: a person reviews it (``review``: costs ``review_minutes``; names the true
           cause with probability ``reviewer_accuracy``, else a wrong one).
``raw``    every closed incident under the organization's own diagnosis (``raw``), unreviewed
=========  ===================================================================================

The reviewer is the one place the ground truth enters the organization: it models a person who
investigates the incident (they find the fault the incident's alerts belong to, or none: a false
alarm) and sometimes gets it wrong. Incidents whose only fault was collateral damage of an action
(``induced_by_action``) and incidents whose diagnosis named no cause under ``raw`` are not
labelled: there is no cause to learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from agents.learning.config import LearningConfig
from agents.learning.labels import CAUSES, FALSE_ALARM, issue_type_of
from agents.scoring.matching import match_alert
from envs.sim.ledger import fault_records

BENIGN = frozenset({"dismissed", "benign"})


@dataclass(frozen=True)
class Triaged:
    """What the organization saw and decided at an incident's triage (kept for learning).

    Attributes:
        incident_id: the incident.
        cause: the diagnosed root cause ("" when the diagnosis named none: unknown, benign).
        key: the playbook key of the proposal that was acted on.
        issue_type: the diagnosed issue type.
        confidence: the confidence of the proposal acted on.
        target: the asset the proposal targets (-1 warehouse-wide).
        features: the triage feature vector (``agents.slots.features.TRIAGE_FEATURES``).
        classifier_version: the classifier version that replaced the rules' proposal (0: none).
    """

    incident_id: int
    cause: str
    key: str
    issue_type: str
    confidence: float
    target: int
    features: tuple[float, ...]
    classifier_version: int = 0


class Label(NamedTuple):
    """A learning label of one incident.

    Attributes:
        incident_id, opened_at: the incident.
        source: ``review``, ``confirmed`` or ``raw``.
        cause: the labelled root cause, or ``false_alarm``.
        root_asset: the labelled root asset (-1: none or warehouse-wide).
        triaged: what was diagnosed at triage.
        correct: whether the label names the true cause (ground truth: for the study's report
            only; nothing in the organization reads it).
    """

    incident_id: int
    opened_at: float
    source: str
    cause: str
    root_asset: int
    triaged: Triaged
    correct: bool


class Reviewer:
    """A person who reviews edge cases, right with probability ``accuracy``.

    Args:
        accuracy: probability of naming the true cause.
        rng: the reviewer's own generator (never one of the world's streams).
    """

    def __init__(self, accuracy: float, rng: np.random.Generator) -> None:
        self.accuracy = accuracy
        self.rng = rng

    def judge(self, truth: str) -> str:
        """The cause the reviewer names for an incident whose true label is ``truth``."""
        if self.rng.random() < self.accuracy:
            return truth
        # a plausible mistake: another cause of the same issue type, or a false alarm for it
        if truth == FALSE_ALARM:
            pool = list(CAUSES)
        else:
            pool = [c for c in CAUSES if c != truth and issue_type_of(c) == issue_type_of(truth)]
            pool.append(FALSE_ALARM)
        return str(pool[int(self.rng.integers(len(pool)))])


def truth_of(faults: list[Any], horizon: float, alerts: list[Any]) -> tuple[str, int] | None:
    """The true label of an incident's alerts: (cause or ``false_alarm``, root asset), or None.

    Args:
        faults: the ledger's rows now (``envs.sim.ledger.fault_records``).
        horizon: the run's end (open faults are matched up to it).
        alerts: the incident's alerts.

    Returns:
        The label, or None when the primary fault is collateral damage of an action.
    """
    hits = [f for f in faults for a in alerts if match_alert(a, f, horizon)]
    if not hits:
        return FALSE_ALARM, -1
    primary = min(hits, key=lambda f: (f.onset, f.fault_id))
    if primary.root_cause not in CAUSES:
        return None
    return primary.root_cause, int(primary.root_asset)


def label_incidents(
    closed: list[Any],
    triaged: dict[int, Triaged],
    alerts: dict[int, list[Any]],
    world: Any,
    cfg: LearningConfig,
    reviewer: Reviewer,
) -> tuple[list[Label], int]:
    """Label the incidents closed since the last cycle.

    Args:
        closed: the closed incidents (``IncidentSummary``), in closing order.
        triaged: what was diagnosed at each incident's triage.
        alerts: each incident's alerts.
        world: the world (read by the reviewer only; see the module docstring).
        cfg: the settings (mode, gate, reviewer).
        reviewer: the reviewer.

    Returns:
        The labels, and how many reviews a person did.
    """
    out: list[Label] = []
    reviews = 0
    faults = fault_records(world) if closed else []
    for s in closed:
        t = triaged.get(s.incident_id)
        if t is None:
            continue  # never triaged: nothing was diagnosed, nothing to learn
        truth = truth_of(faults, world.horizon, alerts.get(s.incident_id, []))
        if cfg.mode == "raw":
            cause = FALSE_ALARM if s.resolution in BENIGN else t.cause
            if not cause:
                continue
            ok = truth is not None and truth[0] == cause
            out.append(Label(s.incident_id, s.opened_at, "raw", cause, t.target, t, ok))
            continue
        confirmed = (
            t.cause
            and t.confidence >= cfg.review_gate
            and s.resolution == "auto"
            and s.remediation_success
        )
        if confirmed:
            ok = truth is not None and truth[0] == t.cause
            out.append(Label(s.incident_id, s.opened_at, "confirmed", t.cause, t.target, t, ok))
            continue
        reviews += 1
        if truth is None:
            continue  # the reviewer finds our own action caused it: not a cause to learn
        named = reviewer.judge(truth[0])
        root = truth[1] if named == truth[0] else t.target
        out.append(Label(s.incident_id, s.opened_at, "review", named, root, t, named == truth[0]))
    return out, reviews
