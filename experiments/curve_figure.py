"""The learning-curve figure: held-out return against env steps, the rules and oracle as lines.

Drawn by ``python -m experiments.figures`` (``learning_curve``) from a training run directory
(``experiments.train``), read and never retrained, so the figure costs a second to draw:

==================  ==============================================================================
file of the run     what the figure takes from it
==================  ==============================================================================
``evaluations.csv``  the periodic held-out evaluation (``experiments.callbacks.HeldOutEval``): per
                    row the env steps the evaluated policy learned from, the mean and the standard
                    deviation of its return on the first ``eval.episodes`` held-out seeds
``compare.json``    the comparison after training (``experiments.compare``): the per-episode
                    returns of the ``rules`` and ``oracle`` baselines on the first
                    ``compare.episodes`` held-out seeds. Their means over the first
                    ``eval.episodes`` of them — the curve's own episodes, same horizon — are the
                    reference lines, so the run needs ``compare.episodes >= eval.episodes``
``run.json``        scenario, role, algorithm, seed, ``eval.episodes`` and the horizon (title)
==================  ==============================================================================

The curve is the mean held-out return with a band of ± one standard error over the episodes.
The committed picture is drawn from ``docs/figures/learning_curve_run/`` (``DEFAULT_RUN``), the
three files copied from a quickstart-size run::

    python -m experiments.train experiment=quickstart eval.every=2048 eval.episodes=10 \
        hydra.run.dir=<dir>
    python -m experiments.figures --only=learning_curve --run=<dir>

(the second line draws any such run; without ``--run`` the committed copy is drawn).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from experiments.errors import UsageError

DEFAULT_RUN: Final = (
    Path(__file__).resolve().parent.parent / "docs" / "figures" / "learning_curve_run"
)
"""The committed run log the README's picture is drawn from."""
REFERENCES: Final[tuple[str, ...]] = ("rules", "oracle")
_FILES: Final[tuple[str, ...]] = ("evaluations.csv", "compare.json", "run.json")
_METADATA: Final = {"Software": None}
_ALGO_NAMES: Final = {"maskable_ppo": "MaskablePPO", "ppo": "PPO", "a2c": "A2C", "dqn": "DQN"}


@dataclass(frozen=True)
class Curve:
    """What the figure draws, read from a run directory (see the module docstring).

    Attributes:
        steps: env steps the evaluated policy learned from, one per evaluation, increasing.
        mean: the mean held-out return at each evaluation.
        se: its standard error (standard deviation / √episodes).
        references: baseline name → mean return on the same held-out episodes.
        episodes: held-out episodes per evaluation.
        title: algorithm, scenario, role and seed of the run.
    """

    steps: tuple[int, ...]
    mean: tuple[float, ...]
    se: tuple[float, ...]
    references: dict[str, float]
    episodes: int
    title: str


def read_curve(run: Path) -> Curve:
    """Read the curve and its reference lines from the training run directory ``run``.

    Raises:
        UsageError: one line naming ``run`` and what is missing or inconsistent.
    """

    def bad(why: str) -> UsageError:
        return UsageError(f"run={str(run)!r}: {why}")

    if not run.is_dir():
        raise bad("not a directory; expected a training run directory of experiments.train")
    missing = [f for f in _FILES if not (run / f).is_file()]
    if missing:
        raise bad(
            f"no {', '.join(missing)}; expected a training run with held-out evaluations "
            "(eval.every > 0) and a comparison (compare.episodes >= eval.episodes)"
        )
    import pandas as pd

    try:
        ev = pd.read_csv(run / "evaluations.csv")
        info: dict[str, Any] = json.loads((run / "run.json").read_text(encoding="utf-8"))
        rows: list[dict[str, Any]] = json.loads((run / "compare.json").read_text(encoding="utf-8"))
        cfg = info["config"]
        n = int(cfg["eval"]["episodes"])
    except (ValueError, KeyError, TypeError, pd.errors.ParserError) as e:
        raise bad(f"unreadable run files ({type(e).__name__}: {e})") from None
    if not {"timesteps", "mean_reward", "std_reward"} <= set(ev.columns) or ev.empty:
        raise bad("evaluations.csv has no rows of timesteps, mean_reward, std_reward")
    ev = ev.sort_values("timesteps", kind="stable")
    refs: dict[str, float] = {}
    for name in REFERENCES:
        row = next((r for r in rows if r.get("name") == name and r.get("kind") == "baseline"), None)
        returns = (row or {}).get("returns") or []
        if len(returns) < n:
            raise bad(
                f"compare.json has {len(returns)} {name} returns; expected at least the "
                f"{n} episodes of eval.episodes (train with compare.episodes >= eval.episodes)"
            )
        refs[name] = sum(float(x) for x in returns[:n]) / n
    days = cfg.get("train", {}).get("days")
    horizon = "" if days is None else f", {days:g}-day episodes"
    algo = _ALGO_NAMES.get(str(info.get("algo")), str(info.get("algo", "?")))
    title = (
        f"{algo} on {info.get('scenario', '?')} ({info.get('role', '?')} role"
        f"{horizon}), training seed {cfg.get('seed', '?')}"
    )
    return Curve(
        steps=tuple(int(s) for s in ev["timesteps"]),
        mean=tuple(float(m) for m in ev["mean_reward"]),
        se=tuple(float(s) / math.sqrt(n) for s in ev["std_reward"]),
        references=refs,
        episodes=n,
        title=title,
    )


def draw_learning_curve(path: Path, run: Path = DEFAULT_RUN) -> Path:
    """Draw the learning curve of training run ``run`` into ``path``; returns ``path``.

    Raises:
        UsageError: ``run`` is not a usable training run (``read_curve``).
    """
    from matplotlib.figure import Figure

    c = read_curve(run)
    fig = Figure(figsize=(8.0, 4.8))
    ax = fig.add_subplot()
    lo = [m - s for m, s in zip(c.mean, c.se, strict=True)]
    hi = [m + s for m, s in zip(c.mean, c.se, strict=True)]
    ax.fill_between(c.steps, lo, hi, color="#457b9d", alpha=0.2, linewidth=0,
                    label="± one standard error")  # fmt: skip
    ax.plot(c.steps, c.mean, "o-", color="#1d3557", label="learned policy (deterministic actions)")
    styles = {"rules": ("#2a9d8f", "--"), "oracle": ("#e76f51", ":")}
    names = {"rules": "rules", "oracle": "oracle (reads hidden truth)"}
    # the higher line's label sits above it and the lower one's below, so two close lines
    # never put their labels on top of each other
    order = sorted(c.references, key=lambda k: c.references[k])
    for i, name in enumerate(order):
        y = c.references[name]
        color, style = styles.get(name, ("0.4", "-."))
        ax.axhline(y, color=color, linestyle=style, linewidth=1.6, zorder=1)
        above = i == len(order) - 1
        ax.annotate(
            f"{names.get(name, name)}: {y:.2f}", xy=(1.0, y), xycoords=("axes fraction", "data"),
            xytext=(-4, 3 if above else -3), textcoords="offset points", ha="right",
            va="bottom" if above else "top", color=color, fontsize=9.5,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
        )  # fmt: skip
    ax.set_xlabel("env steps of training")
    ax.set_ylabel(f"mean held-out return ({c.episodes} episodes)")
    ax.set_title(c.title, fontsize=11)
    ax.set_xlim(0, max(c.steps) * 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata=_METADATA)
    return path
