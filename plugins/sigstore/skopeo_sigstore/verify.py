"""Whether one sigstore signature satisfies a ``sigstoreSigned`` requirement, as
containers/image's policy_eval_sigstore.go decides it, offline.

The requirement's trust root (public keys, a Fulcio CA, Rekor keys, a PKI) is
loaded for each signature, as upstream does, so a broken key file is the
reason every signature is rejected.  The signing key is then one of:

* a public key from the policy, optionally proven logged by a Rekor SET;
* the key of a Fulcio certificate in the signature, valid at the Rekor SET's
  integrated time, with the OIDC issuer and e-mail the policy names;
* the key of a certificate issued by the policy's PKI (roots, intermediates,
  e-mail and/or host name).

Then the payload signature, the manifest digest and the identity are checked."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from skopeo import policy
from skopeo.errors import SkopeoError
from skopeo.signature import (
    SIGSTORE_CERTIFICATE_ANNOTATION,
    SIGSTORE_CHAIN_ANNOTATION,
    SIGSTORE_SET_ANNOTATION,
    SIGSTORE_SIGNATURE_ANNOTATION,
    SIGSTORE_TYPE,
    InvalidSignatureError,
    SigstoreEnvelope,
    parse_payload,
)

from . import certs, keys, rekor
from .x509go import CertPool, X509Error, certificates_from_pem


@dataclass
class TrustRoot:
    public_keys: list[Any] | None = None
    fulcio: certs.FulcioRoot | None = None
    rekor_keys: list[Any] | None = None
    pki: certs.PKIRoot | None = None


def _one_source(requirement: dict[str, Any], path: str, data: str) -> bytes | None:
    found = policy.load_key_sources(requirement, path, None, data)
    return found[0] if found else None


def _fulcio_root(spec: dict[str, Any]) -> certs.FulcioRoot:
    pool = CertPool()
    if not pool.append_pem(_one_source(spec, "caPath", "caData") or b""):
        raise SkopeoError("error loading Fulcio CA certificates")
    return certs.FulcioRoot(pool, spec.get("oidcIssuer") or "", spec.get("subjectEmail") or "")


def _pki_root(spec: dict[str, Any]) -> certs.PKIRoot:
    roots = CertPool()
    if not roots.append_pem(_one_source(spec, "caRootsPath", "caRootsData") or b""):
        raise SkopeoError("error loading PKI CA Roots certificates")
    intermediates_pem = _one_source(spec, "caIntermediatesPath", "caIntermediatesData")
    intermediates = None
    if intermediates_pem is not None:
        intermediates = CertPool()
        try:
            for cert in certificates_from_pem(intermediates_pem):
                intermediates.add(cert)
        except X509Error as e:
            raise SkopeoError(f"loading trusted intermediate certificates: {e}") from None
    return certs.PKIRoot(roots, intermediates, spec.get("subjectEmail") or "", spec.get("subjectHostname") or "")


def _public_keys(pems: list[bytes], what: str) -> list[Any]:
    out = []
    for index, data in enumerate(pems, 1):
        try:
            out.append(keys.load_public_key(data))
        except SkopeoError as e:
            raise SkopeoError(f"parsing {what} {index}: {e.message}") from None
    return out


def trust_root(requirement: dict[str, Any]) -> TrustRoot:
    """upstream's ``prepareTrustRoot`` (SkopeoError with its texts)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    root = TrustRoot()
    if any(k in requirement for k in ("keyPath", "keyPaths", "keyData", "keyDatas")):
        root.public_keys = _public_keys(policy.load_key_sources(requirement, "keyPath", "keyPaths", "keyData", "keyDatas"),
                                        "public key")
    if requirement.get("fulcio") is not None:
        root.fulcio = _fulcio_root(requirement["fulcio"])
    rekor_pems = policy.load_key_sources(requirement, "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData",
                                         "rekorPublicKeyDatas")
    if rekor_pems:
        root.rekor_keys = _public_keys(rekor_pems, "Rekor public key")
        for index, key in enumerate(root.rekor_keys, 1):
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise SkopeoError(f"Rekor public key {index} is not using ECDSA")
    if requirement.get("pki") is not None:
        root.pki = _pki_root(requirement["pki"])
    return root


