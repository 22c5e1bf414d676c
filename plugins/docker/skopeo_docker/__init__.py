"""The ``docker://`` transport plugin: container registries.

This module is imported at start-up with every plugin, so it stays light: the
registry client (and ssl with it) load only when an image is opened."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skopeo.hookspecs import hookimpl
from skopeo.plugins import deferred

from .transport import DockerTransport

if TYPE_CHECKING:
    from skopeo.auth import AuthProvider
    from skopeo.transport import Transport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    register(DockerTransport())


@hookimpl
def register_commands(register: Callable[[Any], None]) -> None:
    """``login`` and ``logout`` (typer is imported only when they are needed)."""
    from .commands import app

    register(app)


@hookimpl
def register_api_calls(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """``skopeo.api.login``, ``get_login`` and ``logout`` (:mod:`.login` loads
    when one is called)."""
    for call in ("login", "get_login", "logout"):
        register(call, deferred(__name__ + ".login", call))


@hookimpl
def register_auth_providers(register: Callable[[AuthProvider], None]) -> None:
    """registries.conf ``credential-helpers``: with the default list
    (``containers-auth.json`` only) the built-in auth-file provider answers;
    otherwise the helpers are consulted here, in order."""
    from .credentials import CredentialHelpersProvider

    register(CredentialHelpersProvider())
