"""tar-split records as containers/storage keeps them, gzip-compressed: the
writer, the reader (checked for duplicate names as tar-split's unpacker does)
and the tar rebuilt from a record and the layer's files.  The record's format
(JSON lines of segments and files) is the core's :mod:`skopeo.tarsplit`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Iterator
from typing import Any, BinaryIO

from skopeo.golang import gojson
from skopeo.tarsplit import (  # the record's format is the core's (zstd:chunked writes it too)
    ERR_DUPLICATE_PATH,
    FILE_TYPE,
    SEGMENT_TYPE,
    TarSplitPacker,
    crc64,
    crc_payload,
    entry_name,
    entry_payload,
    go_clean,
)

__all__ = ["ERR_DUPLICATE_PATH", "FILE_TYPE", "SEGMENT_TYPE", "TarAssembler", "TarSplitWriter", "crc64", "crc_payload",
           "entries", "entry_name", "entry_payload", "go_clean"]


def _gzip_module() -> Any:
    from skopeo.compression import _gzip_module as module

    return module()


class TarSplitWriter(TarSplitPacker):
    """Writes a tar-split record, gzip-compressed, to a file descriptor."""

    def __init__(self, fd: int) -> None:
        super().__init__(self._collect)
        self._fd = fd
        mod = _gzip_module()
        # BestSpeed, as containers/storage (pgzip level 1).
        self._gz = mod.compressobj(1, mod.DEFLATED, 31)
        self._pending: list[bytes] = []
        self._pending_size = 0

    def _collect(self, line: bytes) -> None:
        self._pending.append(line)
        self._pending_size += len(line)
        if self._pending_size >= 1 << 16:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if self._pending:
            _write_all(self._fd, self._gz.compress(b"".join(self._pending)))
            self._pending.clear()
            self._pending_size = 0

    def close(self) -> None:
        self._flush_pending()
        _write_all(self._fd, self._gz.flush())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- reading ----------------------------------------------------------------------
def entries(stream: BinaryIO) -> Iterator[dict[str, Any]]:
    """The entries of a gzip-compressed tar-split record, checked for duplicate
    names as tar-split's unpacker does."""
    mod = _gzip_module()
    gz = mod.decompressobj(31)
    seen: set[str] = set()
    rest = b""
    while True:
        chunk = stream.read(1 << 16)
        data = gz.decompress(chunk) if chunk else gz.flush()
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("tar-split: invalid entry")
            if entry.get("type") == FILE_TYPE:
                cleaned = go_clean(entry_name(entry))
                if cleaned in seen:
                    raise ValueError(ERR_DUPLICATE_PATH)
                seen.add(cleaned)
            yield entry
        if not chunk:
            if rest.strip():
                raise ValueError("tar-split: truncated record")
            return



class TarAssembler:
    """The tar stream rebuilt from a tar-split record and the files *open_file*
    opens by name (``asm.NewOutputTarStream``), as a readable stream."""

    def __init__(self, record: BinaryIO, open_file: Callable[[str], BinaryIO]) -> None:
        self._record = record
        self._open = open_file
        self._chunks: Generator[bytes, None, None] = self._generate()
        self._buf = b""
        self._done = False

    def _generate(self) -> Generator[bytes, None, None]:
        for entry in entries(self._record):
            kind = entry.get("type")
            if kind == SEGMENT_TYPE:
                yield entry_payload(entry)
            elif kind == FILE_TYPE:
                size = entry.get("size") or 0
                if not isinstance(size, int) or size <= 0:
                    continue
                name = entry_name(entry)
                crc = 0
                f = self._open(name)
                try:
                    while chunk := f.read(1 << 20):
                        crc = crc64(chunk, crc)
                        yield chunk
                finally:
                    f.close()
                if crc_payload(crc) != entry_payload(entry):
                    raise ValueError(f"file integrity checksum failed for {gojson.quote(name.encode('utf-8', 'surrogateescape'))}")

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buf) < n):
            try:
                self._buf += next(self._chunks)
            except StopIteration:
                self._done = True
        if n < 0 or n >= len(self._buf):
            data, self._buf = self._buf, b""
            return data
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def close(self) -> None:
        self._chunks.close()
        self._record.close()
