"""The ``docker-archive:`` and ``oci-archive:`` transport plugin (tar archives)."""

from __future__ import annotations

from collections.abc import Callable

from skopeo.hookspecs import hookimpl
from skopeo.transport import Transport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    # Imported here so loading the plugin at start-up stays cheap.
    from .docker_archive import DockerArchiveTransport
    from .oci_archive import OCIArchiveTransport

    register(DockerArchiveTransport())
    register(OCIArchiveTransport())
