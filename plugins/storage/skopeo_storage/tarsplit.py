"""tar-split records (``vbatts/tar-split/tar/storage``): the part of a layer's tar
that is not file content, so the tar can be rebuilt byte for byte from the
record and the extracted files.

A record is a gzip-compressed stream of JSON lines, each an entry:
``{"type":2,"payload":<base64 raw bytes>,"position":N}`` for header blocks,
padding and trailing bytes, ``{"type":1,"name":…,"size":N,"payload":<base64 of
the big-endian CRC-64/ISO of the content>,"position":N}`` for each file (payload
``null`` when the size is 0; ``name_raw`` with base64 bytes for names that are
not UTF-8).  Names must be unique after ``filepath.Clean``, as tar-split requires
(``duplicates of file paths not supported``).
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Callable, Generator, Iterator
from typing import Any, BinaryIO

from skopeo.golang import gojson

FILE_TYPE = 1
SEGMENT_TYPE = 2
ERR_DUPLICATE_PATH = "duplicates of file paths not supported"


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean``: lexical, "//" collapsed, "." and ".." resolved,
    "" becomes "."."""
    if not path:
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def crc64(data: bytes | memoryview, crc: int = 0) -> int:
    """CRC-64 with the ISO polynomial, continuing *crc* (0 to start), as Go's
    ``crc64.Update`` with ``crc64.ISO``."""
    global _go_iso
    if _go_iso is None:
        from fastcrc import crc64 as fast

        _go_iso = fast.go_iso
    return int(_go_iso(data, crc))


_go_iso: Any = None


def crc_payload(crc: int) -> bytes:
    return struct.pack(">Q", crc)


def _gzip_module() -> Any:
    from skopeo.compression import _gzip_module as module

    return module()


class TarSplitWriter:
    """Writes a tar-split record, gzip-compressed, to a file descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        mod = _gzip_module()
        # BestSpeed, as containers/storage (pgzip level 1).
        self._gz = mod.compressobj(1, mod.DEFLATED, 31)
        self._position = 0
        self._seen: set[str] = set()
        self._pending: list[bytes] = []
        self._pending_size = 0

    def check_name(self, name: str) -> None:
        cleaned = go_clean(name)
        if cleaned in self._seen:
            raise ValueError(ERR_DUPLICATE_PATH)
        self._seen.add(cleaned)

    def _emit(self, line: bytes) -> None:
        self._pending.append(line)
        self._pending_size += len(line)
        self._position += 1
        if self._pending_size >= 1 << 16:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if self._pending:
            _write_all(self._fd, self._gz.compress(b"".join(self._pending)))
            self._pending.clear()
            self._pending_size = 0

    def segment(self, payload: bytes) -> None:
        if payload:
            self._emit(b'{"type":2,"payload":"%s","position":%d}\n' % (base64.b64encode(payload), self._position))

    def file(self, name: str, size: int, crc: bytes | None) -> None:
        """A file entry (the name was checked with :meth:`check_name`)."""
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # not UTF-8: the bytes, as tar-split's name_raw
            key = b'"name_raw":"%s"' % base64.b64encode(name.encode("utf-8", "surrogateescape"))
        else:
            key = b'"name":' + gojson.marshal(name) if name else b""
        parts = [b'{"type":1']
        if key:
            parts.append(b"," + key)
        if size:
            parts.append(b',"size":%d' % size)
        parts.append(b',"payload":%s' % (b'"%s"' % base64.b64encode(crc) if crc is not None else b"null"))
        parts.append(b',"position":%d}\n' % self._position)
        self._emit(b"".join(parts))

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


def entry_name(entry: dict[str, Any]) -> str:
    raw = entry.get("name_raw")
    if isinstance(raw, str) and raw:
        return base64.b64decode(raw).decode("utf-8", "surrogateescape")
    name = entry.get("name")
    return name if isinstance(name, str) else ""


def entry_payload(entry: dict[str, Any]) -> bytes:
    payload = entry.get("payload")
    return base64.b64decode(payload) if isinstance(payload, str) else b""


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
