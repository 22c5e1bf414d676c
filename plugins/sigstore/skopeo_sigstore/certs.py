"""Certificates of sigstore signatures: Fulcio-issued ones (checked against the
CA at the Rekor integrated time, with the OIDC issuer and e-mail Fulcio
recorded) and those of a private PKI (roots, intermediates, e-mail or host
name), as containers/image's fulcio_cert.go and pki_cert.go decide."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from skopeo.golang import gojson
from skopeo.signature import InvalidSignatureError

from . import x509go
from .x509go import CertPool, X509Error

# Fulcio's OIDC issuer extensions: v1 holds the raw string, v2 a DER UTF8String.
OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"


@dataclass
class FulcioRoot:
    ca: CertPool
    oidc_issuer: str
    subject_email: str


@dataclass
class PKIRoot:
    roots: CertPool
    intermediates: CertPool | None
    subject_email: str
    subject_hostname: str


def _q(text: str) -> str:
    return gojson.quote(text.encode("utf-8", "surrogateescape"))


def _go_strings(items: list[str]) -> str:
    """Go's ``%q`` of a []string."""
    return "[" + " ".join(_q(i) for i in items) + "]"


def parse_leaf(pem_data: bytes) -> x509go.Certificate:
    try:
        certs = x509go.certificates_from_pem(pem_data)
    except X509Error as e:
        raise InvalidSignatureError(f"parsing leaf certificate: {e}") from None
    if not certs:
        raise InvalidSignatureError("no certificate found in signature certificate data")
    if len(certs) > 1:
        raise InvalidSignatureError("unexpected multiple certificates present in signature certificate data")
    return certs[0]


def _chain_pool(chain_pem: bytes | None, base: CertPool | None) -> CertPool | None:
    """The pool of intermediates: *base*, plus the signature's chain annotation
    without its last certificate (the root, which must come from the policy)."""
    pool = base.copy() if base is not None else None
    if chain_pem:
        try:
            chain = x509go.certificates_from_pem(chain_pem)
        except X509Error as e:
            raise InvalidSignatureError(f"loading certificate chain: {e}") from None
        pool = pool or CertPool()
        for cert in chain[:-1]:
            pool.add(cert)
    return pool


def _asn1_string(data: bytes) -> str:
    """A DER string (Go's ``asn1.Unmarshal`` into a string) without trailing data."""
    if len(data) < 2:
        raise ValueError("asn1: syntax error: data truncated")
    tag, length, pos = data[0], data[1], 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[2 : 2 + count], "big")
        pos += count
    body = data[pos : pos + length]
    if len(body) < length:
        raise ValueError("asn1: syntax error: data truncated")
    if pos + length != len(data):
        raise OverflowError  # trailing data
    if tag == 0x0C:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("asn1: syntax error: invalid UTF-8 string") from None
    if tag in (0x13, 0x16, 0x12):  # PrintableString, IA5String, NumericString
        if any(b > 0x7F for b in body):
            raise ValueError("asn1: syntax error: IA5String contains invalid character")
        return body.decode("ascii")
    if tag == 0x14:  # T61String
        return body.decode("latin-1")
    if tag == 0x1E:  # BMPString
        return body.decode("utf-16-be", "replace")
    raise ValueError(f"asn1: structure error: tags don't match (12 vs {{class:0 tag:{tag & 0x1F} length:{length} "
                     f"isCompound:{'true' if tag & 0x20 else 'false'}}})")


def fulcio_issuer(cert: x509go.Certificate) -> str:
    """The OIDC issuer Fulcio recorded, from the v1 and/or v2 extension."""
    v1: str | None = None
    v2: str | None = None
    for oid, value in cert.extensions:
        if oid == OID_ISSUER_V1:
            v1 = value.decode("utf-8", "surrogateescape")
        elif oid == OID_ISSUER_V2:
            try:
                v2 = _asn1_string(value)
            except OverflowError:
                raise InvalidSignatureError("invalid ASN.1 in OIDC issuer v2 extension, trailing data") from None
            except ValueError as e:
                raise InvalidSignatureError(f"invalid ASN.1 in OIDC issuer v2 extension: {e}") from None
    if v1 is not None and v2 is not None:
        if v1 != v2:
            raise InvalidSignatureError(f"inconsistent OIDC issuer extension values: v1 {_q(v1)}, v2 {_q(v2)}")
        return v1
    if v1 is not None:
        return v1
    if v2 is not None:
        return v2
    raise InvalidSignatureError("Fulcio certificate is missing the issuer extension")


def _verify_chain(cert: x509go.Certificate, roots: CertPool, intermediates: CertPool | None,
                  moment: datetime.datetime | None) -> None:
    try:
        x509go.verify(cert, roots, intermediates, moment)
    except X509Error as e:
        # "veryfing": upstream's spelling.
        raise InvalidSignatureError(f"veryfing leaf certificate failed: {e}") from None


def _require_email(cert: x509go.Certificate, email: str) -> None:
    if email not in cert.email_addresses:
        raise InvalidSignatureError(f"Required email {_q(email)} not found (got {_go_strings(cert.email_addresses)})")


def verify_fulcio(root: FulcioRoot, moment: datetime.datetime, cert_pem: bytes, chain_pem: bytes | None) -> Any:
    """The public key of a Fulcio certificate valid at *moment* (the Rekor time)."""
    intermediates = _chain_pool(chain_pem, None)
    cert = parse_leaf(cert_pem)
    # Fulcio's SAN may hold only names Go does not parse; the e-mail is matched below.
    cert.unhandled_critical = [oid for oid in cert.unhandled_critical if oid != x509go.OID_SAN]
    _verify_chain(cert, root.ca, intermediates, moment)
    issuer = fulcio_issuer(cert)
    if issuer != root.oidc_issuer:
        raise InvalidSignatureError(f"Unexpected Fulcio OIDC issuer {_q(issuer)}")
    _require_email(cert, root.subject_email)
    return cert.public_key


def verify_pki(root: PKIRoot, cert_pem: bytes, chain_pem: bytes | None) -> Any:
    """The public key of a certificate issued by the policy's PKI."""
    intermediates = _chain_pool(chain_pem, root.intermediates) or CertPool()
    cert = parse_leaf(cert_pem)
    _verify_chain(cert, root.roots, intermediates, None)
    if root.subject_email:
        _require_email(cert, root.subject_email)
    if root.subject_hostname:
        try:
            x509go.verify_hostname(cert, root.subject_hostname)
        except X509Error as e:
            raise InvalidSignatureError(f"Unexpected subject hostname: {e}") from None
    return cert.public_key
