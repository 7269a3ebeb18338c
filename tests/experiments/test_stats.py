"""The board's statistics on hand-made numbers: rliable's definitions, reproduced."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from experiments.stats import (
    bootstrap_ci,
    iqm,
    performance_profile,
    poi_ci,
    probability_of_improvement,
    rules_normalized,
)


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm({"a": [1, 2, 3, 4, 5, 6, 7, 8]}) == 4.5  # (3 + 4 + 5 + 6) / 4
    assert iqm({"a": [1, 2, 3, 4], "b": [5, 6, 7, 8]}) == 4.5  # tasks pooled
    assert iqm({"a": [0, 0, 0, 100]}) == 0.0  # an outlier does not move it
    x = np.arange(20.0).reshape(10, 2)  # rliable's (runs, tasks) layout
    assert iqm(x) == scipy.stats.trim_mean(x, 0.25, axis=None)


def test_the_ci_of_constant_scores_is_a_point():
    assert bootstrap_ci({"a": [3.0] * 5, "b": [3.0] * 7}, reps=100) == (3.0, 3.0)


def test_the_bootstrap_is_stratified_by_task():
    """Resampling within each task keeps 4 zeros and 4 tens: the IQM is 5 in every replicate."""
    scores = {"a": [0.0] * 4, "b": [10.0] * 4}
    assert iqm(scores) == 5.0
    assert bootstrap_ci(scores, reps=500, seed=1) == (5.0, 5.0)


def test_the_ci_holds_the_estimate_is_seeded_and_narrows_with_runs():
    rng = np.random.default_rng(0)
    few = {"a": rng.normal(0, 1, 10), "b": rng.normal(5, 1, 10)}
    many = {"a": rng.normal(0, 1, 400), "b": rng.normal(5, 1, 400)}
    lo, hi = bootstrap_ci(few, seed=3)
    assert lo <= iqm(few) <= hi
    assert bootstrap_ci(few, seed=3) == (lo, hi)
    assert bootstrap_ci(few, seed=4) != (lo, hi)
    lo2, hi2 = bootstrap_ci(many, seed=3)
    assert hi2 - lo2 < (hi - lo) / 2


def test_a_ci_of_another_statistic():
    lo, hi = bootstrap_ci({"a": [1.0, 2.0, 3.0]}, lambda x: x.mean(axis=1), reps=1000)
    assert 1.0 <= lo < 2.0 < hi <= 3.0


def test_probability_of_improvement_counts_pairs_and_half_ties():
    # pairs (2>1) (2=2) (3>1) (3>2): 3.5 of 4
    assert probability_of_improvement({"a": [2, 3]}, {"a": [1, 2]}) == 0.875
    u = scipy.stats.mannwhitneyu([2, 3], [1, 2], alternative="greater").statistic
    assert u / 4 == 0.875
    assert probability_of_improvement({"a": [5, 6]}, {"a": [1, 2, 3]}) == 1.0
    assert probability_of_improvement({"a": [1, 2]}, {"a": [1, 2]}) == 0.5
    # averaged over tasks, not pooled
    two = probability_of_improvement({"a": [5.0], "b": [0.0]}, {"a": [1.0], "b": [9.0]})
    assert two == 0.5


def test_poi_ci():
    x = {"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 2.5, 3.0]}
    y = {"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]}
    lo, hi = poi_ci(x, y, reps=1000, seed=0)
    assert 0.0 <= lo <= probability_of_improvement(x, y) <= hi <= 1.0
    assert poi_ci({"a": [5.0, 6.0]}, {"a": [1.0, 2.0]}, reps=50) == (1.0, 1.0)
    with pytest.raises(ValueError, match="tasks differ"):
        probability_of_improvement({"a": [1.0]}, {"b": [1.0]})


def test_performance_profile_is_the_fraction_above_each_threshold():
    prof = performance_profile({"a": [0.0, 1.0], "b": [2.0, 3.0]}, [-1.0, 0.0, 1.5, 3.0])
    assert prof.tolist() == [1.0, 0.75, 0.5, 0.0]


def test_rules_normalized_puts_random_at_0_and_the_rules_at_1():
    assert rules_normalized([-10.0, -2.0, 2.0], random=-10.0, rules=-2.0).tolist() == [0, 1, 1.5]
    with pytest.raises(ValueError, match="must differ"):
        rules_normalized(1.0, random=3.0, rules=3.0)


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="at least one run"):
        iqm({"a": []})
    with pytest.raises(ValueError, match="finite"):
        iqm({"a": [1.0, float("nan")]})
