"""The triage route mask: which routes the simulator would accept on a proposal's target.

A learned route policy chooses among ``agents.playbooks.ROUTES``; a route whose action's
preconditions fail on the target (nothing to rerun, no slot to kill, the warehouse already at its
largest) is masked. Training (``envs.triage.TriageEnv.action_masks``, read by MaskablePPO) and
deployment (the organization's triage slot, ``agents.slots.runner``) call this one function, so a
policy sees the same mask in both.
"""

from __future__ import annotations

import numpy as np

from agents.playbooks import ROUTES
from agents.triage import Proposal
from envs.sim.actions import allowed
from envs.sim.world import World

ALWAYS_ALLOWED = frozenset({"escalate", "watch", "none"})
"""Routes that act on no asset, so nothing can refuse them."""


def route_mask(world: World, proposal: Proposal) -> np.ndarray:
    """Routes whose simulator preconditions hold on ``proposal``'s target now.

    ==================  ==========================================================================
    route               allowed when
    ==================  ==========================================================================
    escalate, watch,    always
    none
    scale_warehouse     the warehouse is below its maximum size
    kill_query          the target holds warehouse slots, or some query can be killed
    reprioritize        there is a target asset
    any other           there is a target asset and ``envs.sim.actions.allowed`` accepts the route
    ==================  ==========================================================================

    Args:
        world: the world, at the moment of the decision.
        proposal: the rules' proposal (its ``target``: -1 for a warehouse-wide incident).

    Returns:
        bool array of ``len(ROUTES)``, True where the route is allowed.
    """
    mask = np.ones(len(ROUTES), dtype=bool)
    t = proposal.target
    for i, r in enumerate(ROUTES):
        if r in ALWAYS_ALLOWED:
            continue
        if r == "scale_warehouse":
            mask[i] = world.warehouse.capacity < world.warehouse.max_slots
        elif r == "kill_query":
            mask[i] = (t >= 0 and world.assets[t].uses_slot) or allowed(world, "kill_query", -1)
        elif r == "reprioritize":
            mask[i] = t >= 0
        elif t < 0:
            mask[i] = False
        else:
            mask[i] = allowed(world, r, t)
    return mask
