"""The interface of signature verifiers and signers, keyed by signature kind
(``simple-signing``, ``sigstore``, or whatever a third-party plugin adds)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VerificationResult:
    accepted: bool
    reason: str = ""


class SignatureHandler(ABC):
    # The kind this handler serves; policy requirements are routed by it.
    kind: str = ""
    # policy.json requirement ``type`` values this handler evaluates.
    requirement_types: tuple[str, ...] = ()

    @abstractmethod
    def verify(
        self,
        requirement: dict[str, Any],
        signatures: list[bytes],
        manifest: bytes,
        image_reference: Any,
    ) -> VerificationResult:
        """Decide whether *signatures* satisfy *requirement* for this image."""

    def sign(self, manifest: bytes, identity: str, options: dict[str, Any]) -> bytes:
        raise NotImplementedError(f"{self.kind} signatures can be verified but not created")
