"""Stream plumbing used by the copy engine."""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING

from .errors import SkopeoError

if TYPE_CHECKING:
    from .transport import BlobStream

CHUNK = 1 << 20
_EOF = object()


class PrefetchReader:
    """Runs the reads of *source* (and whatever it pipes through: download,
    digest check, decompression) in a background thread, handing chunks to the
    consumer through a bounded queue.  A destination that writes one blob at a
    time then overlaps its own work (hashing, writing) with the source side on
    a second core; memory stays bounded by ``depth`` chunks.  Errors raised by
    the source are re-raised to the consumer."""

    def __init__(self, source: BlobStream, depth: int = 8, chunk: int = CHUNK) -> None:
        self._source = source
        self._chunk = chunk
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._buf = b""
        self._done = False
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._source.read(self._chunk)
                if not data:
                    self._put(_EOF)
                    return
                if not self._put(data):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            self._put(e)

    def read(self, n: int = -1) -> bytes:
        if self._buf:
            data = self._buf if n is None or n < 0 else self._buf[:n]
            self._buf = self._buf[len(data):]
            return data
        if self._done:
            return b""
        item = self._queue.get()
        if item is _EOF:
            self._done = True
            return b""
        if isinstance(item, BaseException):
            self._done = True
            raise item
        assert isinstance(item, bytes)
        if n is None or n < 0 or len(item) <= n:
            return item
        self._buf = item[n:]
        return item[:n]

    def stop(self) -> None:
        """Stop and wait for the background thread (idempotent); the source
        stays open so the caller can still read or close it."""
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        self.stop()
        self._source.close()


class ReadErrorAnnotator:
    """Marks an error raised while a destination reads its input as ``happened
    during read: …`` (its own errors stay as they are): a failed blob then says,
    in upstream's words, which side failed."""

    def __init__(self, source: BlobStream) -> None:
        self._source = source

    def read(self, n: int = -1) -> bytes:
        try:
            return self._source.read(n)
        except SkopeoError as e:
            raise e.wrap("happened during read") from None

    def close(self) -> None:
        self._source.close()
