# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Read the leaderboard: scores with confidence intervals, profiles, and what an entry fixes
#
# The benchmark (`configs/protocol/v1.yaml`) stores one result file per entry, scenario and
# training seed under `results/<protocol>/<role>/<scenario>/<kind>/<agent>/<seed>.json`, and
# `python -m experiments.leaderboard` ranks them. This notebook reads such results with the
# leaderboard's own functions and shows:
#
# 1. the board's rows: the **rules-normalized score** (random = 0, rules = 1) as an IQM with its
#    95% stratified-bootstrap CI, and the probability of improvement over the rules;
# 2. the **interval estimates** and the **performance profile** (rliable's plots);
# 3. one entry's **breakdown by issue type, layer and severity**, re-derived from its result
#    files' replay records.
#
# It reads the **committed board** (`results/`, the protocol's hidden test set, which
# `python -m experiments.entries` fills and `LEADERBOARD.md` ranks) when that holds results of
# the triage role. Otherwise — a fork without them, or a results directory of your own that is
# still empty — it builds a **small fixture** itself, in a temporary directory: the noop, random,
# rules and oracle baselines in the triage role on the protocol's three triage scenarios
# (SC-0001..3), `EPISODES` dev seeds each on a `DAYS`-day horizon — about 20 seconds. Those are
# *not* protocol runs (the protocol asks for 30 episodes on the full horizon; each result file
# records `episodes` and `days`, so it is never mistaken for one), and with one "training seed"
# per baseline the CIs are over episodes only. Set `RESULTS` to read another directory. The
# fixture on the command line:
#
# ```bash
# .venv/bin/python -m experiments.evaluate --multirun \
#     agent=baseline:noop,baseline:random,baseline:rules,baseline:oracle \
#     role=triage scenario=sc0001,sc0002,sc0003 split=dev episodes=10 days=3 results=<dir>
# .venv/bin/python -m experiments.leaderboard results=<dir> split=dev out=<dir>/LEADERBOARD.md
# ```

# %%
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image, Markdown, display

import experiments
from agents.scoring.matching import fault_outcomes
from envs.factory import make_env
from experiments.board_figures import interval_figure, profile_figure
from experiments.evaluate import evaluate, summary
from experiments.leaderboard import collect, render, role_rows
from experiments.protocol import load_protocol
from experiments.replay import event_digest
from experiments.results import read_result, result_files
from experiments.stats import bootstrap_ci, iqm
from scenarios import load_scenario

PROTOCOL, ROLE, SPLIT = "v1", "triage", "dev"
SCENARIOS = ["sc0001", "sc0002", "sc0003"]  # the protocol's triage scenarios
AGENTS = ["baseline:noop", "baseline:random", "baseline:rules", "baseline:oracle"]
EPISODES = 10  # dev seeds per scenario (the protocol: 30)
DAYS = 3  # horizon in days (the protocol: the scenario's full horizon)
ENTRY = "baseline:rules"  # the entry whose breakdown is drawn

WORK = Path(tempfile.mkdtemp(prefix="dataops-nb03-"))
COMMITTED = Path(experiments.__file__).resolve().parents[1] / "results"  # the committed board
FIXTURE = not any((COMMITTED / PROTOCOL / ROLE).glob("*/baseline/rules/*.json"))
if FIXTURE:
    RESULTS = WORK / "results"
    print("no committed triage results: building a small fixture in", RESULTS)
else:
    RESULTS, SPLIT = COMMITTED, "test"  # the board's own set
    print("reading the committed board in", RESULTS)

# %% [markdown]
# ## A small results fixture (only without committed results)
# `experiments.evaluate.evaluate` is what `python -m experiments.evaluate` calls: it plays each
# dev seed with deterministic actions and writes one schema-versioned result file with, per
# episode, the return, the reward terms, the scorecard metrics and a replay record (scenario
# sha256, episode seed, action log, event-log digest).

# %%
for scenario in SCENARIOS if FIXTURE else []:
    for agent in AGENTS:
        path, result = evaluate(
            agent, ROLE, scenario, PROTOCOL, SPLIT, results=RESULTS, episodes=EPISODES, days=DAYS
        )
        print(summary(path.relative_to(RESULTS), result))

# %% [markdown]
# ## The board's rows
# `collect` reads every result of the protocol and split (refusing files of another protocol
# file), `role_rows` normalizes and aggregates them: per scenario, `(x − random) / (rules −
# random)` with the mean returns of the random and rules baselines, pooled over the scenarios
# as the IQM (the mean of the middle 50% of runs) with a 95% bootstrap CI that resamples each
# scenario's runs separately (stratified), and P(> rules), the probability that a run of the
# entry beats a run of the rules on the same scenario. Rank groups: walking down the ranking,
# an entry stays in the group above while its CI overlaps that group's first entry's CI. The
# oracle reads the hidden root cause: it is a reference line, never ranked.

# %%
proto = load_protocol(PROTOCOL)
board = collect(RESULTS, proto, SPLIT)
rows = role_rows(proto, ROLE, board[ROLE])


def fmt_ci(ci):
    return "" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


table = pd.DataFrame(
    {
        "rank": ["ref." if r["reference"] else r.get("rank") for r in rows],
        "group": [r.get("group") for r in rows],
        "entry": [r["label"] for r in rows],
        "score (IQM)": [r["score"] for r in rows],
        "95% CI": [fmt_ci(r["ci"]) for r in rows],
        **{s: [r["per_scenario"][s] for r in rows] for s in SCENARIOS},
        "P(> rules)": [r["poi"] for r in rows],
        "P 95% CI": [fmt_ci(r["poi_ci"]) for r in rows],
        "episodes": [r["episodes"] for r in rows],
    }
)
table.round(2)

