"""The hooks a plugin can implement.  This module is the whole plugin contract.

Plugins are modules (or objects) with functions decorated by :data:`hookimpl`,
published under the ``skopeo.plugins`` entry-point group.  The built-in features
(the auth-file credential provider, for one) are registered through the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .auth import Credentials
    from .context import SystemContext
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


@hookspec(firstresult=True)
def get_credentials(registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
    """Credentials for *registry* (``host[:port]``) and optionally *repository*
    (``host/ns/repo``), or None to let the next provider answer.  The first
    non-None answer wins; the built-in auth-file provider runs last."""


@hookspec
def register_signature_handlers(register: Callable[[SignatureHandler], None]) -> None:
    """Call ``register(handler)`` for each signature kind the plugin can verify
    and/or create (handlers are keyed by their ``kind``)."""
