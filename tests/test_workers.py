"""skopeo.workers: reused threads, bounded batches, cancellation before a
task starts, errors carried by the futures."""

from __future__ import annotations

import threading
import time
from concurrent.futures import wait

import pytest

from skopeo import workers


def test_map_bounded_runs_every_index_at_most_limit_at_once() -> None:
    lock = threading.Lock()
    running = peak = 0

    def task(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return i * i

    futures = workers.map_bounded(task, 12, 3, "test-batch")
    assert [f.result(timeout=10) for f in futures] == [i * i for i in range(12)]
    assert peak == 3


def test_cancelled_before_their_turn_never_run() -> None:
    started: list[int] = []
    gate = threading.Event()

    def task(i: int) -> int:
        started.append(i)
        gate.wait(10)
        return i

    futures = workers.map_bounded(task, 5, 1, "test-cancel")
    while not started:
        time.sleep(0.001)
    assert [f.cancel() for f in futures[1:]] == [True] * 4  # not started: cancelled
    gate.set()
    wait(futures, timeout=10)
    assert futures[0].result() == 0 and started == [0]


def test_errors_reach_the_future_and_workers_are_reused() -> None:
    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        workers.submit(fail, "test-error").result(timeout=10)
    # A worker that finished goes back to wait for the next task: tasks one
    # after the other all run on the same thread, and no thread is started.
    time.sleep(0.05)
    threads = threading.active_count()
    idents = set()
    for _ in range(10):
        idents.add(workers.submit(threading.get_ident, "test-reuse").result(timeout=10))
        time.sleep(0.01)  # (it is idle again once its result is set and it has put itself back)
    assert len(idents) == 1
    assert threading.active_count() == threads
    assert workers.submit(lambda: threading.current_thread().name, "named").result(timeout=10) == "named"
