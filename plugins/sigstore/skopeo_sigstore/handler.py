"""The ``sigstore`` signature kind: ``sigstoreSigned`` policy requirements
(verify) and ``--sign-by-sigstore-private-key`` / ``--sign-by-sigstore``
signatures (sign).

Verification is offline and complete: public keys (with or without a Rekor
SET), Fulcio certificates with Rekor SETs, and PKI certificates (see
:mod:`.verify`).  Signing uses a private key; parameter files that ask for
Fulcio or Rekor fail clearly before copying (see :mod:`.params`)."""

from __future__ import annotations

import base64
from typing import Any

from skopeo import manifest as mf
from skopeo import policy
from skopeo.errors import SkopeoError
from skopeo.reference import parse_normalized
from skopeo.signature import (
    CONTAINERS_IMAGE_VERSION,
    SIGSTORE_KIND,
    SIGSTORE_MIME,
    SIGSTORE_SIGNATURE_ANNOTATION,
    SIGSTORE_TYPE,
    InvalidSignatureError,
    Signature,
    SignatureHandler,
    SigstoreEnvelope,
    VerificationResult,
    encode,
    make_payload,
    prompt_passphrase,
    read_passphrase_file,
    split_by_kind,
)

from . import keys

CREATOR = f"containers/image {CONTAINERS_IMAGE_VERSION}"


def sign_manifest(manifest: bytes, docker_reference: str, private_key: Any) -> bytes:
    """A sigstore signature blob (storage format) of *manifest* for *docker_reference*."""
    ref = parse_normalized(docker_reference)
    if ref.is_name_only:
        raise SkopeoError(f"reference {docker_reference} can’t be signed, it has neither a tag nor a digest")
    payload = make_payload(mf.manifest_digest(manifest), docker_reference, SIGSTORE_TYPE, CREATOR)
    sig = keys.sign(private_key, payload)
    envelope = SigstoreEnvelope(SIGSTORE_MIME, payload, {SIGSTORE_SIGNATURE_ANNOTATION: base64.b64encode(sig).decode()})
    return encode(Signature(SIGSTORE_KIND, envelope.to_json()))


def _mime_type(data: bytes) -> str | None:
    """The MIME type of a sigstore signature; None when it does not parse (the
    verification then reports why)."""
    try:
        return SigstoreEnvelope.from_json(data).mime_type
    except InvalidSignatureError:
        return None


class SigstoreHandler(SignatureHandler):
    kind = SIGSTORE_KIND
    requirement_types = (policy.SIGSTORE_SIGNED,)

    def progress_message(self) -> str:
        return "Signing image using a sigstore signature"

    def prepare(self, options: dict[str, Any]) -> dict[str, Any]:
        # A parameter file is read, and its key loaded, once and before anything
        # is copied, as upstream sets up its signer.
        if not options.get("param_file"):
            return options
        from . import params

        try:
            key = params.signing_key(options["param_file"])
        except SkopeoError as e:
            raise SkopeoError(f"Error using --sign-by-sigstore: {e.message}") from None
        return {**options, "private_key": key}

    def sign(self, manifest: bytes, identity: str, options: dict[str, Any]) -> bytes:
        key = options.get("private_key")
        if key is None:
            if options.get("param_file"):
                key = self.prepare(options)["private_key"]
            else:
                key = self._key_from_flags(options)
        try:
            return sign_manifest(manifest, identity, key)
        except SkopeoError as e:
            raise e.wrap("creating signature") from None

    @staticmethod
    def _key_from_flags(options: dict[str, Any]) -> Any:
        from . import params

        key_file = options.get("private_key_file") or ""
        if not key_file:
            raise SkopeoError("sigstore signing needs a private key (--sign-by-sigstore-private-key)")
        passphrase = options.get("passphrase")
        if passphrase is None:
            passphrase = read_passphrase_file(options.get("passphrase_file"))
        if passphrase is None:
            passphrase = prompt_passphrase(key_file)
        return params.load_private_key(key_file, passphrase)

    def verify(self, requirement: dict[str, Any], signatures: list[bytes], manifest: bytes,
               image_reference: Any) -> VerificationResult:
        from . import verify

        all_sigstore, others = split_by_kind(signatures, SIGSTORE_KIND)
        # Attachments of other MIME types (attestations, …) are not signatures.
        sigs = [s for s in all_sigstore if _mime_type(s.data) in (SIGSTORE_MIME, None)]
        non_attachments = len(all_sigstore) - len(sigs)
        if not sigs:
            if others or non_attachments:
                return VerificationResult(False, "A signature was required, but no signature exists "
                                                 f"({len(others)} non-sigstore signatures, "
                                                 f"{non_attachments} sigstore non-signature attachments)")
            return VerificationResult(False, "A signature was required, but no signature exists")
        rejections: list[str] = []
        for sig in sigs:
            reason = verify.rejection(requirement, sig.data, manifest, image_reference)
            if reason is None:
                return VerificationResult(True)
            rejections.append(reason)
        if len(rejections) == 1:
            return VerificationResult(False, rejections[0])
        return VerificationResult(False, "None of the signatures were accepted, reasons: " + "; ".join(rejections))
