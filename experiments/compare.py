"""Held-out comparison of a trained agent against baselines and the organizations.

One protocol (DESIGN §8): the first ``episodes`` seeds of the scenario's eval split, deterministic
actions. Rows:

- the trained agent in the environment (its role's reward, and the scorecard of the organization it
  was part of — the rules organization with the agent in its slot);
- the env baselines (``random``, ``rules``, ``oracle``): the same reward and scorecard;
- the organizations (``rules``, ``static`` …) run on their own: their scorecards (no env reward:
  they do not play the role's decisions one by one). The env's ``rules`` baseline and the
  ``rules`` organization score the same by construction, which makes the table self-checking.

``COMPARE_METRICS`` are the scorecard columns shown; ``compare.json`` keeps every metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from agents.records import EpisodeResult
from agents.scoring.scorecard import scorecard
from agents.slots.runner import run_episode
from envs.baselines import baseline
from experiments.callbacks import evaluate

COMPARE_METRICS = (
    "mttr_p50_min", "fix_success_rate", "escalation_rate", "unsafe_action_rate",
    "bad_data_exposure_hours", "human_hours", "warehouse_cost", "alert_f1",
)  # fmt: skip


def _row(
    name: str, kind: str, rets: Sequence[float] | None, eps: list[EpisodeResult]
) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "kind": kind}
    if rets:
        row["mean_reward"] = float(np.mean(rets))
        row["reward_se"] = float(np.std(rets) / math.sqrt(len(rets)))
        row["returns"] = [float(r) for r in rets]
    else:
        row["mean_reward"] = row["reward_se"] = None
    row["scorecard"] = scorecard(eps)["aggregate"] if eps else {}
    return row


def compare(
    model: Any,
    env: Any,
    seeds: Sequence[int],
    *,
    agent_name: str,
    masked: bool,
    normalize: Callable[[np.ndarray], np.ndarray] | None = None,
    baselines: Sequence[str] = ("random", "rules", "oracle"),
    orgs: Sequence[str] = ("rules", "static"),
    days: float | None = None,
) -> list[dict[str, Any]]:
    """Evaluate the agent, the baselines and the organizations on ``seeds``.

    Returns:
        One row per policy: ``name``, ``kind`` (agent|baseline|org), ``mean_reward``,
        ``reward_se``, ``returns`` and ``scorecard`` (aggregate DESIGN §9 metrics).
    """
    rows = []
    inner = env.unwrapped
    role = inner.role

    def runner(policy: Any, name: str, kind: str, is_masked: bool, norm: Any) -> None:
        eps: list[EpisodeResult] = []

        def collect(e: Any) -> None:
            if e.unwrapped.org is not None:
                eps.append(e.unwrapped.org.finish())

        rets, _ = evaluate(policy, inner, seeds, masked=is_masked, normalize=norm,
                           on_episode_end=collect)  # fmt: skip
        rows.append(_row(name, kind, rets, eps))

    runner(model, agent_name, "agent", masked, normalize)
    for b in baselines:
        runner(baseline(role, b, inner), b, "baseline", False, None)
    for o in orgs:
        eps = [run_episode(inner.scenario, int(s), o, days=days)[1] for s in seeds]
        rows.append(_row(f"org:{o}", "org", None, eps))
    return rows


def print_compare(rows: list[dict[str, Any]], title: str) -> None:
    """A rich table: reward ± s.e. and the scorecard columns."""
    table = Table(title=title)
    for col in ("policy", "reward", *COMPARE_METRICS):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for r in rows:
        rew = "–" if r["mean_reward"] is None else f"{r['mean_reward']:.2f} ± {r['reward_se']:.2f}"
        vals = []
        for m in COMPARE_METRICS:
            v = r["scorecard"].get(m)
            vals.append(
                "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"
            )
        table.add_row(r["name"], rew, *vals)
    Console(width=200).print(table)
