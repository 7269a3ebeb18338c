"""Preventive measures (envs/sim/prevention.py): rates, cost, retirement, errors, determinism."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from envs.sim import episode
from envs.sim import rng as rng_module
from envs.sim.ledger import faults_table, prevented_table
from envs.sim.prevention import MEASURES
from envs.sim.world import World
from scenarios import load_scenario

DAY = 1440.0


def _within(prevented: int, n: int, p: float) -> None:
    """``prevented`` of ``n`` Bernoulli(p) trials lies within 4 binomial sd of n p."""
    sd = math.sqrt(n * p * (1.0 - p))
    assert abs(prevented - n * p) <= 4.0 * sd + 1e-9, (prevented, n, p, sd)


def _inject_many(w: World, cause: str, asset: str, n: int, t0: float, step: float) -> list[int]:
    return [w.inject(cause, asset, t0 + i * step).fid for i in range(n)]


# (measure, params, put on, cause injected, root of the injected faults)
MATCHING = [
    (
        "rotate_credentials",
        {},
        "ingest_crm_customers",
        "expired_credentials",
        "ingest_crm_customers",
    ),
    ("uniqueness_guard", {}, "ingest_ecommerce_orders", "replayed_load", "ingest_ecommerce_orders"),
    ("schema_contract", {}, "ingest_product_catalog", "column_renamed", "ingest_product_catalog"),
    ("schema_contract", {}, "ingest_product_catalog", "type_changed", "ingest_product_catalog"),
    # a contract with the Source covers the renames at the ingestion that reads it
    ("schema_contract", {}, "product_catalog", "upstream_rename", "ingest_product_catalog"),
    ("reserved_capacity", {"hours": range(24)}, "fct_sales", "noisy_neighbor", "dim_product"),
]


@pytest.mark.parametrize(("measure", "params", "on", "cause", "root"), MATCHING)
def test_a_measure_prevents_matching_faults_at_its_rate(
    quiet_world, measure, params, on, cause, root
):
    p = MEASURES[measure].hazard_reduction
    n = prevented = 0
    first = 8 * MATCHING.index((measure, params, on, cause, root))  # independent draws per case
    for seed in range(first, first + 8):
        w = quiet_world(seed, days=2.0)
        mid = w.prevent(measure, on, **params)
        fids = _inject_many(w, cause, root, 40, DAY, 17.0)
        w.run(DAY + 41 * 17.0)
        rec = w.measures[mid]
        started = {f.fid for f in w.faults if f.started}
        assert set(rec.prevented) <= set(fids)
        assert set(rec.prevented).isdisjoint(started), "a prevented fault never starts"
        assert set(rec.prevented) | (set(fids) & started) == set(fids), "every onset was decided"
        assert [p.fault.fault_id for p in w.prevented_faults] == list(rec.prevented)
        n += len(fids)
        prevented += len(rec.prevented)
    _within(prevented, n, p)


def test_planned_faults_of_a_scenario_are_prevented_at_the_rate():
    """End to end on SC-0001's planned faults: rotation on every ingestion, many seeds."""
    sc = load_scenario("sc0001")
    prevented = started = 0
    for seed in range(60):
        w = World(sc, seed)
        for a in w.assets:
            if a.layer == "Ingestion":
                w.prevent("rotate_credentials", a.idx)
        w.run()
        ledger = faults_table(w)
        gone = prevented_table(w)
        assert set(gone["root_cause"]) <= {"expired_credentials"}
        assert set(gone["fault_id"]).isdisjoint(ledger["fault_id"])
        prevented += len(gone)
        started += int((ledger["root_cause"] == "expired_credentials").sum())
    assert prevented + started > 100
    _within(prevented, prevented + started, MEASURES["rotate_credentials"].hazard_reduction)


