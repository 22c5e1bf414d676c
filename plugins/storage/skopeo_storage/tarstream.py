"""A tar reader with Go's semantics and tar-split's raw accounting.

Hand-written because no library gives both: Python's ``tarfile`` interprets some
headers differently from Go's ``archive/tar`` (which decides what podman and
skopeo extract), and cannot hand back the exact bytes of every header, extended
header and padding block, which the tar-split record must keep so that a layer's
tar is rebuilt byte for byte.  This follows ``vbatts/tar-split/archive/tar``
(a fork of Go's reader): V7, USTAR, PAX (``x``/``g``) and GNU (``L``/``K``,
atime/ctime) headers, octal and base-256 numbers, the checksum check, and the
end-of-archive handling (two zero blocks; bytes after them are kept raw).

Everything read that is not file content accumulates in a raw buffer the caller
takes with :meth:`TarReader.take_raw`; file content is read with
:meth:`TarReader.read_payload`.  Sparse files are refused (no layer producer
writes them, and tar-split cannot rebuild them byte-identically anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_MAX_SPECIAL_FILE = 1 << 20  # Go's maxSpecialFileSize
_READ_CHUNK = 1 << 20
_HIGH_BYTES = bytes(range(0x80, 0x100))

TYPE_REG = "0"
TYPE_REGA = "\x00"
TYPE_LINK = "1"
TYPE_SYMLINK = "2"
TYPE_CHAR = "3"
TYPE_BLOCK = "4"
TYPE_DIR = "5"
TYPE_FIFO = "6"
TYPE_CONT = "7"
TYPE_XHEADER = "x"
TYPE_XGLOBAL = "g"
TYPE_GNU_SPARSE = "S"
TYPE_GNU_LONGNAME = "L"
TYPE_GNU_LONGLINK = "K"
_HEADER_ONLY = frozenset((TYPE_LINK, TYPE_SYMLINK, TYPE_CHAR, TYPE_BLOCK, TYPE_DIR, TYPE_FIFO))
PAX_XATTR = "SCHILY.xattr."


class TarError(Exception):
    """Go's ``archive/tar`` errors (the text is Go's)."""


ERR_HEADER = "archive/tar: invalid tar header"
ERR_UNEXPECTED_EOF = "unexpected EOF"


class Header:
    __slots__ = ("atime_ns", "devmajor", "devminor", "gid", "gname", "linkname", "mode", "mtime_ns", "name",
                 "size", "typeflag", "uid", "uname", "xattrs")

    def __init__(self) -> None:
        self.name = ""
        self.linkname = ""
        self.typeflag = TYPE_REG
        self.mode = 0
        self.uid = 0
        self.gid = 0
        self.size = 0
        self.mtime_ns = 0
        self.atime_ns: int | None = None
        self.uname = ""
        self.gname = ""
        self.devmajor = 0
        self.devminor = 0
        self.xattrs: dict[str, str] = {}

    @property
    def data_size(self) -> int:
        """Bytes of content that follow the header (header-only types have none,
        whatever their size field says)."""
        return 0 if self.typeflag in _HEADER_ONLY else self.size


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_string(field: bytes) -> str:
    nul = field.find(b"\x00")
    return _decode(field if nul < 0 else field[:nul])


def _parse_numeric(field: bytes) -> int:
    if field and field[0] & 0x80:
        negative = bool(field[0] & 0x40)
        inv = 0xFF if negative else 0
        x = 0
        for i, c in enumerate(field):
            c ^= inv
            if i == 0:
                c &= 0x7F
            if x >> 56:
                raise TarError(ERR_HEADER)
            x = x << 8 | c
        if x >> 63:
            raise TarError(ERR_HEADER)
        return ~x if negative else x
    text = field.strip(b" \x00")
    if not text:
        return 0
    nul = text.find(b"\x00")
    if nul >= 0:
        text = text[:nul]
    if not text or text.strip(b"01234567"):
        raise TarError(ERR_HEADER)
    value = int(text, 8)
    if value >= 1 << 64:
        raise TarError(ERR_HEADER)
    return value if value < 1 << 63 else value - (1 << 64)


def _checksum_ok(block: bytes) -> bool:
    try:
        want = _parse_numeric(block[148:156])
    except TarError:
        return False
    unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
    if want == unsigned:
        return True
    # Go also accepts the sum of the bytes as signed chars (old tar writers).
    high = len(block) - len(block.translate(None, _HIGH_BYTES))
    high -= len(block[148:156]) - len(block[148:156].translate(None, _HIGH_BYTES))
    return want == unsigned - 256 * high


def _parse_pax_time(value: str) -> int:
    secs, _, frac = value.partition(".")
    try:
        s = int(secs, 10)
    except ValueError:
        raise TarError(ERR_HEADER) from None
    if not frac:
        return s * 1_000_000_000
    if frac.strip("0123456789"):
        raise TarError(ERR_HEADER)
    ns = int((frac + "000000000")[:9])
    return s * 1_000_000_000 - ns if secs.startswith("-") else s * 1_000_000_000 + ns


def parse_pax(data: bytes) -> dict[str, str]:
    text = _decode(data)
    records: dict[str, str] = {}
    while text:
        sp = text.find(" ")
        if sp < 0:
            raise TarError(ERR_HEADER)
        try:
            n = int(text[:sp], 10)
        except ValueError:
            raise TarError(ERR_HEADER) from None
        # Lengths count bytes; the text is decoded 1:1 except for multi-byte UTF-8.
        raw = text.encode("utf-8", "surrogateescape")
        if n < 5 or len(raw) < n:
            raise TarError(ERR_HEADER)
        record, rest = _decode(raw[sp + 1:n - 1]), _decode(raw[n:])
        if raw[n - 1:n] != b"\n":
            raise TarError(ERR_HEADER)
        key, eq, value = record.partition("=")
        if not eq or not key or ("\x00" in value if key in ("path", "linkpath", "uname", "gname") else "\x00" in key):
            raise TarError(ERR_HEADER)
        if key in ("GNU.sparse.offset", "GNU.sparse.numbytes"):
            raise TarError("archive/tar: sparse files are not supported in layers")
        records[key] = value
        text = rest
    return records


def _merge_pax(hdr: Header, pax: dict[str, str]) -> None:
    try:
        for key, value in pax.items():
            if not value:
                continue
            if key == "path":
                hdr.name = value
            elif key == "linkpath":
                hdr.linkname = value
            elif key == "uname":
                hdr.uname = value
            elif key == "gname":
                hdr.gname = value
            elif key == "uid":
                hdr.uid = int(value, 10)
            elif key == "gid":
                hdr.gid = int(value, 10)
            elif key == "mtime":
                hdr.mtime_ns = _parse_pax_time(value)
            elif key == "atime":
                hdr.atime_ns = _parse_pax_time(value)
            elif key == "size":
                hdr.size = int(value, 10)
            elif key.startswith(PAX_XATTR):
                hdr.xattrs[key[len(PAX_XATTR):]] = value
            elif key.startswith("GNU.sparse."):
                raise TarError("archive/tar: sparse files are not supported in layers")
    except ValueError:
        raise TarError(ERR_HEADER) from None


class TarReader:
    """Iterates over the entries of an uncompressed tar stream."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._buf = b""
        self._pos = 0
        self._raw: list[bytes] = []
        self._remaining = 0  # unread content of the current entry
        self._pad = 0
        self._eof = False

    # --- low-level reading --------------------------------------------------------
    def _fill(self, n: int) -> bool:
        """Make at least *n* bytes available; False at the end of the source."""
        while len(self._buf) - self._pos < n:
            chunk = self._source.read(max(_READ_CHUNK, n))
            if not chunk:
                return False
            self._buf = self._buf[self._pos:] + chunk
            self._pos = 0
        return True

    def _take(self, n: int, allow_short: bool = False) -> bytes:
        if not self._fill(n) and not allow_short:
            raise TarError(ERR_UNEXPECTED_EOF)
        data = self._buf[self._pos:self._pos + n]
        self._pos += len(data)
        return data

    def take_raw(self) -> bytes:
        data = b"".join(self._raw)
        self._raw.clear()
        return data

    def read_payload(self, limit: int = _READ_CHUNK) -> bytes:
        """Up to *limit* bytes of the current entry's content (b"" at its end)."""
        if self._remaining <= 0:
            return b""
        if len(self._buf) - self._pos == 0 and not self._fill(1):
            raise TarError(ERR_UNEXPECTED_EOF)
        n = min(limit, self._remaining, len(self._buf) - self._pos)
        data = self._buf[self._pos:self._pos + n]
        self._pos += n
        self._remaining -= n
        return data

    def _skip_rest(self) -> None:
        while self._remaining > 0:
            self._raw.append(self.read_payload())
        if self._pad:
            pad = self._take(self._pad, allow_short=True)
            self._raw.append(pad)
            if len(pad) < self._pad:
                raise TarError(ERR_UNEXPECTED_EOF)
            self._pad = 0

    def _special_file(self, size: int) -> bytes:
        if size > _MAX_SPECIAL_FILE:
            raise TarError("archive/tar: header field too long")
        data = self._take(size)
        self._raw.append(data)
        self._remaining = 0
        return data

    # --- headers ------------------------------------------------------------------
    def next(self) -> Header | None:
        """The next entry, or None at the end of the archive."""
        if self._eof:
            return None
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            self._skip_rest()
            block = self._take(BLOCK, allow_short=True)
            self._raw.append(block)
            if len(block) == 0:
                self._eof = True
                return None
            if len(block) < BLOCK:
                raise TarError(ERR_UNEXPECTED_EOF)
            if block == _ZERO_BLOCK:
                second = self._take(BLOCK, allow_short=True)
                self._raw.append(second)
                if len(second) == 0:
                    self._eof = True
                    return None
                if len(second) < BLOCK:
                    raise TarError(ERR_UNEXPECTED_EOF)
                if second == _ZERO_BLOCK:
                    self._eof = True
                    return None
                raise TarError(ERR_HEADER)
            hdr = self._parse_block(block)
            if hdr.size < 0:
                raise TarError(ERR_HEADER)
            self._set_current(hdr)
            t = hdr.typeflag
            if t in (TYPE_XHEADER, TYPE_XGLOBAL):
                records = parse_pax(self._special_file(hdr.data_size))
                self._pad = -hdr.data_size % BLOCK
                if t == TYPE_XGLOBAL:
                    _merge_pax(hdr, records)
                    glob = Header()
                    glob.name, glob.typeflag, glob.xattrs = hdr.name, t, hdr.xattrs
                    return glob
                pax = records
                continue
            if t in (TYPE_GNU_LONGNAME, TYPE_GNU_LONGLINK):
                text = _parse_string(self._special_file(hdr.data_size))
                self._pad = -hdr.data_size % BLOCK
                if t == TYPE_GNU_LONGNAME:
                    long_name = text
                else:
                    long_link = text
                continue
            if t == TYPE_GNU_SPARSE:
                raise TarError("archive/tar: sparse files are not supported in layers")
            _merge_pax(hdr, pax)
            if long_name:
                hdr.name = long_name
            if long_link:
                hdr.linkname = long_link
            if t == TYPE_REGA:
                hdr.typeflag = TYPE_DIR if hdr.name.endswith("/") else TYPE_REG
            if hdr.size < 0:
                raise TarError(ERR_HEADER)
            self._set_current(hdr)
            return hdr

    def _set_current(self, hdr: Header) -> None:
        self._remaining = hdr.data_size
        self._pad = -hdr.data_size % BLOCK

    @staticmethod
    def _parse_block(block: bytes) -> Header:
        if not _checksum_ok(block):
            raise TarError(ERR_HEADER)
        magic, version = block[257:263], block[263:265]
        if magic == b"ustar\x00" and version == b"00":
            fmt = "star" if block[508:512] == b"tar\x00" else "ustar"
        elif magic == b"ustar " and version == b" \x00":
            fmt = "gnu"
        else:
            fmt = "v7"
        hdr = Header()
        hdr.typeflag = chr(block[156])
        hdr.name = _parse_string(block[0:100])
        hdr.linkname = _parse_string(block[157:257])
        hdr.size = _parse_numeric(block[124:136])
        hdr.mode = _parse_numeric(block[100:108])
        hdr.uid = _parse_numeric(block[108:116])
        hdr.gid = _parse_numeric(block[116:124])
        hdr.mtime_ns = _parse_numeric(block[136:148]) * 1_000_000_000
        if fmt == "v7":
            return hdr
        hdr.uname = _parse_string(block[265:297])
        hdr.gname = _parse_string(block[297:329])
        hdr.devmajor = _parse_numeric(block[329:337])
        hdr.devminor = _parse_numeric(block[337:345])
        prefix = ""
        if fmt == "ustar":
            prefix = _parse_string(block[345:500])
        elif fmt == "star":  # 131-byte prefix, then atime and ctime
            prefix = _parse_string(block[345:476])
            hdr.atime_ns = _parse_numeric(block[476:488]) * 1_000_000_000
        else:
            try:
                if block[345]:
                    hdr.atime_ns = _parse_numeric(block[345:357]) * 1_000_000_000
                if block[357]:
                    _parse_numeric(block[357:369])
            except TarError:
                # Go before 1.8 wrote a USTAR prefix there; Go reads it back as one.
                hdr.atime_ns = None
                text = _parse_string(block[345:500])
                if text.isascii():
                    prefix = text
        if prefix:
            hdr.name = prefix + "/" + hdr.name
        return hdr

    def trailing(self) -> Iterator[bytes]:
        """The bytes after the end-of-archive marker (kept raw by tar-split)."""
        rest = self._buf[self._pos:]
        self._buf, self._pos = b"", 0
        if rest:
            yield rest
        while True:
            chunk = self._source.read(_READ_CHUNK)
            if not chunk:
                return
            yield chunk
