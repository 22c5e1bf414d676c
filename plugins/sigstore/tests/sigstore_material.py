"""Test material for sigstore verification, made with ``cryptography`` alone (not
with the plugin's code): CAs, intermediates and leaf certificates (Fulcio-like
ones with the OIDC issuer extensions), a Rekor log key and signed entry
timestamps over the canonical JSON Rekor signs, and sigstore signatures as
containers/image and cosign store them."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

SIG_MIME = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE = "dev.cosignproject.cosign/signature"
CERTIFICATE = "dev.sigstore.cosign/certificate"
CHAIN = "dev.sigstore.cosign/chain"
BUNDLE = "dev.sigstore.cosign/bundle"
OIDC_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: Any) -> bytes:
    return bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def utf8_der(text: str) -> bytes:
    body = text.encode()
    assert len(body) < 128
    return bytes([0x0C, len(body)]) + body


@dataclass
class Cert:
    cert: x509.Certificate
    key: Any

    @property
    def pem(self) -> bytes:
        return bytes(self.cert.public_bytes(serialization.Encoding.PEM))


@dataclass
class CertSpec:
    """What a test certificate says; the defaults make a Fulcio-like leaf."""

    common_name: str = ""
    ca: bool = False
    path_length: int | None = None
    not_before: datetime.datetime = NOW - datetime.timedelta(minutes=5)
    not_after: datetime.datetime = NOW + datetime.timedelta(minutes=10)
    emails: Iterable[str] = ()
    dns_names: Iterable[str] = ()
    eku: Iterable[ObjectIdentifier] | None = (ExtendedKeyUsageOID.CODE_SIGNING,)
    oidc_v1: str | None = None
    oidc_v2: str | None = None
    san_critical: bool = True
    basic_constraints: bool = True
    extra: list[x509.ExtensionType | tuple[x509.ExtensionType, bool]] = field(default_factory=list)
    key: Any = None
    hash: Any = field(default_factory=hashes.SHA256)


def make_cert(spec: CertSpec, issuer: Cert | None = None) -> Cert:
    key = spec.key or ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name)] if spec.common_name else [])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.cert.subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(spec.not_before).not_valid_after(spec.not_after)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    if spec.basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=spec.ca, path_length=spec.path_length), critical=True)
    builder = builder.add_extension(x509.KeyUsage(
        digital_signature=not spec.ca, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=spec.ca, crl_sign=spec.ca, encipher_only=False, decipher_only=False),
        critical=True)
    names: list[x509.GeneralName] = [x509.RFC822Name(e) for e in spec.emails]
    names += [x509.DNSName(d) for d in spec.dns_names]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=spec.san_critical)
    if spec.eku is not None and not spec.ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(spec.eku)), critical=False)
    if spec.oidc_v1 is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(OIDC_V1, spec.oidc_v1.encode()), critical=False)
    if spec.oidc_v2 is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(OIDC_V2, utf8_der(spec.oidc_v2)), critical=False)
    for ext in spec.extra:
        value, critical = ext if isinstance(ext, tuple) else (ext, False)
        builder = builder.add_extension(value, critical=critical)
    signer = issuer.key if issuer else key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else spec.hash
    return Cert(builder.sign(signer, algorithm), key)


# CAs outlive the test run (as real ones do): a check against the current time
# (a pki: requirement) must not depend on how long the suite took to get there.
CA_LIFETIME = datetime.timedelta(days=1)


def ca(name: str, **kw: Any) -> Cert:
    kw.setdefault("not_after", NOW + CA_LIFETIME)
    return make_cert(CertSpec(common_name=name, ca=True, eku=None, **kw))


def intermediate(name: str, parent: Cert, **kw: Any) -> Cert:
    kw.setdefault("not_after", NOW + CA_LIFETIME)
    return make_cert(CertSpec(common_name=name, ca=True, eku=None, **kw), parent)


def fulcio_leaf(parent: Cert, email: str = "signer@example.com", issuer: str | None = "https://oidc.example.com",
                **kw: Any) -> Cert:
    kw.setdefault("oidc_v1", issuer)
    kw.setdefault("oidc_v2", issuer)
    return make_cert(CertSpec(emails=[email], **kw), parent)


# --- payloads, signatures and Rekor SETs ----------------------------------------
def payload(manifest_digest: str, docker_reference: str) -> bytes:
    """The JSON containers/image signs (field order as Go's map marshalling)."""
    return json.dumps({"critical": {"identity": {"docker-reference": docker_reference},
                                    "image": {"docker-manifest-digest": manifest_digest},
                                    "type": "cosign container image signature"},
                       "optional": {"creator": "sigstore tests", "timestamp": int(NOW.timestamp())}},
                      separators=(",", ":")).encode()


def sign(key: Any, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return bytes(key.sign(data, ec.ECDSA(hashes.SHA256())))
    if isinstance(key, rsa.RSAPrivateKey):
        from cryptography.hazmat.primitives.asymmetric import padding

        return bytes(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    return bytes(key.sign(data))


def rekor_body(key_or_cert_pem: bytes, signature: bytes, signed: bytes, **overrides: Any) -> bytes:
    """A hashedrekord v0.0.1 entry, as Rekor logs it."""
    entry: dict[str, Any] = {
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {"data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(signed).hexdigest()}},
                 "signature": {"content": b64(signature), "publicKey": {"content": b64(key_or_cert_pem)}}},
    }
    entry.update(overrides)
    return json.dumps(entry).encode()


def rekor_set(rekor_key: Any, body: bytes, integrated_time: datetime.datetime | int = NOW, log_index: int = 12345,
              sign_with: Any = None) -> str:
    """A cosign bundle annotation: the SET signs the canonical JSON of the payload."""
    when = integrated_time if isinstance(integrated_time, int) else int(integrated_time.timestamp())
    entry = {"body": b64(body), "integratedTime": when, "logIndex": log_index,
             "logID": hashlib.sha256(public_pem(rekor_key)).hexdigest()}
    # JCS numbers are IEEE doubles: rfc8785 takes big integers only as floats.
    canonical = rfc8785.dumps({k: float(v) if isinstance(v, int) and abs(v) > 2**53 else v for k, v in entry.items()})
    set_signature = (sign_with or rekor_key).sign(hashlib.sha256(canonical).digest(), ec.ECDSA(_prehashed()))
    return json.dumps({"SignedEntryTimestamp": b64(set_signature), "Payload": entry})


def _prehashed() -> Any:
    from cryptography.hazmat.primitives.asymmetric import utils

    return utils.Prehashed(hashes.SHA256())


@dataclass
class Signed:
    """One sigstore signature: its payload, raw signature and annotations."""

    payload: bytes
    signature: bytes
    annotations: dict[str, str]

    @property
    def blob(self) -> bytes:
        envelope = {"mimeType": SIG_MIME, "payload": b64(self.payload),
                    "annotations": {SIGNATURE: b64(self.signature), **self.annotations}}
        return b"\x00sigstore-json\n" + json.dumps(envelope).encode()


def signed(key: Any, manifest_digest: str, docker_reference: str) -> Signed:
    data = payload(manifest_digest, docker_reference)
    return Signed(data, sign(key, data), {})


def with_fulcio(leaf: Cert, manifest_digest: str, docker_reference: str, rekor_key: Any, chain: bytes | None = None,
                integrated_time: datetime.datetime | int = NOW) -> Signed:
    """A keyless (cosign-style) signature: the leaf's key signs, the certificate,
    the chain and the Rekor SET over them are annotations."""
    s = signed(leaf.key, manifest_digest, docker_reference)
    s.annotations[CERTIFICATE] = leaf.pem.decode()
    if chain is not None:
        s.annotations[CHAIN] = chain.decode()
    s.annotations[BUNDLE] = rekor_set(rekor_key, rekor_body(leaf.pem, s.signature, s.payload), integrated_time)
    return s
