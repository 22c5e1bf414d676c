"""The ``simple-signing`` signature kind: ``signedBy`` policy requirements and
``--sign-by`` signatures, with upstream's acceptance rules and messages."""

from __future__ import annotations

from typing import Any

from skopeo import manifest as mf
from skopeo import policy
from skopeo.errors import PolicyError, SkopeoError
from skopeo.signature import (
    CONTAINERS_IMAGE_VERSION,
    SIMPLE_SIGNING,
    SIMPLE_SIGNING_TYPE,
    InvalidSignatureError,
    SignatureHandler,
    UntrustedPayload,
    VerificationResult,
    make_payload,
    parse_payload,
    read_passphrase_file,
    split_by_kind,
)

from .mechanism import Mechanism

CREATOR = f"atomic {CONTAINERS_IMAGE_VERSION}"


def sign_manifest(manifest: bytes, docker_reference: str, key_identity: str, passphrase: str | None,
                  mech: Mechanism | None = None) -> bytes:
    """A simple signature of *manifest* for *docker_reference* (written as given)."""
    payload = make_payload(mf.manifest_digest(manifest), docker_reference, SIMPLE_SIGNING_TYPE, CREATOR)
    return (mech or Mechanism()).sign(payload, key_identity, passphrase)


def verify_and_extract(mech: Mechanism, signature: bytes, trusted: list[str] | None) -> tuple[UntrustedPayload, str]:
    """Verify the OpenPGP layer, check the key is *trusted* (None: any key the
    mechanism knows), then parse the payload.  Returns (payload, fingerprint)."""
    contents, fpr, primary = mech.verify(signature)
    if trusted is not None and fpr not in trusted and primary not in trusted:
        raise InvalidSignatureError(f"Signature by key {fpr} is not accepted")
    return parse_payload(contents, SIMPLE_SIGNING_TYPE), fpr


class SimpleSigningHandler(SignatureHandler):
    kind = SIMPLE_SIGNING
    requirement_types = (policy.SIGNED_BY,)

    def progress_message(self) -> str:
        return "Signing image using simple signing"

    def check_signing(self, options: dict[str, Any]) -> None:
        """An unknown key fails the copy before anything is copied (upstream
        copies the image first, then fails with the same message)."""
        try:
            Mechanism().check_secret_key(options.get("key_fingerprint") or "")
        except SkopeoError as e:
            raise e.wrap("creating signature") from None

    def sign(self, manifest: bytes, identity: str, options: dict[str, Any]) -> bytes:
        key = options.get("key_fingerprint")
        if not key:
            raise SkopeoError("simple signing needs a key fingerprint (--sign-by)")
        passphrase = options.get("passphrase")
        if passphrase is None:
            passphrase = read_passphrase_file(options.get("passphrase_file"))
        try:
            return sign_manifest(manifest, identity, key, passphrase)
        except SkopeoError as e:
            raise e.wrap("creating signature") from None

    def verify(self, requirement: dict[str, Any], signatures: list[bytes], manifest: bytes,
               image_reference: Any) -> VerificationResult:
        sigs, others = split_by_kind(signatures, SIMPLE_SIGNING)
        if not sigs:
            if others:
                return VerificationResult(False, "A signature was required, but no signature exists "
                                                 f"(ignoring {len(others)} signatures of other formats)")
            return VerificationResult(False, "A signature was required, but no signature exists")
        key_type = requirement.get("keyType")
        if key_type != policy.KEY_TYPE_GPG_KEYS:
            reason = f'Unimplemented "keyType" value "{key_type}"'
            return VerificationResult(False, _summary([reason] * len(sigs)))
        try:
            keyring = b"".join(policy.load_key_sources(requirement, "keyPath", "keyPaths", "keyData"))
        except PolicyError as e:
            return VerificationResult(False, e.message)
        mech, trusted = Mechanism.ephemeral(keyring)
        try:
            if not trusted:
                return VerificationResult(False, "No public keys imported")
            rejections: list[str] = []
            for sig in sigs:
                rejected = self._check_one(mech, sig.data, trusted, requirement, manifest, image_reference)
                if rejected is None:
                    return VerificationResult(True)
                rejections.append(rejected)
            return VerificationResult(False, _summary(rejections))
        finally:
            mech.close()

    @staticmethod
    def _check_one(mech: Mechanism, data: bytes, trusted: list[str], requirement: dict[str, Any],
                   manifest: bytes, image_reference: Any) -> str | None:
        try:
            payload, _ = verify_and_extract(mech, data, trusted)
        except SkopeoError as e:
            return e.message
        return policy.payload_rejection(requirement, payload, manifest, image_reference)


def _summary(rejections: list[str]) -> str:
    if len(rejections) == 1:
        return rejections[0]
    return "None of the signatures were accepted, reasons: " + "; ".join(rejections)
