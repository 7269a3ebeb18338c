"""Named random streams: one seed, one ``SeedSequence``, one ``Generator`` per concern.

Every random draw in a simulation comes from exactly one named stream, so adding draws to one
concern (say, more evidence noise) never shifts another (say, fault onsets). Streams are derived
with ``SeedSequence(seed).spawn`` in the fixed order of ``STREAM_NAMES``; a new stream is only ever
appended to that tuple, which keeps existing seeds reproducible.
"""

from __future__ import annotations

from typing import Final

import numpy as np

STREAM_NAMES: Final[tuple[str, ...]] = (
    "schedule",  # source arrival delays, late-within-SLA noise
    "runtime",  # run-time multipliers
    "volume",  # partition statistics noise
    "faults",  # onsets, root assets, root causes, magnitudes, durations
    "evidence",  # error classes and messages shown to agents
    "actions",  # success draws of actions
    "human",  # escalation response and fix times
    "noise",  # benign schema changes, backfills
    "requests",  # analyst request workload
    "cascades",  # whether, when and where a trigger fault sets a cascaded one off
    "prevention",  # whether an active preventive measure prevents a matching fault
)


class Streams:
    """The named generators of one simulation.

    Args:
        seed: the episode seed (a non-negative int).

    Attributes:
        seed: the seed the streams were derived from.
    """

    def __init__(self, seed: int) -> None:
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
        self.seed = int(seed)
        children = np.random.SeedSequence(self.seed).spawn(len(STREAM_NAMES))
        self._gens = {
            name: np.random.Generator(np.random.PCG64(ss))
            for name, ss in zip(STREAM_NAMES, children, strict=True)
        }

    def __getitem__(self, name: str) -> np.random.Generator:
        try:
            return self._gens[name]
        except KeyError:
            raise KeyError(f"unknown stream {name!r}; expected one of {STREAM_NAMES}") from None
