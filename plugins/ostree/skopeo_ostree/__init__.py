"""The ``ostree:`` transport plugin: images in an OSTree repository, in the
layout containers/image's ``ostree`` transport wrote (see ``reference.py``).

libostree is reached through PyGObject (``gi.repository.OSTree``).  On a
machine without it the transport is registered unlisted, and naming it gives
one error line saying what to install; nothing heavy is imported here."""

from __future__ import annotations

from collections.abc import Callable

from skopeo.hookspecs import hookimpl
from skopeo.transport import Transport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    from .reference import OstreeTransport, UnavailableOstreeTransport, libostree_missing

    missing = libostree_missing()
    register(OstreeTransport() if missing is None else UnavailableOstreeTransport(missing))
