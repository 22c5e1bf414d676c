"""``zstd:chunked`` layers: a zstd stream any decoder reads as the plain layer
tar, laid out so that each file's content can also be fetched on its own.

Layout (containers/storage's current format, as upstream main writes it)::

    [frame: tar headers…][frame: file 1 content][frame: headers…][frame: file 2]…
    [skippable frame: zstd-compressed TOC][skippable frame: zstd-compressed tar-split]
    [skippable frame: 64-byte footer]

The TOC (JSON) lists every tar entry with its metadata and, for regular files
with content, the sha256 of the content and the compressed byte range of its
frame; its ``tarSplitDigest`` is the sha256 of the compressed tar-split (the
layer's tar minus file contents, :mod:`skopeo.tarsplit`), from which a partial
pull rebuilds the exact tar.  The layer annotations
``io.github.containers.zstd-chunked.manifest-checksum``, ``…manifest-position``
and ``…tarsplit-position`` locate both (the footer repeats the positions).
Partial pulls (podman with ``enable_partial_images``) then fetch only files
they do not already have; everyone else just decompresses the stream.

The previous format (skopeo 1.9.3, podman 4.3: ``io.containers.zstd-chunked.*``
annotations, a 40-byte footer, no tar-split) is still read by :func:`read_toc`;
podman 4.3 reads only that one, so it pulls current-format layers whole.

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
from .tarsplit import TarSplitPacker, crc64, crc_payload

if TYPE_CHECKING:
    from .transport import BlobStream

CHECKSUM_ANNOTATION = "io.github.containers.zstd-chunked.manifest-checksum"
POSITION_ANNOTATION = "io.github.containers.zstd-chunked.manifest-position"
TARSPLIT_POSITION_ANNOTATION = "io.github.containers.zstd-chunked.tarsplit-position"
# The previous format's names (containers/storage before the tar-split).
OLD_CHECKSUM_ANNOTATION = "io.containers.zstd-chunked.manifest-checksum"
OLD_POSITION_ANNOTATION = "io.containers.zstd-chunked.manifest-position"
# Annotations describing a zstd:chunked representation (dropped when a layer changes).
ANNOTATIONS = (CHECKSUM_ANNOTATION, POSITION_ANNOTATION, TARSPLIT_POSITION_ANNOTATION,
               "io.github.containers.zstd-chunked.tarsplit-checksum", OLD_CHECKSUM_ANNOTATION, OLD_POSITION_ANNOTATION)
MANIFEST_TYPE_CRFS = 1
FOOTER_SIZE = 64
OLD_FOOTER_SIZE = 40
SKIPPABLE_MAGIC = b"\x50\x2a\x4d\x18"
FOOTER_MAGIC = b"GNUlInUx"
OLD_FOOTER_MAGIC = b"GnUlInUx"  # the previous format's
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

    def fill(self, end: int) -> None:
        """Read until the recorded bytes reach absolute offset *end* (or the stream ends)."""
        while self.start + len(self.pending) < end and self.read(end - self.start - len(self.pending)):
            pass

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


def _pax_time(member: tarfile.TarInfo, key: str) -> tuple[int, int] | None:
    """A PAX time as Go's parsePAXTime reads it: (seconds, nanoseconds),
    digits past nanoseconds dropped (a float would round them)."""
    text = member.pax_headers.get(key)
    if text is None:
        return None
    whole, _, frac = text.partition(".")
    if not whole.lstrip("-").isdigit() or (frac and not frac.isdigit()):
        return None
    seconds = int(whole)
    nanos = int((frac + "000000000")[:9])
    if whole.startswith("-") and nanos:
        seconds, nanos = seconds - 1, 1_000_000_000 - nanos
    return seconds, nanos


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


def _gnu_time(block: bytes, start: int) -> float | None:
    """A GNU header's atime/ctime field (Go's reader reads them; tarfile does not)."""
    field = block[start:start + 12]
    if block[257:265] != b"ustar  \0" or not field or field[0] == 0:
        return None
    if field[0] & 0x80:  # base-256
        return float(int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big"))
    try:
        return float(int(field.split(b"\0", 1)[0].strip() or b"0", 8))
    except ValueError:
        return None


def _time(moment: tuple[int, int] | float | None) -> str | None:
    """minimal.timeIfNotZero: an absent time is left out."""
    if moment is None:
        return None
    if isinstance(moment, float):
        return unix_time_json(moment)
    seconds, nanos = moment
    text = unix_time_json(float(seconds))
    frac = f"{nanos:09d}".rstrip("0")
    return f"{text[:-1]}.{frac}Z" if frac else text


def _entry(member: tarfile.TarInfo, block: bytes) -> dict[str, Any]:
    """The TOC entry (minimal.NewFileMetadata), with containers/storage's field
    order and omissions."""
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
    times: dict[str, tuple[int, int] | float | None] = {
        "modtime": _pax_time(member, "mtime") or float(member.mtime),
        "accesstime": _pax_time(member, "atime") or _gnu_time(block, 345),
        "changetime": _pax_time(member, "ctime") or _gnu_time(block, 357),
    }
    for key, seconds in times.items():
        if (text := _time(seconds)) is not None:
            entry[key] = text
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
            # Go's writer fails the same way on a layer that is not a tar (or
            # whose paths repeat: tar-split cannot describe it).
            raise SkopeoError(f"compressing layer as zstd:chunked: {e or 'not a tar archive'}") from None

    def _chunked(self, source: BlobStream) -> Generator[bytes, None, None]:
        import zstandard

        rec = _Recorder(source)
        frames = _Frames(self._level)
        entries: list[dict[str, Any]] = []
        split_out = zstandard.ZstdCompressor(level=self._level).compressobj()
        split_parts: list[bytes] = []
        split_size = 0

        def record(line: bytes) -> None:
            nonlocal split_size
            split_size += len(line)
            split_parts.append(split_out.compress(line))

        split = TarSplitPacker(record)
        end_of_entries = 0
        # tarfile's stubs ask for a file; a stream ("r|") is only ever read.
        with tarfile.open(fileobj=cast("IO[bytes]", rec), mode="r|") as tar:
            for member in tar:
                header = rec.take(member.offset_data)
                yield frames.write(header)
                split.segment(header)  # the previous entry's padding and this entry's headers
                entry = _entry(member, header[-512:])
                split.check_name(entry["name"])
                crc = 0
                if member.isreg() and member.size > 0 and not member.issparse():
                    yield frames.end()
                    start = frames.offset
                    digest = hashlib.sha256()
                    content = tar.extractfile(member)
                    assert content is not None
                    while chunk := content.read(_CHUNK):
                        rec.drop(len(chunk))
                        digest.update(chunk)
                        crc = crc64(chunk, crc)
                        yield frames.write(chunk)
                    yield frames.end()
                    entry["digest"] = f"sha256:{digest.hexdigest()}"
                    entry["offset"] = start
                    entry["endOffset"] = frames.offset
                    split.file(entry["name"], member.size, crc_payload(crc))
                else:
                    # Anything else keeps its (rare) data in the next segment.
                    split.file(entry["name"], 0, None)
                end_of_entries = member.offset_data + (-(-member.size // 512) * 512 if member.size else 0)
                entries.append(entry)
            # The end-of-archive blocks (with the last padding) as Go's reader
            # consumes them, then anything after them, as they were.
            rec.fill(end_of_entries + 1024)
            end_blocks = rec.take(min(end_of_entries + 1024, rec.start + len(rec.pending)))
            yield frames.write(end_blocks)
            split.segment(end_blocks)
            remainder = [rec.take(rec.start + len(rec.pending))]
            while chunk := source.read(_CHUNK):
                remainder.append(chunk)  # bounded: only what follows the archive's end
            rest = b"".join(remainder)
            yield frames.write(rest)
            split.segment(rest)
            yield frames.end()
        split_parts.append(split_out.flush())
        tar_split = b"".join(split_parts)
        toc = gojson.marshal({"version": 1, "entries": entries,
                              "tarSplitDigest": f"sha256:{hashlib.sha256(tar_split).hexdigest()}"})
        compressed = zstandard.ZstdCompressor(level=self._level).compress(toc)
        toc_offset = frames.offset + 8  # after the skippable frame's header
        split_offset = toc_offset + len(compressed) + 8
        footer = struct.pack("<QQQQQQQ", toc_offset, len(compressed), len(toc), MANIFEST_TYPE_CRFS,
                             split_offset, len(tar_split), split_size) + FOOTER_MAGIC
        self.annotations = {
            CHECKSUM_ANNOTATION: f"sha256:{hashlib.sha256(compressed).hexdigest()}",
            POSITION_ANNOTATION: f"{toc_offset}:{len(compressed)}:{len(toc)}:{MANIFEST_TYPE_CRFS}",
            TARSPLIT_POSITION_ANNOTATION: f"{split_offset}:{len(tar_split)}:{split_size}",
        }
        yield _skippable(compressed) + _skippable(tar_split) + _skippable(footer)


def read_toc(blob: bytes, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """The TOC of a zstd:chunked blob of either format, located through its
    footer (and checked against *annotations* when given)."""
    import json

    import zstandard

    if len(blob) >= FOOTER_SIZE + 8 and blob[-8:] == FOOTER_MAGIC:
        offset, length, plain_length, kind = struct.unpack("<QQQQ", blob[-FOOTER_SIZE:-FOOTER_SIZE + 32])
        names = (CHECKSUM_ANNOTATION, POSITION_ANNOTATION)
    elif len(blob) >= OLD_FOOTER_SIZE + 8 and blob[-8:] == OLD_FOOTER_MAGIC:
        offset, length, plain_length, kind = struct.unpack("<QQQQ", blob[-OLD_FOOTER_SIZE:-8])
        names = (OLD_CHECKSUM_ANNOTATION, OLD_POSITION_ANNOTATION)
    else:
        raise ValueError("not a zstd:chunked blob: no footer")
    if kind != MANIFEST_TYPE_CRFS:
        raise ValueError(f"unknown zstd:chunked manifest type {kind}")
    compressed = blob[offset:offset + length]
    if annotations is not None:
        if annotations.get(names[0]) != f"sha256:{hashlib.sha256(compressed).hexdigest()}":
            raise ValueError("zstd:chunked manifest checksum mismatch")
        if annotations.get(names[1]) != f"{offset}:{length}:{plain_length}:{kind}":
            raise ValueError("zstd:chunked manifest position mismatch")
    toc: dict[str, Any] = json.loads(zstandard.ZstdDecompressor().decompress(compressed, max_output_size=plain_length))
    return toc
