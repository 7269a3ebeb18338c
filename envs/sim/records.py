"""Typed immutable records: what the simulator emits and what the ledger keeps.

Records are ``NamedTuple`` s: immutable, cheap to create in the hot path (one per run), and they
turn into table rows with ``pandas.DataFrame(records)``. Times are simulated minutes since the
episode start; assets are indexes into ``Pipeline.names``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

RUN_STATUSES = ("success", "failed", "killed")
PARTITION_STATES = ("pending", "ok", "warn", "blocked", "failed", "quarantined")
"""Partition states by code: 0 pending, 1 delivered, 2 delivered with warnings, 3 held back by a
blocking check, 4 failed (no data), 5 quarantined (withheld; consumers proceed without it)."""
PENDING, OK, WARN, BLOCKED, FAILED, QUARANTINED = range(6)


class RunRecord(NamedTuple):
    """One execution of an asset for one partition window (telemetry, hot path).

    Attributes:
        run_id: unique, increasing in start order.
        asset: asset index.
        window: partition index k; the window ends at ``k * every_min``.
        attempt: 0 for the scheduled run, then 1, 2, ... for reruns of the same window.
        trigger: ``schedule``; for a re-execution the action kind that caused it (``retry``,
            ``wait``, ``rerun``, ``backfill``, ``dedupe``, ``escalate`` ...); ``auto_retry`` for
            the orchestrator's own retries.
        scheduled_at: when the run was due.
        started_at: when it got its warehouse slots and began.
        ended_at: when it finished (the partition's arrival time if it succeeded).
        status: ``success``, ``failed`` or ``killed``.
        rows: rows written.
        null_rates: null rate per key column.
        duplicate_rate: fraction of duplicated rows.
        schema_version: schema version of the written partition.
        value_mean: mean of the tracked measure.
        value_std: standard deviation of the tracked measure.
        cost: warehouse cost attributed to this run (slot-hours x price).
        failed_checks: indexes of the asset's checks that did not pass.
        partition_state: resulting partition state code (see ``PARTITION_STATES``).
        error_class: error class of a failed run, else "".
        error_message: error text of a failed run or failing check, else "".
        ready_at: when its inputs were ready and it asked for a warehouse slot.
    """

    run_id: int
    asset: int
    window: int
    attempt: int
    trigger: str
    scheduled_at: float
    started_at: float
    ended_at: float
    status: str
    rows: int
    null_rates: tuple[float, ...]
    duplicate_rate: float
    schema_version: int
    value_mean: float
    value_std: float
    cost: float
    failed_checks: tuple[int, ...]
    partition_state: int
    error_class: str
    error_message: str
    ready_at: float = math.nan

    @property
    def queued_min(self) -> float:
        """Minutes spent waiting for upstream data and warehouse slots."""
        return self.started_at - self.scheduled_at

    @property
    def slot_wait_min(self) -> float:
        """Minutes spent waiting for a warehouse slot once the inputs were ready."""
        return self.started_at - self.ready_at

    @property
    def runtime_min(self) -> float:
        """Minutes spent running."""
        return self.ended_at - self.started_at


class FaultRecord(NamedTuple):
    """Ground truth of one injected fault (the ledger's row), as of the time it was read.

    Attributes:
        fault_id: unique id, in onset order.
        issue_type: blueprint issue type.
        subtype: fault subtype.
        root_cause: hidden root cause.
        root_asset: asset index where the fault originates.
        onset: onset time.
        severity: critical, major or minor.
        magnitude: effect size (cause-specific: factor, rate or added null rate).
        acceptable_fixes: actions that can remove the cause.
        best_fix: the cheapest reliable fix.
        affected_assets: asset indexes the fault reached (root first, then by first contact).
        first_visible_at: first time the fault touched an asset (a run it slowed, failed or
            corrupted, a consumer waiting on what it holds back, a contention's onset): the
            simulator's reach, earlier than what a team can see for slow and warehouse-wide causes.
        delivery_exposed_at: first time wrong data was visible at a Delivery asset (or nan).
        cause_ended_at: when the cause stopped (nan while active).
        resolved_at: when the fix was verified (nan while open).
        resolved_by: ``agent``, ``human`` or ``self`` (ended by itself) or "" while open.
        resolving_action: action id of the fix, or -1.
        caused_by_action: for collateral damage, the action id that caused it, else -1.
        first_symptom_at: first *observable* symptom on an asset it affected — a run it failed,
            a partition it corrupted (failed checks or anomalous data written) or a freshness
            deadline missed while it acted (the deadline's time; for warehouse-wide causes on any
            non-Source asset) — or nan if none yet. A deadline still pending at the horizon is
            not counted (it is read when the late partition is written). Detection SLAs are
            measured from it (``agents.scoring.scorecard``).
    """

    fault_id: int
    issue_type: str
    subtype: str
    root_cause: str
    root_asset: int
    onset: float
    severity: str
    magnitude: float
    acceptable_fixes: tuple[str, ...]
    best_fix: str
    affected_assets: tuple[int, ...]
    first_visible_at: float
    delivery_exposed_at: float
    cause_ended_at: float
    resolved_at: float
    resolved_by: str
    resolving_action: int
    caused_by_action: int
    first_symptom_at: float = math.nan


class ActionRecord(NamedTuple):
    """One action taken on the world (the audit trail).

    Attributes:
        action_id: unique id, in issue order.
        kind: action kind (``scenarios.vocab.ACTION_KINDS``).
        asset: target asset index, or -1 for warehouse-wide actions.
        params: the action's parameters as sorted (key, value) pairs.
        issued_at: when it was requested.
        done_at: when it finished.
        cost: warehouse plus human cost of the action.
        human_min: human minutes it consumed.
        outcome: ``fixed``, ``no_effect``, ``mitigated``, ``undone``, ``failed`` or
            ``collateral``.
        fault_ids: faults the action fixed or mitigated.
        undo_of: for a rollback, the action id undone, else -1.
        before: observable state of the target before the action.
        after: observable state of the target after the action.
    """

    action_id: int
    kind: str
    asset: int
    params: tuple[tuple[str, float | int | str], ...]
    issued_at: float
    done_at: float
    cost: float
    human_min: float
    outcome: str
    fault_ids: tuple[int, ...]
    undo_of: int
    before: str
    after: str
