"""The two graph drivers implemented here, with containers/storage's on-disk
layout, and the choice of a driver.

* ``overlay`` (``drivers/overlay``): each layer in ``overlay/<id>/`` with ``diff/``
  (the layer's own files, whiteouts as overlayfs expects them), ``link`` (a short
  random name), ``l/<short>`` → ``../<id>/diff``, ``work/`` and ``merged/``, and
  either ``empty/`` (a base layer) or ``lower`` (``l/<short>`` of every layer
  below, nearest first) and ``lower-layers`` (their IDs).  Nothing is mounted:
  writing and reading a layer only needs its ``diff/``.
* ``vfs`` (``drivers/vfs``): each layer a complete tree in ``vfs/dir/<id>``
  (a copy of its parent with the layer applied).

Any other driver (btrfs, zfs, …) is refused with an error that names it.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
from typing import Any

from skopeo import log
from skopeo.errors import SkopeoError, UnsupportedError

from .config import parse_driver_option

OVERLAY = "overlay"
VFS = "vfs"
# Drivers containers/storage knows; only the first two are implemented here.
_UPSTREAM_DRIVERS = ("overlay", "vfs", "btrfs", "zfs")
_PRIORITY = ("overlay", "btrfs", "zfs", "vfs")
OVERLAY_DEFAULT_PERMS = 0o555
LINK_DIR = "l"
TEMP_DIR_NAME = "tempdirs"


def _parse_bool(value: str) -> bool:
    low = value.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise SkopeoError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


class Driver:
    name = ""
    # How a layer's tar is extracted (see unpack.Extractor).
    unpack_mode = "apply"

    def __init__(self, home: str, options: list[str]) -> None:
        self.home = home
        self.additional_stores: list[str] = []
        self.ignore_chown_errors = False
        self.sync = False
        self._parse_options(options)

    def _parse_options(self, options: list[str]) -> None:
        for option in options:
            driver, key, value = parse_driver_option(option)
            if driver and driver != self.name and not (self.name == OVERLAY and driver == "overlay2"):
                continue
            self._option(key, value, option)

    def _option(self, key: str, value: str, option: str) -> None:
        if key in ("imagestore", "additionalimagestore"):
            for store in value.split(",") if value else []:
                store = os.path.normpath(store)
                if not os.path.isabs(store):
                    raise SkopeoError(f'{self.name}: image path "{store}" is not absolute.  Can not be relative')
                if not os.path.isdir(store):
                    raise SkopeoError(f"{self.name}: can't stat imageStore dir {store}: no such file or directory")
                self.additional_stores.append(store)
        elif key == "ignore_chown_errors":
            self.ignore_chown_errors = _parse_bool(value)
        elif key == "sync":
            if value not in ("", "none", "filesystem"):
                raise SkopeoError(f'invalid mode for {self.name} driver: "{value}"')
            self.sync = value == "filesystem"
        else:
            raise SkopeoError(f'unknown option "{key}" ("{option}")')

    def layer_dir(self, layer_id: str) -> str:
        raise NotImplementedError

    def content_dirs(self, layer_id: str, lower_ids: list[str]) -> list[str]:
        """Where a layer's files are read from, first match wins."""
        raise NotImplementedError

    def temp_root(self) -> str:
        return os.path.join(self.home, TEMP_DIR_NAME)

    def remove(self, layer_id: str) -> None:
        path = os.path.join(self.home, *self._own_path(layer_id))
        _remove_tree(path)

    def _own_path(self, layer_id: str) -> tuple[str, ...]:
        raise NotImplementedError

    def in_additional_store(self, layer_id: str) -> bool:
        return not os.path.lexists(os.path.join(self.home, *self._own_path(layer_id)))