@pytest.mark.parametrize(
    ("measure", "params", "on", "cause", "root"),
    [
        # a proxy 403 blip looks like an expired credential but is not one
        (
            "rotate_credentials",
            {},
            "ingest_crm_customers",
            "transient_network",
            "ingest_crm_customers",
        ),
        # the expiry recurs on another ingestion
        (
            "rotate_credentials",
            {},
            "ingest_pos_transactions",
            "expired_credentials",
            "ingest_crm_customers",
        ),
        # fan-out duplicates of a join, not a replay
        (
            "uniqueness_guard",
            {},
            "ingest_ecommerce_orders",
            "replayed_load",
            "ingest_crm_customers",
        ),
        ("schema_contract", {}, "crm_customers", "source_nulls", "ingest_crm_customers"),
        ("schema_contract", {}, "pos_transactions", "upstream_rename", "ingest_crm_customers"),
        # contention from a job looping in the pipeline, or at hours not reserved
        (
            "reserved_capacity",
            {"hours": range(24)},
            "fct_sales",
            "retry_storm",
            "ingest_crm_customers",
        ),
        ("reserved_capacity", {"hours": [3]}, "fct_sales", "noisy_neighbor", "fct_sales"),
        # a reservation smaller than what a neighbour holds
        (
            "reserved_capacity",
            {"hours": range(24), "slots": 1},
            "fct_sales",
            "noisy_neighbor",
            "fct_sales",
        ),
    ],
)
def test_a_wrong_measure_prevents_nothing_and_still_costs(
    quiet_world, measure, params, on, cause, root
):
    w = quiet_world(1, days=2.0)
    mid = w.prevent(measure, on, **params)
    # onsets from 09:00 to 14:00 on day 1: never at 03:00
    _inject_many(w, cause, root, 30, DAY + 9 * 60.0, 10.0)
    w.run()
    rec = w.measures[mid]
    assert rec.prevented == () and w.prevented_faults == ()
    assert len(prevented_table(w)) == 0
    assert rec.cost > 0 and w.prevention_cost == pytest.approx(rec.cost)


def test_cost_accrues_per_minute_and_reserved_slots_bill_their_hours(quiet_world):
    w = quiet_world(0, days=3.0)
    price = w.warehouse.price_per_slot_hour
    w.run(9 * 60.0 + 30.0)  # 09:30 on day 0
    flat = w.prevent("schema_contract", "crm_customers")
    res = w.prevent("reserved_capacity", "fct_sales", hours=[9, 10], slots=4)
    assert w.measures[res].params["hours"] == (9, 10)
    w.run(DAY + 9 * 60.0 + 30.0)
    recs = w.measures
    assert recs[flat].cost == pytest.approx(MEASURES["schema_contract"].cost_per_day)
    # day 0: 09:30–11:00 (1.5 h); day 1: 09:00–09:30 (0.5 h) → 2 h of 4 slots
    assert recs[res].cost == pytest.approx(2.0 * 4 * price)
    assert w.warehouse.cost == pytest.approx(8 * price * w.now / 60.0), "not in warehouse cost"
    assert w.prevention_cost == pytest.approx(recs[flat].cost + recs[res].cost)


def test_retire_stops_effect_and_cost(quiet_world):
    w = quiet_world(2, days=3.0)
    mid = w.prevent("rotate_credentials", "ingest_crm_customers")
    before = _inject_many(w, "expired_credentials", "ingest_crm_customers", 40, 60.0, 10.0)
    w.run(DAY)
    w.retire(mid)
    cost = w.measures[mid].cost
    assert cost == pytest.approx(MEASURES["rotate_credentials"].cost_per_day)
    assert w.measures[mid].retired_at == DAY and not w.measures[mid].active
    after = _inject_many(w, "expired_credentials", "ingest_crm_customers", 40, DAY + 60.0, 10.0)
    w.run()
    rec = w.measures[mid]
    assert rec.cost == cost, "a retired measure costs nothing more"
    assert len(rec.prevented) > 20 and set(rec.prevented) <= set(before)
    assert all(w.faults[fid].started for fid in after)
    with pytest.raises(ValueError, match="already retired"):
        w.retire(mid)


def test_a_cascade_of_a_prevented_trigger_is_prevented_with_it(quiet_world):
    w = quiet_world(0, days=2.0)
    w.prevent("rotate_credentials", "ingest_crm_customers")
    fids = _inject_many(w, "expired_credentials", "ingest_crm_customers", 10, DAY, 10.0)
    # a fault a trigger set off (cascades set ``triggered_by`` at plan time)
    cascaded = [w.inject("retry_storm", "ingest_pos_transactions", DAY + 200.0) for _ in fids]
    for f, trigger in zip(cascaded, fids, strict=True):
        f.triggered_by = trigger
    w.run()
    gone = {p.fault.fault_id for p in w.prevented_faults}
    for f, trigger in zip(cascaded, fids, strict=True):
        assert (f.fid in gone) == (trigger in gone)
        assert f.started == (trigger not in gone)


