"""Layer tars for the tests, built entry by entry with ``tarfile`` (any format),
and OCI images made of them."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from skopeo.testing.images import OCILayoutWriter, Written


@dataclass
class Entry:
    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    mtime: float = 1700000000
    devmajor: int = 0
    devminor: int = 0
    pax: dict[str, str] = field(default_factory=dict)


def file(name: str, data: bytes = b"x", mode: int = 0o644, **kw: object) -> Entry:
    return Entry(name, tarfile.REGTYPE, data, mode, **kw)  # type: ignore[arg-type]


def directory(name: str, mode: int = 0o755, **kw: object) -> Entry:
    return Entry(name, tarfile.DIRTYPE, b"", mode, **kw)  # type: ignore[arg-type]


def symlink(name: str, target: str) -> Entry:
    return Entry(name, tarfile.SYMTYPE, b"", 0o777, linkname=target)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, tarfile.LNKTYPE, b"", 0o644, linkname=target)


def chardev(name: str, major: int = 1, minor: int = 3) -> Entry:
    return Entry(name, tarfile.CHRTYPE, b"", 0o666, devmajor=major, devminor=minor)


def fifo(name: str) -> Entry:
    return Entry(name, tarfile.FIFOTYPE, b"", 0o644)


def build_tar(entries: list[Entry], fmt: int = tarfile.PAX_FORMAT, trailing: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = e.kind
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.mtime = e.mtime
            info.linkname = e.linkname
            info.devmajor, info.devminor = e.devmajor, e.devminor
            info.size = len(e.data)
            if e.pax:
                info.pax_headers = dict(e.pax)
            tar.addfile(info, io.BytesIO(e.data) if e.kind == tarfile.REGTYPE else None)
    return buf.getvalue() + trailing


def rich_layer() -> list[Entry]:
    """Directories, files with odd modes and owners, links, a FIFO, xattrs,
    a long name and a non-ASCII one."""
    return [
        directory("etc"),
        file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        file("etc/shadow", b"root:*:1::::::\n", mode=0o640, gid=42),
        directory("usr"),
        directory("usr/bin"),
        file("usr/bin/tool", b"\x7fELF" + bytes(range(256)) * 40, mode=0o4755),
        hardlink("usr/bin/tool-link", "usr/bin/tool"),
        symlink("usr/bin/sh", "/usr/bin/tool"),
        symlink("lib", "usr/lib"),
        directory("usr/lib", mode=0o555),
        file("usr/lib/libx.so", b"lib" * 1000, uid=1000, gid=1000),
        directory("tmp", mode=0o1777),
        fifo("tmp/pipe"),
        file("data/" + "d" * 120 + "/long-name.txt", b"long"),
        file("data/caf\u00e9.txt", b"accent"),
        file("data/with-xattr", b"x", pax={"SCHILY.xattr.user.note": "hello"}),
        file("empty", b""),
    ]


def whiteout_layer() -> list[Entry]:
    """Deletes etc/shadow and makes usr/lib opaque (on top of rich_layer)."""
    return [
        directory("etc"),
        file("etc/.wh.shadow", b""),
        directory("usr/lib", mode=0o755),
        file("usr/lib/.wh..wh..opq", b""),
        file("usr/lib/new.so", b"new"),
        file("etc/hostname", b"test\n"),
    ]


def write_image(layout: Path, tag: str, layers: list[bytes], docker: bool = False) -> Written:
    w = OCILayoutWriter(str(layout))
    img = w.image(layers, docker=docker)
    w.tag(img, tag)
    return img
