"""Copy progress for people and for logs.

Lines that scripts parse (``Copying blob sha256:…``, ``Writing manifest …``) are
printed as the reference prints them.  On a terminal each blob also gets a live
bar with bytes and speed; elsewhere (CI logs) a one-line status is printed every
``interval`` seconds while blobs are in flight, so long copies show progress.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TextIO

from . import deadline

if TYPE_CHECKING:
    from .transport import BlobStream

STATUS_INTERVAL = 10.0
_BAR_WIDTH = 30


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n:.1f}GiB"  # pragma: no cover


# Where a part of a copy sends its permanent lines (see OrderedLines).
LineSink = Callable[[str], None]


class BlobProgress:
    def __init__(self, owner: Progress, label: str, size: int, sink: LineSink | None = None) -> None:
        self.owner = owner
        self.label = label
        self.size = size
        self.sink = sink
        self.copied = 0
        self.started = time.monotonic()
        self.state = ""  # "", "done", "skipped"

    def add(self, n: int) -> None:
        self.copied += n

    def finish(self, state: str = "done") -> None:
        self.state = state
        self.owner._finished(self)

    def render(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        speed = human(self.copied / elapsed) + "/s"
        if self.state == "skipped":
            return f"{self.label} skipped: already exists"
        if self.size > 0:
            frac = min(self.copied / self.size, 1.0)
            filled = int(frac * _BAR_WIDTH)
            bar = "=" * filled + (">" if filled < _BAR_WIDTH else "") + "-" * max(_BAR_WIDTH - filled - 1, 0)
            amount = f"{human(self.copied)} / {human(self.size)}"
        else:
            bar = "-" * _BAR_WIDTH
            amount = human(self.copied)
        tail = "done" if self.state == "done" else speed
        return f"{self.label} [{bar}] {amount} | {tail}"


class CancelledError(Exception):
    """Another part of the same copy failed; stop moving bytes."""


class CountingReader:
    """Counts bytes read from a stream into a BlobProgress, and stops early when
    *cancel* is set (a sibling blob failed, the whole copy will fail) or when
    ``--command-timeout`` has passed (whatever the transport)."""

    def __init__(self, stream: BlobStream, progress: BlobProgress, cancel: threading.Event | None = None) -> None:
        self._stream = stream
        self._progress = progress
        self._cancel = cancel

    def read(self, n: int = -1) -> bytes:
        if self._cancel is not None and self._cancel.is_set():
            raise CancelledError("copy cancelled")
        deadline.check()
        data = self._stream.read(n)
        self._progress.add(len(data))
        return data

    def close(self) -> None:
        self._stream.close()


class Progress:
    """Thread-safe progress output.  ``out=None`` is quiet."""

    def __init__(self, out: TextIO | None, interval: float = STATUS_INTERVAL) -> None:
        self.out = out
        self.tty = bool(out is not None and hasattr(out, "isatty") and out.isatty())
        self.interval = interval
        self._lock = threading.Lock()
        self._active: list[BlobProgress] = []
        self._drawn = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._total = 0

    # --- plain lines ---------------------------------------------------------
    def line(self, text: str) -> None:
        if self.out is None:
            return
        with self._lock:
            self._clear_bars()
            self.out.write(text + "\n")
            self._draw_bars()
            self.out.flush()

    # --- blobs ---------------------------------------------------------------
    def blob(self, label: str, size: int, sink: LineSink | None = None) -> BlobProgress:
        """A blob starts: its label line (in a log) or its live bar (on a
        terminal).  *sink* takes its permanent lines instead of the output."""
        bp = BlobProgress(self, label, size, sink)
        if self.out is None:
            return bp
        if not self.tty and sink is not None:
            sink(label)
        with self._lock:
            if not self.tty and sink is None:
                self.out.write(label + "\n")
                self.out.flush()
            self._active.append(bp)
            self._ensure_ticker()
        return bp

    def skipped(self, label: str) -> None:
        self.line(self.skipped_text(label))

    def skipped_text(self, label: str) -> str:
        # "skipped: already exists" is the bar's text on a terminal; a log gets
        # the plain line, as upstream prints it.
        return f"{label} skipped: already exists" if self.tty else label

    def _finished(self, bp: BlobProgress) -> None:
        if self.out is None:
            return
        with self._lock:
            self._total += bp.copied
            if bp not in self._active:
                return
            self._clear_bars()
            self._active.remove(bp)
            if self.tty and bp.sink is None:
                self.out.write(bp.render() + "\n")
            self._draw_bars()
            self.out.flush()
        if self.tty and bp.sink is not None:
            bp.sink(bp.render())

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._clear_bars()

    # --- rendering -----------------------------------------------------------
    def _ensure_ticker(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._thread.start()

    def _tick(self) -> None:
        period = 0.2 if self.tty else self.interval
        while not self._stop.wait(period):
            with self._lock:
                if not self._active or self.out is None:
                    continue
                if self.tty:
                    self._clear_bars()
                    self._draw_bars()
                else:
                    copied = self._total + sum(bp.copied for bp in self._active)
                    elapsed = max(time.monotonic() - min(bp.started for bp in self._active), 1e-6)
                    rate = sum(bp.copied for bp in self._active) / elapsed
                    self.out.write(
                        f"Progress: {len(self._active)} blob(s) in flight, {human(copied)} copied, {human(rate)}/s\n"
                    )
                self.out.flush()

    def _clear_bars(self) -> None:
        if self.tty and self._drawn and self.out is not None:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw_bars(self) -> None:
        if self.tty and self.out is not None and self._active:
            for bp in self._active:
                self.out.write(bp.render() + "\n")
            self._drawn = len(self._active)


class Reporter(Protocol):
    """What the copy engine reports to: a :class:`Progress`, or one part's
    :class:`ProgressView` of it."""

    def line(self, text: str) -> None: ...

    def blob(self, label: str, size: int) -> BlobProgress: ...

    def skipped(self, label: str) -> None: ...

    def close(self) -> None: ...


class ProgressView:
    """One part of a copy whose parts run in parallel (the instances of a
    list): live bars stay shared on the terminal, but every permanent line
    goes to *sink*, which prints it in the parts' order."""

    def __init__(self, progress: Progress, sink: LineSink) -> None:
        self._progress = progress
        self._sink = sink

    def line(self, text: str) -> None:
        if self._progress.out is not None:
            self._sink(text)

    def blob(self, label: str, size: int) -> BlobProgress:
        return self._progress.blob(label, size, self._sink)

    def skipped(self, label: str) -> None:
        self.line(self._progress.skipped_text(label))

    def close(self) -> None:
        pass  # the shared Progress is closed by its owner


