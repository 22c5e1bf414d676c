"""The hooks a plugin can implement.  This module is the whole plugin contract.

Plugins are modules (or objects) with functions decorated by :data:`hookimpl`,
published under the ``skopeo.plugins`` entry-point group.  The built-in features
(the auth-file credential provider, for one) are registered through the same path.

Every hook is called through pluggy, so ``tryfirst``/``trylast`` and hook
wrappers (``@hookimpl(wrapper=True)``) work as pluggy documents them: the
``register_*`` hooks receive one ``register`` callback and are called once per
plugin as it loads (with the loaded wrappers of that hook around the call)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .auth import AuthProvider
    from .signature import SignatureHandler
    from .transport import Transport

PROJECT = "skopeo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_transports(register: Callable[[Transport], None]) -> None:
    """Call ``register(transport)`` for each transport the plugin provides.

    Keep the module that implements this light: import heavy libraries inside the
    transport's methods, because every plugin is loaded at start-up."""


@hookspec
def register_auth_providers(register: Callable[[AuthProvider], None]) -> None:
    """Call ``register(provider)`` for each :class:`skopeo.auth.AuthProvider`
    (a credential backend that looks credentials up and, if it can, stores and
    erases what ``login``/``logout`` produce).  Providers are asked in the order
    they are registered: pluggy's order, so ``tryfirst`` goes before the rest;
    the built-in auth-file provider is ``trylast``."""


@hookspec
def register_signature_handlers(register: Callable[[SignatureHandler], None]) -> None:
    """Call ``register(handler)`` for each signature kind the plugin can verify
    and/or create (handlers are keyed by their ``kind``)."""


@hookspec
def register_commands(register: Callable[[Any], None]) -> None:
    """Call ``register(app)`` with a ``typer.Typer`` whose commands become
    ``skopeo`` sub-commands (run with skopeo's flag grammar, help and errors;
    see docs/plugin-authoring.md).  Import typer and the module defining the
    commands *inside* this function: it is called only when a plugin command
    is looked up, listed in help, or completed."""


@hookspec
def register_api_calls(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Call ``register(name, function)`` for each call of :mod:`skopeo.api`
    the plugin implements (``login``, ``logout``, ``get_login``,
    ``standalone_sign``, ``standalone_verify``, ``untrusted_signature_dump``,
    ``generate_sigstore_key``): the core defines each call's signature,
    result and errors, and the plugin that has the protocol or the key
    format does the work.  A name is implemented once."""
