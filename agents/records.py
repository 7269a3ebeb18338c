"""Typed records the agents of the organization exchange and keep (the artifacts' rows).

Every record is an immutable ``NamedTuple``: the monitor emits ``Alert`` s, groups them into
incidents, triage writes a ``Diagnosis``, remediation writes one ``RemediationStep`` per action
(the audit log), and the knowledge manager closes each incident with an ``IncidentSummary``.
Tables are ``pandas.DataFrame(records)``. Times are simulated minutes since the episode start;
assets are indexes into the world's assets (names are carried for readability).
"""

from __future__ import annotations

from typing import Any, NamedTuple

SIGNALS = (
    "freshness",  # a partition missed its deadline (timer)
    "run_failure",  # a run failed
    "check_failure",  # an error-severity check failed
    "volume",  # rows outside the seasonal band
    "null_rate",  # null rate outside the seasonal band
    "duplicate_rate",  # duplicate rate outside the seasonal band
    "value_mean",  # distribution shift of the tracked measure
    "runtime",  # run time outside the seasonal band
    "queue",  # time waiting for warehouse slots outside the band
    "schema_change",  # schema version changed
)
COMPLEXITIES = ("auto_fix", "manual", "escalate")


class Alert(NamedTuple):
    """One alert raised by the Pipeline Monitor.

    Attributes:
        alert_id: unique, increasing.
        t: when it was raised.
        asset: asset index; ``asset_name`` and ``layer`` for readability.
        signal: one of ``SIGNALS``.
        value: the observed value (minutes late, z-score, rate, ...).
        threshold: the threshold it crossed.
        detail: evidence in words (error class and message, check kind, seasonal baseline).
        incident_id: the incident it was grouped into.
        run_id: the run that triggered it (-1 for a freshness timer).
        window: the partition window concerned.
    """

    alert_id: int
    t: float
    asset: int
    asset_name: str
    layer: str
    signal: str
    value: float
    threshold: float
    detail: str
    incident_id: int
    run_id: int
    window: int


class RootCandidate(NamedTuple):
    """A candidate root asset from the Root Cause Analyzer, with its score and reason."""

    asset: int
    asset_name: str
    score: float
    reason: str


class Diagnosis(NamedTuple):
    """Issue Triage's output for one incident.

    Attributes:
        incident_id: the incident.
        t: when the diagnosis was made.
        issue_type: diagnosed blueprint issue type (or ``unknown``).
        subtype: diagnosed fault subtype (or ``unknown``).
        layer: diagnosed layer of the root.
        severity: critical, major or minor.
        complexity: auto_fix, manual or escalate.
        route: the chosen first action kind (after guardrails).
        proposed_route: what the route policy proposed before guardrails.
        confidence: the rules' confidence in [0, 1].
        evidence: the facts the diagnosis rests on.
        root_candidates: top root assets, best first.
        guardrail: why a guardrail overrode the proposal ("" if none).
    """

    incident_id: int
    t: float
    issue_type: str
    subtype: str
    layer: str
    severity: str
    complexity: str
    route: str
    proposed_route: str
    confidence: float
    evidence: tuple[str, ...]
    root_candidates: tuple[RootCandidate, ...]
    guardrail: str


class RemediationStep(NamedTuple):
    """One remediation action in the audit log.

    Attributes:
        incident_id: the incident it served.
        step: 1, 2, ... within the incident.
        action_id: the world's action id (also the rollback handle of undoable actions).
        kind: action kind.
        asset: target asset (-1 warehouse-wide); ``asset_name`` for readability.
        params: action parameters.
        issued_at: when it was issued.
        done_at: when it finished.
        outcome: the world's outcome (fixed, mitigated, no_effect, failed, collateral, undone).
        verified: the fix oracle confirmed the incident's faults fixed and clean afterwards.
        before: observable state before.
        after: observable state after.
        rollback_handle: action id to pass to ``rollback`` to undo it (-1 if not undoable).
        cost: cost of the action.
        reason: why this step was taken (playbook rung, re-plan, escalation).
    """

    incident_id: int
    step: int
    action_id: int
    kind: str
    asset: int
    asset_name: str
    params: tuple[tuple[str, float | int | str], ...]
    issued_at: float
    done_at: float
    outcome: str
    verified: bool
    before: str
    after: str
    rollback_handle: int
    cost: float
    reason: str


class IncidentSummary(NamedTuple):
    """The Knowledge Manager's record of a closed (or, at the end, still open) incident.

    Carries the blueprint's feedback fields: issue type and severity, classification accuracy
    (filled once the incident is reviewed against ground truth), remediation success or failure,
    root cause, time to resolution, plus the actions taken.

    Attributes:
        incident_id: the incident.
        asset: the asset the first alert fired on; ``asset_name``, ``layer`` for readability.
        opened_at: first alert.
        diagnosed_at: diagnosis time (nan if none).
        resolved_at: verified fix (nan if open).
        issue_type: diagnosed issue type; ``severity`` diagnosed severity.
        root_asset: diagnosed root asset (-1 if unknown); ``root_cause`` the diagnosed cause.
        resolution: auto, manual, escalated or open.
        remediation_success: the incident's faults were verified fixed and clean.
        actions: action kinds taken, in order.
        alerts: number of alerts grouped into it.
        fault_ids: ground-truth faults matched to it (empty: a false alarm). Filled at review.
        classification_correct: diagnosed issue type equals the true one (None: not reviewed).
        time_to_resolution_min: resolved_at - opened_at (nan if open).
    """

    incident_id: int
    asset: int
    asset_name: str
    layer: str
    opened_at: float
    diagnosed_at: float
    resolved_at: float
    issue_type: str
    severity: str
    root_asset: int
    root_cause: str
    resolution: str
    remediation_success: bool
    actions: tuple[str, ...]
    alerts: int
    fault_ids: tuple[int, ...]
    classification_correct: bool | None
    time_to_resolution_min: float


class EpisodeResult(NamedTuple):
    """Everything one organization run over one episode leaves behind (input of the scorecard).

    Attributes:
        scenario: scenario name; ``seed`` the episode seed; ``org`` the organization's name.
        days: simulated days; ``horizon`` the episode end in minutes.
        faults: the ground-truth ledger rows (``envs.sim.records.FaultRecord``).
        alerts, diagnoses, remediations, incidents: the organization's records.
        actions: the world's audit trail (``envs.sim.records.ActionRecord``).
        partitions: ``envs.sim.ledger.partitions_table`` at the end of the episode.
        asset_names, asset_layers: per asset index.
        exposure_hours: wrong-data hours at Delivery per fault id.
        warehouse_cost: provisioned warehouse cost; ``human_minutes`` human time spent.
        verdicts: fault id → (fixed, clean) from the fix oracle at the end.
        unsafe_actions: action ids the guardrails would have refused (destructive, no evidence).
        analytics: Analytics Support's scores (``agents.analytics.support.score_answers``), or
            empty.
    """

    scenario: str
    seed: int
    org: str
    days: float
    horizon: float
    faults: list[Any]
    alerts: list[Alert]
    diagnoses: list[Diagnosis]
    remediations: list[RemediationStep]
    incidents: list[IncidentSummary]
    actions: list[Any]
    partitions: Any
    asset_names: list[str]
    asset_layers: list[str]
    exposure_hours: dict[int, float]
    warehouse_cost: float
    human_minutes: float
    verdicts: dict[int, tuple[bool, bool]]
    unsafe_actions: tuple[int, ...]
    analytics: dict[str, float] = {}  # noqa: RUF012 - NamedTuple default, never mutated
