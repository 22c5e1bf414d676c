"""Sigstore signatures with cosign-compatible keys: the ``sigstore`` signature
kind, evaluating ``sigstoreSigned`` policy requirements."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from skopeo.hookspecs import hookimpl

if TYPE_CHECKING:
    from skopeo.signature import SignatureHandler


@hookimpl
def register_signature_handlers(register: Callable[[SignatureHandler], None]) -> None:
    # Imported here: cryptography is heavy and every plugin loads at start-up.
    from .handler import SigstoreHandler

    register(SigstoreHandler())
