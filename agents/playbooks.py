"""Playbooks: per diagnosed cause, the ladder of remediation rungs, least aggressive first.

A rung is (action kind, parameters); ``sleep`` waits without acting and then re-checks (a bad
source has to recover before a backfill can help; one slow run is not yet a regression). An
empty ladder means the cause needs a human: escalate. The rules' route for a cause is its
ladder's first action. ``scale_warehouse`` takes ``factor`` (relative to the current size)
instead of ``slots``.
"""

from __future__ import annotations

from typing import Any

Rung = tuple[str, dict[str, Any]]
LADDERS: dict[str, list[Rung]] = {
    "upstream_outage": [("retry", {"attempts": 2, "backoff_min": 5.0}), ("wait", {"minutes": 30.0}),
                        ("wait", {"minutes": 30.0}), ("wait", {"minutes": 60.0}),
                        ("wait", {"minutes": 60.0})],
    "upstream_outage/source_down": [("wait", {"minutes": 30.0}), ("wait", {"minutes": 30.0}),
                                    ("wait", {"minutes": 60.0}), ("wait", {"minutes": 60.0})],
    "transient_failure": [("retry", {"attempts": 1, "backoff_min": 5.0})],
    "credentials_expired": [],
    "credentials_expired/unconfirmed": [("retry", {"attempts": 1, "backoff_min": 5.0})],
    "late_arrival/delayed": [("sleep", {"minutes": 60.0}), ("sleep", {"minutes": 60.0})],
    "duplicates/replayed_load": [("dedupe", {}), ("backfill", {})],
    "duplicates/partial_replay": [("backfill", {})],
    "duplicates/grain_change": [],
    "duplicates/bad_join": [("rerun", {}), ("rerun", {})],
    "nulls/source_nulls": [("sleep", {"minutes": 120.0}), ("backfill", {}),
                           ("sleep", {"minutes": 240.0}), ("backfill", {})],
    "nulls/upstream_rename": [("apply_schema_mapping", {})],
    "volume_drop/partial_extract": [("backfill", {}), ("rerun", {})],
    "volume_drop/upstream_filter_change": [],
    "distribution_shift/unit_change": [],
    "distribution_shift/stale_reference": [("rerun", {}), ("backfill", {})],
    "schema_drift/column_renamed": [("apply_schema_mapping", {})],
    "schema_drift/type_changed": [],
    "slow_query/plan_regression": [("sleep", {"minutes": 65.0}), ("kill_query", {}),
                                   ("kill_query", {})],
    "slow_query/data_skew": [("sleep", {"minutes": 65.0}), ("scale_warehouse", {"factor": 1.5}),
                             ("scale_warehouse", {"factor": 1.5})],
    "resource_contention/noisy_neighbor": [("kill_query", {}),
                                           ("scale_warehouse", {"factor": 1.5})],
    "resource_contention/retry_storm": [("kill_query", {}), ("reprioritize", {"priority": 2})],
    "resource_contention/undersized_warehouse": [("scale_warehouse", {"factor": 2.0}),
                                                 ("scale_warehouse", {"factor": 1.5})],
}  # fmt: skip
"""Diagnosed cause (``<subtype>`` or ``<subtype>/<cause>``) → its ladder."""

BLIND_RETRY: list[Rung] = [("retry", {"attempts": 3, "backoff_min": 5.0})]
"""The reference organizations' playbook for everything: retry, then a human."""


DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "retry": {"attempts": 3, "backoff_min": 5.0},
    "wait": {"minutes": 30.0},
    "scale_warehouse": {"factor": 1.5},
    "reprioritize": {"priority": 2},
}
"""Parameters of a route taken on its own (outside its cause's ladder)."""
WATCH: list[Rung] = [("sleep", {"minutes": 60.0}), ("sleep", {"minutes": 60.0})]
"""The ``watch`` route: wait and re-check twice, then escalate."""
ROUTE_LADDERS: dict[str, list[Rung]] = {
    "retry": [("retry", {"attempts": 3, "backoff_min": 5.0})],
    "wait": [("wait", {"minutes": 30.0}), ("wait", {"minutes": 30.0}),
             ("wait", {"minutes": 60.0}), ("wait", {"minutes": 60.0})],
    "rerun": [("rerun", {}), ("rerun", {})],
    "backfill": [("backfill", {}), ("sleep", {"minutes": 120.0}), ("backfill", {}),
                 ("sleep", {"minutes": 240.0}), ("backfill", {})],
    "dedupe": [("dedupe", {}), ("backfill", {})],
    "kill_query": [("kill_query", {}), ("kill_query", {})],
    "scale_warehouse": [("scale_warehouse", {"factor": 1.5}), ("scale_warehouse", {"factor": 1.5})],
    "watch": WATCH,
}  # fmt: skip
"""A route chosen without a diagnosed cause (a route policy's own choice): the route's own
ladder, the same action repeated or escalated; routes not listed run once."""
ROUTES: tuple[str, ...] = (
    "retry", "wait", "rerun", "backfill", "dedupe", "apply_schema_mapping", "quarantine",
    "kill_query", "scale_warehouse", "reprioritize", "escalate", "watch", "none",
)  # fmt: skip
"""Every route the triage slot can choose: an action kind, ``watch`` (wait and re-check) or
``none`` (close without action)."""


def first_route(key: str) -> str:
    """The first action of ``key``'s ladder; ``watch`` if it only waits; ``escalate`` if empty."""
    ladder = LADDERS.get(key, [])
    for kind, _ in ladder:
        if kind != "sleep":
            return kind
    return "watch" if ladder else "escalate"


def plan(route: str, key: str, *, blind: bool = False) -> list[Rung]:
    """The rungs to climb for an incident routed to ``route`` with diagnosed cause ``key``.

    Args:
        route: the route after the policy and the guardrails.
        key: the diagnosed cause.
        blind: the reference organizations' blind retry, whatever the cause.

    Returns:
        The rungs (escalation follows them when they do not fix the incident).
    """
    if route in ("escalate", "none"):
        return []
    if blind:
        return list(BLIND_RETRY)
    ladder = LADDERS.get(key, [])
    if first_route(key) == route:
        return list(ladder)
    if route in ROUTE_LADDERS:
        return [(k, dict(p)) for k, p in ROUTE_LADDERS[route]]
    return [(route, dict(DEFAULT_PARAMS.get(route, {})))]
