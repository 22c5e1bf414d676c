"""tar-split records (``vbatts/tar-split/tar/storage``'s JSON packer): the part
of a layer's tar that is not file content, so the tar can be rebuilt byte for
byte from the record and the files.  containers/storage keeps one per layer
(gzip-compressed), and zstd:chunked layers carry one (zstd-compressed).

A record is JSON lines, each an entry:
``{"type":2,"payload":<base64 raw bytes>,"position":N}`` for header blocks,
padding and trailing bytes, ``{"type":1,"name":…,"size":N,"payload":<base64 of
the big-endian CRC-64/ISO of the content>,"position":N}`` for each file (payload
``null`` when the size is 0; ``name_raw`` with base64 bytes for names that are
not UTF-8).  Names must be unique after ``filepath.Clean``, as tar-split requires
(``duplicates of file paths not supported``)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

from .golang import gojson

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


_go_iso: Any = None


def crc64(data: bytes | memoryview, crc: int = 0) -> int:
    """CRC-64 with the ISO polynomial, continuing *crc* (0 to start), as Go's
    ``crc64.Update`` with ``crc64.ISO`` (fastcrc: zlib has no CRC-64)."""
    global _go_iso
    if _go_iso is None:
        from fastcrc import crc64 as fast

        _go_iso = fast.go_iso
    return int(_go_iso(data, crc))


def crc_payload(crc: int) -> bytes:
    return struct.pack(">Q", crc)


class TarSplitPacker:
    """Formats entries as JSON lines and hands them to *sink* (which
    compresses and stores them)."""

    def __init__(self, sink: Callable[[bytes], object]) -> None:
        self._sink = sink
        self._position = 0
        self._seen: set[str] = set()

    def check_name(self, name: str) -> None:
        cleaned = go_clean(name)
        if cleaned in self._seen:
            raise ValueError(ERR_DUPLICATE_PATH)
        self._seen.add(cleaned)

    def _emit(self, line: bytes) -> None:
        self._sink(line)
        self._position += 1

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


def entry_name(entry: dict[str, Any]) -> str:
    raw = entry.get("name_raw")
    if isinstance(raw, str) and raw:
        return base64.b64decode(raw).decode("utf-8", "surrogateescape")
    name = entry.get("name")
    return name if isinstance(name, str) else ""


def entry_payload(entry: dict[str, Any]) -> bytes:
    payload = entry.get("payload")
    return base64.b64decode(payload) if isinstance(payload, str) else b""
