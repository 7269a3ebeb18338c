# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Train a triage agent and compare it with the organization
#
# This notebook trains **MaskablePPO** in the **triage** role on **SC-0002 (Quality
# Degradation)** — the lab's main job, `experiment=quickstart` — tracks the run in MLflow, reads
# the run back from the tracking store, and plots its learning curves and a comparison on
# held-out seeds against the random, rules and oracle baselines and the `rules` and `static`
# organizations.
#
# The budget below is tiny (1,024 timesteps on 2-day episodes) so that the notebook runs inside
# the test suite in a minute or two; an agent trained this briefly has barely moved from its
# initial policy, so do not read the comparison as a result. Real runs use the command line:
#
# ```bash
# # 16k steps, 10 held-out episodes, about 5 minutes on 2 cores
# .venv/bin/python -m experiments.train experiment=quickstart
# # 100k steps, evaluation every 10k steps, 20 held-out episodes
# .venv/bin/python -m experiments.train experiment=triage_benchmark
# ```
#
# Everything the notebook writes (the SQLite tracking store, artifacts, the run directory) goes
# into a temporary directory, never into the repository.

# %%
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import experiments
from experiments.tracking import metrics_frame, runs_frame
from experiments.train_config import TrainConfig
from experiments.training import train

TIMESTEPS = 1024  # total environment steps (experiment=quickstart: 16384)
DAYS = 2  # episode horizon in days (the scenario's own horizon is longer)
N_STEPS = 64  # rollout length per environment: 4 envs x 64 = one update every 256 steps
EVAL_EVERY, EVAL_EPISODES = 256, 2  # held-out evaluation during training
COMPARE_EPISODES = 3  # held-out episodes of the final comparison (quickstart: 10)
SEED = 0
KEEP_OUTPUTS = False  # True keeps the temporary directory so that `mlflow ui` can browse it

CONFIGS = Path(experiments.__file__).resolve().parents[1] / "configs"
WORK = Path(tempfile.mkdtemp(prefix="dataops-nb02-"))
TRACKING_URI = f"sqlite:///{WORK / 'mlflow.db'}"
print("outputs and tracking store in", WORK)

# %% [markdown]
# ## The training config
# The same configs the command line uses (`configs/train.yaml` and its groups), composed with
# Hydra's compose API and the same overrides one would type after `python -m experiments.train`.
# The result is validated into a typed, frozen `TrainConfig` — the library never sees a
# `DictConfig`. `configs/tracking/sqlite.yaml` puts the store under the directory the command was
# started from (`${hydra:runtime.cwd}`), which only a real Hydra run knows, so the notebook sets
# `tracking.uri` and `tracking.artifact_root` explicitly.

# %%
overrides = [
    "experiment=quickstart",  # scenario=sc0002 role=triage algo=maskable_ppo, compared with orgs
    f"seed={SEED}",
    f"train.timesteps={TIMESTEPS}",
    f"train.days={DAYS}",
    "train.checkpoint_every=0",
    "train.progress_bar=false",  # SB3 prints a table per update instead
    f"algo.hyperparams.n_steps={N_STEPS}",
    "algo.hyperparams.batch_size=64",
    f"eval.every={EVAL_EVERY}",
    f"eval.episodes={EVAL_EPISODES}",
    f"compare.episodes={COMPARE_EPISODES}",
    "tracking=sqlite",
    f"tracking.uri={TRACKING_URI}",
    f"tracking.artifact_root={WORK / 'mlruns'}",
]
with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
    cfg = compose(config_name="train", overrides=overrides)
plain = OmegaConf.to_container(cfg, resolve=True)
assert isinstance(plain, dict)
tc = TrainConfig.from_mapping({str(k): v for k, v in plain.items()})
print(OmegaConf.to_yaml(tc.model_dump(mode="json")))

# %% [markdown]
# ## Train
# `experiments.training.train` is what `python -m experiments.train` calls: it opens the MLflow
# run, trains with held-out evaluations every `EVAL_EVERY` steps (deterministic actions on the
# first `EVAL_EPISODES` held-out seeds), saves the model, compares it on held-out seeds, logs
# everything and registers the model (`dataops-sc0002-triage-maskable_ppo`, alias `candidate`).

# %%
run_dir = WORK / "run"
info = train(tc, run_dir)
run_id = info["mlflow_run_id"]
print("timesteps:", info["timesteps"], " mlflow run:", run_id)
print("run directory:", sorted(p.name for p in run_dir.iterdir()))

# %% [markdown]
# ## Read the run back from MLflow
# Analysis reads the tracking store, not the process that trained: `runs_frame` is one row per
# run (params, latest metrics and tags as columns, like `mlflow.search_runs`). The same store is
# what `mlflow ui` shows.

