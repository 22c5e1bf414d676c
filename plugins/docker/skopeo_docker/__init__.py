"""The ``docker://`` transport plugin: container registries.

This module is imported at start-up with every plugin, so it stays light: the
registry client (and httpx) load only when an image is opened."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from skopeo.hookspecs import hookimpl

from .transport import DockerTransport

if TYPE_CHECKING:
    from skopeo.auth import Credentials
    from skopeo.context import SystemContext
    from skopeo.transport import Transport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    register(DockerTransport())


@hookimpl
def get_credentials(registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
    """registries.conf ``credential-helpers``: with the default list
    (``containers-auth.json`` only) the built-in auth-file provider answers;
    otherwise the helpers are consulted here, in order."""
    from .credentials import credentials_from_helpers

    return credentials_from_helpers(ctx, registry, repository)
