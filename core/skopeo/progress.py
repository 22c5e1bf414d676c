"""Copy progress for people and for logs: the command line's consumer of
the copy engine's events (:mod:`skopeo.events`).

Lines that scripts parse (``Copying blob sha256:…``, ``Writing manifest …``) are
printed as the reference prints them (:func:`line_for` says which event is
which line).  On a terminal each blob also gets a live bar with bytes and
speed; elsewhere (CI logs) a one-line status is printed every ``interval``
seconds while blobs are in flight, so long copies show progress.  The lines
of the instances of a list, copied several at once, come out as if they had
been copied one after the other, as upstream does (:class:`OrderedLines`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TextIO

from . import deadline
from . import events as ev

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


class ByteCounter(Protocol):
    def add(self, n: int) -> None: ...


class CountingReader:
    """Counts bytes read from a stream (into an :class:`events.BlobCounter`,
    or a bar), and stops early when *cancel* is set (a sibling blob failed,
    the whole copy will fail) or when ``--command-timeout`` has passed
    (whatever the transport)."""

    def __init__(self, stream: BlobStream, progress: ByteCounter, cancel: threading.Event | None = None) -> None:
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
    """Thread-safe progress output, and a consumer of copy events (call it
    with each event).  ``out=None`` is quiet."""

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
        # The bars of blobs being copied, by blob_id.
        self._bars: dict[int, BlobProgress] = {}
        # The lines of a list's instances, printed in the list's order.
        self._parts: OrderedLines | None = None

    # --- events --------------------------------------------------------------
    def __call__(self, event: ev.Event) -> None:
        if self.out is None:
            return
        sink = self._parts.sink(event.instance) if self._parts is not None and event.instance is not None else None
        if isinstance(event, ev.BlobProgress):
            bar = self._bars.get(event.blob_id)
            if bar is not None:
                bar.size = event.size
                bar.copied = event.copied
        elif isinstance(event, ev.BlobStarted):
            self._bars[event.blob_id] = self.blob(blob_label(event.digest), event.size, sink)
        elif isinstance(event, ev.BlobDone):
            bar = self._bars.pop(event.blob_id, None)
            if bar is not None:
                bar.size = event.size
                bar.copied = event.copied
                bar.finish()
        elif isinstance(event, ev.BlobSkipped):
            (sink or self.line)(self.skipped_text(blob_label(event.digest)))
        elif isinstance(event, ev.InstanceDone):
            if self._parts is not None:
                self._parts.done(event.index)
        elif isinstance(event, ev.InstanceFailed):
            if self._parts is not None:
                self._parts.failed(event.index)
        else:
            text = line_for(event)
            if text is None:
                return
            (sink or self.line)(text)
            if isinstance(event, ev.CopyingInstances) and event.count:
                self._parts = OrderedLines(self.line, event.count)

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


def blob_label(digest: str) -> str:
    return f"Copying blob {digest}"


def line_for(event: ev.Event) -> str | None:
    """The line upstream prints for *event* (blob lines aside: see
    :class:`Progress`), or None."""
    if isinstance(event, ev.GettingSignatures):
        return f"Getting image {'list' if event.list else 'source'} signatures"
    if isinstance(event, ev.CheckingSignatureSupport):
        return "Checking if image destination supports signatures"
    if isinstance(event, ev.CopyingConfig):
        return f"Copying config {event.digest}"
    if isinstance(event, ev.WritingManifest):
        return f"Writing manifest {'list ' if event.list else ''}to image destination"
    if isinstance(event, ev.CreatingSignature):
        return f"Creating signature: {event.message}"
    if isinstance(event, ev.StoringSignatures):
        return f"Storing {'list ' if event.list else ''}signatures"
    if isinstance(event, ev.ImageSkipped):
        return "Skipping: image already present at destination"
    if isinstance(event, ev.CopyingInstances):
        return f"Copying {event.count} images generated from {event.total} images in list"
    if isinstance(event, ev.InstanceStarted):
        return f"Copying image {event.digest} ({event.index + 1}/{event.total})"
    return None
