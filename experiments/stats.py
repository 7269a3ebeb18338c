"""Aggregate statistics of the board, as rliable defines them (Agarwal et al., NeurIPS 2021).

rliable itself does not import next to pandas 3, so its definitions are implemented here with
numpy and scipy. Scores are given per task (a scenario), each a 1-D array of *runs* — here one
run is one evaluation episode of one training seed, so an entry with 5 seeds × 30 episodes has
150 runs per scenario. A 2-D array ``(runs, tasks)``, rliable's layout, is accepted too.

========================  ==========================================================================
function                  definition
========================  ==========================================================================
``iqm``                   interquartile mean: the 25 % trimmed mean of all runs of all tasks pooled
                          (``scipy.stats.trim_mean(…, 0.25)``; rliable ``aggregate_iqm``)
``bootstrap_ci``          95 % stratified-bootstrap percentile interval of a statistic: each
                          replicate resamples the runs of every task with replacement, within
                          the task (tasks are strata, never mixed); the interval is the 2.5th and
                          97.5th percentiles of the replicates (rliable ``get_interval_estimates``,
                          ``method="percentile"``, ``task_bootstrap=False``)
``probability_of_``       P(X > Y): per task, the Mann–Whitney U statistic of X over Y divided by
``improvement``           n_X · n_Y (ties count one half), averaged over tasks (rliable
                          ``probability_of_improvement``)
``poi_ci``                its interval: X and Y resampled independently, each within each task
                          (rliable's ``StratifiedIndependentBootstrap``)
``performance_profile``   the fraction of all runs scoring above each threshold τ (rliable's
                          score distribution, ``run_score_deviation``)
``rules_normalized``      (x − random) / (rules − random): random = 0, the rules = 1 (the Atari
                          human-normalized score with the rules organization as the expert)
========================  ==========================================================================

Every bootstrap takes a ``numpy.random.Generator`` or a seed (default 0): the same seed gives the
same interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import scipy.stats

Scores = Mapping[str, Sequence[float] | np.ndarray] | np.ndarray
"""Per task, the runs' scores; or rliable's ``(runs, tasks)`` array."""
REPS: Final[int] = 2000
"""Default bootstrap replicates (rliable uses 2,000 for profiles and 50,000 for intervals)."""
_CHUNK: Final[int] = 256


def _tasks(scores: Scores) -> list[np.ndarray]:
    if isinstance(scores, np.ndarray):
        if scores.ndim != 2:
            raise ValueError(f"scores: expected a (runs, tasks) array, got shape {scores.shape}")
        cols = [np.asarray(scores[:, j], dtype=np.float64) for j in range(scores.shape[1])]
    else:
        cols = [np.asarray(v, dtype=np.float64).ravel() for v in scores.values()]
    if not cols or any(c.size == 0 for c in cols):
        raise ValueError("scores: expected at least one task, each with at least one run")
    if any(not np.isfinite(c).all() for c in cols):
        raise ValueError("scores: expected finite numbers (a NaN or infinity was given)")
    return cols


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def iqm(scores: Scores) -> float:
    """The interquartile mean of all runs of all tasks (see the module docstring)."""
    return float(scipy.stats.trim_mean(np.concatenate(_tasks(scores)), 0.25))


def _iqm_rows(x: np.ndarray) -> np.ndarray:
    return np.asarray(scipy.stats.trim_mean(x, 0.25, axis=1))


def _resample(cols: list[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` stratified resamples: shape ``(reps, total runs)``, task by task."""
    return np.concatenate([c[rng.integers(c.size, size=(reps, c.size))] for c in cols], axis=1)


