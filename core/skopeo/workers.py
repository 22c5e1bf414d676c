"""Threads reused across the short background tasks of copies.

A copy of a small image starts about ten threads (its layer copies, upload
sessions opened ahead of time, the config read, a connection warm-up), and
starting one costs ~0.15 ms of CPU here, with the GIL handed back and forth
until it runs: through a :class:`skopeo.session.Session` copying many images
that is a visible share of each copy.  A worker that finished its task waits
a few seconds for another before it ends.

The pool is never bounded, so a task waiting for another task cannot starve
it; :func:`map_bounded` bounds a batch's own concurrency instead.  Workers are
daemon threads: callers wait for what they need (the :class:`Future` of
:func:`submit` and :func:`map_bounded`), and the process exit does not wait
for idle workers.

:class:`Future` and :func:`wait` are ``concurrent.futures``' (the subset the
copy pipeline uses, with the same meaning): importing that module imports
``logging`` with it, ~3 ms of every command's start-up.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

# How long an idle worker waits for its next task before it ends.
IDLE_SECONDS = 5.0


class CancelledError(Exception):
    """The result of a future that was cancelled before it ran."""


_PENDING, _RUNNING, _CANCELLED, _FINISHED = range(4)


class Future(Generic[T]):
    """The result of a task run elsewhere: set once, awaited by any thread."""

    __slots__ = ("_done", "_error", "_lock", "_state", "_value", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._state = _PENDING
        self._value: T | None = None
        self._error: BaseException | None = None
        self._waiters: list[Callable[[Future[T]], None]] = []

    # --- the task's side ------------------------------------------------------------
    def set_running_or_notify_cancel(self) -> bool:
        """Mark the task started; False (do not run it) if it was cancelled."""
        with self._lock:
            if self._state == _CANCELLED:
                return False
            self._state = _RUNNING
            return True

    def set_result(self, value: T) -> None:
        self._value = value
        self._finish(_FINISHED)

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._finish(_FINISHED)

    def _finish(self, state: int, only_pending: bool = False) -> bool:
        """Enter *state* and wake the waiters; with *only_pending*, only if
        the task has not started (else whether it was cancelled already)."""
        with self._lock:
            if only_pending and self._state != _PENDING:
                return self._state == _CANCELLED
            self._state = state
            waiters, self._waiters = self._waiters, []
            self._done.set()
        for waiter in waiters:
            waiter(self)
        return True

    # --- the waiter's side ----------------------------------------------------------
    def cancel(self) -> bool:
        """Cancel the task if it has not started; whether it is cancelled."""
        return self._finish(_CANCELLED, only_pending=True)

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> T:
        error = self.exception(timeout)
        if error is not None:
            raise error
        return self._value  # type: ignore[return-value]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self._done.wait(timeout):
            raise TimeoutError()
        if self._state == _CANCELLED:
            raise CancelledError()
        return self._error

    def _notify(self, waiter: Callable[[Future[T]], None]) -> None:
        """Call *waiter* when the future is done (now if it is)."""
        with self._lock:
            if not self._done.is_set():
                self._waiters.append(waiter)
                return
        waiter(self)


def wait(futures: Iterable[Future[T]], first_exception: bool = False) -> tuple[set[Future[T]], set[Future[T]]]:
    """(done, not done) once all *futures* are done, or (with *first_exception*)
    as soon as one of them failed."""
    pending = set(futures)
    woken = threading.Event()
    left = len(pending)
    lock = threading.Lock()

    def done(future: Future[T]) -> None:
        nonlocal left
        with lock:
            left -= 1
            if left == 0 or (first_exception and not future.cancelled() and future._error is not None):
                woken.set()

    for future in list(pending):
        future._notify(done)
    if pending:
        woken.wait()
    finished = {f for f in pending if f.done()}
    return finished, pending - finished


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
