"""tar-split metadata (github.com/vbatts/tar-split, ``tar/asm`` and
``tar/storage``): what upstream's ostree transport kept of a layer tar besides
its files, so that the exact tar can be rebuilt from an OSTree checkout.

The metadata is a stream of JSON entries, one per line, gzipped:

* segment ``{"type":2,"payload":<base64 raw bytes>,"position":N}``: header
  blocks, padding, the end-of-archive blocks, verbatim;
* file ``{"type":1,"name":…,"size":…,"payload":<base64 CRC-64>,"position":N}``:
  a member whose content comes from the file of that name (``name_raw``,
  base64, replaces ``name`` when it is not UTF-8; ``size`` is omitted when 0,
  and the payload, Go's CRC-64/ISO of the content, is then null).

The record format itself (entries, CRC-64, names) is :mod:`skopeo.tarsplit`,
shared with containers-storage and zstd:chunked; this module walks a tar file
to make a record and rebuilds the tar from one.  Segment
boundaries follow Go's reader: a segment holds what lies between the end of
one member's data and the start of the next one's; the tail comes as the
last member's padding with the end-of-archive blocks, then 1 MiB pieces.  Readers only concatenate, so the
boundaries do not matter for rebuilding the tar.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from skopeo.errors import SkopeoError
from skopeo.golang import gojson
from skopeo.golang.archivetar import tar_error_text
from skopeo.tarsplit import (
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

CHUNK = 1 << 20
END_BLOCKS = 2 * tarfile.BLOCKSIZE


def _raw_header_name(fd: int, member: tarfile.TarInfo) -> str | None:
    """A directory's name as stored (tarfile drops the trailing slash Go keeps)."""
    if "path" in member.pax_headers:
        return member.pax_headers["path"]
    first = os.pread(fd, tarfile.BLOCKSIZE, member.offset)
    if first[156:157] == tarfile.GNUTYPE_LONGNAME:
        size = int(first[124:136].rstrip(b"\0 ") or b"0", 8)
        raw = os.pread(fd, size, member.offset + tarfile.BLOCKSIZE).split(b"\0", 1)[0]
    else:
        header = os.pread(fd, tarfile.BLOCKSIZE, member.offset_data - tarfile.BLOCKSIZE)
        raw = header[:100].split(b"\0", 1)[0]
        prefix = header[345:500].split(b"\0", 1)[0]
        if header[257:263] == b"ustar\0" and prefix:
            raw = prefix + b"/" + raw
    return raw.decode("utf-8", "surrogateescape")


def _has_data(member: tarfile.TarInfo) -> bool:
    # Go's reader, like tarfile, reads content only for regular files and unknown types.
    return member.isreg() or member.type not in tarfile.SUPPORTED_TYPES


def _add_file(packer: TarSplitPacker, fd: int, member: tarfile.TarInfo) -> None:
    """The file entry of *member* (a directory keeps the trailing slash Go's
    reader keeps), its CRC-64 read from the tar at *fd*."""
    name = member.name
    if member.isdir():
        raw = _raw_header_name(fd, member)
        if raw is not None and raw.rstrip("/") == name and raw.endswith("/"):
            name += "/"
    try:
        packer.check_name(name)
    except ValueError as e:
        raise SkopeoError(str(e)) from None
    checksum = None
    if member.size > 0:
        crc = 0
        pos, remaining = member.offset_data, member.size if _has_data(member) else 0
        while remaining > 0:
            data = os.pread(fd, min(remaining, CHUNK), pos)
            if not data:
                raise SkopeoError("unexpected EOF")
            crc = crc64(data, crc)
            pos += len(data)
            remaining -= len(data)
        checksum = crc_payload(crc)
    packer.file(name, member.size, checksum)


def disassemble(path: str) -> bytes:
    """The gzipped tar-split metadata of the uncompressed tar at *path*."""
    buf = io.BytesIO()
    with open(path, "rb") as f, gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        fd = f.fileno()
        packer = TarSplitPacker(gz.write)
        end = 0
        try:
            with tarfile.open(fileobj=f, mode="r:") as tar:
                for member in tar:
                    if member.issparse():
                        raise SkopeoError(f"sparse file {member.name!r} is not supported")
                    packer.segment(os.pread(fd, member.offset_data - end, end))
                    _add_file(packer, fd, member)
                    end = member.offset_data + (member.size if _has_data(member) else 0)
        except tarfile.ReadError as e:
            if str(e) != "empty file":
                raise SkopeoError(tar_error_text(e)) from None
        except tarfile.TarError as e:
            raise SkopeoError(tar_error_text(e)) from None
        # Go's last read: the last member's padding and the end-of-archive blocks.
        tail = -end % tarfile.BLOCKSIZE + END_BLOCKS
        packer.segment(os.pread(fd, tail, end))
        end += tail
        while data := os.pread(fd, CHUNK, end):
            packer.segment(data)
            end += len(data)
    return buf.getvalue()


def _entries(metadata: bytes) -> Iterator[dict[str, Any]]:
    """``storage.NewJSONUnpacker``: JSON values one after another."""
    try:
        text = gzip.decompress(metadata).decode("utf-8", "surrogateescape")
    except (OSError, EOFError) as e:
        raise SkopeoError(f"tar-split metadata: {e}") from None
    decoder = json.JSONDecoder()
    seen: set[str] = set()
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos == len(text):
            return
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except ValueError as e:
            raise SkopeoError(f"tar-split metadata: {e}") from None
        if not isinstance(entry, dict):
            raise SkopeoError("tar-split metadata: not an entry")
        if entry.get("type") == FILE_TYPE:
            key = go_clean(entry_name(entry))
            if key in seen:
                raise SkopeoError(ERR_DUPLICATE_PATH)
            seen.add(key)
        yield entry


def assemble(metadata: bytes, open_file: Callable[[str], BinaryIO]) -> Iterator[bytes]:
    """The tar rebuilt from its metadata, content read through *open_file*
    (each file's CRC-64 checked, as upstream's ``asm.WriteOutputTarStream``)."""
    for entry in _entries(metadata):
        if entry.get("type") == SEGMENT_TYPE:
            payload = entry.get("payload")
            if payload:
                yield base64.b64decode(payload)
        elif entry.get("type") == FILE_TYPE and entry.get("size"):
            name = entry_name(entry)
            crc = 0
            stream = open_file(name)
            try:
                while data := stream.read(CHUNK):
                    crc = crc64(data, crc)
                    yield data
            finally:
                stream.close()
            if crc_payload(crc) != entry_payload(entry):
                raise SkopeoError(f"file integrity checksum failed for {gojson.quote(name.encode('utf-8', 'surrogateescape'))}")


class ChunksReader:
    """A read-only stream over an iterator of byte chunks (small chunks are
    joined up to the size asked for; the rest of a large one waits as a view)."""

    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], None] | None = None) -> None:
        self._chunks = chunks
        self._rest: memoryview | None = None
        self._on_close = on_close

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            head = bytes(self._rest) if self._rest is not None else b""
            self._rest = None
            return head + b"".join(self._chunks)
        parts: list[bytes | memoryview] = []
        size = 0
        if self._rest is not None:
            parts.append(self._rest)
            size = len(self._rest)
            self._rest = None
        while size < n:
            more = next(self._chunks, None)
            if more is None:
                break
            parts.append(more)
            size += len(more)
        if size > n:  # keep what was not asked for, without copying it
            last = memoryview(parts[-1])
            keep = size - n
            parts[-1] = last[: len(last) - keep]
            self._rest = last[len(last) - keep:]
        return bytes(parts[0]) if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None
