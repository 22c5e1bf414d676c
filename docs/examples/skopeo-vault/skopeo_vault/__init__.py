"""An example third-party skopeo plugin: a credential backend ("the vault",
an SQLite file standing in for a keyring or a secrets manager) that serves the
registries it was told to serve, answers lookups for them, and stores and
erases what ``skopeo login``/``logout`` produce; plus two commands to manage
it, declared with typer.

This module is imported whenever a command needs credentials or lists
commands, so it imports nothing heavy: sqlite3 loads when the vault is first
read, typer only when one of its commands runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skopeo.auth import AuthProvider
from skopeo.hookspecs import hookimpl


@hookimpl(tryfirst=True)
def register_auth_providers(register: Callable[[AuthProvider], None]) -> None:
    # tryfirst: asked before every other backend, for the registries it serves
    # (the built-in auth files are trylast in any case).
    from .provider import VaultProvider

    register(VaultProvider())


@hookimpl
def register_commands(register: Callable[[Any], None]) -> None:
    from .commands import app

    register(app)
