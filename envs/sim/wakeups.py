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

``Clock`` is the world's ``simpy.Environment``: it processes events exactly as SimPy does and
also remembers the last ``NORMAL`` event it processed at the current time. That is what a
release needs to know whether an event it chose not to schedule would have been processed yet
(``Warehouse.give``, ``Clock.owed_pending``).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import NORMAL, EventPriority


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


class Clock(simpy.Environment):
    """A ``simpy.Environment`` that remembers the last ``NORMAL`` event it processed.

    ``step`` is SimPy's (``simpy.core.Environment.step``, SimPy 4.1) plus two assignments: the
    time and event id of the last processed event of priority ``NORMAL``.

    Attributes:
        normal_at: the time of the last ``NORMAL`` event processed (-inf before the first).
        normal_eid: its event id (-1 before the first).
    """

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.normal_at = float("-inf")
        self.normal_eid = -1

    def step(self) -> None:
        """Process the next event (``simpy.Environment.step``).

        Raises:
            EmptySchedule: if no further events are scheduled.
        """
        try:
            now, priority, eid, event = heappop(self._queue)
        except IndexError:
            raise EmptySchedule from None
        self._now = now
        if priority == NORMAL:
            self.normal_at = now
            self.normal_eid = eid
        callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            event.callbacks = callbacks[callbacks.index(callback) + 1 :]
            self.schedule(event, EventPriority(-1))
            raise
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc

    def owed_pending(self, at: float, eid: int) -> bool:
        """Would a ``NORMAL`` event with key (``at``, ``eid``), never scheduled, be pending now?

        True while ``at`` is now and no ``NORMAL`` event with a larger id was processed at this
        time: at one time, ``NORMAL`` events are processed in increasing id order (one scheduled
        later has a larger id), and every event processed before the owed one was made has a
        smaller id. Scheduling it then, with that key, is exactly as if it had been scheduled
        when it was made.
        """
        if at != self._now:
            return False
        return not (self.normal_at == at and self.normal_eid > eid)
