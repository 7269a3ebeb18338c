from __future__ import annotations

from envs.sim.ledger import partitions_table, summary
from envs.sim.world import World
from scenarios import load_scenario


def test_nofault_has_noise_but_no_faults():
    sc = load_scenario("nofault")
    w = World(sc, 5)
    w.run()
    assert w.faults == []
    s = summary(w)
    assert s["faults"] == 0 and s["faults_open"] == 0
    # late-but-within-SLA source arrivals exist and never breach
    src = [r for r in w.log if w.assets[r.asset].layer == "Source"]
    lateness = [r.ended_at - r.window * w.assets[r.asset].every for r in src]
    assert max(lateness) > 0.4 * min(w.assets[r.asset].sla for r in src)
    # a benign added column changes a schema version without failing a schema check
    if sc.spec.noise.benign_column_days:
        versions = {r.schema_version for r in w.log}
        assert max(versions) > 1
    schema_failures = [
        r
        for r in w.log
        for i in r.failed_checks
        if w.assets[r.asset].spec.checks[i].kind == "schema"
    ]
    assert schema_failures == []
    # no partition fails or is blocked in the control world
    assert not any(r.status == "failed" for r in w.log)
    parts = partitions_table(w)
    assert set(parts["state"]) <= {"ok", "warn", "pending"}
    in_flight = parts[parts["state"] == "pending"]
    assert (in_flight["window_end"] > w.horizon - 6 * 60).all()  # only the last hours pending


def test_holiday_lowers_volume():
    sc = load_scenario("nofault")
    assert sc.spec.noise.holidays, "the control scenario documents a holiday"
    day = sc.spec.noise.holidays[0]
    w = World(sc, 0)
    w.run()
    a = next(a for a in w.assets if a.layer == "Ingestion")

    def mean_rows(d: int) -> float:
        rows = [r.rows for r in w.log if r.asset == a.idx and int(r.window * a.every // 1440) == d]
        return sum(rows) / len(rows)

    assert mean_rows(day) < 0.7 * mean_rows(day - 1 if day >= 1 else day + 1)