# %%
runs = runs_frame(TRACKING_URI, tc.tracking.experiment)
runs[["run_id", "run_name", "status", "params.train.timesteps", "metrics.eval/best_mean_reward"]]

# %% [markdown]
# ## Learning curves
# The solid line is SB3's `rollout/ep_rew_mean` — the mean return of the last (up to 100)
# training episodes, logged once per update; the dots are `eval/mean_reward`, the mean return on
# the held-out seeds with deterministic actions. Both come from the metric history MLflow keeps for
# every step (the last two dots share a step: the evaluation during the final rollout, and the
# one after its update). On this budget expect a few points and little trend; at 100k steps
# (`experiment=triage_benchmark`) the held-out reward should climb from the random baseline's
# level towards the rules baseline's.

# %%
curves = metrics_frame(TRACKING_URI, run_id, ["rollout/ep_rew_mean", "eval/mean_reward"])
fig, ax = plt.subplots(figsize=(8, 4))
for key, style, label in [
    ("rollout/ep_rew_mean", "-", "training episodes (rollout/ep_rew_mean)"),
    ("eval/mean_reward", "o", "held-out evaluation (eval/mean_reward)"),
]:
    d = curves[curves["key"] == key]
    ax.plot(d["step"], d["value"], style, label=label)
ax.set_xlabel("timesteps")
ax.set_ylabel("episode reward")
ax.set_title(f"{tc.algo.name} on {tc.scenario} ({tc.role.name})")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# ## Held-out comparison
# After training, the agent and every comparator play the same first `COMPARE_EPISODES` held-out
# seeds. The run logs one metric per policy and measure, `compare/<policy>/<metric>`; pivoted,
# that is one row per policy:
#
# - the **agent** (`maskable_ppo`) routes incidents inside the rules organization;
# - the env **baselines** in the same slot: `random` (any allowed route), `rules` (the
#   organization's own triage) and `oracle` (reads the hidden root cause — an upper reference,
#   analysis only);
# - the **organizations** run on their own: `org:rules` and `org:static` (static checks and blind
#   retries, the leaderboard's reference). They have no env reward — they do not play the role's
#   decisions one by one — so their reward bar is empty; `rules` and `org:rules` score the same
#   by construction.
#
# Reward is the triage env's (higher is better); `mttr_p50_min` is the median time to repair in
# minutes and `human_hours` the engineers' time (lower is better); `fix_success_rate` is the
# fraction of fixes that worked (higher is better). `compare.json` in the run directory (also
# logged as an artifact) keeps every scorecard metric.

# %%
latest = runs.set_index("run_id").loc[run_id]
compare_metrics = latest[latest.index.str.startswith("metrics.compare/")].dropna()
parts = compare_metrics.index.str.removeprefix("metrics.compare/").str.rsplit("/", n=1)
table = (
    pd.DataFrame(
        {"policy": parts.str[0], "metric": parts.str[1], "value": compare_metrics.to_numpy()}
    )
    .pivot(index="policy", columns="metric", values="value")
    .reindex([tc.algo.name, "random", "rules", "oracle", "org:rules", "org:static"])
)
shown = ["mean_reward", "mttr_p50_min", "fix_success_rate", "human_hours"]
table[shown]

# %%
fig, axes = plt.subplots(1, len(shown), figsize=(15, 4))
colors = ["tab:blue", "0.6", "tab:green", "tab:purple", "tab:olive", "tab:red"]
for ax, metric in zip(axes, shown, strict=True):
    ax.bar(range(len(table)), table[metric].fillna(0.0), color=colors)
    ax.set_xticks(range(len(table)), table.index, rotation=45, ha="right")
    ax.set_title(metric)
    ax.grid(axis="y", alpha=0.3)
fig.suptitle(f"held-out comparison on {tc.scenario}, {COMPARE_EPISODES} episodes")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Browse it in the MLflow UI
# Runs from the command line go to `mlflow.db` and `mlruns/` at the repository root (the default
# `tracking=sqlite`). To browse them, from the repository root:
#
# ```bash
# .venv/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1
# ```
#
# and open http://127.0.0.1:5000: each run has its parameters (the flattened config), the
# learning curves (`rollout/*`, `eval/*`), the `compare/*` metrics, the artifacts
# (`learning_curve.png`, `compare.json`, the `model/` directory) and, under *Models*, the
# registered model with its `candidate` alias. To browse this notebook's store instead, set
# `KEEP_OUTPUTS = True`, rerun, and pass `--backend-store-uri sqlite:///<WORK>/mlflow.db`
# (the path is printed at the top).

# %%
if KEEP_OUTPUTS:
    print(f"mlflow ui --backend-store-uri {TRACKING_URI} --host 127.0.0.1")
else:
    shutil.rmtree(WORK)
