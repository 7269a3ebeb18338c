"""Cheap SimPy events for the simulator's hot path: the same heap entries, fewer Python objects.

Every scheduled run waits twice on a timer (its due time, then its run time) and gives its
warehouse slot back with one release event: three events per run, most of the SimPy cost of a
run. ``simpy.Timeout`` and ``simpy.Event`` carry checks, a value, a description and an
environment the world never reads; what SimPy itself reads of an event it processes is its
``callbacks`` (``Environment.step`` runs them, ``Process`` appends its resume to them and an
interrupt removes it again) and ``_ok`` / ``_value`` (the outcome a resumed process is sent).
A ``Wakeup`` is exactly that, scheduled with the key ``env.schedule`` would give it — time,
priority ``NORMAL``, the environment's next event id — so the order of every event is the order
SimPy would have processed: behaviour is unchanged, only fewer objects are built.

A ``Wakeup`` cannot be combined with ``|`` / ``&``: the world yields it only where it would have
yielded a bare timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL


class Wakeup(simpy.Event):
    """A triggered event that succeeds with ``None`` when the environment reaches it.

    A ``simpy.Event`` built without ``Event.__init__``: it has no ``env`` (``succeed``, ``|``
    and ``&`` need one and must not be used on it); ``triggered``, ``processed``, ``ok`` and
    ``value`` read as on a timeout.

    Attributes:
        callbacks: what runs when it is processed (``None`` once it was), as on a SimPy event.
    """

    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def __init__(self, callbacks: Any) -> None:  # no super().__init__: the point is its cost
        self.callbacks = callbacks


def sleep(env: simpy.Environment, delay: float) -> Wakeup:
    """``env.timeout(delay)`` as a ``Wakeup``: yield it from a process to wait ``delay`` minutes.

    The event is due at ``env.now + delay``, computed as SimPy computes it (so a wait of
    ``due - now`` lands on the same float as a ``Timeout``).

    Raises:
        ValueError: for a negative delay (as ``simpy.Timeout``).
    """
    if delay < 0:
        raise ValueError(f"delay: expected >= 0 minutes, got {delay}")
    w = Wakeup([])
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), w))  # = env.schedule
    return w


def call_soon(env: simpy.Environment, callbacks: tuple[Callable[[Any], None], ...]) -> None:
    """Schedule ``callbacks`` to run now, after the events already due now (``env.schedule``).

    ``callbacks`` is a tuple the caller may share between calls: SimPy only iterates it.
    """
    heappush(env._queue, (env._now, NORMAL, next(env._eid), Wakeup(callbacks)))
