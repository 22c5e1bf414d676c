"""Extracting a layer's tar into a directory, as containers/storage's
``pkg/archive`` does it, with untrusted input kept inside that directory.

Three ways, chosen by the driver:

* ``overlay``: the layer alone (``archive.Unpack`` with ``OverlayWhiteoutFormat``):
  ``.wh.NAME`` becomes a 0/0 character device NAME, ``.wh..wh..opq`` the
  ``trusted.overlay.opaque=y`` (rootless: ``user.overlay.opaque``) attribute of
  its directory, as the kernel's overlayfs expects;
* ``aufs``: the layer alone with whiteout files kept as they are (overlay with a
  ``mount_program`` such as fuse-overlayfs, which reads them itself);
* ``apply``: the layer applied on top of a copy of its parent (``UnpackLayer``,
  the vfs driver): whiteouts delete what they name.

Upstream extracts in a chroot of the target; here every path is resolved inside
the target instead: names are cleaned, intermediate symlinks are followed with
the target as root (what the chroot does), and anything that would leave it is
refused with a clear error rather than silently clamped:

* an entry name that climbs out (``../x``);
* a path that goes through a symlink whose target climbs out of the root;
* a hard link to a name that climbs out.

Symlink entries themselves are created as they are: a link is data, resolved in
the container's root when used.  Device nodes are created only by root (rootless,
they are skipped as upstream does in its user namespace).
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from collections.abc import Iterable

from . import tarstream as ts
from .tarsplit import go_clean

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
_XATTRS_TO_IGNORE = {"security.selinux"}
_MAX_SYMLINKS = 255


def _umask() -> int:
    """The process umask, read without changing it (other threads create files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777  # unknown: always chmod


class UnpackError(Exception):
    """A layer that cannot (or must not) be extracted; the message says why."""


def _q(name: str) -> str:
    from skopeo.golang import gojson

    return gojson.quote(name.encode("utf-8", "surrogateescape"))


def _parent_and_base(rel: str) -> tuple[str, str]:
    slash = rel.rfind("/")
    return (rel[:slash], rel[slash + 1:]) if slash >= 0 else ("", rel)


def _join(parent: str, base: str) -> str:
    return f"{parent}/{base}" if parent else base


class Extractor:
    """Writes the entries of one layer below *root* (which must exist)."""

    def __init__(self, root: str, mode: str, *, rootless: bool, ignore_chown_errors: bool,
                 opaque_xattr: str = "trusted.overlay.opaque") -> None:
        self.root = root
        self.mode = mode
        self.rootless = rootless
        self.ignore_chown_errors = ignore_chown_errors
        self.opaque_xattr = opaque_xattr
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.uid = os.geteuid()
        # Relative paths known to be real directories (no symlink on the way).
        self._dirs: set[str] = {""}
        # "overlay"/"aufs" start from an empty directory: what exists is what this
        # layer created, so no lstat is needed (path -> True for a symlink).
        self._fresh = mode != "apply"
        self._entries: dict[str, bool] = {}
        self.gid = os.getegid()
        self.umask = _umask()
        self._deferred: list[tuple[str, ts.Header]] = []
        self._unpacked: set[str] = set()  # "apply" mode: what this layer wrote
        self.uids: set[int] = set()
        self.gids: set[int] = set()
        self.chown_errors = 0
        self.root_entry_seen = False  # "apply": the tar set the root's metadata

    def close(self) -> None:
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    # --- paths ----------------------------------------------------------------------
    def clean_name(self, name: str) -> str:
        """The entry's path relative to the root ("" for the root itself)."""
        cleaned = go_clean(name)
        if cleaned == ".." or cleaned.startswith("../"):
            raise UnpackError(f"{_q(cleaned)} is outside of {_q(self.root)}")
        cleaned = cleaned.lstrip("/")
        return "" if cleaned == "." else cleaned

    def resolve_dir(self, rel: str, create: bool = True, entry: str = "") -> str:
        """The real directory that *rel* names inside the root, following symlinks
        as a chroot would; missing directories are created (0755, root-owned)."""
        if rel in self._dirs:
            return rel
        queue = deque(rel.split("/"))
        cur = ""
        links = 0
        while queue:
            part = queue.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not cur:
                    raise UnpackError(f"{_q(entry or rel)}: a symlink on its path points outside of the layer")
                cur = _parent_and_base(cur)[0]
                continue
            nxt = _join(cur, part)
            if nxt in self._dirs:
                cur = nxt
                continue
            try:
                if self._fresh and nxt not in self._entries:
                    raise FileNotFoundError(errno.ENOENT, "no such file or directory", nxt)
                st = os.lstat(nxt, dir_fd=self.root_fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(nxt, 0o755, dir_fd=self.root_fd)
                if not self._fresh:
                    self._chown_root(nxt)  # a fresh directory of root is root's already
                self._dirs.add(nxt)
                cur = nxt
                continue
            if stat.S_ISDIR(st.st_mode):
                self._dirs.add(nxt)
                cur = nxt
            elif stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_SYMLINKS:
                    raise UnpackError(f"{_q(entry or rel)}: too many levels of symbolic links")
                target = os.readlink(nxt, dir_fd=self.root_fd)
                if target.startswith("/"):
                    cur = ""
                queue.extendleft(reversed(target.split("/")))
            else:
                raise UnpackError(f"{_q(entry or rel)}: {_q(nxt)} is not a directory")
        return cur

    def _forget(self, rel: str) -> None:
        """*rel* is gone: forget it and everything below it."""
        self._dirs.discard(rel)
        self._entries.pop(rel, None)
        prefix = rel + "/"
        if any(d.startswith(prefix) for d in self._dirs):
            self._dirs = {d for d in self._dirs if not d.startswith(prefix)}
            self._entries = {e: v for e, v in self._entries.items() if not e.startswith(prefix)}

    def _remove_all(self, rel: str) -> None:
        import shutil

        if self._fresh and rel not in self._dirs and rel not in self._entries:
            return
        try:
            st = os.lstat(rel, dir_fd=self.root_fd)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(os.path.join(self.root, rel))
        else:
            os.unlink(rel, dir_fd=self.root_fd)
        self._forget(rel)

    # --- ownership ------------------------------------------------------------------
    def _chown_root(self, rel: str) -> None:
        if not self.rootless:
            os.chown(rel, 0, 0, dir_fd=self.root_fd, follow_symlinks=False)

    def _chown(self, rel: str, fd: int, uid: int, gid: int) -> None:
        if self.rootless and uid == 0 and gid == 0:
            return  # root of the container is the invoking user, who owns the file already
        if self._fresh and uid == self.uid and gid == self.gid:
            return  # just created by us, with no set-group-ID directory above (modes come last)
        try:
            if fd >= 0:
                os.fchown(fd, uid, gid)
            else:
                os.chown(rel, uid, gid, dir_fd=self.root_fd, follow_symlinks=False)
        except OSError as e:
            if self.ignore_chown_errors:
                self.chown_errors += 1
                return
            if self.rootless and e.errno in (errno.EPERM, errno.EINVAL):
                raise UnpackError(
                    f"potentially insufficient UIDs or GIDs available in user namespace (requested {uid}:{gid} for "
                    f"/{rel}): set ignore_chown_errors in storage.conf to extract rootless without a user namespace: "
                    f"lchown /{rel}: {os.strerror(e.errno).lower()}"
                ) from None
            raise

    # --- entries --------------------------------------------------------------------
    def add(self, hdr: ts.Header, content: Iterable[bytes]) -> None:
        """Write one entry; *content* yields its data (regular files)."""
        t = hdr.typeflag
        # The ID sets of the layer record: every header but whiteouts (tarlog).
        if not hdr.name.rstrip("/").rpartition("/")[2].startswith(WHITEOUT_PREFIX):
            self.uids.add(hdr.uid & 0xFFFFFFFF)
            self.gids.add(hdr.gid & 0xFFFFFFFF)
        if t == ts.TYPE_XGLOBAL:
            return
        rel = self.clean_name(hdr.name)
        if self.mode == "apply" and rel.startswith(WHITEOUT_META_PREFIX) and "/" not in rel and rel != WHITEOUT_OPAQUE:
            return  # AUFS metadata (.wh..wh.plnk etc.): not part of the image's files
        if rel == "":
            if self.mode != "apply":
                return  # the layer's root keeps the permissions the driver gave it
            self._deferred.append(("", hdr))
            self.root_entry_seen = True
            return
        parent_rel, base = _parent_and_base(rel)
        parent = self.resolve_dir(parent_rel, entry=rel)
        path = _join(parent, base)
        if self.mode == "apply" and base.startswith(WHITEOUT_PREFIX):
            self._apply_whiteout(parent, base)
            return
        if self._fresh:
            is_dir, exists = path in self._dirs, path in self._dirs or path in self._entries
        else:
            try:
                is_dir, exists = stat.S_ISDIR(os.lstat(path, dir_fd=self.root_fd).st_mode), True
            except FileNotFoundError:
                is_dir = exists = False
        if exists and not (is_dir and t == ts.TYPE_DIR):
            self._remove_all(path)
        if self.mode == "overlay" and base.startswith(WHITEOUT_PREFIX):
            self._overlay_whiteout(parent, base, hdr)
            return
        self._extract(path, hdr, content, is_dir)
        if self.mode == "apply":
            self._unpacked.add(path)

    def _overlay_whiteout(self, parent: str, base: str, hdr: ts.Header) -> None:
        if base == WHITEOUT_OPAQUE:
            target = os.path.join(self.root, parent) if parent else self.root
            os.setxattr(target, self.opaque_xattr, b"y", follow_symlinks=False)
            return
        original = _join(parent, base[len(WHITEOUT_PREFIX):])
        try:
            os.mknod(original, stat.S_IFCHR, 0, dir_fd=self.root_fd)
        except OSError as e:
            if e.errno == errno.ENOTDIR:
                return
            if e.errno == errno.EPERM and self.rootless:
                raise UnpackError(
                    f"creating whiteout {_q('/' + original)}: overlay whiteouts need a character device, which only "
                    "root can create: configure mount_program (fuse-overlayfs) or use the vfs driver"
                ) from None
            raise
        self._entries[original] = False
        self._chown(original, -1, hdr.uid, hdr.gid)

    def _apply_whiteout(self, parent: str, base: str) -> None:
        if base == WHITEOUT_OPAQUE:
            for entry in os.listdir(os.path.join(self.root, parent) if parent else self.root):
                child = _join(parent, entry)
                if child not in self._unpacked:
                    self._remove_all(child)
            return
        self._remove_all(_join(parent, base[len(WHITEOUT_PREFIX):]))

    def _extract(self, path: str, hdr: ts.Header, content: Iterable[bytes], exists_as_dir: bool) -> None:
        t = hdr.typeflag
        mode = hdr.mode & 0o7777
        fd = -1
        if t == ts.TYPE_DIR:
            if not exists_as_dir:
                os.mkdir(path, 0o700, dir_fd=self.root_fd)
            self._dirs.add(path)
        elif t == ts.TYPE_REG:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode & 0o777,
                         dir_fd=self.root_fd)
        elif t in (ts.TYPE_CHAR, ts.TYPE_BLOCK):
            if self.rootless:
                return  # upstream cannot create devices in a user namespace either
            kind = stat.S_IFCHR if t == ts.TYPE_CHAR else stat.S_IFBLK
            os.mknod(path, mode | kind, os.makedev(hdr.devmajor, hdr.devminor), dir_fd=self.root_fd)
        elif t == ts.TYPE_FIFO:
            os.mknod(path, mode | stat.S_IFIFO, 0, dir_fd=self.root_fd)
        elif t == ts.TYPE_LINK:
            target = self._link_target(hdr.linkname, path)
            os.link(target, path, src_dir_fd=self.root_fd, dst_dir_fd=self.root_fd, follow_symlinks=False)
            self._entries[path] = self._link_is_symlink(target)
        elif t == ts.TYPE_SYMLINK:
            os.symlink(hdr.linkname, path, dir_fd=self.root_fd)
        else:
            raise UnpackError(f"unhandled tar header type {ord(t)}")
        if t not in (ts.TYPE_DIR, ts.TYPE_LINK):
            self._entries[path] = t == ts.TYPE_SYMLINK
        try:
            if fd >= 0:
                for chunk in content:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
            self._finish_entry(path, fd, hdr, mode)
        finally:
            if fd >= 0:
                os.close(fd)

    def _link_target(self, linkname: str, path: str) -> str:
        cleaned = go_clean(linkname)
        if cleaned == ".." or cleaned.startswith("../"):
            raise UnpackError(f"invalid hardlink {_q(path)} -> {_q(linkname)}: it points outside of the layer")
        rel = cleaned.lstrip("/")
        parent, base = _parent_and_base("" if rel == "." else rel)
        return _join(self.resolve_dir(parent, create=False, entry=path), base)

    def _finish_entry(self, path: str, fd: int, hdr: ts.Header, mode: int) -> None:
        t = hdr.typeflag
        self._chown(path, fd, hdr.uid, hdr.gid)
        if t == ts.TYPE_DIR:
            self._deferred.append((path, hdr))  # mode and times once it is filled
        else:
            # Go: an access time before the modification time becomes the latter.
            atime = hdr.atime_ns if hdr.atime_ns is not None and hdr.atime_ns >= hdr.mtime_ns else hdr.mtime_ns
            times = (atime, hdr.mtime_ns)
            if fd >= 0:
                if mode & 0o7000 or mode & self.umask:  # else open() gave it this mode already
                    os.fchmod(fd, mode)
                os.utime(fd, ns=times)
            elif t == ts.TYPE_SYMLINK or (t == ts.TYPE_LINK and self._link_is_symlink(path)):
                os.utime(path, ns=times, dir_fd=self.root_fd, follow_symlinks=False)
            else:
                os.chmod(path, mode, dir_fd=self.root_fd)
                os.utime(path, ns=times, dir_fd=self.root_fd)
        self._set_xattrs(path, fd, hdr)

    def _link_is_symlink(self, path: str) -> bool:
        if self._fresh:
            return self._entries.get(path, False)
        return stat.S_ISLNK(os.lstat(path, dir_fd=self.root_fd).st_mode)

    def _set_xattrs(self, path: str, fd: int, hdr: ts.Header) -> None:
        for key, value in hdr.xattrs.items():
            if key in _XATTRS_TO_IGNORE:
                continue
            data = value.encode("utf-8", "surrogateescape")
            try:
                if fd >= 0:
                    os.setxattr(fd, key, data)
                else:
                    os.setxattr(os.path.join(self.root, path), key, data, follow_symlinks=False)
            except OSError as e:
                if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) or (self.rootless and e.errno == errno.EPERM):
                    continue  # upstream warns and goes on
                raise

    def finish(self) -> None:
        """Directory permissions and times, last (files created in a directory
        change its mtime, and a read-only directory could not be filled)."""
        for path, hdr in reversed(self._deferred):
            target = os.path.join(self.root, path) if path else self.root
            os.chmod(target, hdr.mode & 0o7777)
            if path == "" and not self.rootless:
                os.chown(target, hdr.uid, hdr.gid)
            atime = hdr.atime_ns if hdr.atime_ns is not None and hdr.atime_ns > 0 else 0
            os.utime(target, ns=(atime, hdr.mtime_ns))
        self._deferred.clear()
