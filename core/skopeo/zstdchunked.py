"""``zstd:chunked`` layers: a zstd stream any decoder reads as the plain layer
tar, laid out so that each file's content can also be fetched on its own.

Layout (the containers/storage format, version 1, as skopeo 1.9.3 writes it)::

    [frame: tar headers…][frame: file 1 content][frame: headers…][frame: file 2]…
    [skippable frame: zstd-compressed TOC][skippable frame: 40-byte footer]

The TOC (JSON) lists every tar entry with its metadata and, for regular files
with content, the sha256 of the content and the compressed byte range of its
frame.  The footer and the layer annotations give the TOC's position.  Partial
pulls (podman with ``enable_partial_images``) then fetch only files they do not
already have; everyone else just decompresses the stream.

Each file is one chunk: upstream additionally splits large files at
content-defined (rolling checksum) boundaries, which would need a per-byte
loop far too slow in Python; consumers accept either.  The tar is parsed with
:mod:`tarfile` as it streams by, so memory stays bounded.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import tarfile
from collections.abc import Generator
from typing import IO, TYPE_CHECKING, Any, cast

from .errors import SkopeoError
from .golang import gojson
from .golang.gotime import unix_time_json

if TYPE_CHECKING:
    from .transport import BlobStream

CHECKSUM_ANNOTATION = "io.containers.zstd-chunked.manifest-checksum"
POSITION_ANNOTATION = "io.containers.zstd-chunked.manifest-position"
ANNOTATIONS = (CHECKSUM_ANNOTATION, POSITION_ANNOTATION)
MANIFEST_TYPE_CRFS = 1
FOOTER_SIZE = 40
SKIPPABLE_MAGIC = b"\x50\x2a\x4d\x18"
FOOTER_MAGIC = b"GnUlInUx"
_CHUNK = 1 << 20
_TYPES = {
    tarfile.REGTYPE: "reg", tarfile.AREGTYPE: "reg", tarfile.CONTTYPE: "reg", tarfile.LNKTYPE: "hardlink",
    tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.DIRTYPE: "dir",
    tarfile.FIFOTYPE: "fifo",
}


class _Recorder:
    """The decompressed tar as tarfile reads it, keeping the bytes not yet
    written out (from absolute offset ``start``)."""

    def __init__(self, source: BlobStream) -> None:
        self._source = source
        self.pending = bytearray()
        self.start = 0

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n if n is not None and n >= 0 else _CHUNK)
        self.pending += data
        return data

    def take(self, end: int) -> bytes:
        """The recorded bytes up to absolute offset *end*."""
        cut = end - self.start
        if cut > len(self.pending):
            raise ValueError("tar stream ended early")
        data = bytes(self.pending[:cut])
        del self.pending[:cut]
        self.start = end
        return data

    def drop(self, count: int) -> None:
        del self.pending[:count]
        self.start += count


class _Frames:
    """Compressed output as a sequence of zstd frames, counting bytes."""

    def __init__(self, level: int) -> None:
        import zstandard

        self._ctx = zstandard.ZstdCompressor(level=level)
        self._obj: Any = None
        self.offset = 0

    def write(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self._obj is None:
            self._obj = self._ctx.compressobj()
        out: bytes = self._obj.compress(data)
        self.offset += len(out)
        return out

    def end(self) -> bytes:
        """Close the current frame (if anything was written to it)."""
        if self._obj is None:
            return b""
        out: bytes = self._obj.flush()
        self._obj = None
        self.offset += len(out)
        return out


def _pax_time(member: tarfile.TarInfo, key: str) -> float | None:
    try:
        return float(member.pax_headers[key])
    except (KeyError, ValueError):
        return None


def _raw_name(member: tarfile.TarInfo, block: bytes) -> str:
    """The entry name as written (tarfile drops a directory's trailing slash)."""
    if "path" in member.pax_headers:
        return member.pax_headers["path"]
    name = block[0:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if block[257:263] == b"ustar\0":
        prefix = block[345:500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if prefix:
            name = f"{prefix}/{name}"
    if name.rstrip("/") == member.name.rstrip("/"):
        return name
    return member.name + ("/" if member.isdir() else "")  # a GNU long name


def _entry(member: tarfile.TarInfo, block: bytes) -> dict[str, Any]:
    """The TOC entry, with containers/storage's field order and omissions."""
    entry: dict[str, Any] = {"type": _TYPES.get(member.type, "reg"), "name": _raw_name(member, block)}
    if member.linkname:
        entry["linkName"] = member.linkname
    if member.mode:
        entry["mode"] = member.mode
    if member.size and member.type not in (tarfile.LNKTYPE, tarfile.SYMTYPE):
        entry["size"] = member.size
    if member.uid:
        entry["uid"] = member.uid
    if member.gid:
        entry["gid"] = member.gid
    entry["modtime"] = unix_time_json(_pax_time(member, "mtime") or float(member.mtime))
    entry["accesstime"] = unix_time_json(_pax_time(member, "atime"))
    entry["changetime"] = unix_time_json(_pax_time(member, "ctime"))
    if member.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        if member.devmajor:
            entry["devMajor"] = member.devmajor
        if member.devminor:
            entry["devMinor"] = member.devminor
    xattrs = {
        key[len("SCHILY.xattr."):]: base64.b64encode(value.encode("utf-8", "surrogateescape")).decode()
        for key, value in member.pax_headers.items() if key.startswith("SCHILY.xattr.")
    }
    if xattrs:
        entry["xattrs"] = dict(sorted(xattrs.items()))
    return entry


def _skippable(data: bytes) -> bytes:
    return SKIPPABLE_MAGIC + struct.pack("<I", len(data)) + data


class ZstdChunkedReader:
    """Reads as the zstd:chunked form of the tar read from *source*;
    :attr:`annotations` is set once everything was read."""

    def __init__(self, source: BlobStream, level: int | None = None) -> None:
        self._level = level if level is not None else 3
        self._gen = self._generate(source)
        self._buf = b""
        self._eof = False
        self.annotations: dict[str, str] | None = None

    def read(self, n: int = -1) -> bytes:
        want = _CHUNK if n is None or n < 0 else max(n, 1)
        parts = [self._buf]
        have = len(self._buf)
        while have < want and not self._eof:
            try:
                piece = next(self._gen)
            except StopIteration:
                self._eof = True
                break
            parts.append(piece)
            have += len(piece)
        data = b"".join(parts)
        self._buf = data[want:]
        return data[:want]

    def close(self) -> None:
        self._gen.close()

    def _generate(self, source: BlobStream) -> Generator[bytes, None, None]:
        try:
            yield from self._chunked(source)
        except (tarfile.TarError, EOFError, ValueError) as e:
            # Go's writer fails the same way on a layer that is not a tar.
            raise SkopeoError(f"compressing layer as zstd:chunked: {e or 'not a tar archive'}") from None

    def _chunked(self, source: BlobStream) -> Generator[bytes, None, None]:
        rec = _Recorder(source)
        frames = _Frames(self._level)
        entries: list[dict[str, Any]] = []
        # tarfile's stubs ask for a file; a stream ("r|") is only ever read.
        with tarfile.open(fileobj=cast("IO[bytes]", rec), mode="r|") as tar:
            for member in tar:
                header = rec.take(member.offset_data)
                yield frames.write(header)
                entry = _entry(member, header[-512:])
                if member.isreg() and member.size > 0 and not member.issparse():
                    yield frames.end()
                    start = frames.offset
                    digest = hashlib.sha256()
                    content = tar.extractfile(member)
                    assert content is not None
                    while chunk := content.read(_CHUNK):
                        rec.drop(len(chunk))
                        digest.update(chunk)
                        yield frames.write(chunk)
                    yield frames.end()
                    entry["digest"] = f"sha256:{digest.hexdigest()}"
                    entry["offset"] = start
                    entry["endOffset"] = frames.offset
                entries.append(entry)
            # The end-of-archive blocks and anything after them, as they were.
            yield frames.write(rec.take(rec.start + len(rec.pending)))
            while chunk := source.read(_CHUNK):
                yield frames.write(chunk)
            yield frames.end()
        toc = gojson.marshal({"version": 1, "entries": entries})
        import zstandard

        compressed = zstandard.ZstdCompressor(level=self._level).compress(toc)
        toc_offset = frames.offset + 8  # after the skippable frame's header
        footer = struct.pack("<QQQQ", toc_offset, len(compressed), len(toc), MANIFEST_TYPE_CRFS) + FOOTER_MAGIC
        self.annotations = {
            CHECKSUM_ANNOTATION: f"sha256:{hashlib.sha256(compressed).hexdigest()}",
            POSITION_ANNOTATION: f"{toc_offset}:{len(compressed)}:{len(toc)}:{MANIFEST_TYPE_CRFS}",
        }
        yield _skippable(compressed) + _skippable(footer)


def read_toc(blob: bytes, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """The TOC of a zstd:chunked blob, located through its footer (and checked
    against *annotations* when given)."""
    import json

    import zstandard

    footer = blob[-FOOTER_SIZE:]
    if len(blob) < FOOTER_SIZE + 8 or footer[32:] != FOOTER_MAGIC:
        raise ValueError("not a zstd:chunked blob: no footer")
    offset, length, plain_length, kind = struct.unpack("<QQQQ", footer[:32])
    if kind != MANIFEST_TYPE_CRFS:
        raise ValueError(f"unknown zstd:chunked manifest type {kind}")
    compressed = blob[offset:offset + length]
    if annotations is not None:
        if annotations.get(CHECKSUM_ANNOTATION) != f"sha256:{hashlib.sha256(compressed).hexdigest()}":
            raise ValueError("zstd:chunked manifest checksum mismatch")
        if annotations.get(POSITION_ANNOTATION) != f"{offset}:{length}:{plain_length}:{kind}":
            raise ValueError("zstd:chunked manifest position mismatch")
    toc: dict[str, Any] = json.loads(zstandard.ZstdDecompressor().decompress(compressed, max_output_size=plain_length))
    return toc
