"""Reading a repository with the ``ostree`` command (the independent check of
what the transport wrote) and describing layer tars the same way."""

from __future__ import annotations

import io
import re
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import NamedTuple


class Entry(NamedTuple):
    kind: str  # "d", "-", "l"
    mode: int  # permission bits with setuid/setgid/sticky
    uid: int
    gid: int
    xattrs: tuple[tuple[bytes, bytes], ...]
    target: str  # symlink target


def ostree(repo: Path, *args: str) -> str:
    return subprocess.run(["ostree", f"--repo={repo}", *args], check=True, capture_output=True, text=True).stdout


def refs(repo: Path) -> set[str]:
    return set(ostree(repo, "refs").split())


def metadata(repo: Path, ref: str, key: str) -> str:
    """A string value of the commit metadata (GVariant text '…' unquoted)."""
    text = ostree(repo, "show", f"--print-metadata-key={key}", ref).strip()
    assert text.startswith("'") and text.endswith("'"), text
    return text[1:-1]


_LINE = re.compile(r"^([-dl])(\d{5}) (\d+) (\d+)\s+\d+ \{ (.*) \} (/.*?)(?: -> (.*))?$")
_XATTR = re.compile(r"\(b'([^']*)', \[(?:byte )?([^\]]*)\]\)")


def listing(repo: Path, ref: str) -> dict[str, Entry]:
    """``ostree ls -R -X``: path → entry."""
    out = {}
    for line in ostree(repo, "ls", "-R", "-X", ref).splitlines():
        m = _LINE.match(line)
        assert m, line
        kind, mode, uid, gid, xattrs, path, target = m.groups()
        pairs = tuple(sorted(
            (name.encode(), bytes(int(b, 16) for b in values.split(", ") if b))
            for name, values in _XATTR.findall(xattrs)
        ))
        out[path] = Entry(kind, int(mode, 8) & 0o7777, int(uid), int(gid), pairs, target or "")
    return out


def tar_listing(tar: bytes) -> tuple[dict[str, Entry], dict[str, bytes]]:
    """What a layer tar should become in OSTree: entries as ``listing`` gives
    them (devices and FIFOs left out, hard links as their target) and the
    content of regular files."""
    entries: dict[str, Entry] = {"/": Entry("d", 0o755, 0, 0, (), "")}
    contents: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        for m in t:
            path = "/" + m.name.removeprefix("./").strip("/") if m.name not in (".", "./") else "/"
            if m.ischr() or m.isblk() or m.isfifo():
                continue
            xattrs = tuple(sorted(
                (k.removeprefix("SCHILY.xattr.").encode(), v.encode("utf-8", "surrogateescape"))
                for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")
            ))
            if m.islnk():
                target = "/" + m.linkname.removeprefix("./")
                entries[path] = entries[target]
                contents[path] = contents[target]
                continue
            parent = path.rsplit("/", 1)[0]
            while parent and parent not in entries:  # created by extraction: 0755, root
                entries[parent] = Entry("d", 0o755, 0, 0, (), "")
                parent = parent.rsplit("/", 1)[0]
            kind = "d" if m.isdir() else "l" if m.issym() else "-"
            mode = 0o777 if m.issym() else stat.S_IMODE(m.mode)
            entries[path] = Entry(kind, mode, m.uid, m.gid, xattrs, m.linkname if m.issym() else "")
            if m.isreg():
                f = t.extractfile(m)
                assert f is not None
                contents[path] = f.read()
    return entries, contents
