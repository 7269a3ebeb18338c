"""Run an operations organization over a scenario's seeds and write the blueprint's artifacts.

Usage::

    python -m experiments.run_org scenario=sc0002 org=rules episodes=20 split=eval
    python -m experiments.run_org scenario=sc0002 triage=onnx:outputs/export/triage

A policy slot (``triage``, ``sla``, ``cost``) is ``null`` (the rules; no optimizer) or
``onnx:<dir>``, an exported policy for that role (``agents.slots.resolve``); the organization is
then named after it (``rules+triage:onnx``). A value that cannot fill its slot fails with one error
naming the slot, before anything is written.

Writes into the run directory: ``00_governance/file-ownership.md``,
``00_governance/scaffold-spec.md``, ``01_agents/alert-record.md``, ``01_agents/diagnosis.md``,
``01_agents/remediation-log.md``, ``09_learning/incident-summary.md``, the tables
(``alerts.csv``, ``diagnoses.csv``, ``remediations.csv``, ``incidents.csv``), ``ledger.csv``
(ground truth of every episode), ``events.openlineage.jsonl`` (the first ``events_episodes``
episodes), ``knowledge.sqlite`` (the knowledge base) and ``scorecard.json``; prints the scorecard.
``org=ideal`` (the rules organization plus the ideal agents, ``agents.ideal``) also writes
``09_learning/cost-report.md`` and adds the ideal agents' measures to the scorecard.

**Multi-week runs** (``weeks=<int> learning=off|on|raw``)::

    python -m experiments.run_org scenario=sc0001 weeks=8 learning=on split=eval episodes=1

Each of the ``episodes`` seeds of the split is one continuous run of ``7 * weeks`` days
(``agents.learning.longrun.run_weeks``): the organization keeps its knowledge base, thresholds,
classifier, autonomy and measures from day to day, and with ``learning=on`` (reviewed labels) or
``raw`` (its own unreviewed diagnoses) runs the daily learning cycle (``agents.learning.cycle``).
The organization learns online during the run, from that run's past. By default each seed starts
from an empty knowledge base, so a run on eval seeds never learns from another seed. With
``pretrain_weeks=<int>`` (``split=eval``, learning on or raw) each eval seed's run first learns for
that many weeks on its training-split seed (the train split's i-th seed for the eval split's i-th)
and starts from what was learned there, carried through the knowledge base
(``agents.learning.warmstart``; ``learning.json`` names the train seed and what was carried):
learning data from training seeds, figures from eval seeds. The knowledge base then also holds the
training runs' rows under their own seeds. Without ``weeks`` (the default) nothing changes: episodes
as before, every incident reviewed against the ground truth after each episode. A multi-week run
also writes ``learning.json`` (per seed: labels, reviews, label accuracy, classifier versions and
held-out accuracy, thresholds moved, measures, promotions), ``weeks.csv`` (the week-by-week table of
``agents.scoring.weeks``, one row per seed × week) and, for the first seed,
``09_learning/weekly-review-<n>.md``; its scorecard pools the whole run. Under ``learning=on|raw``
the learning cycle does the reviewing, so the ground-truth review after the run is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from tqdm import tqdm

from agents.ideal.ideal_org import IdealAgents
from agents.knowledge import KnowledgeBase
from agents.learning.config import LEARNING_MODES
from agents.learning.longrun import LongRun, run_weeks
from agents.learning.weekly import write_weekly_reviews
from agents.org import ORG_NAMES, org_config
from agents.records import EpisodeResult
from agents.scoring.artifacts import write_artifacts, write_tables
from agents.scoring.matching import match_alert
from agents.scoring.scorecard import scorecard
from agents.scoring.weeks import weekly_table
from agents.slots.resolve import (
    SLOTS,
    org_label,
    resolve_slots,
    slot_provenance,
    slotted_config,
)
from agents.slots.runner import run_episode
from envs.sim.faults import check_scenario
from envs.sim.ledger import faults_table
from envs.sim.telemetry import export_jsonl
from experiments.console import print_scorecard
from experiments.errors import UsageError, as_float, as_int, run_entry, user_errors
from scenarios import load_scenario


def review(kb: KnowledgeBase, ep: EpisodeResult) -> None:
    """The feedback loop: mark each incident reviewed against the ground truth.

    An incident's faults are those its alerts match; its classification is correct when the
    diagnosed issue type is the earliest matched fault's. False alarms are reviewed with no
    fault and an incorrect classification, so nothing is learned from them.
    """
    by_incident: dict[int, set[int]] = {}
    for a in ep.alerts:
        for f in ep.faults:
            if match_alert(a, f, ep.horizon):
                by_incident.setdefault(a.incident_id, set()).add(f.fault_id)
    faults = {f.fault_id: f for f in ep.faults}
    for inc in ep.incidents:
        fids = sorted(by_incident.get(inc.incident_id, set()))
        if fids:
            primary = min((faults[i] for i in fids), key=lambda f: (f.onset, f.fault_id))
            correct = inc.issue_type == primary.issue_type
        else:
            correct = False
        kb.mark_reviewed(
            inc.incident_id, correct, fault_ids=fids, scenario=ep.scenario, seed=ep.seed,
            org=ep.org,
        )  # fmt: skip


def _append_events(path: Path, world: Any, *, fresh: bool) -> None:
    """Append one episode's OpenLineage events (its own namespace keeps run ids distinct)."""
    part = path.with_suffix(".part")
    ns = f"dataops-gym/{world.scenario.name}/seed-{world.seed}"
    export_jsonl(part, world.log, [a.spec for a in world.assets], namespace=ns)
    with path.open("wb" if fresh else "ab") as dst:
        dst.write(part.read_bytes())
    part.unlink()


