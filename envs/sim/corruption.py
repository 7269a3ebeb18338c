"""How wrong statistics flow downstream: inheriting, merging and combining corruption.

A consumer's window reads every upstream window it covers; the wrong ones (``Asset.bad``) pass
their corruption on, diluted by the share of the window they make up. Quarantined windows are
withheld: the consumer proceeds without their rows.
"""

from __future__ import annotations

from envs.sim.assets import Asset, Corruption
from envs.sim.records import QUARANTINED


def inherit(u: Asset, a: Asset, k: int) -> Corruption | None:
    """Corruption ``a``'s window ``k`` inherits from upstream ``u``, diluted by coverage."""
    end = k * a.every
    first = (end - a.every) // u.every + 1
    last = end // u.every
    n = max(1, last - first + 1)
    hits = []
    q = 0
    bad = u.bad
    for j in range(first, last + 1):
        c = bad.get(j)
        if c is not None:
            if u.state[j] == QUARANTINED:
                q += 1
            else:
                hits.append(c)
    if not hits and not q:
        return None
    frac = len(hits) / n
    faults = tuple(sorted({fid for c in hits for fid in c.faults}))
    out = Corruption(faults)
    for c in hits:
        out.null_add = max(out.null_add, c.null_add * frac)
        out.null_col = c.null_col
        out.dup_add = max(out.dup_add, c.dup_add * frac)
        out.vol_factor = min(out.vol_factor, 1.0 + (c.vol_factor - 1.0) * frac)
        mf = 1.0 + (c.mean_factor - 1.0) * frac
        if abs(mf - 1.0) > abs(out.mean_factor - 1.0):
            out.mean_factor = mf
    if q:
        out.vol_factor *= 1.0 - q / n
    return out


def merge(x: Corruption | None, y: Corruption | None) -> Corruption | None:
    """Combine two optional corruptions (None is clean)."""
    if x is None:
        return y
    if y is None:
        return x
    return combine(x, y)


def combine(x: Corruption, y: Corruption) -> Corruption:
    """Both corruptions at once: worst rates, multiplied factors, every fault responsible."""
    return Corruption(
        tuple(sorted(set(x.faults) | set(y.faults))),
        max(x.null_add, y.null_add),
        x.null_col if x.null_add >= y.null_add else y.null_col,
        max(x.dup_add, y.dup_add),
        x.vol_factor * y.vol_factor,
        x.mean_factor * y.mean_factor,
        max(x.schema_delta, y.schema_delta),
    )
