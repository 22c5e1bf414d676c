"""libostree through PyGObject: the few repository operations the transport
needs, with GLib errors turned into :class:`SkopeoError` (libostree's own
message, as upstream's ostree-go binding reported it).

Why PyGObject rather than the ``ostree`` command: commit metadata is the
transport's format (the tar-split of a large layer is megabytes), and the
command line can only pass it as an argument, which Linux caps at 128 KiB;
reading a layer back means reading thousands of files from a commit, one
process each with the command.  In process, libostree imports a layer tar
directly (``write_archive_to_mtree``: owners, modes and xattrs as the tar
has them, for any user) and streams files out of commits.
"""

from __future__ import annotations

import stat
import time
from typing import Any, BinaryIO, cast

from skopeo.errors import SkopeoError

# Commits of upstream's transport name this parent (ostree-go's "no parent").
ZERO_PARENT = "0" * 64
CHUNK = 1 << 20


def _gi() -> tuple[Any, Any, Any]:
    try:
        import gi  # type: ignore[import-untyped]

        gi.require_version("OSTree", "1.0")
        from gi.repository import Gio, GLib, OSTree  # type: ignore[import-untyped]
    except (ImportError, ValueError) as e:  # found on disk but not loadable
        raise SkopeoError(f"the ostree transport is unavailable: loading libostree: {e}") from None
    return Gio, GLib, OSTree


class _StreamReader:
    """A GInputStream as a binary stream."""

    def __init__(self, stream: Any, glib: Any) -> None:
        self._stream = stream
        self._glib = glib

    def _read(self, n: int) -> bytes:
        try:
            return bytes(self._stream.read_bytes(n, None).get_data() or b"")
        except self._glib.Error as e:
            raise SkopeoError(e.message) from None

    def read(self, n: int = -1) -> bytes:
        if n is not None and n >= 0:
            return self._read(n) if n else b""  # a short read, as any stream may give
        parts = []
        while chunk := self._read(CHUNK):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        try:
            self._stream.close(None)
        except self._glib.Error:
            pass


class Repo:
    """An opened OSTree repository."""

    def __init__(self, path: str) -> None:
        self.Gio, self.GLib, self.OSTree = _gi()
        self.path = path
        self._repo = self.OSTree.Repo.new(self.Gio.File.new_for_path(path))
        self._call(self._repo.open, None)
        self._roots: dict[str, Any] = {}

    def _call(self, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except self.GLib.Error as e:
            raise SkopeoError(e.message) from None

    # --- reading -----------------------------------------------------------------
    def resolve(self, ref: str) -> str | None:
        """The commit a ref points to, or None when there is no such ref."""
        _, rev = self._call(self._repo.resolve_rev, ref, True)
        return cast(str | None, rev)

    def metadata(self, ref: str, key: str) -> str | None:
        """A string value of the commit metadata of *ref* (upstream's readMetadata):
        None when the ref or the key does not exist."""
        rev = self.resolve(ref)
        if rev is None:
            return None
        _, variant = self._call(self._repo.load_variant, self.OSTree.ObjectType.COMMIT, rev)
        value = variant.get_child_value(0).lookup_value(key, None)
        if value is None:
            return None
        if value.get_type_string() != "s":
            raise SkopeoError(f"commit metadata {key} of {ref} is not a string")
        return cast(str, value.get_string())

    def open_file(self, ref: str, path: str) -> BinaryIO:
        """A file of the commit *ref* points to, by its path in the tree."""
        root = self._roots.get(ref)
        if root is None:
            _, root, _ = self._call(self._repo.read_commit, ref, None)
            self._roots[ref] = root
        path = path.removeprefix("./").lstrip("/")
        target = root.resolve_relative_path(path) if path else root
        stream = self._call(target.read, None)
        return cast(BinaryIO, _StreamReader(stream, self.GLib))

    # --- writing -------------------------------------------------------------------
    def begin(self) -> None:
        self._call(self._repo.prepare_transaction, None)

    def finish(self) -> None:
        self._call(self._repo.commit_transaction, None)

    def abort(self) -> None:
        try:
            self._repo.abort_transaction(None)
        except self.GLib.Error:
            pass

    def _commit(self, branch: str, mtree: Any, metadata: dict[str, str]) -> str:
        GLib = self.GLib
        _, root = self._call(self._repo.write_mtree, mtree, None)
        variant = GLib.Variant("a{sv}", {k: GLib.Variant("s", v) for k, v in metadata.items()})
        _, checksum = self._call(self._repo.write_commit_with_time, ZERO_PARENT, None, None, variant, root,
                                 int(time.time()), None)
        self._repo.transaction_set_ref(None, branch, checksum)
        return cast(str, checksum)

    def commit_archive(self, branch: str, tar_path: str, metadata: dict[str, str]) -> str:
        """Commit the files of an uncompressed tar on *branch*.  Devices, FIFOs
        and sockets are left out, as upstream removed them before committing;
        missing parent directories are created (0755, root), as extraction does."""
        OSTree = self.OSTree

        def skip_special(_repo: Any, _path: str, info: Any, *_data: Any) -> Any:
            mode = info.get_attribute_uint32("unix::mode")
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                return OSTree.RepoCommitFilterResult.SKIP
            if stat.S_ISLNK(mode):  # 0777, as a symlink extracted to disk (upstream's way) has
                info.set_attribute_uint32("unix::mode", stat.S_IFLNK | 0o777)
            return OSTree.RepoCommitFilterResult.ALLOW

        modifier = OSTree.RepoCommitModifier.new(OSTree.RepoCommitModifierFlags.NONE, skip_special, None)
        mtree = OSTree.MutableTree.new()
        self._call(self._repo.write_archive_to_mtree, self.Gio.File.new_for_path(tar_path), mtree, modifier, True, None)
        return self._commit(branch, mtree, metadata)

    def commit_directory(self, branch: str, directory: str, metadata: dict[str, str]) -> str:
        """Commit a directory (the config blob, the manifest and signatures) on *branch*."""
        mtree = self.OSTree.MutableTree.new()
        self._call(self._repo.write_directory_to_mtree, self.Gio.File.new_for_path(directory), mtree, None, None)
        return self._commit(branch, mtree, metadata)
