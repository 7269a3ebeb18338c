"""Warm starts: an eval run starts from what was learned on a training-split seed, via the KB."""

from __future__ import annotations

import json

import pytest

from agents.knowledge import KnowledgeBase
from agents.learning.longrun import run_weeks
from agents.learning.store import LearningStore
from agents.learning.warmstart import train_seed_for
from experiments.errors import UsageError
from experiments.run_org import run
from scenarios import load_scenario
from tests.agents.learning.test_learning_run import _dump

SC = "sc0002"  # three weeks on its first train seed learn thresholds, a classifier and measures
EVAL = 1_000_000  # its first eval seed


def _store(kb: KnowledgeBase, seed: int) -> LearningStore:
    return LearningStore(kb.connection, scenario=SC, seed=seed, org="rules")


def test_an_eval_run_pretrains_on_its_train_split_seed_only():
    sc = load_scenario(SC)
    train, ev = sc.spec.seeds.train.seeds(), sc.spec.seeds.eval.seeds()
    assert train_seed_for(sc, EVAL) == train[0] and train_seed_for(sc, EVAL + 3) == train[3]
    assert all(train_seed_for(sc, s) in train and train_seed_for(sc, s) not in ev for s in ev[:20])
    with pytest.raises(ValueError, match="is not an eval-split seed"):
        train_seed_for(sc, train[0])  # a train seed never gets a warm start (nor is learned on)


def test_the_eval_run_starts_with_what_the_train_run_learned_read_from_the_kb():
    sc = load_scenario(SC)
    with KnowledgeBase() as kb:
        lr = run_weeks(sc, EVAL, "rules", weeks=1, mode="on", knowledge=kb, pretrain_weeks=3)
        carried = lr.warm_start
        assert carried is not None and carried["train_seed"] == sc.spec.seeds.train.seeds()[0]
        src, dst = _store(kb, carried["train_seed"]), _store(kb, EVAL)
        assert src.last_day() == 21 and dst.last_day() == 7  # three train weeks, one eval week
        # only a train seed and the eval seed hold rows: nothing learned on another eval seed
        seeds = {r[0] for r in kb.connection.execute("SELECT DISTINCT seed FROM incident_labels")}
        assert seeds == {carried["train_seed"], EVAL}
        # classifier: the train run's last version, parameters and all, in use from minute 0
        last = src.frame("classifier_versions").iloc[-1]
        first = dst.frame("classifier_versions", "day = 0")
        assert list(first["version"]) == [last["version"]] and first["model"][0] == last["model"]
        assert carried["classifier_version"] == last["version"] > 0
        later = dst.frame("classifier_versions", "day > 0")
        assert later["version"].min() == last["version"] + 1  # it keeps learning online
        # thresholds: the train run's final value per asset x signal
        th = src.frame("thresholds_history")
        final = {(r.asset, r.signal): r.new for r in th.itertuples()}
        start = th.groupby(["asset", "signal"])["old"].first().to_dict()
        moved = {k: v for k, v in final.items() if v != start[k]}
        got = {(r.asset, r.signal): r.new for r in dst.frame("thresholds_history", "day = 0")
               .itertuples()}  # fmt: skip
        assert got == moved and moved
        # autonomy: the pairs the train run left autonomous (none promoted in one week here)
        pr = src.frame("promotions")
        auto = {(r.cause, r.action) for r in pr.groupby(["cause", "action"]).tail(1).itertuples()
                if r.to_state == "autonomous"}  # fmt: skip
        assert {
            (r.cause, r.action) for r in dst.frame("promotions", "day = 0").itertuples()
        } == auto
        assert {k for k, s in lr.cycle.autonomy.state.items() if s == "autonomous"} >= auto
        # labels: every train label, as the eval run's past (negative ids and times)
        src_l, dst_l = src.frame("incident_labels"), dst.frame("incident_labels", "day <= 0")
        assert len(dst_l) == len(src_l) == carried["labels"] > 0
        assert (dst_l["incident_id"] < 0).all() and (dst_l["opened_at"] < 0).all()
        assert sorted(dst_l["cause"]) == sorted(src_l["cause"])
        # measures: the train run's active ones, re-applied on the eval world at minute 0
        active = src.frame("preventive_measures", "retired_at IS NULL")
        assert carried["measures"] == len(active) > 0
        applied = lr.world.measures[: len(active)]
        assert [(m.measure, m.asset, m.started_at) for m in applied] == [
            (r.measure, r.asset, 0.0) for r in active.itertuples()
        ]
    with KnowledgeBase() as kb:  # the train seed's own run: the same measures, same parameters
        train_run = run_weeks(sc, carried["train_seed"], "rules", weeks=3, mode="on", knowledge=kb)
    kept = [m for m in train_run.world.measures if m.active]
    assert [dict(m.params) for m in applied] == [dict(m.params) for m in kept]


def test_a_warm_started_run_is_deterministic_and_zero_pretraining_changes_nothing():
    sc = load_scenario(SC)
    dumps = []
    for _ in range(2):
        with KnowledgeBase() as kb:
            run_weeks(sc, EVAL, "rules", weeks=1, mode="on", knowledge=kb, pretrain_weeks=1)
            dumps.append(_dump(kb))
    assert dumps[0] == dumps[1]
    cold = []
    for kw in ({}, {"pretrain_weeks": 0}):
        with KnowledgeBase() as kb:
            lr = run_weeks(sc, EVAL, "rules", weeks=1, mode="on", knowledge=kb, **kw)
            cold.append((_dump(kb), lr.result.actions))
            assert lr.warm_start is None
    assert cold[0] == cold[1]
    assert cold[0][0]["incident_labels"] != dumps[0]["incident_labels"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "off", "pretrain_weeks": 1}, "pretrain_weeks: needs learning=on or raw"),
        ({"pretrain_weeks": -1}, "pretrain_weeks: expected an int >= 0"),
        ({"seed": 5, "pretrain_weeks": 1}, "seed 5 is not an eval-split seed"),
    ],
)
def test_run_weeks_refuses_bad_pretraining(kwargs, match):
    args = {"seed": EVAL, "mode": "on"} | kwargs
    with KnowledgeBase() as kb, pytest.raises(ValueError, match=match):
        run_weeks(load_scenario(SC), args.pop("seed"), "rules", weeks=1, knowledge=kb, **args)


def test_run_org_warm_starts_and_names_the_train_seed(tmp_path):
    with pytest.raises(UsageError, match="pretrain_weeks: needs weeks=<int>, learning=on"):
        run(SC, "rules", 1, "train", tmp_path / "bad", weeks=1, learning="on", pretrain_weeks=1)
    assert not (tmp_path / "bad").exists()
    run(SC, "rules", 1, "eval", tmp_path, weeks=1, learning="on", pretrain_weeks=2)
    (r,) = json.loads((tmp_path / "learning.json").read_text())["runs"]
    assert r["seed"] == EVAL and r["warm_start"]["train_seed"] == 0
    assert r["warm_start"]["labels"] > 0 and r["classifier_versions"] > r["warm_start"][
        "classifier_version"]  # fmt: skip
