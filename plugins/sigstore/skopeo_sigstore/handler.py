"""The ``sigstore`` signature kind: ``sigstoreSigned`` policy requirements and
``--sign-by-sigstore-private-key`` / ``--sign-by-sigstore`` signatures.

Verification with public keys is complete and offline.  Fulcio and PKI
certificate chains and Rekor SETs need checks we do not implement; such
requirements reject with a message that says so, never accept."""

from __future__ import annotations

import base64
from typing import Any

from skopeo import manifest as mf
from skopeo import policy
from skopeo.errors import PolicyError, SkopeoError, os_error_text, path_error_text
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
    parse_payload,
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


def _load_signing_key(key_file: str, passphrase: str | None) -> Any:
    try:
        with open(key_file, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise SkopeoError(f"reading private key from {key_file}: {os_error_text(e)}") from None
    if passphrase is None:
        passphrase = prompt_passphrase(key_file)
    try:
        return keys.load_private_key(pem, passphrase)
    except SkopeoError as e:
        raise SkopeoError(f"initializing private key: {e.message}") from None


def _param_file_key(path: str) -> tuple[str, str | None]:
    """(private key file, passphrase) from a ``--sign-by-sigstore`` YAML file."""
    import yaml

    from skopeo.gojson import quote

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SkopeoError(f"reading {quote(path.encode())}: {path_error_text('open', path, e)}") from None
    try:
        params = yaml.safe_load(data) or {}
    except yaml.YAMLError as e:
        raise SkopeoError(f"reading {path}: {e}") from None
    if not isinstance(params, dict):
        raise SkopeoError(f"reading {path}: not a mapping")
    allowed = {"privateKeyFile", "privateKeyPassphraseFile", "fulcio", "rekorURL"}
    for key in params:
        if key not in allowed:
            raise SkopeoError(f'reading {path}: unknown key "{key}"')
    if params.get("fulcio") or params.get("rekorURL"):
        raise SkopeoError(f"{path}: Fulcio and Rekor signing need network services this implementation does not support")
    key_file = params.get("privateKeyFile")
    if not key_file:
        raise SkopeoError(f"{path}: no signing method specified (privateKeyFile)")
    return key_file, read_passphrase_file(params.get("privateKeyPassphraseFile"))


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

    def prepare_signing(self, options: dict[str, Any]) -> None:
        """A parameter file is read when the command starts, as upstream does."""
        if options.get("param_file"):
            from skopeo.gojson import quote

            path = options["param_file"]
            try:
                _param_file_key(path)
            except SkopeoError as e:
                raise SkopeoError(f"Error using --sign-by-sigstore: setting up signing using parameter file "
                                  f"{quote(path.encode())}: {e.message}") from None

    def sign(self, manifest: bytes, identity: str, options: dict[str, Any]) -> bytes:
        if options.get("param_file"):
            key_file, passphrase = _param_file_key(options["param_file"])
        else:
            key_file = options.get("private_key_file") or ""
            if not key_file:
                raise SkopeoError("sigstore signing needs a private key (--sign-by-sigstore-private-key)")
            passphrase = options.get("passphrase")
            if passphrase is None:
                passphrase = read_passphrase_file(options.get("passphrase_file"))
        key = _load_signing_key(key_file, passphrase)
        try:
            return sign_manifest(manifest, identity, key)
        except SkopeoError as e:
            raise e.wrap("creating signature") from None

    def verify(self, requirement: dict[str, Any], signatures: list[bytes], manifest: bytes,
               image_reference: Any) -> VerificationResult:
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
        try:
            public_keys = self._public_keys(requirement)
        except SkopeoError as e:
            return VerificationResult(False, e.message)
        rejections: list[str] = []
        for sig in sigs:
            reason = self._check_one(sig.data, public_keys, requirement, manifest, image_reference)
            if reason is None:
                return VerificationResult(True)
            rejections.append(reason)
        if len(rejections) == 1:
            return VerificationResult(False, rejections[0])
        return VerificationResult(False, "None of the signatures were accepted, reasons: " + "; ".join(rejections))

    @staticmethod
    def _public_keys(requirement: dict[str, Any]) -> list[Any]:
        if requirement.get("fulcio") is not None:
            raise PolicyError("sigstoreSigned with fulcio is not supported: certificate and Rekor verification are not implemented")
        if requirement.get("pki") is not None:
            raise PolicyError("sigstoreSigned with pki is not supported: X.509 chain verification is not implemented")
        if any(requirement.get(k) is not None for k in
               ("rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas")):
            raise PolicyError("sigstoreSigned with a Rekor public key is not supported: Rekor SET verification is not implemented")
        datas = policy.load_key_sources(requirement, "keyPath", "keyPaths", "keyData", "keyDatas")
        out = [keys.load_public_key(d) for d in datas]
        if not out:
            raise PolicyError("Need at least one public key to verify the sigstore payload, but got 0")
        return out

    @staticmethod
    def _check_one(data: bytes, public_keys: list[Any], requirement: dict[str, Any], manifest: bytes,
                   image_reference: Any) -> str | None:
        try:
            envelope = SigstoreEnvelope.from_json(data)
        except InvalidSignatureError as e:
            return e.message
        b64 = envelope.annotations.get(SIGSTORE_SIGNATURE_ANNOTATION)
        if b64 is None:
            return f"missing {SIGSTORE_SIGNATURE_ANNOTATION} annotation"
        try:
            raw_sig = base64.b64decode(b64, validate=True)
        except ValueError as e:
            return f"base64 decoding: {e}"
        if not any(keys.verify(k, raw_sig, envelope.payload) for k in public_keys):
            return "cryptographic signature verification failed: invalid signature when validating ASN.1 encoded signature"
        try:
            payload = parse_payload(envelope.payload, SIGSTORE_TYPE, optional_may_be_null=True)
        except InvalidSignatureError as e:
            return e.message
        return policy.payload_rejection(requirement, payload, manifest, image_reference)
