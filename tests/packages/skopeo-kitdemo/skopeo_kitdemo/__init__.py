"""skopeo-kitdemo: the hooks this plugin implements."""

from __future__ import annotations

from collections.abc import Callable

from skopeo.hookspecs import hookimpl
from skopeo.transport import Transport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    from .transport import FlatTransport

    register(FlatTransport())
