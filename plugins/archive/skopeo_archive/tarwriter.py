"""Streaming tar writer for the archive destinations.

Headers are built here byte for byte as Go's ``archive/tar`` writes them for
the reference tool (ustar, octal fields NUL-terminated, empty user/group names,
no padding to a 10 KiB record), so our archives match skopeo's.

A tar header carries the member's size, but a layer that is decompressed or
compressed on the way in has no known size (nor digest, hence no name) until it
has been read completely.  When the output is a regular file we write a
placeholder header, stream the data, and seek back to fill in the header; only
pipes and sockets (``/dev/stdout``, a daemon's load request) need the blob
spooled to a temporary file first.

Several ``add_stream`` calls may run at once: the first one writes straight
into the archive while the others spool to temporary files next to it and are
appended as soon as the archive is free, so decompression and hashing of many
layers can use several cores while the archive stays a plain sequential tar.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import BinaryIO

from skopeo.errors import SkopeoError
from skopeo.transport import BlobStream

BLOCK = 512
CHUNK = 1 << 20
_MAX_OCTAL_SIZE = 8**11 - 1

REGTYPE = b"0"
SYMTYPE = b"2"
DIRTYPE = b"5"


def _octal(value: int, width: int) -> bytes:
    # Go's formatOctal: zero-padded, leaving room for a terminating NUL.
    return f"{value:0{width - 1}o}".encode() + b"\x00"


def _size_field(size: int) -> bytes:
    if size <= _MAX_OCTAL_SIZE:
        return _octal(size, 12)
    # GNU base-256, which Go, GNU tar and Python read in any header format; it
    # keeps the header one block long, which in-place patching relies on.
    return bytes([0x80]) + size.to_bytes(11, "big")


def header(name: str, size: int = 0, mode: int = 0o444, typeflag: bytes = REGTYPE, linkname: str = "",
           mtime: int = 0, uid: int = 0, gid: int = 0, uname: str = "", gname: str = "") -> bytes:
    """One ustar header block (names must fit the 100-byte field)."""
    raw_name = name.encode()
    raw_link = linkname.encode()
    if len(raw_name) > 100 or len(raw_link) > 100:
        raise SkopeoError(f"internal error: tar member name {name!r} is too long")
    buf = bytearray(BLOCK)
    buf[0:len(raw_name)] = raw_name
    buf[100:108] = _octal(mode, 8)
    buf[108:116] = _octal(uid, 8)
    buf[116:124] = _octal(gid, 8)
    buf[124:136] = _size_field(size)
    buf[136:148] = _octal(mtime, 12)
    buf[156:157] = typeflag
    buf[157:157 + len(raw_link)] = raw_link
    buf[257:263] = b"ustar\x00"
    buf[263:265] = b"00"
    buf[265:265 + len(uname)] = uname.encode()
    buf[297:297 + len(gname)] = gname.encode()
    buf[329:337] = _octal(0, 8)
    buf[337:345] = _octal(0, 8)
    buf[148:156] = b" " * 8
    checksum = sum(buf)
    buf[148:155] = _octal(checksum, 7)
    return bytes(buf)


def _padding(size: int) -> bytes:
    return b"\x00" * (-size % BLOCK)


def _regular(f: BinaryIO) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.fstat(f.fileno()).st_mode)
    except (OSError, ValueError):
        return False


class TarWriter:
    """Appends members to *out*; ``finish`` writes the end-of-archive blocks."""

    def __init__(self, out: BinaryIO, tmp_dir: str, defaults: dict[str, object] | None = None) -> None:
        self.out = out
        self.tmp_dir = tmp_dir
        self.seekable = _regular(out)
        self.pos = out.tell() if self.seekable else 0
        self.defaults = defaults or {}
        self._lock = threading.Lock()
        self.finished = False

    def _header(self, name: str, size: int, **kw: object) -> bytes:
        args = dict(self.defaults)
        args.update(kw)
        return header(name, size, **args)  # type: ignore[arg-type]

    def _write(self, data: bytes | memoryview) -> None:
        self.out.write(data)
        self.pos += len(data)

    # --- small members ------------------------------------------------------------
    def add_bytes(self, name: str, data: bytes, **kw: object) -> None:
        with self._lock:
            self._write(self._header(name, len(data), **kw) + data + _padding(len(data)))

    def add_symlink(self, name: str, target: str, **kw: object) -> None:
        kw.setdefault("mode", 0)
        with self._lock:
            self._write(self._header(name, 0, typeflag=SYMTYPE, linkname=target, **kw))

    def add_dir(self, name: str, **kw: object) -> None:
        kw.setdefault("mode", 0o755)
        with self._lock:
            self._write(self._header(name, 0, typeflag=DIRTYPE, **kw))

    # --- streamed members ---------------------------------------------------------
    def add_stream(
        self,
        stream: BlobStream,
        size: int,
        name_for: Callable[[str], str | None],
        algo: str = "sha256",
        **kw: object,
    ) -> tuple[str, int]:
        """Copy *stream* into the archive as the member ``name_for(digest)`` and
        return (digest, size).  *size* is the expected size or -1.  When
        ``name_for`` returns None the blob is already in the archive and what was
        written is dropped."""
        if size >= 0 and self._lock.acquire(blocking=False):
            try:
                return self._direct_known(stream, size, name_for, algo, kw)
            finally:
                self._lock.release()
        if self.seekable and self._lock.acquire(blocking=False):
            try:
                return self._direct_patched(stream, name_for, algo, kw)
            finally:
                self._lock.release()
        return self._spooled(stream, name_for, algo, kw)

    def _copy(self, stream: BlobStream, hasher: hashlib._Hash, limit: int = -1,
              write: Callable[[bytes], object] | None = None) -> int:
        # A helper thread for hashing+writing was measured: no gain on the
        # benchmark's 2-core machine (the other core is busy with the registry).
        sink = write or self._write
        total = 0
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                return total
            hasher.update(chunk)
            total += len(chunk)
            if 0 <= limit < total:
                raise SkopeoError(f"blob is larger than its expected size {limit}")
            sink(chunk)

    def _direct_known(self, stream: BlobStream, size: int, name_for: Callable[[str], str | None], algo: str,
                      kw: dict[str, object]) -> tuple[str, int]:
        # The name depends on the digest, so even with a known size the header is
        # patched afterwards when we can; for pipes the caller's digest is trusted
        # only through name_for(None) being impossible: spool instead.
        if not self.seekable:
            return self._spooled(stream, name_for, algo, kw, locked=True)
        return self._direct_patched(stream, name_for, algo, kw, expected=size)

    def _direct_patched(self, stream: BlobStream, name_for: Callable[[str], str | None], algo: str,
                        kw: dict[str, object], expected: int = -1) -> tuple[str, int]:
        start = self.pos
        hasher = hashlib.new(algo)
        try:
            self._write(b"\x00" * BLOCK)
            size = self._copy(stream, hasher, expected)
            if 0 <= expected != size:
                raise SkopeoError(f"Size mismatch when copying blob, expected {expected}, got {size}")
        except BaseException:
            self._rewind(start)
            raise
        digest = f"{algo}:{hasher.hexdigest()}"
        name = name_for(digest)
        if name is None:
            self._rewind(start)
            return digest, size
        self._write(_padding(size))
        end = self.pos
        self.out.seek(start)
        self.out.write(self._header(name, size, **kw))
        self.out.seek(end)
        return digest, size

    def _rewind(self, start: int) -> None:
        self.out.seek(start)
        self.out.truncate(start)
        self.pos = start

    def _spooled(self, stream: BlobStream, name_for: Callable[[str], str | None], algo: str,
                 kw: dict[str, object], locked: bool = False) -> tuple[str, int]:
        hasher = hashlib.new(algo)
        with tempfile.TemporaryFile(prefix="skopeo-archive-blob-", dir=self.tmp_dir) as tmp:
            size = self._copy(stream, hasher, write=tmp.write)
            tmp.flush()
            digest = f"{algo}:{hasher.hexdigest()}"
            if not locked:
                self._lock.acquire()
            try:
                name = name_for(digest)
                if name is None:
                    return digest, size
                self._write(self._header(name, size, **kw))
                tmp.seek(0)
                self.out.flush()
                self._copy_file(tmp, size)
                self._write(_padding(size))
            finally:
                if not locked:
                    self._lock.release()
        return digest, size

    def _copy_file(self, src: BinaryIO, size: int) -> None:
        if self.seekable:
            # copy_file_range keeps the data in the kernel (and may share extents).
            done = 0
            try:
                while done < size:
                    n = os.copy_file_range(src.fileno(), self.out.fileno(), size - done, done, self.pos + done)
                    if n == 0:
                        break
                    done += n
            except OSError:
                done = -1
            if done == size:
                self.pos += size
                self.out.seek(self.pos)
                return
            src.seek(0)
            self.out.seek(self.pos)
        shutil.copyfileobj(src, _Counting(self), CHUNK)

    def finish(self) -> None:
        with self._lock:
            self._write(b"\x00" * (2 * BLOCK))
            self.out.flush()
            self.finished = True


class _Counting:
    def __init__(self, writer: TarWriter) -> None:
        self._w = writer

    def write(self, data: bytes) -> int:
        self._w._write(data)
        return len(data)
