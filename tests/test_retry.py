"""The one retry policy: waits, limits and the loop, without any network."""

from __future__ import annotations

import math

import pytest

from skopeo import retry
from skopeo.errors import SkopeoError, UploadInterruptedError
from skopeo.retry import Attempts, Backoff


@pytest.mark.parametrize(
    ("policy", "retry_number", "initial", "expected"),
    [
        (Backoff(5, 0.5), 1, None, 0.5),
        (Backoff(5, 0.5), 3, None, 2.0),
        (Backoff(5, 0.5, maximum=1.5), 3, None, 1.5),
        (Backoff(5, 0.5), 2, 2.0, 4.0),  # a 429 starts from a longer wait
        (Backoff(math.inf, 1.0, factor=1.0), 7, None, 1.0),  # a fixed pause
    ],
)
def test_backoff_delay(policy: Backoff, retry_number: int, initial: float | None, expected: float) -> None:
    assert policy.delay(retry_number, initial) == expected


def test_jitter_adds_at_most_its_share() -> None:
    waits = [Backoff(3, 2.0, jitter=0.1).delay(1) for _ in range(50)]
    assert all(2.0 <= w <= 2.2 for w in waits)


def test_attempts_count_every_try() -> None:
    attempts = Attempts(Backoff(3, 1.0))
    assert [attempts.next_delay(), attempts.next_delay(), attempts.next_delay()] == [1.0, 2.0, None]
    assert attempts.retries == 3


def test_attempts_stop_at_the_budget_and_cap_hints() -> None:
    assert Attempts(Backoff(9, 5.0, budget=4.0)).next_delay() is None
    hinted = Attempts(Backoff(9, 1.0, maximum=60.0))
    assert hinted.next_delay(hinted=lambda backoff: 3600.0) == 60.0


def test_retrying_announces_and_rewinds() -> None:
    calls: list[str] = []

    def flaky() -> str:
        calls.append("try")
        if calls.count("try") < 3:
            raise UploadInterruptedError("reset")
        return "done"

    announced: list[tuple[str, float, int]] = []
    result = retry.retrying(flaky, Backoff(3, 0.001), UploadInterruptedError,
                            lambda e, wait, n: announced.append((str(e), wait, n)),
                            before_retry=lambda: calls.append("rewind"))
    assert result == "done"
    assert calls == ["try", "rewind", "try", "rewind", "try"]
    assert announced == [("reset", 0.001, 1), ("reset", 0.002, 2)]


def test_retrying_gives_up_when_told() -> None:
    def fails() -> None:
        raise UploadInterruptedError("reset")

    with pytest.raises(UploadInterruptedError):
        retry.retrying(fails, Backoff(5, 0.001), UploadInterruptedError, lambda *a: None, may_retry=lambda e: False)


def test_if_necessary_repeats_only_retryable_errors() -> None:
    tries = 0

    def not_retryable() -> None:
        nonlocal tries
        tries += 1
        raise SkopeoError("no")

    with pytest.raises(SkopeoError):
        retry.if_necessary(not_retryable, times=3, delay=0.001)
    assert tries == 1

    def retryable() -> int:
        nonlocal tries
        tries += 1
        raise UploadInterruptedError("again")

    tries = 0
    with pytest.raises(UploadInterruptedError):
        retry.if_necessary(retryable, times=2, delay=0.001)
    assert tries == 3
