"""The ``oci:`` transport plugin (OCI image layouts)."""

from __future__ import annotations

from collections.abc import Callable

from skopeo.hookspecs import hookimpl
from skopeo.transport import Transport

from .transport import OCITransport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    register(OCITransport())
