"""The golden digests: the world, the organization and the envs behave as committed.

A failure here means behaviour changed. If that was the intent, regenerate with
``python -m tests.golden.regen`` in its own commit that says what changed and why (with the
version history of the scenario, env or organization updated); otherwise the change is a bug.
"""

from __future__ import annotations

import pytest

from tests.golden import regen

COMMITTED = regen.load()


def test_every_case_is_pinned() -> None:
    assert set(COMMITTED["run_org"]) == {regen.run_org_key(*c) for c in regen.run_org_cases()}
    assert set(COMMITTED["rollouts"]) == {regen.rollout_key(*c) for c in regen.rollout_cases()}


@pytest.mark.parametrize("case", regen.run_org_cases(), ids=lambda c: regen.run_org_key(*c))
def test_run_org_digest(case: tuple[str, str, str]) -> None:
    expected = COMMITTED["run_org"][regen.run_org_key(*case)]
    assert regen.run_org_digests(*case) == expected, regen.__doc__


@pytest.mark.parametrize("case", regen.rollout_cases(), ids=lambda c: regen.rollout_key(*c))
def test_rollout_digest(case: tuple[str, str]) -> None:
    expected = COMMITTED["rollouts"][regen.rollout_key(*case)]
    assert regen.rollout_digest(*case) == expected, regen.__doc__


def test_a_changed_step_changes_the_digest() -> None:
    """The digest sees behaviour: another policy seed (other actions) gives another digest."""
    base = regen.rollout_digest("dataops/LateArrival-v0", "sla")
    assert regen.rollout_digest("dataops/LateArrival-v0", "sla", policy_seed=1) != base
