"""The work behind ``standalone-sign``, ``standalone-verify`` and
``untrusted-signature-dump-without-verification``: the :mod:`skopeo.api` calls
of the same names (registered through ``register_api_calls``; the commands of
:mod:`.commands` are a layer over them).  The messages are upstream's."""

from __future__ import annotations

from typing import Any

from skopeo import manifest as mf
from skopeo.errors import SkopeoError
from skopeo.golang.gotime import local_unix_time_json
from skopeo.reference import parse_normalized
from skopeo.results import VerifiedSignature
from skopeo.signature import SIMPLE_SIGNING_TYPE, InvalidSignatureError, parse_payload

from .handler import sign_manifest
from .mechanism import Mechanism
from .openpgp import OpenPGPError, read_untrusted


def standalone_sign(manifest: bytes, docker_reference: str, fingerprint: str, passphrase: str | None) -> bytes:
    try:
        return sign_manifest(manifest, docker_reference, fingerprint, passphrase)
    except SkopeoError as e:
        raise SkopeoError(f"Error creating signature: {e.message}") from None


def check_fingerprints(fingerprints: list[str], public_keys_given: bool) -> None:
    """``any`` stands for the keys of a public key file, which must be given."""
    if not public_keys_given and fingerprints == ["any"]:
        raise SkopeoError("Cannot use any fingerprint without a public key file")


def verify_call(manifest: bytes, docker_reference: str, fingerprints: list[str], signature: bytes,
                public_keys: bytes | None) -> VerifiedSignature:
    """``skopeo.api.standalone_verify``."""
    check_fingerprints(fingerprints, public_keys is not None)
    return VerifiedSignature(*standalone_verify(manifest, docker_reference, fingerprints, signature, public_keys))


def standalone_verify(manifest: bytes, docker_reference: str, fingerprints: list[str], signature: bytes,
                      public_keys: bytes | None) -> tuple[str, str]:
    """(fingerprint, manifest digest) of a signature that verifies; raises with
    ``Error verifying signature: …`` otherwise."""
    try:
        if public_keys is not None:
            mech, key_fprs = Mechanism.ephemeral(public_keys)
        else:
            mech, key_fprs = Mechanism(), []
    except SkopeoError as e:
        raise SkopeoError(f"Error initializing GPG: {e.message}") from None
    if fingerprints == ["any"]:
        fingerprints = key_fprs
    try:
        return _verify(mech, manifest, docker_reference, fingerprints, signature)
    except SkopeoError as e:
        raise SkopeoError(f"Error verifying signature: {e.message}") from None
    finally:
        mech.close()


def _verify(mech: Mechanism, manifest: bytes, docker_reference: str, fingerprints: list[str],
            signature: bytes) -> tuple[str, str]:
    try:
        expected = parse_normalized(docker_reference)
    except SkopeoError as e:
        raise InvalidSignatureError(e.message) from None
    contents, fpr, primary = mech.verify(signature)
    if fpr not in fingerprints and primary not in fingerprints:
        if len(fingerprints) == 1:
            raise InvalidSignatureError(f"Signature by {fpr} does not match expected fingerprint {fingerprints[0]}")
        raise InvalidSignatureError(f"Signature by {fpr} does not match expected fingerprints [{' '.join(fingerprints)}]")
    payload = parse_payload(contents, SIMPLE_SIGNING_TYPE)
    if not mf.matches_digest(manifest, payload.docker_manifest_digest):
        raise InvalidSignatureError(f'Signature for docker digest "{payload.docker_manifest_digest}" does not match')
    try:
        signed = parse_normalized(payload.docker_reference)
    except SkopeoError:
        raise InvalidSignatureError(f"Invalid docker reference {payload.docker_reference} in signature") from None
    if str(signed) != str(expected):
        raise InvalidSignatureError(f"Docker reference {payload.docker_reference} does not match {docker_reference}")
    return (fpr if fpr in fingerprints else primary), payload.docker_manifest_digest


def untrusted_info(blob: bytes) -> dict[str, Any]:
    """UntrustedSignatureInformation of a simple signature, fields in upstream's order."""
    try:
        msg = read_untrusted(blob)
        payload = parse_payload(msg.contents, SIMPLE_SIGNING_TYPE)
    except (OpenPGPError, InvalidSignatureError) as e:
        raise SkopeoError(f"Error decoding untrusted signature: {e}") from None
    return {
        "UntrustedDockerManifestDigest": payload.docker_manifest_digest,
        "UntrustedDockerReference": payload.docker_reference,
        "UntrustedCreatorID": payload.creator_id,
        "UntrustedTimestamp": None if payload.timestamp is None else local_unix_time_json(payload.timestamp),
        "UntrustedShortKeyIdentifier": msg.short_key_id,
    }