# %% [markdown]
# The statistics come from `experiments.stats` (rliable's definitions, in numpy/scipy). The
# rules' own score is near, not exactly, 1: the IQM of its normalized episodes, whose *mean* is
# 1 by construction. Recomputed by hand for the rules entry:

# %%
rules_row = next(r for r in rows if r["label"] == "baseline:rules")
normalized = rules_row["normalized"]  # scenario -> normalized score of every run
print({s: round(float(np.mean(v)), 3) for s, v in normalized.items()}, "(means: 1 by construction)")
print("IQM", round(iqm(normalized), 3), "95% CI", np.round(bootstrap_ci(normalized), 3))

# %% [markdown]
# The Markdown board `python -m experiments.leaderboard` writes from the same rows (without the
# figures here; its `figures=` option draws the two plots below and embeds them):

# %%
display(Markdown(render(proto, SPLIT, {ROLE: board[ROLE]})))

# %% [markdown]
# ## Interval estimates and the performance profile
# The board's own figures (`experiments.board_figures`). The interval plot shows each entry's
# score with its 95% CI; dotted lines at random (0) and the rules (1). The performance profile
# shows, for every threshold τ, the fraction of runs (training seed × episode, all scenarios)
# whose normalized score exceeds τ: a curve above another everywhere dominates it, whatever
# summary statistic one prefers.

# %%
intervals = interval_figure(ROLE, rows, WORK / "figures" / f"leaderboard_{ROLE}_intervals.png")
profile = profile_figure(ROLE, rows, WORK / "figures" / f"leaderboard_{ROLE}_profile.png")
display(Image(filename=str(intervals)), Image(filename=str(profile)))

# %% [markdown]
# ## One entry's breakdown by issue type, layer and severity
# A result file keeps each episode's scorecard metrics pooled over its faults, not the faults
# one by one, so the breakdown is **re-derived from the stored replay records**: each episode is
# replayed (the env reset on the episode seed, the stored action log played back), the replay is
# checked against the stored event-log digest — so these are exactly the episodes on the board —
# and the organization's episode record is scored fault by fault against the ground-truth ledger
# (`agents.scoring.matching.fault_outcomes`). Per fault: its issue type and subtype, the layer of
# its root asset, its severity, whether an alert detected it, whether it was fixed (verified:
# the fault gone and nothing else broken), and its time to repair.

# %%
kind, name = ENTRY.split(":")


def replayed_faults(path):
    """Every fault of every episode of one result file, replayed from its replay records."""
    result = read_result(path)
    env = make_env(
        load_scenario(result.scenario.reference),
        result.role,
        days=result.env.days,
        reward_weights=dict(result.env.reward_weights),
    )
    frames = []
    for ep in result.episodes:
        env.reset(options={"split": "eval", "episode_seed": ep.replay.episode_seed})
        for action in ep.replay.actions:
            env.step(np.asarray(action) if isinstance(action, list) else action)
        assert event_digest(env.world) == ep.replay.event_digest, (path, ep.seed)
        faults = fault_outcomes(env.org.finish())
        frames.append(faults.assign(scenario=result.scenario.name, seed=ep.seed))
    return pd.concat(frames, ignore_index=True)


files = [p for p in result_files(RESULTS) if p.parts[-5] == ROLE and p.parts[-3:-1] == (kind, name)]
faults = pd.concat([replayed_faults(p) for p in files], ignore_index=True)
n_episodes = sum(len(read_result(p).episodes) for p in files)
print(f"{ENTRY}: {len(faults)} faults in {n_episodes} episodes ({len(files)} result files)")


def breakdown(by):
    g = faults.groupby(by).agg(
        faults=("fault_id", "size"),
        detected=("detected", "mean"),
        fixed=("success", "mean"),
        by_agents=("resolved_by", lambda s: (s == "agent").mean()),
        ttr_p50_min=("ttr_min", "median"),
    )
    return g.sort_values("faults", ascending=False)


by_type = breakdown(["issue_type", "subtype"])
by_layer = breakdown("root_layer")
by_severity = breakdown("severity")
by_type.round(2)

# %%
by_layer.round(2)

# %%
by_severity.round(2)

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [2.2, 1, 1]})
panels = [
    (by_type, "issue type / subtype", [f"{t} / {s}" for t, s in by_type.index]),
    (by_layer, "layer of the root asset", list(by_layer.index)),
    (by_severity, "severity", list(by_severity.index)),
]
for ax, (g, title, labels) in zip(axes, panels, strict=True):
    y = np.arange(len(g))
    ax.barh(y - 0.2, g["detected"], height=0.4, color="tab:blue", label="detected")
    ax.barh(y + 0.2, g["fixed"], height=0.4, color="tab:green", label="fixed (verified)")
    ax.set_yticks(y, [f"{lab} ({n})" for lab, n in zip(labels, g["faults"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of faults")
    ax.set_title(f"by {title}")
    ax.grid(axis="x", alpha=0.3)
fig.legend(*axes[0].get_legend_handles_labels(), loc="upper right", ncol=2, frameon=False)
fig.suptitle(f"{ENTRY} in the {ROLE} role: faults by kind (in brackets: how many)")
fig.tight_layout(rect=(0, 0, 1, 0.93))
plt.show()

# %% [markdown]
# Change `ENTRY` (`baseline:random`, `baseline:noop`, `baseline:oracle`) and rerun the last
# cells to see where another entry loses: the noop route leaves every incident alone, so its
# faults are detected as often (the monitor still alerts) but almost none is fixed by the end of
# the episode; the random route fixes most of them, but mostly by escalating to a human.

# %%
shutil.rmtree(WORK)
