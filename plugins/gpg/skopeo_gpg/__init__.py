"""Simple signing (``containers-signature`` blobs made and checked with GnuPG):
the ``simple-signing`` signature kind, evaluating ``signedBy`` policy requirements."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from skopeo.hookspecs import hookimpl

if TYPE_CHECKING:
    from skopeo.signature import SignatureHandler


@hookimpl
def register_signature_handlers(register: Callable[[SignatureHandler], None]) -> None:
    # Imported here: every plugin is loaded at start-up, signing rarely runs.
    from .handler import SimpleSigningHandler

    register(SimpleSigningHandler())
