"""The learning-curve figure of a training run (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_learning_curve(out: Path, title: str) -> Path | None:
    """Plot training and held-out rewards against timesteps into ``out/learning_curve.png``.

    Reads ``progress.csv`` (SB3 logger: ``rollout/ep_rew_mean``, ``time/total_timesteps``) and
    ``evaluations.csv`` (held-out evaluations). Returns the path, or None when neither has data.
    """
    # a bare Figure renders with Agg without pyplot, so the caller's backend (a notebook's inline
    # one) is left alone
    from matplotlib.figure import Figure

    series = []
    prog = out / "progress.csv"
    if prog.exists() and prog.stat().st_size > 0:
        df = pd.read_csv(prog)
        if {"rollout/ep_rew_mean", "time/total_timesteps"} <= set(df.columns):
            d = df[["time/total_timesteps", "rollout/ep_rew_mean"]].dropna()
            series.append(("training episodes (mean of last 100)", d.iloc[:, 0], d.iloc[:, 1], "-"))
    ev = out / "evaluations.csv"
    if ev.exists():
        e = pd.read_csv(ev)
        series.append(("held-out evaluation", e["timesteps"], e["mean_reward"], "o-"))
    if not series:
        return None
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for label, x, y, style in series:
        ax.plot(x, y, style, label=label)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("episode reward")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = out / "learning_curve.png"
    fig.savefig(path, dpi=100)
    return path
