"""``--retry-times`` / ``--retry-delay``: repeat a whole operation when it failed
for a reason that may go away (the error says so through ``retryable``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from . import log
from .errors import SkopeoError

T = TypeVar("T")


def format_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()`` for the values we print."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def if_necessary(operation: Callable[[], T], times: int = 0, delay: float = 0.0) -> T:
    attempt = 0
    while True:
        try:
            return operation()
        except SkopeoError as e:
            if attempt >= times or not e.retryable:
                raise
            wait = delay if delay > 0 else float(2**attempt)
            import random  # only on a retry

            wait += wait * random.uniform(0, 0.1)
            attempt += 1
            log.warning(f"Failed, retrying in {format_duration(round(wait, 3))} ... ({attempt}/{times}). Error: {e.message}")
            time.sleep(wait)
