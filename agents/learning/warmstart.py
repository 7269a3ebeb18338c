"""Warm start: what the organization learned on a training-split seed, carried into an eval run.

BP-0005 *Learning Data Quality*: learning data is kept apart from test data. A run on an eval
seed with ``pretrain_weeks = n`` (``agents.learning.longrun.run_weeks``) first runs the same
organization, with the same learning mode and settings, for ``n`` weeks on a **training-split**
seed (``train_seed_for``: the eval split's *i*-th seed pretrains on the train split's *i*-th
seed, so no eval seed is ever learned from), then ``carry`` copies what that run learned — read
from the knowledge base's learning tables, never from Python objects — into the eval run's own
rows, in one transaction, and the eval run's learning cycle starts from those rows
(``LearningCycle(..., warm_start=True)`` reads them back with ``carried_state``) and keeps
learning online.

What is carried (rows of the eval run, ``day <= 0``; the training weeks are the eval run's past):

==========================  =====================================================================
table                       carried rows
==========================  =====================================================================
``incident_labels``         every label of the training run, ``incident_id`` → ``-1 - id`` (never
                            an eval incident's id), ``opened_at`` and ``day`` shifted back by the
                            training run's length (they happened before the eval run's minute 0);
                            the classifier retrains on them and prevention counts them
``classifier_versions``     the last version, as it was (same version number, parameters and
                            held-out accuracy), ``day`` 0: triage uses it from the first incident
``thresholds_history``      one row per (asset, signal) whose threshold ended away from where it
                            started: ``old`` the starting value, ``new`` the learned one, ``day`` 0
``promotions``              one row per (cause, action) pair that ended *autonomous* (a pair that
                            ended as *propose* is the default; successes counted towards a
                            promotion that had not happened yet are not in the tables and are not
                            carried)
``preventive_measures``     every measure still active at the end of the training run, its
                            ``started_at``/``started_day`` shifted back like the labels, new ids
                            from 0; the eval run re-applies it at minute 0 (``World.prevent``: a
                            per-world action on the asset, which is what a team would do with a
                            measure it already runs; it costs from then on). Its parameters are
                            read back from the carried labels exactly as they were planned
                            (``agents.learning.prevention.carried_params``). Retired measures are
                            not carried: the eval world may call for them again.
``learning_cycles``         one row of ``day`` 0: the warm start (``n_labels``: labels carried,
                            ``classifier_version``: the version carried)
==========================  =====================================================================

The knowledge base keeps the training run's own rows under its own seed, so what was carried can
be checked against what was learned.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from agents.knowledge import KnowledgeBase
from agents.learning import classifier as clf
from agents.learning.config import LearningConfig
from agents.learning.prevention import carried_params
from agents.learning.store import LearningStore
from scenarios.spec import Scenario

MIN_PER_DAY = 1440.0


def train_seed_for(scenario: Scenario, eval_seed: int) -> int:
    """The training-split seed an eval seed pretrains on: the train split's i-th for the i-th.

    Raises:
        ValueError: ``eval_seed`` is not a seed of the scenario's eval split, or the train split
            has fewer seeds than its index.
    """
    split = scenario.spec.seeds
    ev, tr = split.eval.seeds(), split.train.seeds()
    if eval_seed not in ev:
        raise ValueError(
            f"pretrain_weeks: seed {eval_seed} is not an eval-split seed of {scenario.name} "
            f"(expected {ev.start}..{ev.stop - 1}); warm starts pretrain an eval run only"
        )
    i = eval_seed - ev.start
    if i >= len(tr):
        raise ValueError(
            f"pretrain_weeks: eval seed {eval_seed} is the {i}-th; the train split of "
            f"{scenario.name} has only {len(tr)} seeds"
        )
    return int(tr[i])


def carry(
    kb: KnowledgeBase,
    *,
    scenario: str,
    org: str,
    train_seed: int,
    eval_seed: int,
    train_days: float,
    cfg: LearningConfig,
) -> dict[str, Any]:
    """Copy what the run on ``train_seed`` learned into ``eval_seed``'s rows (one transaction).

    Args:
        kb: the knowledge base holding the finished training run.
        scenario: the runs' scenario name.
        org: the runs' organization name.
        train_seed: the training run's seed (its rows are read).
        eval_seed: the eval run's seed (its rows are written; it must have none yet).
        train_days: the training run's length in days (the carried times are shifted by it).
        cfg: the learning settings (the prevention window, to read measures' parameters back).

    Returns:
        What was carried: ``train_seed`` and counts of labels, thresholds, promotions, measures,
        and the classifier version (0: none).

    Raises:
        ValueError: the training run has no committed cycle, or the eval run has rows already.
    """
    src = LearningStore(kb.connection, scenario=scenario, seed=train_seed, org=org)
    dst = LearningStore(kb.connection, scenario=scenario, seed=eval_seed, org=org)
    if src.last_day() < 1:
        raise ValueError(f"warm start: the run on train seed {train_seed} committed no cycle")
    if len(dst.frame("learning_cycles")):
        raise ValueError(f"warm start: the knowledge base already holds a run of seed {eval_seed}")
    shift, dshift = train_days * MIN_PER_DAY, round(train_days)
    tag = f"carried from train seed {train_seed}"
    labels = src.frame("incident_labels").drop(columns=["scenario", "seed", "org"])
    labels["incident_id"] = -1 - labels["incident_id"]
    labels["opened_at"] = labels["opened_at"] - shift
    labels["day"] = labels["day"] - dshift
    versions = src.frame("classifier_versions")
    model = versions.tail(1).drop(columns=["scenario", "seed", "org"]).assign(day=0, t=0.0)
    thresholds = []
    for (asset, signal), g in src.frame("thresholds_history").groupby(
        ["asset", "signal"], sort=True
    ):
        first, last = g.iloc[0], g.iloc[-1]
        if last["new"] != first["old"]:
            thresholds.append({
                "day": 0, "t": 0.0, "asset": int(asset), "asset_name": last["asset_name"],
                "signal": signal, "old": float(first["old"]), "new": float(last["new"]),
                "reason": f"{tag}: learned by day {int(last['day'])} ({len(g)} change(s))",
            })  # fmt: skip
    promotions = []
    for (cause, action), g in src.frame("promotions").groupby(["cause", "action"], sort=True):
        last = g.iloc[-1]
        if last["to_state"] == "autonomous":
            promotions.append({
                "day": 0, "t": 0.0, "cause": cause, "action": action, "from_state": "propose",
                "to_state": "autonomous", "successes": int(last["successes"]),
                "reason": f"{tag}: promoted on day {int(last['day'])} ({last['reason']})",
            })  # fmt: skip
    active = src.frame("preventive_measures", "retired_at IS NULL")
    measures = [
        {"measure_id": i, "measure": r.measure, "asset": int(r.asset), "asset_name": r.asset_name,
         "cause": r.cause, "started_day": int(r.started_day) - dshift,
         "started_at": float(r.started_at) - shift,
         "reason": f"{tag} (its measure {int(r.measure_id)}): {r.reason}"}
        for i, r in enumerate(active.itertuples())
    ]  # fmt: skip
    version = int(model["version"].iloc[0]) if len(model) else 0
    with dst.cycle():
        dst.insert("incident_labels", labels.to_dict("records"))
        dst.insert("classifier_versions", model.to_dict("records"))
        dst.insert("thresholds_history", thresholds)
        dst.insert("promotions", promotions)
        dst.insert("preventive_measures", measures)
        dst.insert("learning_cycles", [{
            "day": 0, "t": 0.0, "n_labels": len(labels), "review_minutes": 0.0,
            "classifier_version": version,
        }])  # fmt: skip
    return {
        "train_seed": int(train_seed), "labels": len(labels), "classifier_version": version,
        "thresholds": len(thresholds), "promotions": len(promotions), "measures": len(measures),
    }  # fmt: skip


class CarriedState(NamedTuple):
    """A run's warm-start rows read back (``carried_state``).

    Attributes:
        model: the carried classifier (None: none was trained).
        thresholds: ``thresholds_history`` rows of day 0 (for ``ThresholdTuner.apply``).
        autonomy: (cause, action) → (state, successes).
        measures: (measure, asset, params) to re-apply, in measure-id order from 0.
        origin: when the carried memory begins: the earliest carried label's or measure's time
            (≤ 0), from which the weekly review counts a carried measure's "before".
    """

    model: clf.LinearModel | None
    thresholds: list[dict[str, Any]]
    autonomy: dict[tuple[str, str], tuple[str, int]]
    measures: list[tuple[str, int, dict[str, Any]]]
    origin: float


def carried_state(store: LearningStore, cfg: LearningConfig) -> CarriedState:
    """The warm start of ``store``'s run, from its own rows of ``day <= 0``.

    Raises:
        ValueError: the run has no warm-start row (``carry`` was not run for it).
    """
    if not store.rows("learning_cycles", ("day",), "day = 0"):
        raise ValueError(f"warm start: no carried state for seed {store.key[1]} (run carry first)")
    rows = store.rows("classifier_versions", ("version", "model"), "day = 0")
    model = clf.from_json(int(rows[-1][0]), json.loads(rows[-1][1])) if rows else None
    th = store.frame("thresholds_history", "day = 0")
    thresholds = th[["asset", "signal", "new"]].to_dict("records")
    autonomy = {
        (c, a): (s, int(n))
        for c, a, s, n in store.rows(
            "promotions", ("cause", "action", "to_state", "successes"), "day = 0"
        )
    }
    labels = store.frame("incident_labels", "day <= 0")
    carried = store.frame("preventive_measures", "started_day <= 0")
    measures = [
        (r.measure, int(r.asset), carried_params(r, labels, cfg)) for r in carried.itertuples()
    ]
    origin = min([0.0, *map(float, labels["opened_at"]), *map(float, carried["started_at"])])
    return CarriedState(model, thresholds, autonomy, measures, origin)
