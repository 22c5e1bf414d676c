"""The ``containers-storage:`` transport plugin: images in a containers/storage
store (the one podman, buildah and CRI-O use), read and written with the same
on-disk format and locking protocol."""

from __future__ import annotations

from collections.abc import Callable

from skopeo.hookspecs import hookimpl
from skopeo.transport import Transport

from .transport import StorageTransport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    register(StorageTransport())
