"""The late-data rules on hand-made evidence: what a failing ingestion's errors say, they read."""

from __future__ import annotations

from collections import Counter

import pytest

from agents.evidence import IncidentEvidence
from agents.org import Organization, org_config
from envs.sim.world import World
from scenarios import load_scenario


def _evidence(w: World, ing: int, classes: dict[str, int], text: str) -> IncidentEvidence:
    return IncidentEvidence(
        t=w.now,
        signals=frozenset({"run_failure"}),
        failing=(ing,),
        recent_failures=(),
        error_classes=Counter(classes),
        error_text=text,
        failing_ingestions=(ing,),
        sources=frozenset(u.idx for u in w.assets[ing].ups),
        late_sources=(),
        shared_source=False,
        external_queries=0,
        wide_slow_assets=frozenset(),
    )


@pytest.mark.parametrize(
    ("classes", "text", "subtype", "route"),
    [
        # a 403 whose message names no credential may be the proxy's: one retry first
        ({"HTTP403": 2}, "task exited with return code 1", "credentials_expired/unconfirmed",
         "retry"),
        ({"HTTP403": 1}, "407 proxy authentication required: session expired",
         "transient_failure", "retry"),
        ({"AuthError": 1}, "401 unauthorized: token expired", "credentials_expired", "escalate"),
        # an AuthError is the credential's own answer, whatever the message says
        ({"AuthError": 1, "HTTP403": 1}, "task exited with return code 1", "credentials_expired",
         "escalate"),
        ({"HTTP403": 1}, "access denied for service principal", "credentials_expired",
         "escalate"),
    ],
)  # fmt: skip
def test_auth_errors_are_escalated_only_when_the_message_names_a_credential(
    classes, text, subtype, route
):
    w = World(load_scenario("nofault"), 0, days=2.0)
    w.run(until=1440.0 + 720.0)  # noon of day 1: not the vendors' night
    org = Organization(w, org_config("rules"))
    ing = next(a.idx for a in w.assets if a.layer == "Ingestion")
    p = org.triage.rules._failed_runs(_evidence(w, ing, classes, text), [])
    assert (p.subtype, p.route, p.target) == (subtype, route, ing)