def learning_summary(lr: LongRun) -> dict[str, Any]:
    """One multi-week run's learning figures (``learning.json``'s per-seed entry)."""
    c = lr.cycle
    out: dict[str, Any] = {"seed": lr.world.seed, "mode": lr.mode, "weeks": lr.weeks}
    out["measures"] = [
        {"measure_id": m.measure_id, "measure": m.measure, "asset": lr.world.assets[m.asset].name,
         "started_at": m.started_at, "retired_at": None if m.active else m.retired_at,
         "cost": m.cost, "prevented": len(m.prevented)}
        for m in lr.world.measures
    ]  # fmt: skip
    if lr.warm_start is not None:
        out["warm_start"] = lr.warm_start
    if c is None:
        return out
    labels = c.labels
    counts = {k: sum(lab.source == k for lab in labels) for k in ("review", "confirmed", "raw")}
    out |= {
        "labels": len(labels),
        "labels_by_source": counts,
        "label_accuracy": sum(lab.correct for lab in labels) / len(labels) if labels else None,
        "reviews": c.reviews,
        "approvals": c.approvals,
        "learning_human_hours": sum(c.human_minutes.values()) / 60.0,
        "classifier_versions": c.model.version if c.model is not None else 0,
        "classifier_overrides": sum(t.classifier_version > 0 for t in c.triaged.values()),
        "classifier_holdout": [{"day": d, "cause_accuracy": a, "n": n} for d, a, n in c.accuracy],
        "thresholds_changed": len(c.store.frame("thresholds_history", "day > 0")),
        "promotions": c.store.frame("promotions")[["day", "cause", "action", "to_state"]].to_dict(
            "records"
        ),
    }
    return out


