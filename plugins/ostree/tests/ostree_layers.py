"""Layer tars for the ostree: tests, covering what a layer can hold."""

from __future__ import annotations

import io
import tarfile


def _add(t: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644,
         uid: int = 0, gid: int = 0, link: str = "", xattrs: dict[str, str] | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.linkname = kind, mode, uid, gid, link
    info.mtime = 1_700_000_000
    info.uname, info.gname = ("root", "root") if uid == 0 else ("", "")
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    info.size = len(data)
    t.addfile(info, io.BytesIO(data) if data else None)


def rich_layer() -> bytes:
    """Owners, modes (setuid, sticky), xattrs, hard and symbolic links, a long
    name, empty and large files, a device and a FIFO (left out by OSTree)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        _add(t, "./", tarfile.DIRTYPE, mode=0o755)
        _add(t, "./etc/", tarfile.DIRTYPE, mode=0o750, uid=5, gid=6)
        _add(t, "./etc/owned", data=b"owned by 1000:100\n", mode=0o640, uid=1000, gid=100,
             xattrs={"user.comment": "hello", "security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00"})
        _add(t, "./etc/hardlink", tarfile.LNKTYPE, link="./etc/owned")
        _add(t, "./etc/symlink", tarfile.SYMTYPE, link="/etc/owned", mode=0o777)
        _add(t, "./etc/empty", mode=0o600)
        _add(t, "./usr/", tarfile.DIRTYPE, mode=0o755)
        _add(t, "./usr/bin/", tarfile.DIRTYPE, mode=0o755)
        _add(t, "./usr/bin/setuid", data=b"#!/bin/sh\n", mode=0o4755)
        _add(t, "./tmp/", tarfile.DIRTYPE, mode=0o1777)
        _add(t, "./big", data=bytes(range(256)) * 20000 + b"tail")  # > 1 MiB, not block-aligned
        _add(t, "./" + "long-directory-name/" * 7 + "file", data=b"a long path\n")
        _add(t, "./dev/", tarfile.DIRTYPE, mode=0o755)
        _add(t, "./dev/null", tarfile.CHRTYPE, mode=0o666)
        _add(t, "./run-fifo", tarfile.FIFOTYPE, mode=0o644)
    return buf.getvalue()


def gnu_layer() -> bytes:
    """GNU format: a long name through a ././@LongLink entry, no pax records."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        _add(t, "gnu/", tarfile.DIRTYPE, mode=0o755)
        _add(t, "gnu/" + "x" * 150 + "/", tarfile.DIRTYPE, mode=0o700)
        _add(t, "gnu/" + "x" * 150 + "/file", data=b"gnu long name\n", uid=3, gid=4)
    return buf.getvalue()