def bootstrap_ci(
    scores: Scores,
    statistic: Callable[[np.ndarray], np.ndarray] = _iqm_rows,
    *,
    reps: int = REPS,
    size: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> tuple[float, float]:
    """The stratified-bootstrap percentile interval of ``statistic`` (default: the IQM).

    Args:
        scores: per task, the runs' scores.
        statistic: maps resampled runs, shape ``(replicates, total runs)`` with the tasks'
            runs side by side, to one value per replicate (default: the IQM of each row).
        reps: bootstrap replicates.
        size: coverage of the interval (0.95: the 2.5th to the 97.5th percentile).
        seed: a seed or a generator.

    Returns:
        (lower, upper).
    """
    if not 0 < size < 1 or reps < 1:
        raise ValueError(f"size: expected 0 < size < 1 and reps >= 1, got {size}, {reps}")
    cols, rng = _tasks(scores), _rng(seed)
    stats = np.concatenate(
        [statistic(_resample(cols, min(_CHUNK, reps - i), rng)) for i in range(0, reps, _CHUNK)]
    )
    tail = 100 * (1 - size) / 2
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)


def _p_greater(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + ½ P(X = Y) per row of ``x`` (reps, n_x) against the same row of ``y``."""
    gt = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
    eq = (x[:, :, None] == y[:, None, :]).mean(axis=(1, 2))
    return np.asarray(gt + 0.5 * eq)


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """P(X > Y) averaged over tasks (see the module docstring); the tasks must correspond."""
    xs, ys = _tasks(x), _tasks(y)
    _same_tasks(x, y, xs, ys)
    return float(np.mean([_p_greater(a[None], b[None])[0] for a, b in zip(xs, ys, strict=True)]))


def poi_ci(
    x: Scores,
    y: Scores,
    *,
    reps: int = REPS,
    size: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> tuple[float, float]:
    """The stratified-bootstrap percentile interval of ``probability_of_improvement(x, y)``."""
    if not 0 < size < 1 or reps < 1:
        raise ValueError(f"size: expected 0 < size < 1 and reps >= 1, got {size}, {reps}")
    xs, ys = _tasks(x), _tasks(y)
    _same_tasks(x, y, xs, ys)
    rng = _rng(seed)
    stats = []
    for i in range(0, reps, _CHUNK):
        n = min(_CHUNK, reps - i)
        per_task = [
            _p_greater(a[rng.integers(a.size, size=(n, a.size))],
                       b[rng.integers(b.size, size=(n, b.size))])
            for a, b in zip(xs, ys, strict=True)
        ]  # fmt: skip
        stats.append(np.mean(per_task, axis=0))
    tail = 100 * (1 - size) / 2
    lo, hi = np.percentile(np.concatenate(stats), [tail, 100 - tail])
    return float(lo), float(hi)


def _same_tasks(x: Scores, y: Scores, xs: list[np.ndarray], ys: list[np.ndarray]) -> None:
    if isinstance(x, Mapping) and isinstance(y, Mapping) and list(x) != list(y):
        raise ValueError(f"scores: tasks differ ({list(x)} vs {list(y)}); expected the same tasks")
    if len(xs) != len(ys):
        raise ValueError(f"scores: {len(xs)} tasks vs {len(ys)}; expected the same tasks")


def performance_profile(scores: Scores, taus: Sequence[float] | np.ndarray) -> np.ndarray:
    """The fraction of all runs scoring above each ``tau`` (rliable's score distribution)."""
    pooled = np.concatenate(_tasks(scores))
    return np.asarray([(pooled > t).mean() for t in np.asarray(taus, dtype=np.float64)])


def rules_normalized(x: Any, random: float, rules: float) -> Any:
    """``(x - random) / (rules - random)``: random scores 0, the rules 1.

    Raises:
        ValueError: the rules and random score the same (the scale is undefined).
    """
    if not np.isfinite(rules - random) or rules == random:
        raise ValueError(
            f"rules_normalized: rules ({rules}) and random ({random}) must differ; the scale "
            "from random (0) to the rules (1) is undefined otherwise"
        )
    return (np.asarray(x, dtype=np.float64) - random) / (rules - random)