def _write_learning(out: Path, runs: list[LongRun], title: str) -> None:
    """``learning.json``, ``weeks.csv`` and the first run's weekly reviews."""
    tables = []
    for lr in runs:
        t = weekly_table(lr)
        t.insert(0, "seed", lr.world.seed)
        tables.append(t)
    pd.concat(tables, ignore_index=True).to_csv(out / "weeks.csv", index=False)
    summary = {"mode": runs[0].mode, "weeks": runs[0].weeks,
               "runs": [learning_summary(lr) for lr in runs]}  # fmt: skip
    (out / "learning.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=float))
    if runs[0].cycle is not None:
        write_weekly_reviews(out, runs[0].cycle.store, title)


def run(
    scenario: str,
    org: str,
    episodes: int,
    split: str,
    out: Path,
    *,
    days: float | None = None,
    events_episodes: int = 1,
    triage: Any = None,
    sla: Any = None,
    cost: Any = None,
    weeks: int | None = None,
    learning: str = "off",
    pretrain_weeks: int = 0,
) -> dict[str, Any]:
    """Run ``org`` on the first ``episodes`` seeds of ``split`` and write everything to ``out``.

    Args:
        scenario: a registered scenario name or a path to a scenario file.
        org: manual, static, elementary, rules or ideal (the rules organization plus the ideal
            agents' reports).
        episodes: how many seeds of the split to run.
        split: ``train`` or ``eval``.
        out: the output directory (created).
        days: horizon override in days.
        events_episodes: episodes whose OpenLineage events are exported.
        triage: the triage policy slot: None (the rules), ``"onnx:<dir>"`` or a ``PolicyLike``.
        sla: the SLA-optimizer slot, likewise (None: no optimizer).
        cost: the cost-optimizer slot, likewise (None: no optimizer).
        weeks: run each seed as one continuous run of this many weeks (None: episodes as before).
        learning: ``off``, ``on`` or ``raw`` (the daily learning cycle; needs ``weeks``).
        pretrain_weeks: weeks each eval seed's run first learns on its training-split seed
            (``agents.learning.warmstart``; needs ``weeks``, learning on or raw, split eval).

    Returns:
        The scorecard (with ``policies``, the filled slots' provenance, when any is filled).

    Raises:
        UsageError: for an unknown organization or split, or more episodes than seeds;
            ``SlotError`` for a slot value that cannot fill its slot; ``ScenarioError`` for a bad
            scenario (or one whose faults can never be injected). Nothing is written then.
    """
    if org not in ORG_NAMES:
        raise UsageError(
            f"org: unknown organization {org!r}; expected one of {', '.join(ORG_NAMES)}"
        )
    if split not in ("train", "eval"):
        raise UsageError(f"split: expected train or eval, got {split!r}")
    if learning not in LEARNING_MODES:
        raise UsageError(f"learning: expected one of {', '.join(LEARNING_MODES)}, got {learning!r}")
    if weeks is not None:
        if not isinstance(weeks, int) or weeks < 1:
            raise UsageError(f"weeks: expected an integer >= 1, got {weeks!r}")
        if days is not None:
            raise UsageError("days: a multi-week run takes weeks=<int>, not days as well")
        if any(v is not None for v in (triage, sla, cost)) or org == "ideal":
            raise UsageError("weeks: multi-week runs take no policy slots and no org=ideal")
        if learning != "off" and org != "rules":
            raise UsageError(
                f"learning={learning}: needs org=rules (the playbook organization), got {org}"
            )
    elif learning != "off":
        raise UsageError(f"learning={learning}: needs weeks=<int> (a run long enough to learn in)")
    if not isinstance(pretrain_weeks, int) or pretrain_weeks < 0:
        raise UsageError(f"pretrain_weeks: expected an integer >= 0, got {pretrain_weeks!r}")
    if pretrain_weeks and (weeks is None or learning == "off" or split != "eval"):
        raise UsageError(
            "pretrain_weeks: needs weeks=<int>, learning=on|raw and split=eval (a warm start "
            f"learned on training-split seeds for held-out runs), got weeks={weeks}, "
            f"learning={learning}, split={split}"
        )
    sc = load_scenario(scenario)
    check_scenario(sc)  # a fault process that can never be injected is refused here
    seeds = getattr(sc.spec.seeds, split).seeds()
    if not 0 < episodes <= len(seeds):
        raise UsageError(f"episodes: expected 1..{len(seeds)} for split {split}, got {episodes}")
    slots = resolve_slots(triage, sla, cost)
    slotted_config(org_config(org), slots)  # refuses a triage policy without playbooks
    name = org_label(org, slots)
    if org == "ideal" and name != org:
        raise UsageError("org: ideal runs without policy slots (its replays run the rules)")
    ideal = IdealAgents(sc, org_config(org), days) if org == "ideal" else None
    out.mkdir(parents=True, exist_ok=True)
    eps: list[EpisodeResult] = []
    ledgers = []
    runs: list[LongRun] = []
    with KnowledgeBase(out / "knowledge.sqlite") as kb:
        for i, seed in enumerate(tqdm(seeds[:episodes], desc=f"{name} on {sc.name}", unit="ep")):
            if weeks is not None:
                lr = run_weeks(
                    sc, seed, org, weeks=weeks, mode=learning, knowledge=kb,
                    pretrain_weeks=pretrain_weeks,
                )  # fmt: skip
                runs.append(lr)
                world, ep = lr.world, lr.result
            else:
                world, ep = run_episode(sc, seed, org, days=days, knowledge=kb, slots=slots)
            if learning == "off":
                review(kb, ep)
            eps.append(ep)
            if ideal is not None:
                ideal.observe(world, ep)
            ledger = faults_table(world)
            ledger.insert(0, "seed", seed)
            ledgers.append(ledger)
            if i < events_episodes:
                _append_events(out / "events.openlineage.jsonl", world, fresh=i == 0)
        card = scorecard(eps)
        card["knowledge"] = {
            "preventive_suggestions": kb.preventive_suggestions(),
        }
        if name != org:
            card["policies"] = slot_provenance(slots)
        if ideal is not None:
            ideal.extend(card)
        if runs:
            _write_learning(out, runs, f"{sc.spec.id} {sc.spec.title}")
    pd.concat(ledgers, ignore_index=True).to_csv(out / "ledger.csv", index=False)
    write_tables(out, eps)
    write_artifacts(out, eps, card, scenario_title=f"{sc.spec.id} {sc.spec.title}", org=name)
    if ideal is not None:
        ideal.write(out, f"{sc.spec.id} {sc.spec.title}")
    (out / "scorecard.json").write_text(json.dumps(card, indent=2, sort_keys=True))
    return card


@hydra.main(version_base="1.3", config_path="../configs", config_name="run_org")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: plain values in, artifacts and a printed scorecard out."""
    out = Path(HydraConfig.get().runtime.output_dir)
    slots = {s: None if cfg.get(s) is None else str(cfg.get(s)) for s in SLOTS}
    mode = cfg.get("learning", "off")
    mode = {False: "off", True: "on"}.get(mode, mode) if isinstance(mode, bool) else str(mode)
    with user_errors("run_org"):
        weeks = None if cfg.get("weeks") is None else as_int(cfg, "weeks", minimum=1)
        card = run(
            str(cfg.scenario),
            str(cfg.org),
            as_int(cfg, "episodes", minimum=1),
            str(cfg.split),
            out,
            days=as_float(cfg, "days", allow_none=True, positive=True),
            events_episodes=as_int(cfg, "events_episodes", minimum=0),
            **slots,
            weeks=weeks,
            learning=mode,
            pretrain_weeks=as_int(cfg, "pretrain_weeks", minimum=0),
        )
    span = (
        f"{cfg.episodes} episodes"
        if weeks is None
        else f"{cfg.episodes} x {weeks} weeks, learning={mode}"
        + (
            f", pretrained {cfg.pretrain_weeks} weeks on train seeds"
            if cfg.get("pretrain_weeks")
            else ""
        )
    )
    title = f"{card['protocol']['org']} on {cfg.scenario} ({cfg.split}, {span})"
    print_scorecard(card, title=title)
    print(f"outputs: {out}")


if __name__ == "__main__":
    run_entry("run_org", main)
