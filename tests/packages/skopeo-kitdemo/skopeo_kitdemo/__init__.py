"""skopeo-kitdemo: the hooks this plugin implements (a transport, an auth
backend and a command)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skopeo.auth import AuthProvider
from skopeo.hookspecs import hookimpl
from skopeo.transport import Transport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    from .transport import FlatTransport

    register(FlatTransport())


@hookimpl(tryfirst=True)
def register_auth_providers(register: Callable[[AuthProvider], None]) -> None:
    from .credentials import FileProvider

    register(FileProvider())


@hookimpl
def register_commands(register: Callable[[Any], None]) -> None:
    from .commands import app

    register(app)
