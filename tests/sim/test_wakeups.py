"""The world's cheap events change no order: a ``Clock`` world equals a plain SimPy one.

``Warehouse.give`` on a ``Clock`` does not schedule a release nobody waits for (it owes it and
schedules it with its original key if a request is queued while it is pending); on a plain
``simpy.Environment`` it schedules every release as SimPy does. A random workload with integer
times (many events at one time, zero delays, processes started mid-step, queued requests,
SimPy's own request/release and resizes) must produce the same trace on both, event by event.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from envs.sim.wakeups import Clock, sleep
from envs.sim.warehouse import Warehouse


def _trace(env: simpy.Environment, seed: int) -> list[tuple[Any, ...]]:
    wh = Warehouse(env, 2, 4, 1.0)
    log: list[tuple[Any, ...]] = []

    def worker(i: int, rng: np.random.Generator, depth: int) -> Generator[Any, Any, None]:
        for j in range(12):
            yield sleep(env, float(rng.integers(0, 3)))
            req = wh.take(int(rng.integers(0, 3)))
            if not req.triggered:
                yield req
            log.append((env.now, i, j, "got", len(wh.users), len(wh.put_queue)))
            yield sleep(env, float(rng.integers(0, 3)))
            wh.give(req)
            log.append((env.now, i, j, "gave", len(wh.users), len(wh.put_queue)))
            if depth < 2 and rng.random() < 0.2:  # started mid-step: an URGENT initialization
                env.process(worker(100 * i + j, np.random.default_rng([seed, i, j]), depth + 1))

    def simpy_user(rng: np.random.Generator) -> Generator[Any, Any, None]:
        for j in range(8):
            yield env.timeout(float(rng.integers(0, 4)))
            r = wh.request(priority=-1)
            yield r
            log.append((env.now, "ext", j, "got", len(wh.users), len(wh.put_queue)))
            yield env.timeout(float(rng.integers(0, 3)))
            wh.release(r)
            if rng.random() < 0.3:
                wh.resize(int(rng.integers(1, 5)))
                log.append((env.now, "ext", j, "resized", wh.capacity))

    for i in range(6):
        env.process(worker(i, np.random.default_rng([seed, i]), 0))
    env.process(simpy_user(np.random.default_rng([seed, 99])))
    env.run()
    log.append(("end", env.now, next(env._eid)))
    return log


@pytest.mark.parametrize("seed", range(40))
def test_clock_world_processes_events_as_simpy(seed: int) -> None:
    assert _trace(Clock(), seed) == _trace(simpy.Environment(), seed)


def _pending_scene(env: simpy.Environment) -> list[tuple[Any, ...]]:
    """A slot given back with nobody queued (owed), then, at the same time, taken again, a
    request queued and the slot given back by an interrupt: the owed release serves the queue
    before the observer's wakeup, which sees the queued request granted."""
    wh = Warehouse(env, 1, 1, 1.0)
    log: list[tuple[Any, ...]] = []

    def holder() -> Generator[Any, Any, None]:
        req = wh.take(1)
        yield sleep(env, 5.0)
        wh.give(req)  # nobody queued: owed on a Clock
        env.process(second())
        yield sleep(env, 0.0)  # after the owed release in SimPy's order
        log.append((env.now, "observed", len(wh.users), len(wh.put_queue)))

    def second() -> Generator[Any, Any, None]:
        req = wh.take(1)  # the slot is free again
        env.process(third(env.active_process))
        with contextlib.suppress(simpy.Interrupt):
            yield sleep(env, 10.0)
        wh.give(req)  # the queue is not empty: a real release, after the observer
        log.append((env.now, "second gave"))

    def third(second_proc: Any) -> Generator[Any, Any, None]:
        req = wh.take(1)  # queued
        second_proc.interrupt()
        yield req
        log.append((env.now, "third got"))
        wh.give(req)

    env.process(holder())
    env.run()
    return log


def _stale_scene(env: simpy.Environment) -> list[tuple[Any, ...]]:
    """A slot given back with nobody queued (owed) and the owed release processed (a later event
    at the same time ran); then a request queues: that release must not serve it again."""
    wh = Warehouse(env, 1, 1, 1.0)
    log: list[tuple[Any, ...]] = []

    def holder() -> Generator[Any, Any, None]:
        req = wh.take(1)
        yield sleep(env, 5.0)
        wh.give(req)  # owed
        yield sleep(env, 0.0)  # processed after the owed release: it is done
        req = wh.take(1)
        env.process(observer())
        env.process(queued(env.active_process))
        with contextlib.suppress(simpy.Interrupt):
            yield sleep(env, 1.0)
        wh.give(req)  # the queue is not empty: a real release, after the observer's wakeup
        log.append((env.now, "holder gave"))

    def observer() -> Generator[Any, Any, None]:
        yield sleep(env, 0.0)
        log.append((env.now, "observed", len(wh.users), len(wh.put_queue)))

    def queued(holder_proc: Any) -> Generator[Any, Any, None]:
        req = wh.take(1)  # queued
        holder_proc.interrupt()
        yield req
        log.append((env.now, "queued got"))
        wh.give(req)

    env.process(holder())
    env.run()
    return log


def test_a_pending_owed_release_serves_the_queue_in_its_place() -> None:
    log = _pending_scene(Clock())
    assert log == _pending_scene(simpy.Environment())
    assert (5.0, "observed", 1, 0) in log  # granted by the owed release, before the observer


def test_a_processed_owed_release_is_not_scheduled_again() -> None:
    log = _stale_scene(Clock())
    assert log == _stale_scene(simpy.Environment())
    assert (5.0, "observed", 0, 1) in log  # still queued when the observer looks
