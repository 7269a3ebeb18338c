# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A tour of the dataops-gym simulator
#
# This notebook runs one episode of **SC-0001 (Late Data Arrival)** on the retail topology with no
# agents, then shows the pipeline DAG, a timeline of runs per asset with the injected incidents
# overlaid, and the ground-truth ledger. `DAYS` keeps it small enough to run inside the test suite.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from envs.sim.ledger import faults_table, runs_table, summary
from envs.sim.world import World
from scenarios import load_scenario
from scenarios.vocab import LAYERS

SCENARIO, SEED, DAYS = "sc0001", 3, 3

scenario = load_scenario(SCENARIO)
print(scenario.spec.id, "—", scenario.spec.title)
print(scenario.spec.description[:600])

# %% [markdown]
# ## The pipeline DAG
# Columns are the five data layers; edges are lineage (upstream → downstream).

# %%
world = World(scenario, SEED, days=DAYS)
pos = {}
for layer_idx, layer in enumerate(LAYERS):
    column = [a for a in world.assets if a.layer == layer]
    for i, a in enumerate(column):
        pos[a.idx] = (layer_idx, -i * 1.0 + len(column) / 2)
fig, ax = plt.subplots(figsize=(13, 7))
for a in world.assets:
    for u in a.ups:
        (x0, y0), (x1, y1) = pos[u.idx], pos[a.idx]
        ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "color": "0.7"})
for a in world.assets:
    x, y = pos[a.idx]
    color = {"high": "tab:red", "medium": "tab:orange", "low": "tab:green"}[a.spec.criticality]
    ax.scatter([x], [y], s=80, color=color, zorder=3)
    ax.text(x + 0.05, y + 0.15, a.name, fontsize=7)
ax.set_xticks(range(len(LAYERS)), LAYERS)
ax.set_yticks([])
ax.set_title(f"{scenario.pipeline.name}: {len(world.assets)} assets (colour = criticality)")
plt.show()

# %% [markdown]
# ## Run the episode
# With no agents, nothing repairs what breaks: failed ingestion partitions hold everything
# downstream until the end — the cost of doing nothing.

# %%
world.run()
pd.Series(summary(world)).to_frame("value")

# %% [markdown]
# ## Timeline: runs per asset, incidents overlaid
# Each dot is a run (green success, red failed, orange delivered with failing checks); shaded
# bands are injected faults from onset to resolution (or the end of the episode), on their root
# asset's row.

# %%
runs = runs_table(world)
ledger = faults_table(world)
fig, ax = plt.subplots(figsize=(13, 8))
colors = runs["status"].map({"success": "tab:green", "failed": "tab:red", "killed": "black"})
colors[(runs["status"] == "success") & (runs["failed_checks"].map(len) > 0)] = "tab:orange"
ax.scatter(runs["ended_at"] / 60.0, runs["asset"], c=colors, s=4)
for f in ledger.itertuples():
    end = f.resolved_at if f.status == "resolved" else world.now
    ax.barh(
        f.root_asset,
        (end - f.onset) / 60.0,
        left=f.onset / 60.0,
        height=0.8,
        color="tab:purple",
        alpha=0.25,
    )
    ax.text(f.onset / 60.0, f.root_asset + 0.3, f.root_cause, fontsize=7, color="tab:purple")
ax.set_yticks(range(len(world.assets)), [a.name for a in world.assets], fontsize=7)
ax.set_xlabel("hours since episode start")
ax.invert_yaxis()
plt.show()

# %% [markdown]
# ## The ground-truth ledger
# One row per injected fault: its hidden root cause, root asset, severity, the actions that can
# fix it (and the cheapest reliable one), how far it spread, and whether it was resolved.

# %%
ledger[
    [
        "fault_id",
        "issue_type",
        "subtype",
        "root_cause",
        "root_asset_name",
        "root_layer",
        "severity",
        "best_fix",
        "onset",
        "first_visible_at",
        "status",
        "resolved_by",
        "affected_asset_names",
    ]
]
