"""One evidence record per incident, read by the rules and by the route slot's features."""

from __future__ import annotations

import gymnasium as gym
import pytest

import envs  # noqa: F401  (registers the ids)
from agents.evidence import IncidentEvidence, gather_evidence
from agents.playbooks import ROUTES
from agents.slots.features import TRIAGE_FEATURES

EVIDENCE_FEATURES = {
    "source_late": lambda ev: float(bool(ev.late_sources)),
    "shared_source_failures": lambda ev: float(ev.shared_source),
    "external_workload": lambda ev: float(ev.external_queries > 0),
    "wide_slowness": lambda ev: min(len(ev.wide_slow_assets) / 10.0, 1.0),
}


@pytest.mark.parametrize("env_id", ["dataops/LateArrival-v0", "dataops/PerformanceDegradation-v0"])
def test_features_and_rules_read_the_same_evidence(env_id: str) -> None:
    env = gym.make(env_id, role="triage")
    inner = env.unwrapped
    obs, _ = env.reset(seed=3)
    seen = 0
    while inner.pending and seen < 40:
        req = inner.pending[0][0]
        ev = req.evidence
        assert isinstance(ev, IncidentEvidence)
        # gathered at triage time, the minute the route is asked for
        assert ev.t == inner.world.now
        assert ev == gather_evidence(inner.world, inner.org.monitor, req.incident)
        for name, of in EVIDENCE_FEATURES.items():
            assert obs[TRIAGE_FEATURES.index(name)] == pytest.approx(of(ev)), name
        # the rules' notes say what the evidence says
        if ev.external_queries:
            assert any("outside the pipeline" in e for e in req.proposal.evidence)
        obs, *_ = env.step(ROUTES.index(req.proposal.route))
        seen += 1
    assert seen > 0