def _backfill_requests(w: World) -> list[float]:
    """Times at which the backfill process asked the warehouse for a slot."""
    times: list[float] = []
    request = w.warehouse.request

    def spy(*args, **kwargs):
        caller = sys._getframe(1)
        names = (caller.f_code.co_name, caller.f_back.f_code.co_name if caller.f_back else "")
        if "_backfill" in names:  # called from it, or from its list comprehension
            times.append(w.now)
        return request(*args, **kwargs)

    w.warehouse.request = spy  # type: ignore[method-assign]
    return times


def test_reschedule_moves_the_backfill_and_retire_before_it_restores_it():
    sc = load_scenario("sc0001")
    planned = World(sc, 0).planned_backfills[0]  # fct_sales, day 3 06:00, 4 h, 2 slots
    w = World(sc, 0)
    times = _backfill_requests(w)
    mid = w.prevent("reschedule", "fct_sales", hour=22)
    moved = w.planned_backfills[0]
    assert moved.start == 3 * DAY + 22 * 60.0 and moved.end - moved.start == 240.0
    assert w.measures[mid].moved_backfills == (0,) and w.measures[mid].prevented == ()
    w.run()
    assert times == [moved.start] * planned.slots
    # retired before the planned start: the backfill runs as planned
    w2 = World(sc, 0)
    times2 = _backfill_requests(w2)
    mid2 = w2.prevent("reschedule", "fct_sales", hour=22)
    w2.run(DAY)
    w2.retire(mid2)
    assert w2.planned_backfills[0] == planned
    w2.run()
    assert times2 == [planned.start] * planned.slots
    # an asset without backfills: nothing moves, it still costs
    w3 = World(sc, 0)
    mid3 = w3.prevent("reschedule", "dim_customer", hour=22)
    w3.run(DAY)
    assert w3.measures[mid3].moved_backfills == () and w3.planned_backfills[0] == planned
    assert w3.measures[mid3].cost == pytest.approx(MEASURES["reschedule"].cost_per_day)


