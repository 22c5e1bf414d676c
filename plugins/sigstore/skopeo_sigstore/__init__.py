"""Sigstore signatures with cosign-compatible keys: the ``sigstore`` signature
kind, evaluating ``sigstoreSigned`` policy requirements, and the
``generate-sigstore-key`` command."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skopeo.hookspecs import hookimpl
from skopeo.plugins import deferred

if TYPE_CHECKING:
    from skopeo.signature import SignatureHandler


@hookimpl
def register_signature_handlers(register: Callable[[SignatureHandler], None]) -> None:
    # Imported here: cryptography is heavy and every plugin loads at start-up.
    from .handler import SigstoreHandler

    register(SigstoreHandler())


@hookimpl
def register_commands(register: Callable[[Any], None]) -> None:
    # Imported here: typer loads only when the command is needed.
    from .commands import app

    register(app)


@hookimpl
def register_api_calls(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """``skopeo.api.generate_sigstore_key`` (its module loads when it is called)."""
    register("generate_sigstore_key", deferred(__name__ + ".keygen", "generate_key_files"))
