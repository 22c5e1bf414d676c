"""Threads reused across the short background tasks of copies.

A copy of a small image starts about ten threads (its layer copies, upload
sessions opened ahead of time, the config read, a connection warm-up), and
starting one costs ~0.15 ms of CPU here, with the GIL handed back and forth
until it runs: through a :class:`skopeo.session.Session` copying many images
that is a visible share of each copy.  A worker that finished its task waits
a few seconds for another before it ends.

The pool is never bounded, so a task waiting for another task cannot starve
it; :func:`map_bounded` bounds a batch's own concurrency instead.  Workers are
daemon threads: callers wait for what they need (the ``Future`` of
:func:`submit` and :func:`map_bounded`), and the process exit does not wait
for idle workers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")

# How long an idle worker waits for its next task before it ends.
IDLE_SECONDS = 5.0


class _Worker:
    __slots__ = ("task", "wake")

    def __init__(self, task: tuple[Callable[[], object], str]) -> None:
        self.task: tuple[Callable[[], object], str] | None = task
        self.wake = threading.Event()


_idle: list[_Worker] = []
_lock = threading.Lock()


def start(task: Callable[[], object], name: str) -> None:
    """Run *task* in a background thread named *name* (an idle worker if there
    is one).  Whatever it raises is its own business: it is dropped."""
    with _lock:
        worker = _idle.pop() if _idle else None
    if worker is not None:
        worker.task = (task, name)
        worker.wake.set()
        return
    threading.Thread(target=_run, args=(_Worker((task, name)),), name=name, daemon=True).start()


def _run(worker: _Worker) -> None:
    me = threading.current_thread()
    while True:
        assert worker.task is not None
        task, me.name = worker.task
        worker.task = None
        try:
            task()
        except BaseException:
            pass
        del task
        worker.wake.clear()
        with _lock:
            _idle.append(worker)
        if not worker.wake.wait(IDLE_SECONDS):
            with _lock:
                if worker in _idle:
                    _idle.remove(worker)
                    return
            worker.wake.wait()  # taken by start() just as the wait ended: its task is coming


def submit(fn: Callable[[], T], name: str) -> Future[T]:
    """*fn* run by a worker; its result or exception in the returned future
    (cancelling the future before a worker starts it skips *fn*)."""
    future: Future[T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as e:
            future.set_exception(e)

    start(run, name)
    return future


def map_bounded(fn: Callable[[int], T], count: int, limit: int, name: str) -> list[Future[T]]:
    """``fn(0)`` … ``fn(count - 1)``, at most *limit* at a time, in order of
    index; one future per index.  A future cancelled before its turn is
    skipped (how a batch stops after a failure)."""
    futures: list[Future[T]] = [Future() for _ in range(count)]
    indexes = itertools.count()  # next() on it is atomic: each index is taken once

    def drain() -> None:
        while (i := next(indexes)) < count:
            future = futures[i]
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(i))
            except BaseException as e:
                future.set_exception(e)

    for _ in range(min(limit, count)):
        start(drain, name)
    return futures
