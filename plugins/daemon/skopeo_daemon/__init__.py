"""The ``docker-daemon:`` transport plugin (Docker Engine API)."""

from __future__ import annotations

from collections.abc import Callable

from skopeo.hookspecs import hookimpl
from skopeo.transport import Transport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    # Imported here: loading the plugin must not pull in skopeo-archive or httpx.
    from .transport import DaemonTransport

    register(DaemonTransport())