def _remove_tree(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        # Read-only directories (0555 diff roots) are no obstacle for root; for a
        # rootless user make them writable first.
        def onerror(func: Any, p: str, exc: Any) -> None:
            parent = os.path.dirname(p)
            os.chmod(parent, 0o700)
            func(p)

        shutil.rmtree(path, onerror=onerror)
    else:
        os.unlink(path)


class VfsDriver(Driver):
    name = VFS
    unpack_mode = "apply"

    def __init__(self, home: str, options: list[str]) -> None:
        super().__init__(home, options)
        os.makedirs(os.path.join(home, "dir"), 0o700, exist_ok=True)

    def _option(self, key: str, value: str, option: str) -> None:
        if key == "mountopt":
            raise SkopeoError("vfs driver does not support mount options")
        if key in ("vfs.sync", ".sync"):
            key = "sync"
        super()._option(key, value, option)

    def _own_path(self, layer_id: str) -> tuple[str, ...]:
        return ("dir", os.path.basename(layer_id))

    def layer_dir(self, layer_id: str) -> str:
        own = os.path.join(self.home, "dir", os.path.basename(layer_id))
        if not os.path.exists(own):
            for store in self.additional_stores:
                candidate = os.path.join(store, VFS, "dir", os.path.basename(layer_id))
                if os.path.isdir(candidate):
                    return candidate
        return own

    def content_dirs(self, layer_id: str, lower_ids: list[str]) -> list[str]:
        return [self.layer_dir(layer_id)]


class OverlayDriver(Driver):
    name = OVERLAY
    unpack_mode = "overlay"

    def __init__(self, home: str, options: list[str]) -> None:
        self.mount_program = ""
        super().__init__(home, options)
        if self.mount_program:
            # Unprivileged overlay through a FUSE program: whiteouts stay files.
            self.unpack_mode = "aufs"
        os.makedirs(os.path.join(home, LINK_DIR), 0o755, exist_ok=True)

    def _option(self, key: str, value: str, option: str) -> None:
        if key == "mount_program":
            if value and not os.path.exists(value):
                raise SkopeoError(f'overlay: can\'t stat program "{value}": stat {value}: no such file or directory')
            self.mount_program = value
        elif key in ("mountopt", "size", "inodes", "skip_mount_home", "override_kernel_check",
                     "additionallayerstore"):
            if key == "skip_mount_home":
                _parse_bool(value)
            # Mount and quota settings only matter to containers; image layers are
            # never mounted or size-limited here.
        elif key == "force_mask":
            raise UnsupportedError("overlay: the force_mask option is not supported by this implementation")
        elif key == "use_composefs":
            if _parse_bool(value):
                raise UnsupportedError("overlay: use_composefs is not supported by this implementation")
        else:
            super()._option(key, value, option)

    def _own_path(self, layer_id: str) -> tuple[str, ...]:
        return (layer_id,)

    def layer_dir(self, layer_id: str) -> str:
        own = os.path.join(self.home, layer_id)
        if not os.path.exists(own):
            for store in self.additional_stores:
                candidate = os.path.join(store, OVERLAY, layer_id)
                if os.path.exists(candidate):
                    return candidate
        return own

    def content_dirs(self, layer_id: str, lower_ids: list[str]) -> list[str]:
        return [os.path.join(self.layer_dir(i), "diff") for i in (layer_id, *lower_ids)]

    def lower_of(self, layer_id: str) -> tuple[str, list[str]]:
        """(contents of ``lower``, IDs of the layers below) for a child of *layer_id*."""
        parent_dir = self.layer_dir(layer_id)
        with open(os.path.join(parent_dir, "link")) as f:
            link = f.read().strip()
        lowers = [f"{LINK_DIR}/{link}"]
        try:
            with open(os.path.join(parent_dir, "lower")) as f:
                lowers.extend(x for x in f.read().split(":") if x)
        except FileNotFoundError:
            pass
        ids = [layer_id]
        try:
            with open(os.path.join(parent_dir, "lower-layers")) as f:
                ids.extend(x for x in f.read().split(":") if x)
        except FileNotFoundError:
            for entry in lowers[1:]:
                # l/<short> → ../<id>/diff
                target = os.readlink(os.path.join(self.home, entry))
                ids.append(os.path.basename(os.path.dirname(target)))
        return ":".join(lowers), ids

    def create_layer(self, layer_id: str, parent: str, staged_diff: str) -> None:
        """``overlay/<id>`` around *staged_diff* (renamed to its ``diff``)."""
        layer = os.path.join(self.home, layer_id)
        if os.path.lexists(layer):
            log.warning(f'Trying to create a layer "{layer_id}" while directory "{layer}" already exists; removing it first')
            self.remove(layer_id)
        lower = ids = None
        if parent:
            lower, ids = self.lower_of(parent)
        os.mkdir(layer, 0o700)
        try:
            short = base64.b32encode(os.urandom(17)).decode()[:26]
            diff = os.path.join(layer, "diff")
            os.rename(staged_diff, diff)
            # After the rename: an unprivileged user cannot move a read-only directory.
            os.chmod(diff, OVERLAY_DEFAULT_PERMS)
            os.symlink(f"../{layer_id}/diff", os.path.join(self.home, LINK_DIR, short))
            _write(os.path.join(layer, "link"), short, 0o644)
            os.mkdir(os.path.join(layer, "work"), 0o700)
            os.mkdir(os.path.join(layer, "merged"), 0o700)
            if lower is None or ids is None:
                os.mkdir(os.path.join(layer, "empty"), 0o700)
            else:
                _write(os.path.join(layer, "lower"), lower, 0o644)
                _write(os.path.join(layer, "lower-layers"), ":".join(ids), 0o644)
        except BaseException:
            self.remove(layer_id)
            raise

    def remove(self, layer_id: str) -> None:
        layer = os.path.join(self.home, layer_id)
        try:
            with open(os.path.join(layer, "link")) as f:
                short = f.read().strip()
            if short and "/" not in short:
                try:
                    os.unlink(os.path.join(self.home, LINK_DIR, short))
                except FileNotFoundError:
                    pass
        except OSError:
            pass
        _remove_tree(layer)


def _write(path: str, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _overlay_supported() -> bool:
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1:] == ["overlay"] for line in f)
    except OSError:
        return False


