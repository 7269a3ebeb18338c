"""The warehouse: a priced, resizable pool of slots (a SimPy ``PriorityResource``).

Runs request ``slots`` units with a priority (0 = first, 1 = normal, 2 = last). Resizing takes
effect at once: growing starts queued requests, shrinking lets running work finish and holds new
work until usage falls below the new size. Cost accrues for *provisioned* slots over time (a
running warehouse is billed whether busy or idle), so a bigger warehouse costs more and queues
less — the trade-off the cost optimizer learns.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL

from envs.sim.wakeups import Clock, Wakeup, call_soon


class _PriorityQueue(list[Any]):
    """SimPy's put queue kept sorted by request key with a binary insert.

    ``simpy.resources.resource.SortedQueue`` re-sorts the whole queue on every request, which is
    quadratic in the queue length; ``bisect.insort`` keeps the same order (priority, then time,
    FIFO among equals) at O(log n) comparisons per request. ``before_put`` (set by the
    warehouse) runs before a request enters it.
    """

    before_put: Callable[[], None] | None = None

    def append(self, item: Any) -> None:
        if self.before_put is not None:
            self.before_put()
        bisect.insort_right(self, item, key=_key)


def _key(request: Any) -> Any:
    return request.key


class _Users(dict[Any, None]):
    """The granted requests (SimPy's ``Resource.users``), in an insertion-ordered dict.

    SimPy keeps them in a list, appends a granted request and removes a released one with
    ``list.remove``, a scan over the slots in use on every release. A dict removes in O(1) and
    iterates, counts and tests membership as the list would (in grant order).
    """

    __slots__ = ()

    def append(self, request: Any) -> None:
        self[request] = None

    def remove(self, request: Any) -> None:
        try:
            del self[request]
        except KeyError:
            raise ValueError(f"{request!r} is not a user of the warehouse") from None


class Held:
    """A slot granted at the moment it was asked for (``Warehouse.take``): no SimPy event.

    It stands in ``Warehouse.users`` like a granted ``PriorityRequest`` (``priority``, ``key``,
    ``usage_since``; ``triggered`` is true) and is given back with ``Warehouse.give``.
    """

    __slots__ = ("key", "priority", "usage_since")
    triggered = True

    def __init__(self, priority: int, now: float) -> None:
        self.priority = priority
        self.usage_since = now
        self.key = (priority, now, False)


class Warehouse(simpy.PriorityResource):
    """A resizable ``PriorityResource`` that bills provisioned slot-hours.

    Its put queue is a ``_PriorityQueue`` (SimPy's documented seam: ``PutQueue``).

    Args:
        env: the simulation environment.
        slots: initial number of slots.
        max_slots: the largest size it may be scaled to.
        price_per_slot_hour: price of one provisioned slot for one hour.
    """

    def __init__(
        self, env: simpy.Environment, slots: int, max_slots: int, price_per_slot_hour: float
    ) -> None:
        super().__init__(env, capacity=slots)
        self._granted = _Users()
        self.users = self._granted  # type: ignore[assignment]
        self.max_slots = max_slots
        self.price_per_slot_hour = price_per_slot_hour
        self._billed_until = env.now
        self._slot_minutes = 0.0
        self.busy_slot_minutes = 0.0
        self._released = (self._serve_queue,)
        self._clock = env if isinstance(env, Clock) else None
        self._owed: list[int] = []
        self._owed_at = 0.0
        if self._clock is not None:
            self.put_queue.before_put = self._schedule_owed  # type: ignore[attr-defined]

    PutQueue = _PriorityQueue  # type: ignore[assignment]

    def take(self, priority: int) -> Held | simpy.resources.resource.PriorityRequest:
        """Ask for one slot as a scheduled run does; the cheap form of ``request(priority)``.

        With nobody queued and a slot free, SimPy would grant the new request at once and
        schedule its event only to run a no-op callback (the get queue is empty between
        events: a release is served when it is made). ``take`` grants it without that event,
        so the order of every other event is unchanged; otherwise it queues a real request.
        Give it back with ``give``.
        """
        if not self.put_queue and len(self.users) < self._capacity:
            held = Held(priority, self._env._now)
            self.users.append(held)  # type: ignore[arg-type]
            return held
        return self.request(priority=priority)

    def give(self, request: Any) -> None:
        """Give a slot back: ``release(request)`` without building a ``Release`` event.

        As SimPy's release, the slot is freed now and queued requests are served when the
        release event scheduled now is processed (at most the head of the queue, as there); the
        event is a ``Wakeup`` with the key SimPy's would have (``envs.sim.wakeups``).

        With nobody queued, that event would find the queue empty and do nothing — unless a
        request is queued before it is processed. So on a ``Clock`` it is only owed: its event
        id is taken (the order of every other event is unchanged) and it is scheduled with that
        id when a request enters the queue while it is still pending (``_schedule_owed``).
        """
        self._granted.pop(request, None)  # as SimPy: releasing twice is not an error
        env = self._env
        if self.put_queue or self._clock is None:
            call_soon(env, self._released)
            return
        now = env._now
        owed = self._owed
        if owed and self._owed_at != now:
            owed.clear()  # owed at an earlier time: long processed, with nobody queued
        self._owed_at = now
        owed.append(next(env._eid))

    def _schedule_owed(self) -> None:
        """A request enters the queue: schedule every owed release that is still pending."""
        owed = self._owed
        if not owed:
            return
        clock = self._clock
        assert clock is not None
        at = self._owed_at
        for eid in owed:
            if clock.owed_pending(at, eid):
                heappush(clock._queue, (at, NORMAL, eid, Wakeup(self._released)))
        owed.clear()

    def _serve_queue(self, _event: Any) -> None:
        """A release event's callback: serve the put queue (nothing to do when it is empty)."""
        if self.put_queue:
            self._trigger_put(None)

    def resize(self, slots: int) -> None:
        """Change the number of slots now.

        Args:
            slots: the new size, in ``1..max_slots``.

        Raises:
            ValueError: if ``slots`` is out of range.
        """
        if not 1 <= slots <= self.max_slots:
            raise ValueError(f"slots: expected 1..{self.max_slots}, got {slots}")
        self._bill()
        grew = slots > self._capacity
        self._capacity = slots
        if grew:
            self._trigger_put(None)

    def _bill(self) -> None:
        now = self._env.now
        self._slot_minutes += (now - self._billed_until) * self._capacity
        self._billed_until = now

    @property
    def provisioned_slot_hours(self) -> float:
        """Slot-hours provisioned since the start of the simulation.

        Reading it changes nothing: the running sum is only advanced when the size changes, so
        a reader in the loop (the triage reward's warehouse term) cannot move its rounding.
        """
        open_min = (self._env.now - self._billed_until) * self._capacity
        return (self._slot_minutes + open_min) / 60.0

    @property
    def cost(self) -> float:
        """Cost of the provisioned slot-hours so far."""
        return self.provisioned_slot_hours * self.price_per_slot_hour
