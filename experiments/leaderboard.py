"""The leaderboard: rank every stored result of a protocol, or verify them all by replay.

Usage::

    python -m experiments.leaderboard                         # results/ -> LEADERBOARD.md
    python -m experiments.leaderboard results=<dir> split=dev out=<file>
    python -m experiments.leaderboard verify=true results=<dir>
    python -m experiments.leaderboard submit=<policy dir> name=<entry> protocol.salt=<secret>

``submit=<exported policy dir> name=<entry>`` evaluates a submitted ONNX policy itself on the
hidden test seeds of every scenario of its card's role (``experiments.submission``: the file is
checked as untrusted input, each evaluation runs in a subprocess with time and memory limits) and
adds its results as kind ``submission``; a refused submission is one line with the reason.

``verify=true`` replays every stored episode (``experiments.verify.verify``) and refuses, in one
line naming the file and the episode (exit 1), any result whose re-derived return or digest
differs; it writes nothing.

Otherwise it reads the results of ``protocol`` and ``split`` (default ``test``, the hidden set)
under ``results`` and writes a Markdown board (``out``, default ``LEADERBOARD.md``), per role:

- **score**: the rules-normalized return ``(x − random) / (rules − random)`` (random = 0, the
  rules = 1; ``random`` and ``rules`` are the mean returns of the ``baseline:random`` and
  ``baseline:rules`` results on that scenario), aggregated over the protocol's scenarios that can
  be normalized as the IQM of every (training seed, episode) run, with its 95 %
  stratified-bootstrap CI (``experiments.stats``; scenarios are the strata). The rules' own
  score is near, not exactly, 1: the IQM of its episodes, normalized by their mean;
- per scenario, the IQM of the normalized score, the generalization scenarios (``mixed``) in
  their own columns, never in the aggregate; once a role has a ranked learned entry, a second
  table gives each ranked entry's per-scenario IQM with its 95% bootstrap CI and marks a learned
  entry ▲ where its CI lies above the rules' CI on that scenario, ▼ below, = where they overlap;
- **P(> rules)**: the probability of improvement over ``baseline:rules``, with its CI;
- the secondary metrics (mean over episodes of the scorecard metrics, scored scenarios);
- training seeds and episodes; the training budget (the results' ``training_timesteps``), the
  mean training wall time per seed in hours, and the mean inference time per decision in µs
  (both measured on the machines that trained and evaluated it: read them as orders of
  magnitude, not as a ranking);
- with ``figures=<dir>`` (default ``docs/figures``), the interval estimates and the performance
  profile of each role as PNGs, embedded (``experiments.board_figures``).

Entries are ranked by score; **rank groups**: walking down the ranking, an entry joins the group
of the entry above it while its CI overlaps the CI of that group's first entry, and opens the
next group otherwise — entries in one group are not told apart by this evaluation. The oracle
(``baseline:oracle``) reads hidden ground truth: it is listed as a reference line, never ranked.
Organizations (``org:``) play no role's reward; their scorecards are a table of their own. A
scenario without both a random and a rules result cannot be normalized and is shown as ``–``.
A learned entry is ranked only once every training seed of the protocol is evaluated on every
scored scenario; until then (a board whose entries are still training) it is listed unranked,
with its per-scenario scores, and a note under the table says which seeds it lacks.
Bootstraps are seeded, so the same results give the same file byte for byte.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import hydra
import numpy as np
from omegaconf import DictConfig

from experiments.errors import UsageError, as_float, as_int, fail, run_entry, user_errors
from experiments.protocol import (
    SPLITS,
    Protocol,
    RoleProtocol,
    check_protocol_args,
    load_protocol,
)
from experiments.results import check_results_dir, read_result
from experiments.stats import bootstrap_ci, iqm, poi_ci, probability_of_improvement
from experiments.verify import VerifyError, verify

SECONDARY: Final[dict[str, tuple[str, ...]]] = {
    "triage": ("mttr_p50_min", "fix_success_rate", "bad_data_exposure_hours", "human_hours",
               "warehouse_cost"),
    "sla": ("alert_f1", "mttr_p50_min", "fix_success_rate", "bad_data_exposure_hours"),
    "cost": ("warehouse_cost", "mttr_p50_min", "fix_success_rate", "bad_data_exposure_hours"),
}  # fmt: skip
"""Secondary columns per role (DESIGN §9 names)."""
ORG_METRICS: Final[tuple[str, ...]] = (
    "mttr_p50_min", "fix_success_rate", "auto_resolved_rate", "alert_f1",
    "bad_data_exposure_hours", "human_hours", "warehouse_cost",
)  # fmt: skip
REFERENCE: Final[str] = "oracle"


@dataclass
class Entry:
    """One (kind, agent) of a role: its returns and metrics per scenario, over training seeds."""

    kind: str
    name: str
    seeds: set[int] = field(default_factory=set)
    seeds_by_scenario: dict[str, set[int]] = field(default_factory=dict)
    returns: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, list[dict[str, float | None]]] = field(default_factory=dict)
    train_seconds: dict[int, float] = field(default_factory=dict)
    inference_us: list[float] = field(default_factory=list)
    timesteps: set[int] = field(default_factory=set)
    salt_sha256: str | None = None  # the test set's (one per board; ``collect`` checks)

    @property
    def label(self) -> str:
        """``kind:name``, as in the board."""
        return f"{self.kind}:{self.name}"


def collect(root: Path, proto: Protocol, split: str) -> dict[str, dict[str, Entry]]:
    """Every result of ``proto`` and ``split`` under ``root``: role → label → ``Entry``.

    A board is one test set: every ``test`` result must have been evaluated with the same salt
    (``salt_sha256``). After the salt is rotated, a result of the old set would compare episodes
    the others never played, so it is refused, not mixed in.

    Raises:
        UsageError: a file of another protocol file, one that does not validate, or test results
            of two salts.
    """
    check_results_dir(root, proto.name, proto.sha256)
    board: dict[str, dict[str, Entry]] = {role: {} for role in proto.roles}
    first_salt: tuple[Path, str | None] | None = None
    for path in sorted((root / proto.name).glob("*/*/*/*/*.json")):
        r = read_result(path)
        if r.split != split:
            continue
        if split == "test":
            if first_salt is None:
                first_salt = (path, r.salt_sha256)
            elif r.salt_sha256 != first_salt[1]:
                raise UsageError(
                    f"results={str(root)!r}: {path} was evaluated on another test set (salt "
                    f"sha256 {str(r.salt_sha256)[:12]}…) than {first_salt[0]} "
                    f"({str(first_salt[1])[:12]}…); expected one salt per board: re-evaluate it "
                    "with the board's salt, or remove it"
                )
        e = board[r.role].setdefault(f"{r.kind}:{r.agent.name}", Entry(r.kind, r.agent.name))
        e.salt_sha256 = r.salt_sha256
        e.seeds.add(r.training_seed)
        e.seeds_by_scenario.setdefault(r.scenario.name, set()).add(r.training_seed)
        rets = [ep.return_ for ep in r.episodes if ep.return_ is not None]
        if rets:
            e.returns.setdefault(r.scenario.name, []).extend(rets)
        e.metrics.setdefault(r.scenario.name, []).extend(ep.metrics for ep in r.episodes)
        if r.training_seconds is not None:  # one training per seed, evaluated per scenario
            e.train_seconds[r.training_seed] = r.training_seconds
        if r.inference_us is not None:
            e.inference_us.append(r.inference_us)
        if r.training_timesteps is not None:
            e.timesteps.add(r.training_timesteps)
    return board


def _norm_scale(entries: dict[str, Entry], scenario: str) -> tuple[float, float] | None:
    lo = entries.get("baseline:random")
    hi = entries.get("baseline:rules")
    if lo is None or hi is None or scenario not in lo.returns or scenario not in hi.returns:
        return None
    rnd, rules = float(np.mean(lo.returns[scenario])), float(np.mean(hi.returns[scenario]))
    return None if rnd == rules else (rnd, rules)


def _normalized(e: Entry, scenarios: Sequence[str], scales: dict[str, Any]) -> dict[str, Any]:
    return {
        s: (np.asarray(e.returns[s]) - scales[s][0]) / (scales[s][1] - scales[s][0])
        for s in scenarios
        if scales.get(s) is not None and s in e.returns
    }


def _mean_metric(e: Entry, scenarios: Sequence[str], key: str) -> float | None:
    vals = [m.get(key) for s in scenarios for m in e.metrics.get(s, [])]
    nums = [float(v) for v in vals if v is not None]
    return float(np.mean(nums)) if nums else None


def role_rows(proto: Protocol, role: str, entries: dict[str, Entry]) -> list[dict[str, Any]]:
    """The board's rows of ``role``: ranked entries, then the reference (see the module doc)."""
    rp = proto.role(role)
    scales = {s: _norm_scale(entries, s) for s in rp.all_scenarios}
    scored = [s for s in rp.scenarios if scales[s] is not None]
    rules = entries.get("baseline:rules")
    rules_norm = _normalized(rules, scored, scales) if rules is not None else {}
    rows = []
    for label, e in sorted(entries.items()):
        if e.kind == "org":
            continue
        norm = _normalized(e, rp.all_scenarios, scales)
        main = {s: norm[s] for s in scored if s in norm}
        missing = _missing_seeds(rp, e)
        complete = bool(scored) and len(main) == len(scored) and not missing
        row: dict[str, Any] = {
            "label": label, "kind": e.kind,
            "reference": e.name == REFERENCE and e.kind == "baseline",
            "seeds": len(e.seeds), "episodes": sum(len(v) for v in e.returns.values()),
            "per_scenario": {s: (iqm({s: norm[s]}) if s in norm else None)
                             for s in rp.all_scenarios},
            "per_scenario_ci": {s: (bootstrap_ci({s: norm[s]}) if s in norm else None)
                                for s in rp.all_scenarios},
            "score": iqm(main) if complete else None,
            "ci": bootstrap_ci(main) if complete else None,
            "poi": None, "poi_ci": None,
            "secondary": {k: _mean_metric(e, rp.scenarios, k) for k in SECONDARY[role]},
            "budget": _budget(e.timesteps),
            "train_hours": (float(np.mean(list(e.train_seconds.values()))) / 3600.0
                            if e.train_seconds else None),
            "inference_us": float(np.mean(e.inference_us)) if e.inference_us else None,
            "normalized": main if complete else {},
            "missing": missing,
        }  # fmt: skip
        if complete and rules_norm and set(rules_norm) == set(main):
            ordered = {s: main[s] for s in rules_norm}
            row["poi"] = probability_of_improvement(ordered, rules_norm)
            row["poi_ci"] = poi_ci(ordered, rules_norm)
        rows.append(row)
    ranked = sorted((r for r in rows if not r["reference"] and r["score"] is not None),
                    key=lambda r: (-r["score"], r["label"]))  # fmt: skip
    group, head = 0, None
    for i, r in enumerate(ranked, start=1):
        r["rank"] = i
        if head is None or r["ci"][1] < head["ci"][0]:
            group, head = group + 1, r
        r["group"] = group
    rest = [r for r in rows if r not in ranked]
    return ranked + sorted(rest, key=lambda r: r["label"])