def choose_driver(name: str, graph_root: str, priority: list[str]) -> str:
    """``drivers.New``: the named driver, else the one whose directory already
    exists in the graph root, else the first usable one by priority."""
    if name:
        if name == "overlay2":
            name = OVERLAY
        return name
    prior = [d for d in _UPSTREAM_DRIVERS if os.path.exists(os.path.join(graph_root, d))]
    order = priority or list(_PRIORITY)
    for candidate in order:
        if candidate == VFS and not priority:
            continue
        if candidate in prior:
            if len(prior) > 1:
                raise SkopeoError(f"{graph_root} contains several valid graphdrivers: {', '.join(prior)}; "
                                  "Please cleanup or explicitly choose storage driver (-s <DRIVER>)")
            log.info(f"[graphdriver] using prior storage driver: {candidate}")  # as upstream, every time
            return candidate
    for candidate in order:
        if candidate == OVERLAY and _overlay_supported():
            return OVERLAY
        if candidate == VFS:
            return VFS
    return OVERLAY if _overlay_supported() else VFS


def new_driver(name: str, graph_root: str, options: list[str]) -> Driver:
    home = os.path.join(graph_root, name)
    if name == OVERLAY:
        return OverlayDriver(home, options)
    if name == VFS:
        return VfsDriver(home, options)
    if name in _UPSTREAM_DRIVERS:
        raise UnsupportedError(
            f'the "{name}" storage driver is not supported by this implementation of containers-storage: '
            "only overlay and vfs are"
        )
    log.error(f"Failed to GetDriver graph {name} {graph_root}")
    raise SkopeoError(f"failed to GetDriver graph {name} {graph_root}: driver not supported")