def _annotation(envelope: SigstoreEnvelope, name: str) -> str:
    value = envelope.annotations.get(name)
    if value is None:
        raise InvalidSignatureError(f"missing {name} annotation")
    return value


def _keys_with_rekor(root: TrustRoot, envelope: SigstoreEnvelope, b64_signature: str) -> list[Any]:
    """The policy key whose logging the signature's Rekor SET proves."""
    set_json = _annotation(envelope, SIGSTORE_SET_ANNOTATION)
    failures = []
    for key in root.public_keys or []:
        try:
            rekor.verify_set(root.rekor_keys or [], set_json.encode(), keys.public_key_pem(key), b64_signature,
                             envelope.payload)
            return [key]  # a SET names one key
        except InvalidSignatureError as e:
            failures.append(e.message)
    raise InvalidSignatureError("No public key verified against the RekorSET: " + ", ".join(failures))


def _signing_keys(root: TrustRoot, envelope: SigstoreEnvelope, b64_signature: str) -> list[Any]:
    if root.public_keys is not None:
        if root.rekor_keys is not None:
            return _keys_with_rekor(root, envelope, b64_signature)
        return root.public_keys
    chain = envelope.annotations.get(SIGSTORE_CHAIN_ANNOTATION)
    chain_pem = chain.encode() if chain is not None else None
    if root.fulcio is not None:
        set_json = _annotation(envelope, SIGSTORE_SET_ANNOTATION)
        cert_pem = _annotation(envelope, SIGSTORE_CERTIFICATE_ANNOTATION).encode()
        logged_at: datetime.datetime = rekor.verify_set(root.rekor_keys or [], set_json.encode(), cert_pem,
                                                        b64_signature, envelope.payload)
        return [certs.verify_fulcio(root.fulcio, logged_at, cert_pem, chain_pem)]
    if root.pki is not None:
        cert_pem = _annotation(envelope, SIGSTORE_CERTIFICATE_ANNOTATION).encode()
        return [certs.verify_pki(root.pki, cert_pem, chain_pem)]
    raise SkopeoError("Internal inconsistency: A public key, Fulcio, or PKI must be specified.")


def _verify_payload_signature(public_keys: list[Any], payload: bytes, b64_signature: str) -> None:
    from skopeo.golang import gojson

    try:
        signature = gojson.decode_base64(b64_signature)
    except ValueError as e:
        raise InvalidSignatureError(f"base64 decoding: {e}") from None
    if not public_keys:
        raise SkopeoError("Need at least one public key to verify the sigstore payload, but got 0")
    for key in public_keys:  # every key must be usable, even if an earlier one would verify
        keys.check_verifiable(key)
    failures = []
    for key in public_keys:
        failure = keys.verification_failure(key, signature, payload)
        if failure is None:
            return
        failures.append(failure)
    raise InvalidSignatureError("cryptographic signature verification failed: " + ", ".join(failures))


def rejection(requirement: dict[str, Any], data: bytes, manifest: bytes, image_reference: Any) -> str | None:
    """Why the sigstore signature *data* (its JSON) does not satisfy *requirement*
    for this image, or None when it does."""
    try:
        root = trust_root(requirement)
        envelope = SigstoreEnvelope.from_json(data)
        b64_signature = _annotation(envelope, SIGSTORE_SIGNATURE_ANNOTATION)
        public_keys = _signing_keys(root, envelope, b64_signature)
        _verify_payload_signature(public_keys, envelope.payload, b64_signature)
        payload = parse_payload(envelope.payload, SIGSTORE_TYPE, optional_may_be_null=True)
    except SkopeoError as e:
        return e.message
    return policy.payload_rejection(requirement, payload, manifest, image_reference)
