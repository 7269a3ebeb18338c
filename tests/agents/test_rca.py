"""The Root Cause Analyzer on retail and on generated topologies."""

from __future__ import annotations

import pytest

from agents.org import Organization, org_config
from envs.sim.world import World
from scenarios import load_scenario
from scenarios.generate import generate_pipeline
from scenarios.spec import Scenario

T0 = 24 * 60.0


def _world(topology: str, seed: int = 0) -> World:
    base = load_scenario("nofault")
    if topology == "retail":
        return World(base, seed, days=2)
    n, gseed = (int(x) for x in topology.split(":"))
    pipeline = generate_pipeline(n, gseed)
    slots = pipeline.nominal_slot_load()[0]
    wh = base.spec.warehouse.model_copy(update={"slots": slots, "max_slots": 4 * slots})
    noise = base.spec.noise.model_copy(update={"backfills": ()})
    spec = base.spec.model_copy(
        update={"pipeline": f"generated:{topology}", "warehouse": wh, "noise": noise}
    )
    return World(Scenario(name="gen", spec=spec, pipeline=pipeline), seed, days=2)


@pytest.mark.parametrize("topology", ["retail", "50:7", "120:7", "300:7"])
def test_a_source_outage_is_traced_to_its_source(topology: str) -> None:
    """At triage only the ingestion has failed; the Source is overdue, not yet alerted."""
    w = _world(topology)
    ing = next(a for a in w.assets if a.layer == "Ingestion")
    src = ing.ups[0]
    # the landing variant: the Source's files stop (an API outage looks like the ingestion's own)
    f = w.inject("source_outage", src.name, T0, magnitude=3.0, variant="landing")  # ~4.5 hours
    org = Organization(w, org_config("rules"))
    w.run()
    ep = org.finish()
    first = {al.incident_id: al for al in reversed(ep.alerts)}
    mine = [
        d for d in ep.diagnoses
        if d.incident_id in first and first[d.incident_id].asset in f.affected
    ]  # fmt: skip
    assert mine, "the outage raised no incident"
    d = mine[0]
    assert d.issue_type == "late_arrival"
    assert d.root_candidates[0].asset == src.idx, d.root_candidates
    assert "overdue past its SLA" in d.root_candidates[0].reason