def _missing_seeds(rp: RoleProtocol, e: Entry) -> dict[str, list[int]]:
    """A learned entry's training seeds of the protocol that a scored scenario lacks.

    A learned entry is ranked only when every training seed of the protocol was evaluated on every
    scored scenario (a partial board shows the others, unranked, with what they lack). Baselines
    and organizations have no training seeds; a submission is one policy, evaluated by the board.
    """
    if e.kind != "learned":
        return {}
    want = set(rp.training_seeds)
    gaps = {s: sorted(want - e.seeds_by_scenario.get(s, set())) for s in rp.scenarios}
    return {s: g for s, g in gaps.items() if g}


def _budget(steps: set[int]) -> str:
    """The training budget of an entry's seeds (``50k``; several values joined; – if none)."""
    if not steps:
        return "–"
    return "/".join(f"{s // 1000}k" if s % 1000 == 0 else str(s) for s in sorted(steps))


def _f(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def render(
    proto: Protocol,
    split: str,
    board: dict[str, dict[str, Entry]],
    figures: dict[str, list[str]] | None = None,
) -> str:
    """The board as Markdown (deterministic: the same results give the same text).

    ``figures``: per role, the figure paths to embed (relative to the Markdown file).
    """
    out = [
        f"# dataops-gym leaderboard — protocol {proto.name}, {split} set",
        "",
        f"Protocol `configs/protocol/{proto.name}.yaml` (sha256 `{proto.sha256[:16]}…`). "
        "Score: rules-normalized return (random = 0, rules = 1), IQM over training seeds × "
        "episodes with a 95% stratified-bootstrap CI; P(> rules): probability of improvement "
        "over the rules baseline, with its CI. Rank groups: an entry joins the group above "
        "while its CI overlaps that group's first entry's CI. The oracle reads hidden ground "
        "truth: a reference line, never ranked. Generated by `python -m experiments.leaderboard`"
        "; `python -m experiments.leaderboard verify=true` replays every stored episode.",
    ]
    salts = sorted({e.salt_sha256 for es in board.values() for e in es.values() if e.salt_sha256})
    if split == "test" and salts:
        out += ["", f"Test set: drawn by the salt whose sha256 is `{salts[0][:16]}…`; the "
                "salt is the maintainers' secret, and a new salt is a new board (every result "
                "evaluated again)."]  # fmt: skip
    for role in sorted(board, key=list(proto.roles).index):
        rp = proto.role(role)
        rows = role_rows(proto, role, board[role])
        out += ["", f"## {role}", ""]
        if not rows:
            out.append("No results.")
        else:
            sec = SECONDARY[role]
            gen = [f"{s} (gen.)" for s in rp.generalization]
            head = ["rank", "group", "entry", "kind", "score [95% CI]", *rp.scenarios, *gen,
                    "P(> rules) [95% CI]", *sec, "seeds", "episodes", "budget",
                    "train h/seed", "µs/decision"]  # fmt: skip
            out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for r in rows:
                rank = "ref." if r["reference"] else str(r.get("rank", "–"))
                cells = [rank, str(r.get("group", "–")), r["label"], r["kind"],
                         _f(r["score"]) + _ci(r["ci"]),
                         *(_f(r["per_scenario"][s]) for s in rp.all_scenarios),
                         _f(r["poi"]) + _ci(r["poi_ci"]),
                         *(_f(r["secondary"][k]) for k in sec), str(r["seeds"]),
                         str(r["episodes"]), r["budget"], _f(r["train_hours"]),
                         _f(r["inference_us"], 1)]  # fmt: skip
                out.append("| " + " | ".join(cells) + " |")
            lacking = [r for r in rows if r.get("missing")]
            if lacking:
                seeds = ", ".join(str(k) for k in rp.training_seeds)
                out += ["", f"Not ranked until complete (every training seed — {seeds} — on "
                        "every scored scenario):", ""]  # fmt: skip
                for r in lacking:
                    gaps = "; ".join(f"{s}: seed{'s' if len(g) > 1 else ''} "
                                     f"{', '.join(map(str, g))} missing"
                                     for s, g in r["missing"].items())  # fmt: skip
                    out.append(f"- `{r['label']}` ({gaps})")
            out += _per_scenario(rp, rows)
            for fig in (figures or {}).get(role, []):
                out += ["", f"![{role}: {Path(fig).stem}]({fig})"]
        orgs = [e for e in board[role].values() if e.kind == "org"]
        if orgs:
            out += ["", f"Organizations on their own ({role} results; scorecard metrics, mean "
                    "over episodes):", ""]  # fmt: skip
            out += ["| organization | scenario | " + " | ".join(ORG_METRICS) + " | episodes |",
                    "|" + "---|" * (len(ORG_METRICS) + 3)]  # fmt: skip
            for e in sorted(orgs, key=lambda e: e.name):
                for sc in [s for s in rp.all_scenarios if s in e.metrics]:
                    vals = (_f(_mean_metric(e, [sc], k)) for k in ORG_METRICS)
                    n = len(e.metrics[sc])
                    out.append(f"| {e.label} | {sc} | " + " | ".join(vals) + f" | {n} |")
    return "\n".join(out) + "\n"


def _per_scenario(rp: RoleProtocol, rows: list[dict[str, Any]]) -> list[str]:
    """The per-scenario table: each ranked entry's IQM with its CI.

    Learned entries are marked against the rules: the lab's question, scenario by scenario.
    Shown once a role has a ranked learned entry.
    """
    rules = next((r for r in rows if r["label"] == "baseline:rules"), None)
    shown = [r for r in rows if "rank" in r or r["reference"]]
    if rules is None or not any(r["kind"] == "learned" for r in shown):
        return []

    def cell(r: dict[str, Any], s: str) -> str:
        x, ci, ref = r["per_scenario"][s], r["per_scenario_ci"][s], rules["per_scenario_ci"][s]
        if x is None or ci is None:
            return "–"
        mark = ""
        if r["kind"] == "learned" and ref is not None:
            mark = " ▲" if ci[0] > ref[1] else " ▼" if ci[1] < ref[0] else " ="
        return _f(x) + _ci(ci) + mark

    gen = [f"{s} (gen.)" for s in rp.generalization]
    out = ["", "Per scenario, IQM of the normalized score [95% CI]. A learned entry is marked ▲ "
           "where its CI lies above the rules' CI, ▼ below it, = where they overlap:", "",
           "| entry | " + " | ".join([*rp.scenarios, *gen]) + " |",
           "|" + "---|" * (1 + len(rp.all_scenarios))]  # fmt: skip
    for r in shown:
        out.append(f"| {r['label']} | " + " | ".join(cell(r, s) for s in rp.all_scenarios) + " |")
    return out


def write_board(
    root: Path, protocol: str, split: str, out: Path, figures: Path | None = None
) -> Path:
    """Collect, render and write the board (see the module docstring); returns ``out``.

    Args:
        root: the results directory.
        protocol: the protocol's name.
        split: ``dev`` or ``test``.
        out: the Markdown file.
        figures: the directory for the figures (``experiments.board_figures``), embedded in the
            board; None: no figures.
    """
    if split not in SPLITS:
        raise UsageError(f"split: expected dev or test, got {split!r}")
    if not root.is_dir():
        raise UsageError(f"results={str(root)!r}: not a directory")
    proto = load_protocol(protocol)
    board = collect(root, proto, split)
    embedded: dict[str, list[str]] = {}
    if figures is not None:
        from experiments.board_figures import interval_figure, profile_figure

        for role in board:
            rows = role_rows(proto, role, board[role])
            for draw, kind in ((interval_figure, "intervals"), (profile_figure, "profile")):
                png = draw(role, rows, figures / f"leaderboard_{role}_{kind}.png")
                if png is not None:
                    rel = os.path.relpath(png.resolve(), out.resolve().parent)
                    embedded.setdefault(role, []).append(Path(rel).as_posix())
    text = render(proto, split, board, embedded)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def _submit(cfg: DictConfig, root: Path, protocol: str, salt: Any) -> None:
    from experiments.submission import Limits, submit

    if cfg.get("name") is None:
        raise UsageError("name: a submission needs name=<entry> (its name on the board)")
    limits = Limits(
        timeout_s=as_float(cfg, "submit_timeout_s", positive=True),
        memory_mb=as_int(cfg, "submit_memory_mb", minimum=256),
    )
    files = submit(Path(str(cfg.submit)), str(cfg.name), protocol=protocol, results=root,
                   salt=None if salt is None else str(salt), limits=limits)  # fmt: skip
    for f in files:
        print(f"leaderboard: submission: {f}")


@hydra.main(version_base="1.3", config_path="../configs", config_name="leaderboard")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: verify, or write the board."""
    root = Path(str(cfg.results))
    with user_errors("leaderboard"):
        if bool(cfg.verify):
            try:
                files, episodes = verify(root)
            except VerifyError as e:
                fail("leaderboard", str(e), code=1)
            print(f"leaderboard: verify: {files} result files, {episodes} episodes replayed: "
                  f"all match ({root})")  # fmt: skip
            return
        proto_cfg: Any = cfg.get("protocol") or {}
        if cfg.get("submit") is not None:
            _submit(cfg, root, str(proto_cfg.get("name")), proto_cfg.get("salt"))
            return
        figs = None if cfg.get("figures") is None else Path(str(cfg.figures))
        path = write_board(
            root, str(proto_cfg.get("name")), str(cfg.split), Path(str(cfg.out)), figs
        )
    print(f"leaderboard: {path}")


if __name__ == "__main__":
    with user_errors("leaderboard"):
        check_protocol_args(sys.argv[1:])
    run_entry("leaderboard", main)