@pytest.mark.parametrize(
    ("measure", "asset", "params", "match"),
    [
        ("rotate_keys", "ingest_crm_customers", {}, r"unknown measure 'rotate_keys'.*rotate_cred"),
        ("rotate_credentials", "crm_customers", {}, r"on Source; expected an asset on Ingestion"),
        ("rotate_credentials", "no_such_asset", {}, r"unknown asset 'no_such_asset'"),
        ("rotate_credentials", 999, {}, r"asset index 999 out of range"),
        ("uniqueness_guard", "fct_sales", {}, r"fct_sales is on Warehouse"),
        ("reserved_capacity", "ingest_crm_customers", {"hours": [9]}, r"an asset on Warehouse"),
        ("reserved_capacity", "fct_sales", {}, r"missing parameter 'hours'"),
        ("reserved_capacity", "fct_sales", {"hours": [24]}, r"hours\[\] must be an int in 0..23"),
        ("reserved_capacity", "fct_sales", {"hours": []}, r"non-empty"),
        ("reserved_capacity", "fct_sales", {"hours": "9"}, r"non-empty collection of ints"),
        ("reserved_capacity", "fct_sales", {"hours": [9], "slots": 0}, r"slots must be .* 1..32"),
        ("reserved_capacity", "fct_sales", {"hours": [9], "hour": 9},
         r"unknown parameter 'hour'; expected \['hours', 'slots'\]"),
        ("rotate_credentials", "ingest_crm_customers", {"every_days": 30},
         r"unknown parameter 'every_days'; expected none"),
        ("reschedule", "fct_sales", {"hour": 25}, r"hour must be an int in 0..23"),
        ("reschedule", "crm_customers", {"hour": 2}, r"crm_customers is on Source"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_one_line(quiet_world, measure, asset, params, match):
    w = quiet_world()
    with pytest.raises(ValueError, match=match) as e:
        w.prevent(measure, asset, **params)
    assert "\n" not in str(e.value)
    assert w.measures == () and not w.prevention.armed


def test_unknown_measure_id_is_refused(quiet_world):
    w = quiet_world()
    with pytest.raises(ValueError, match="no measure 0; no measure was taken"):
        w.retire(0)
    w.prevent("uniqueness_guard", "ingest_crm_customers")
    with pytest.raises(ValueError, match=r"no measure 3; expected an id in 0..0"):
        w.retire(3)
    with pytest.raises(ValueError, match=r"no measure '0'"):
        w.retire("0")  # type: ignore[arg-type]
    w.retire(np.int64(0))  # an id read back from a table


def _schedule(seed: int) -> World:
    w = World(load_scenario("mixed"), seed)
    w.prevent("reschedule", "fct_deliveries", hour=1)  # its backfill: day 2, 06:00 → day 3, 01:00
    for a in w.assets:
        if a.layer == "Ingestion":
            w.prevent("uniqueness_guard", a.idx)
    w.run(2 * DAY)
    mid = w.prevent("reserved_capacity", "fct_deliveries", hours=range(9, 18))
    for a in w.assets:
        if a.layer == "Source":
            w.prevent("schema_contract", a.idx)
    w.run(4 * DAY)
    w.retire(mid)
    w.run()
    return w


def test_same_seed_and_schedule_give_the_same_world():
    a, b = _schedule(0), _schedule(0)
    assert a.log == b.log
    assert faults_table(a).to_csv() == faults_table(b).to_csv()
    assert a.prevented_faults == b.prevented_faults and len(a.prevented_faults) >= 3
    assert prevented_table(a).to_csv() == prevented_table(b).to_csv()
    assert a.measures == b.measures
    assert a.planned_backfills == b.planned_backfills
    assert a.planned_backfills[0].start == 3 * DAY + 60.0


def test_the_new_stream_leaves_existing_streams_and_worlds_unchanged(monkeypatch):
    seed = 11
    old = rng_module.STREAM_NAMES[:-1]
    assert rng_module.STREAM_NAMES[-1] == "prevention"
    new = rng_module.Streams(seed)
    children = np.random.SeedSequence(seed).spawn(len(old))
    for name, ss in zip(old, children, strict=True):
        assert (
            new[name].random(8).tolist()
            == np.random.Generator(np.random.PCG64(ss)).random(8).tolist()
        )
    sc = load_scenario("mixed")
    w_new = World(sc, seed)
    w_new.run()
    monkeypatch.setattr(rng_module, "STREAM_NAMES", old)
    w_old = World(sc, seed)
    w_old.run()
    assert [f.record() for f in w_new.faults] == [f.record() for f in w_old.faults]
    assert w_new.log == w_old.log


def test_a_measure_matching_nothing_changes_nothing_but_its_cost():
    sc = load_scenario("sc0001")  # late data only: no replayed loads to guard against
    base = World(sc, 4)
    base.run()
    w = World(sc, 4)
    w.prevent("uniqueness_guard", "ingest_pos_transactions")
    w.run()
    assert w.log == base.log
    assert faults_table(w).to_csv() == faults_table(base).to_csv()
    assert w.prevention_cost == pytest.approx(MEASURES["uniqueness_guard"].cost_per_day * 7)


def test_an_episode_with_measures_saves_and_replays_exactly(tmp_path):
    w = _schedule(0)
    ep = episode.record(w, "mixed")
    assert [m.op for m in ep.measures].count("retire") == 1
    episode.save(ep, tmp_path / "episode.json")
    loaded = episode.load(tmp_path / "episode.json")
    assert loaded == ep
    again = episode.replay(loaded)
    assert again.log == w.log
    assert prevented_table(again).to_csv() == prevented_table(w).to_csv()
    assert again.measures == w.measures and again.planned_backfills == w.planned_backfills
    # an episode without measures is written as before: no measures key
    plain = World(load_scenario("sc0001"), 0, days=1.0)
    episode.save(episode.record(plain, "sc0001"), tmp_path / "plain.json")
    assert "measures" not in json.loads((tmp_path / "plain.json").read_text())
