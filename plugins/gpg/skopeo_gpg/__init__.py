"""Simple signing (``containers-signature`` blobs made and checked with GnuPG):
the ``simple-signing`` signature kind, evaluating ``signedBy`` policy
requirements, and the commands around its blobs (``standalone-sign``,
``standalone-verify``, ``untrusted-signature-dump-without-verification``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skopeo.hookspecs import hookimpl
from skopeo.plugins import deferred

if TYPE_CHECKING:
    from skopeo.signature import SignatureHandler


@hookimpl
def register_signature_handlers(register: Callable[[SignatureHandler], None]) -> None:
    # Imported here: every plugin is loaded at start-up, signing rarely runs.
    from .handler import SimpleSigningHandler

    register(SimpleSigningHandler())


@hookimpl
def register_commands(register: Callable[[Any], None]) -> None:
    # Imported here: typer loads only when one of these commands is needed.
    from .commands import app, bare_app

    register(app)
    register(bare_app)


@hookimpl
def register_api_calls(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """``skopeo.api.standalone_sign``, ``standalone_verify`` and
    ``untrusted_signature_dump`` (GnuPG's modules load when one is called)."""
    module = __name__ + ".standalone"
    register("standalone_sign", deferred(module, "standalone_sign"))
    register("standalone_verify", deferred(module, "verify_call"))
    register("untrusted_signature_dump", deferred(module, "untrusted_info"))
