"""The fix oracle: is a fault gone, and did fixing it break nothing else?

A fault is *fixed* when its cause has stopped and every partition it damaged (failed, blocked or
wrong, at the root or downstream) has been re-executed cleanly. It is *clean* when no collateral
damage caused by an action taken since its onset is still open on an asset the fault touched
(a quarantined healthy partition, a killed healthy query, a fault induced by a wrong schema
mapping). A fix counts only if both hold.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from envs.sim.world import World


class Verdict(NamedTuple):
    """The oracle's answer for one fault.

    Attributes:
        fault_id: the fault.
        fixed: the cause stopped and no damaged partition remains.
        clean: no open collateral damage on the fault's assets since its onset.
        cause_active: the cause is still acting.
        open_damage: damaged partitions not yet repaired.
        open_collateral: descriptions of open collateral damage.
    """

    fault_id: int
    fixed: bool
    clean: bool
    cause_active: bool
    open_damage: int
    open_collateral: tuple[str, ...]

    @property
    def success(self) -> bool:
        """Fixed and clean."""
        return self.fixed and self.clean


def verify(world: World, fault_id: int) -> Verdict:
    """Ask the oracle about one fault now.

    Raises:
        KeyError: if there is no such fault.
    """
    if not 0 <= fault_id < len(world.faults):
        raise KeyError(f"fault_id: no fault {fault_id}; expected 0..{len(world.faults) - 1}")
    f = world.faults[fault_id]
    assets = set(f.affected) | {f.root.idx}
    names = [a.name for a in world.assets]
    coll = tuple(
        f"action {aid} {what} {names[ai]}[{k}]"
        for aid, ai, k, what, at, cleared in world.collateral
        if math.isnan(cleared) and ai in assets and at >= f.onset
    )
    induced = tuple(
        f"action {g.caused_by_action} induced fault {g.fid} on {names[g.root.idx]}"
        for g in world.faults
        if g.caused_by_action >= 0
        and not g.resolved
        and g.root.idx in assets
        and g.onset >= f.onset
    )
    fixed = f.started and not f.active and not f.damage
    return Verdict(f.fid, fixed, not (coll or induced), f.active, len(f.damage), coll + induced)


def verify_assets(world: World, assets: set[int] | frozenset[int], since: float = 0.0) -> bool:
    """True if every fault touching ``assets`` (root or reached) since ``since`` is fixed and clean.

    This is the verification step of a remediation playbook: the oracle stands in for re-running
    every check on the incident's assets and their lineage.
    """
    for f in world.faults:
        if not f.started or (f.onset < since and f.resolved):
            continue
        touches = f.root.idx in assets or assets.intersection(f.affected)
        if touches and not verify(world, f.fid).success:
            return False
    return True
