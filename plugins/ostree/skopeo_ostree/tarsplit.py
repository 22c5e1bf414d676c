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

A port of the Go format (no Python implementation exists).  Segment
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
import posixpath
import tarfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from skopeo.errors import SkopeoError
from skopeo.golang import gojson
from skopeo.golang.archivetar import tar_error_text

FILE_TYPE = 1
SEGMENT_TYPE = 2
CHUNK = 1 << 20
END_BLOCKS = 2 * tarfile.BLOCKSIZE
DUPLICATE = "duplicates of file paths not supported"


def crc64(data: bytes | memoryview, crc: int | None = None) -> int:
    """Go's ``crc64.Update`` with the ISO table (chained through *crc*)."""
    import fastcrc

    return int(fastcrc.crc64.go_iso(data) if crc is None else fastcrc.crc64.go_iso(data, initial=crc))


def _clean(name: str) -> str:
    """Go's ``filepath.Clean`` (the key for duplicate detection)."""
    cleaned = posixpath.normpath(name) if name else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


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


def _file_entry(fd: int, member: tarfile.TarInfo) -> dict[str, Any]:
    name = member.name
    if member.isdir():
        raw = _raw_header_name(fd, member)
        if raw is not None and raw.rstrip("/") == name and raw.endswith("/"):
            name += "/"
    entry: dict[str, Any] = {"type": FILE_TYPE}
    encoded = name.encode("utf-8", "surrogateescape")
    try:
        entry["name"] = encoded.decode("utf-8")
    except UnicodeDecodeError:
        entry["name_raw"] = base64.b64encode(encoded).decode()
    checksum = None
    if member.size > 0:
        crc: int | None = None
        pos, remaining = member.offset_data, member.size if _has_data(member) else 0
        while remaining > 0:
            data = os.pread(fd, min(remaining, CHUNK), pos)
            if not data:
                raise SkopeoError("unexpected EOF")
            crc = crc64(data, crc)
            pos += len(data)
            remaining -= len(data)
        checksum = (crc or 0).to_bytes(8, "big")
        entry["size"] = member.size
    entry["payload"] = base64.b64encode(checksum).decode() if checksum is not None else None
    return entry


class _Packer:
    """``storage.NewJSONPacker`` writing into a gzip stream."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.position = 0
        self.seen: set[str] = set()

    def add(self, entry: dict[str, Any]) -> None:
        if entry["type"] == FILE_TYPE:
            name = entry.get("name")
            if name is None:
                name = base64.b64decode(entry["name_raw"]).decode("utf-8", "surrogateescape")
            key = _clean(name)
            if key in self.seen:
                raise SkopeoError(DUPLICATE)
            self.seen.add(key)
        entry["position"] = self.position
        self.out.write(gojson.marshal(entry) + b"\n")
        self.position += 1

    def segment(self, data: bytes) -> None:
        if data:
            self.add({"type": SEGMENT_TYPE, "payload": base64.b64encode(data).decode()})


def disassemble(path: str) -> bytes:
    """The gzipped tar-split metadata of the uncompressed tar at *path*."""
    buf = io.BytesIO()
    with open(path, "rb") as f, gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        fd = f.fileno()
        packer = _Packer(gz)  # type: ignore[arg-type]
        end = 0
        try:
            with tarfile.open(fileobj=f, mode="r:") as tar:
                for member in tar:
                    if member.issparse():
                        raise SkopeoError(f"sparse file {member.name!r} is not supported")
                    packer.segment(os.pread(fd, member.offset_data - end, end))
                    packer.add(_file_entry(fd, member))
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
            key = _clean(entry_name(entry))
            if key in seen:
                raise SkopeoError(DUPLICATE)
            seen.add(key)
        yield entry


def entry_name(entry: dict[str, Any]) -> str:
    raw = entry.get("name_raw")
    if raw:
        return base64.b64decode(raw).decode("utf-8", "surrogateescape")
    return str(entry.get("name") or "")


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
            crc: int | None = None
            stream = open_file(name)
            try:
                while data := stream.read(CHUNK):
                    crc = crc64(data, crc)
                    yield data
            finally:
                stream.close()
            expected = base64.b64decode(entry.get("payload") or "")
            if (crc or 0).to_bytes(8, "big") != expected:
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
