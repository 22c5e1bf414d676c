"""``--command-timeout``: one deadline for the whole command, every thread,
every retry and every transport (upstream's ``context.WithTimeout`` around
the command's context).

Go cancels blocking I/O through the context.  Python has no such thing, so the
deadline is enforced at four levels:

* **Waits** (:func:`sleep`): every retry back-off, cool-down and reconnection
  pause wakes up at the deadline; :class:`skopeo.retry.Attempts` gives up once
  it has passed.
* **Sockets**: timeouts are derived from the time left (:func:`timeout`), and
  code that owns sockets registers a hook (:func:`on_expiry`) that shuts them
  down when the deadline passes, which wakes up any thread blocked in a read or
  write on them (the registry client does this for every connection).
* **Streams**: the copy engine's reads (``progress.CountingReader``) stop at the
  deadline, so local transports end too.
* **Last resort**: if the command is still running :data:`GRACE` seconds after
  the deadline (something blocked that cannot be interrupted: a DNS lookup, a
  hung file system, a helper program), the watchdog prints the fatal line,
  runs the process's exit handlers (temporary directories are registered
  there) and ends the process with status 1.

Errors are worded as Go's: the network layer reports ``Get "url": context
deadline exceeded``, a body read ``context deadline exceeded`` (each caller
then adds upstream's context).  The deadline is process-wide: programs using
the API can use :func:`limit`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import SkopeoError

if TYPE_CHECKING:
    import subprocess

MESSAGE = "context deadline exceeded"
# Seconds between the deadline and the last-resort exit.
GRACE = 1.0


class DeadlineExceeded(SkopeoError):
    """The command's deadline passed (never worth retrying)."""

    retryable = False

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)


_lock = threading.Lock()
_deadline: float | None = None
_state = "idle"  # "armed", then "finished" or "last resort"
_expired = threading.Event()
_finished = threading.Event()
_hooks: dict[int, Callable[[], None]] = {}
_next_hook = 0
_last_resort: Callable[[], None] | None = None


def start(seconds: float, last_resort: Callable[[], None] | None = None) -> None:
    """Arm the deadline *seconds* from now.  *last_resort* runs if the command
    is still running :data:`GRACE` seconds after it (the CLI ends the process)."""
    global _deadline, _last_resort, _state
    with _lock:
        _deadline = time.monotonic() + seconds
        _last_resort = last_resort
        _state = "armed"
        _expired.clear()
        _finished.clear()
        deadline = _deadline
    threading.Thread(target=_watch, args=(deadline,), name="deadline", daemon=True).start()


def finish() -> bool:
    """The command is over (it succeeded, or its error is about to be printed):
    the last resort will not run.  False when the last resort already runs
    (it prints the error and ends the process)."""
    global _deadline, _state
    with _lock:
        if _state == "last resort":
            return False
        _state = "finished"
        _deadline = None
        _finished.set()
    return True


@contextmanager
def limit(seconds: float) -> Iterator[None]:
    """The deadline around a block of API calls (without a last resort)."""
    start(seconds)
    try:
        yield
    finally:
        finish()
        _expired.clear()


def _watch(deadline: float) -> None:
    while time.monotonic() < deadline:
        if _finished.wait(deadline - time.monotonic()):
            return
    _expired.set()
    with _lock:
        hooks = list(_hooks.values())
    for hook in hooks:
        try:
            hook()
        except Exception:  # one failing hook must not spare the others
            pass
    if _finished.wait(GRACE):
        return
    global _state
    with _lock:
        if _state != "armed":
            return
        _state = "last resort"
        last = _last_resort
    if last is not None:
        last()


def expired() -> bool:
    """Whether the deadline has passed (even if the watchdog has not run yet:
    a socket timeout derived from it may fire first)."""
    if _expired.is_set():
        return True
    d = _deadline
    return d is not None and time.monotonic() >= d


def remaining() -> float | None:
    """Seconds left (at least 0), or None without a deadline."""
    d = _deadline
    return None if d is None else max(d - time.monotonic(), 0.0)


def check() -> None:
    """Raise :class:`DeadlineExceeded` once the deadline has passed."""
    if expired():
        raise DeadlineExceeded()


def timeout(default: float | None) -> float | None:
    """A socket or wait timeout: *default*, shortened to the time left (never
    0, which would make a socket non-blocking)."""
    left = remaining()
    if left is None:
        return default
    left = max(left, 0.001)
    return left if default is None else min(default, left)


def sleep(seconds: float) -> bool:
    """Sleep *seconds*, waking up at the deadline; False if it passed."""
    if _deadline is None and not _expired.is_set():
        time.sleep(seconds)
        return True
    _expired.wait(timeout(seconds))
    return not expired()


def on_expiry(hook: Callable[[], None]) -> int:
    """Call *hook* (from the watchdog thread) when the deadline passes, to
    interrupt blocking I/O; returns a token for :func:`forget`."""
    global _next_hook
    with _lock:
        _next_hook += 1
        _hooks[_next_hook] = hook
        return _next_hook


def forget(token: int) -> None:
    with _lock:
        _hooks.pop(token, None)


def run(argv: list[str], limit_seconds: float, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """``subprocess.run(argv, capture_output=True, …)`` for a helper program
    (credential helper, gpg): killed after *limit_seconds* or at the deadline,
    whichever comes first.  Killed at the deadline, it raises
    :class:`DeadlineExceeded`; after its own limit, ``SkopeoError("<argv[0]>:
    signal: killed")`` (Go's text for a killed program) instead of Python's
    TimeoutExpired."""
    import subprocess

    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout(limit_seconds), **kwargs)
    except subprocess.TimeoutExpired:
        if expired():
            raise DeadlineExceeded() from None
        raise SkopeoError(f"{argv[0]}: signal: killed") from None