class OrderedLines:
    """The lines of *parts* parts running in parallel, printed as if they had
    run one after the other (upstream copies the instances of a list in turn,
    and scripts read its output in that order): part 0 prints at once; the
    lines of a later part wait until every earlier part is :meth:`done`, then
    it prints at once too.  After :meth:`failed`, later parts print nothing:
    upstream would never have started them."""

    def __init__(self, write: LineSink, parts: int) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._head = 0
        self._limit = parts
        self._waiting: list[list[str]] = [[] for _ in range(parts)]
        self._done = [False] * parts

    def sink(self, part: int) -> LineSink:
        def emit(text: str) -> None:
            with self._lock:
                if part >= self._limit:
                    return
                if part == self._head:
                    self._write(text)
                else:
                    self._waiting[part].append(text)

        return emit

    def done(self, part: int) -> None:
        with self._lock:
            self._done[part] = True
            while self._head < self._limit and self._done[self._head]:
                self._head += 1
                if self._head < self._limit:
                    for text in self._waiting[self._head]:
                        self._write(text)
                    self._waiting[self._head].clear()

    def failed(self, part: int) -> None:
        """*part* failed: it is the last part whose lines are printed."""
        with self._lock:
            self._limit = min(self._limit, part + 1)
            for later in range(self._limit, len(self._waiting)):
                self._waiting[later].clear()
