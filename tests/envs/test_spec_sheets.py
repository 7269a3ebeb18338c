"""Every role's spec sheet (its env's class docstring) has an example that builds the env and
shows its spaces, and the example holds (``make test`` also runs it: ``--doctest-modules envs``).
"""

from __future__ import annotations

import doctest
import importlib

import pytest

from envs.base import ROLES

CLASSES = {"triage": "envs.triage.TriageEnv", "sla": "envs.sla.SlaEnv", "cost": "envs.cost.CostEnv"}


def _class(role: str) -> type:
    module, name = CLASSES[role].rsplit(".", 1)
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def test_every_role_has_a_spec_sheet() -> None:
    assert set(CLASSES) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_spec_sheet_example_shows_the_spaces_and_holds(role: str) -> None:
    cls = _class(role)
    (test,) = doctest.DocTestFinder(recurse=False).find(cls, cls.__qualname__)
    sources = [ex.source.strip() for ex in test.examples]
    assert f'role="{role}")' in sources[1], sources
    assert sources[-2:] == ["env.action_space", "env.observation_space"], sources
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.summarize(verbose=False) == doctest.TestResults(0, len(test.examples))
