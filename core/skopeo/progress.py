"""Copy progress for people and for logs.

Lines that scripts parse (``Copying blob sha256:…``, ``Writing manifest …``) are
printed as the reference prints them.  On a terminal each blob also gets a live
bar with bytes and speed; elsewhere (CI logs) a one-line status is printed every
``interval`` seconds while blobs are in flight, so long copies show progress.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, TextIO

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


class BlobProgress:
    def __init__(self, owner: Progress, label: str, size: int) -> None:
        self.owner = owner
        self.label = label
        self.size = size
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
    *cancel* is set (a sibling blob failed, the whole copy will fail)."""

    def __init__(self, stream: BlobStream, progress: BlobProgress, cancel: threading.Event | None = None) -> None:
        self._stream = stream
        self._progress = progress
        self._cancel = cancel

    def read(self, n: int = -1) -> bytes:
        if self._cancel is not None and self._cancel.is_set():
            raise CancelledError("copy cancelled")
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
    def blob(self, label: str, size: int) -> BlobProgress:
        bp = BlobProgress(self, label, size)
        if self.out is None:
            return bp
        with self._lock:
            if not self.tty:
                self.out.write(label + "\n")
                self.out.flush()
            self._active.append(bp)
            self._ensure_ticker()
        return bp

    def skipped(self, label: str) -> None:
        # "skipped: already exists" is the bar's text on a terminal; a log gets
        # the plain line, as upstream prints it.
        self.line(f"{label} skipped: already exists" if self.tty else label)

    def _finished(self, bp: BlobProgress) -> None:
        if self.out is None:
            return
        with self._lock:
            self._total += bp.copied
            if bp in self._active:
                self._clear_bars()
                self._active.remove(bp)
                if self.tty:
                    self.out.write(bp.render() + "\n")
                self._draw_bars()
                self.out.flush()

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
