from __future__ import annotations

import pytest

from envs.sim.world import World
from scenarios import load_scenario


@pytest.fixture
def quiet_world():
    """A nofault world factory (retail topology), so tests inject exactly the faults they need."""

    def make(seed: int = 0, days: float = 3.0) -> World:
        return World(load_scenario("nofault"), seed, days=days)

    return make
