"""The one retry and back-off policy, used by every layer that repeats work:
``--retry-times`` / ``--retry-delay`` around whole operations (driven by
``SkopeoError.retryable``), the copy engine re-reading a blob whose upload was
interrupted, the registry client repeating a request, an upload restarted
from a rewound stream, and a download resumed after a broken connection.

A :class:`Backoff` says how long to wait before each retry and when to give
up; :class:`Attempts` counts the retries of one operation under it;
:func:`retrying` is the loop most callers need.  ``--command-timeout``
(:mod:`skopeo.deadline`) bounds them all: no retry starts after it, and a
wait in progress ends there."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from . import deadline, log
from .errors import SkopeoError
from .golang.duration import format_duration

T = TypeVar("T")


class Backoff(NamedTuple):
    """Retry number *n* (1-based) waits ``initial * factor**(n-1)``, at most
    *maximum*, plus a random part of up to *jitter* times that; at most
    *attempts* tries in all, and no wait that would end past *budget*
    seconds after the first try."""

    attempts: float
    initial: float
    factor: float = 2.0
    maximum: float = math.inf
    budget: float = math.inf
    jitter: float = 0.0

    def delay(self, retry: int, initial: float | None = None) -> float:
        """The wait before retry number *retry* (*initial* overrides the policy's)."""
        base = self.initial if initial is None else initial
        wait = min(base * self.factor ** (retry - 1), self.maximum)
        if self.jitter:
            import random  # only on a retry

            wait += wait * random.uniform(0, self.jitter)
        return wait


class Attempts:
    """The retries of one operation under a :class:`Backoff`."""

    def __init__(self, policy: Backoff) -> None:
        self.policy = policy
        self.retries = 0
        self._deadline = time.monotonic() + policy.budget

    def next_delay(self, initial: float | None = None, hinted: Callable[[float], float] | None = None) -> float | None:
        """Count one more retry and return its wait, or None when the attempts
        or the time budget are spent.  *hinted* may replace the computed wait
        (a server's Retry-After); the result stays within the maximum."""
        self.retries += 1
        if self.retries >= self.policy.attempts or deadline.expired():
            return None
        wait = self.policy.delay(self.retries, initial)
        if hinted is not None:
            wait = min(hinted(wait), self.policy.maximum)
        if time.monotonic() + wait > self._deadline:
            return None
        return wait


def retrying(
    operation: Callable[[], T],
    policy: Backoff,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    announce: Callable[[BaseException, float, int], None],
    may_retry: Callable[[BaseException], bool] | None = None,
    before_retry: Callable[[], None] | None = None,
) -> T:
    """Run *operation*; when it raises *retry_on* (and *may_retry* agrees),
    *announce* the retry (error, wait, retry number), sleep, call
    *before_retry* and run it again, until the policy gives up.  When
    ``--command-timeout`` passes during the wait, the last error is raised
    (as containers/common's retry loop returns it)."""
    attempts = Attempts(policy)
    while True:
        try:
            return operation()
        except retry_on as e:
            wait = attempts.next_delay() if may_retry is None or may_retry(e) else None
            if wait is None:
                raise
            announce(e, wait, attempts.retries)
            if not deadline.sleep(wait):
                raise
            if before_retry is not None:
                before_retry()


def if_necessary(operation: Callable[[], T], times: int = 0, delay: float = 0.0) -> T:
    """``--retry-times`` / ``--retry-delay``: repeat *operation* when it failed
    for a reason that may go away (the error says so through ``retryable``);
    without a delay, waits double from one second, with up to 10% added."""

    def announce(e: BaseException, wait: float, retry: int) -> None:
        message = e.message if isinstance(e, SkopeoError) else str(e)
        # The delay before its jitter is added, as containers/common prints it.
        base = policy._replace(jitter=0.0).delay(retry)
        log.warning(f"Failed, retrying in {format_duration(round(base, 3))} ... ({retry}/{times}). Error: {message}")

    policy = Backoff(times + 1, delay, factor=1.0, jitter=0.1) if delay > 0 else Backoff(times + 1, 1.0, jitter=0.1)
    return retrying(operation, policy, SkopeoError, announce, may_retry=lambda e: getattr(e, "retryable", False))
