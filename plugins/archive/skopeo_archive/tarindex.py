"""Random access into an untrusted tar file without extracting it.

The archive is scanned once: every member's header is parsed (with the standard
library, which handles ustar, GNU and pax headers) and only its name, type, link
target, size and data offset are kept.  Members are later read with ``os.pread``
straight from those offsets, so several layers can be streamed at once from one
file descriptor and nothing is ever written to disk.

Truncated and malformed archives fail as under upstream, which reads them
sequentially with Go's ``archive/tar``: the scan stops at the first header Go
cannot read (``unexpected EOF``, ``archive/tar: invalid tar header``) or where
Go sees a clean end (an empty file, a cut-off padding or end block).  Members
found before that point stay usable; looking up any other member reports the
error that stopped the scan, or ``file does not exist`` (Go's ``os.ErrNotExist``)
after a clean end.  Where upstream extracts the whole archive (oci-archive:),
the caller checks :attr:`TarIndex.scan_error`.

Archives come from anywhere (``docker save`` output mailed around, a daemon we
do not control), so the index is strict: absolute names, ``..`` components,
links whose target leaves the archive root, duplicate names, device nodes and
oversized headers are all refused with an error that names the member.  Nothing
here ever creates a file from a member name, so these checks are about giving a
clear error rather than following a path an attacker chose.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass, replace

from skopeo import compression as comp
from skopeo.errors import SkopeoError
from skopeo.fsutil import remove_quietly, temporary_file
from skopeo.golang.archivetar import tar_error_text
from skopeo.transport import BlobStream

# Enough for any image we have seen (docker save writes ~4 members per layer);
# bounds the memory an archive full of empty members can make us use.
MAX_MEMBERS = 200_000
# Metadata files (manifest.json, index.json, …) are read into memory.
MAX_METADATA_SIZE = 4 << 20
# Symlink chains longer than this are refused (docker save writes at most one hop).
MAX_LINK_HOPS = 8
CHUNK = 1 << 20


# Go's texts: io.ErrUnexpectedEOF, tar.ErrHeader and os.ErrNotExist.
UNEXPECTED_EOF = "unexpected EOF"
INVALID_HEADER = "archive/tar: invalid tar header"
NOT_EXIST = "file does not exist"
BLOCK = tarfile.BLOCKSIZE


class ArchiveError(SkopeoError):
    """The tar archive is malformed or unsafe."""


class MemberNotFound(ArchiveError):
    """The archive was read to its end without finding the member."""

    def __init__(self) -> None:
        super().__init__(NOT_EXIST)


@dataclass(frozen=True)
class Member:
    name: str  # normalised: no leading "./", no trailing "/"
    kind: str  # "file", "dir", "symlink", "hardlink"
    size: int
    offset: int  # of the data, for regular files
    linkname: str = ""
    header_offset: int = 0  # of the first header block (extended headers included)


def normalize_name(raw: str) -> str:
    """The canonical form of a member name, or an ArchiveError if it is unsafe."""
    if "\x00" in raw:
        raise ArchiveError(f"archive member {raw!r} has a NUL byte in its name")
    if raw.startswith("/"):
        raise ArchiveError(f"archive member {raw!r} has an absolute path")
    name = posixpath.normpath(raw)
    if name == ".." or name.startswith("../") or "/../" in f"/{raw}/":
        raise ArchiveError(f"archive member {raw!r} escapes the archive root")
    return "" if name == "." else name


class TarIndex:
    """Header index of an uncompressed, seekable tar file."""

    def __init__(self, path: str, display: str | None = None) -> None:
        self.path = path
        self.display = display or path
        # An OSError opening the file propagates: each transport words it as upstream does.
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        # Why the scan stopped before a clean end (Go's text), if it did.
        self.scan_error: str | None = None
        try:
            self._size = os.fstat(self._fd).st_size
            self.members = self._scan()
        except BaseException:
            os.close(self._fd)
            raise

    def _scan(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        if not self._header_follows(0):
            return members
        with open(self._fd, "rb", closefd=False) as f:
            try:
                tf = tarfile.open(fileobj=f, mode="r:")
            except tarfile.TarError as e:
                # The first header is valid: what it announces (an extended header's data) is not.
                self.scan_error = _go_error_for(e)
                return members
            try:
                count = 0
                while True:
                    try:
                        info = tf.next()
                    except tarfile.TarError as e:
                        self.scan_error = _go_error_for(e)
                        break
                    if info is None:
                        # tarfile ends quietly where Go fails (e.g. a bad header after a pax one).
                        self.scan_error = INVALID_HEADER
                        break
                    count += 1
                    if count > MAX_MEMBERS:
                        raise ArchiveError(f"tar archive {self.display} has more than {MAX_MEMBERS} members")
                    # tarfile keeps every TarInfo otherwise; we keep our own small records.
                    tf.members.clear()  # type: ignore[attr-defined]
                    member = self._member(info)
                    if member is not None:
                        member = replace(member, header_offset=info.offset)
                        old = members.get(member.name)
                        if old is not None and not (old.kind == member.kind == "dir"):
                            raise ArchiveError(
                                f"tar archive {self.display} contains {member.name!r} more than once"
                            )
                        members[member.name] = member
                    # Go skips the member's data, checking that its last byte is there.
                    has_data = tf.offset > info.offset_data
                    if has_data and self._size < info.offset_data + info.size:
                        self.scan_error = UNEXPECTED_EOF
                        break
                    if not self._header_follows(tf.offset):
                        break
            finally:
                tf.close()
        return members

    def _header_follows(self, pos: int) -> bool:
        """Whether Go's reader finds a header at *pos* (past the previous
        member's padding).  If not, :attr:`scan_error` says why, or stays None
        where Go sees a clean end of the archive."""
        if self._size <= pos:
            return False  # nothing left, or the padding is cut short: io.EOF
        avail = self._size - pos
        if avail < BLOCK:
            self.scan_error = UNEXPECTED_EOF
            return False
        block = os.pread(self._fd, BLOCK, pos)
        if block == bytes(BLOCK):
            # One zero block must be followed by another (or by nothing at all).
            if BLOCK < avail < 2 * BLOCK:
                self.scan_error = UNEXPECTED_EOF
            elif avail >= 2 * BLOCK and os.pread(self._fd, BLOCK, pos + BLOCK) != bytes(BLOCK):
                self.scan_error = INVALID_HEADER
            return False
        try:
            tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
        except tarfile.HeaderError:
            self.scan_error = INVALID_HEADER
            return False
        return True

    def _member(self, info: tarfile.TarInfo) -> Member | None:
        name = normalize_name(info.name)
        if not name:
            return None  # the "./" entry some tar writers add
        if info.isreg():
            if info.size < 0:
                raise ArchiveError(f"archive member {name!r} has a negative size")
            return Member(name, "file", info.size, info.offset_data)
        if info.isdir():
            return Member(name, "dir", 0, 0)
        if info.issym():
            target = info.linkname
            if not target or target.startswith("/"):
                raise ArchiveError(f"symlink {name!r} points outside the archive ({target!r})")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if resolved == ".." or resolved.startswith("../"):
                raise ArchiveError(f"symlink {name!r} points outside the archive ({target!r})")
            return Member(name, "symlink", 0, 0, resolved)
        if info.islnk():
            # Hard link targets are archive paths (relative to the root, not to the member).
            return Member(name, "hardlink", 0, 0, normalize_name(info.linkname))
        raise ArchiveError(f"archive member {name!r} is not a regular file, directory or link")

    # --- lookups ------------------------------------------------------------------
    def resolve(self, name: str) -> Member:
        """The regular file *name* designates, following links inside the archive."""
        want = normalize_name(name)
        seen: list[str] = []
        member = self.members.get(want)
        while member is not None and member.kind in ("symlink", "hardlink"):
            if len(seen) >= MAX_LINK_HOPS or member.name in seen:
                raise ArchiveError(f"too many levels of links resolving {name!r} in {self.display}")
            seen.append(member.name)
            member = self.members.get(member.linkname)
        if member is None:
            # Go's sequential search for the member ran into what stopped our scan.
            raise ArchiveError(self.scan_error) if self.scan_error else MemberNotFound()
        if member.kind != "file":
            raise ArchiveError(f"Error reading tar archive component {name!r}: not a regular file")
        return member

    def exists(self, name: str) -> bool:
        try:
            self.resolve(name)
        except ArchiveError:
            return False
        return True

    def open(self, name: str) -> tuple[MemberReader, int]:
        m = self.resolve(name)
        return MemberReader(self._fd, m.offset, m.size), m.size

    def read(self, name: str, limit: int = MAX_METADATA_SIZE) -> bytes:
        m = self.resolve(name)
        if m.size > limit:
            raise ArchiveError(f"{name!r} in {self.display} is larger than {limit} bytes")
        return MemberReader(self._fd, m.offset, m.size).read()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _go_error_for(err: tarfile.TarError) -> str:
    """Go's wording for what stopped tarfile inside a member's headers."""
    return tar_error_text(err)


class MemberReader:
    """A read-only stream over one member: ``pread`` keeps it independent of any
    other reader of the same descriptor (several layers are read in parallel)."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self._fd = fd
        self._pos = offset
        self._end = offset + size

    def read(self, n: int = -1) -> bytes:
        remaining = self._end - self._pos
        if n is None or n < 0 or n > remaining:
            n = remaining
        if n <= 0:
            return b""
        parts = []
        while n > 0:
            data = os.pread(self._fd, min(n, 16 << 20), self._pos)
            if not data:
                raise ArchiveError(UNEXPECTED_EOF)  # the archive is truncated in this member
            parts.append(data)
            self._pos += len(data)
            n -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._pos = self._end


def spool(stream: BlobStream, tmp_dir: str, prefix: str) -> str:
    """Copy *stream* (decompressing it when it is compressed, as ``docker load``
    accepts) to a temporary file; returns its path.  Used for pipes, sockets and
    compressed archives, which cannot be read at random offsets."""
    peek = comp.PeekReader(stream)
    algo = comp.detect(peek.peek())
    src = comp.decompressing_reader(peek, algo) if algo else peek
    fd, path = temporary_file(prefix, tmp_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    except BaseException:
        remove_quietly(path)
        raise
    return path


def open_index(path: str, tmp_dir: str) -> tuple[TarIndex, str | None]:
    """An index of the archive at *path*; uncompressed regular files are used in
    place, anything else is spooled first (the temp path is returned for removal)."""
    st = os.stat(path)  # an OSError propagates, as from TarIndex()
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            head = f.read(comp.SNIFF_SIZE)
        if comp.detect(head) is None:
            return TarIndex(path), None
    with open(path, "rb") as f:
        tmp = spool(f, tmp_dir, "docker-tar-")
    try:
        return TarIndex(tmp, display=path), tmp
    except BaseException:
        remove_quietly(tmp)
        raise
