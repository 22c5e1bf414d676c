"""skopeo.workers: reused threads, bounded batches, cancellation before a
task starts, errors carried by the futures, waiting for all or for the first
failure."""

from __future__ import annotations

import threading
import time

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
    done, pending = workers.wait(futures)
    assert done == set(futures) and not pending
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


def test_wait_for_the_first_failure_or_for_all() -> None:
    gate = threading.Event()

    def task(i: int) -> int:
        if i == 1:
            raise ValueError("one failed")
        gate.wait(10)
        return i

    futures = workers.map_bounded(task, 3, 3, "test-wait")
    done, pending = workers.wait(futures, first_exception=True)
    # Returns at the failure, while the others still run.
    assert futures[1] in done and futures[0] in pending and futures[2] in pending
    assert isinstance(futures[1].exception(), ValueError)
    assert not futures[0].cancel()  # running: it cannot be cancelled
    gate.set()
    done, pending = workers.wait(futures)
    assert done == set(futures) and not pending
    assert [futures[0].result(), futures[2].result()] == [0, 2]
    # Without a failure, waiting for the first one waits for all.
    done, pending = workers.wait(workers.map_bounded(lambda i: i, 4, 2, "test-wait-all"), first_exception=True)
    assert len(done) == 4 and not pending


def test_a_cancelled_future_and_a_result_not_ready() -> None:
    future: workers.Future[int] = workers.Future()
    with pytest.raises(TimeoutError):
        future.result(timeout=0.01)
    assert future.cancel() and future.cancel() and future.cancelled() and future.done()
    assert not future.set_running_or_notify_cancel()
    with pytest.raises(workers.CancelledError):
        future.result()
    done, pending = workers.wait([future], first_exception=True)  # cancelled counts as done, not as failed
    assert done == {future} and not pending
    finished: workers.Future[int] = workers.Future()
    assert finished.set_running_or_notify_cancel()
    finished.set_result(7)
    assert not finished.cancel() and finished.result() == 7
