"""Key files as ocicrypt's ``utils`` reads them: public keys (DER or PEM
SubjectPublicKeyInfo, or a JWK), private keys (DER PKCS#8/PKCS#1/SEC1, PEM
PKCS#8/PKCS#1, a legacy password-encrypted PEM, or a JWK), x509 certificates
(DER or PEM) and GnuPG secret key rings, with ocicrypt's error texts."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import SkopeoError

_PEM = re.compile(rb"-----BEGIN ([^-]+)-----\r?\n(.*?)-----END \1-----", re.S)


class KeyError_(SkopeoError):
    """A key file that cannot be used (ocicrypt's text)."""


def _pem_block(data: bytes) -> tuple[str, dict[str, str], bytes] | None:
    """The first PEM block (Go's pem.Decode): type, headers, DER."""
    import base64

    m = _PEM.search(data)
    if m is None:
        return None
    body = m.group(2).decode("ascii", "replace")
    headers: dict[str, str] = {}
    lines = body.splitlines()
    while lines and ":" in lines[0]:
        k, v = lines.pop(0).split(":", 1)
        headers[k.strip()] = v.strip()
    try:
        der = base64.b64decode("".join(line.strip() for line in lines), validate=True)
    except ValueError:
        return None
    return m.group(1).decode("ascii", "replace"), headers, der


def _jwk(data: bytes) -> Any:
    from jwcrypto import jwk

    try:
        obj = json.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        return jwk.JWK(**obj)
    except Exception as e:  # jwcrypto raises several kinds for a bad JWK
        raise ValueError(str(e)) from None


def parse_private_key(data: bytes, password: bytes | None, prefix: str) -> Any:
    """utils.ParsePrivateKey: a cryptography private key, or a jwcrypto JWK."""
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_private_key(data, None)
    except (ValueError, TypeError):
        pass
    block = _pem_block(data)
    if block is not None:
        kind, headers, der = block
        if "DEK-Info" in headers:
            if password is None:
                raise KeyError_(f"{prefix}: Missing password for encrypted private key")
            try:
                return serialization.load_pem_private_key(data[data.index(b"-----BEGIN"):], password)
            except (ValueError, TypeError):
                raise KeyError_(f"{prefix}: Wrong password: could not decrypt private key") from None
        if kind == "EC PRIVATE KEY":  # Go tries PKCS#8, then PKCS#1, for PEM
            raise KeyError_(f"{prefix}: Could not parse private key: x509: failed to parse private key "
                            "(use ParseECPrivateKey instead for this key format)")
        try:
            return serialization.load_der_private_key(der, None)
        except (ValueError, TypeError) as e:
            raise KeyError_(f"{prefix}: Could not parse private key: {e}") from None
    try:
        key = _jwk(data)
    except ValueError as e:
        raise KeyError_(f"{prefix}: Could not parse input as JWK: {e}") from None
    if not key.has_private:
        raise KeyError_(f"{prefix}: JWK is not a private key")
    return key


def parse_public_key(data: bytes, prefix: str) -> Any:
    """utils.ParsePublicKey: a cryptography public key, or a jwcrypto JWK."""
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_public_key(data)
    except (ValueError, TypeError):
        pass
    block = _pem_block(data)
    if block is not None:
        try:
            return serialization.load_der_public_key(block[2])
        except (ValueError, TypeError) as e:
            raise KeyError_(f"{prefix}: Could not parse public key: {e}") from None
    try:
        key = _jwk(data)
    except ValueError as e:
        raise KeyError_(f"{prefix}: Could not parse input as JWK: {e}") from None
    if key.has_private:
        raise KeyError_(f"{prefix}: JWK is not a public key")
    return key


def parse_certificate(data: bytes, prefix: str) -> Any:
    """utils.ParseCertificate: a cryptography x509 certificate."""
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        pass
    block = _pem_block(data)
    if block is None:
        raise KeyError_(f"{prefix}: Could not PEM decode x509 certificate")
    try:
        return x509.load_der_x509_certificate(block[2])
    except ValueError as e:
        raise KeyError_(f"{prefix}: Could not parse x509 certificate: {e}") from None


def is_public_key(data: bytes) -> bool:
    try:
        parse_public_key(data, "")
    except KeyError_:
        return False
    return True


def is_certificate(data: bytes) -> bool:
    try:
        parse_certificate(data, "")
    except KeyError_:
        return False
    return True


def is_password_error(err: SkopeoError) -> bool:
    """utils.IsPasswordError."""
    msg = err.message.lower()
    return "password" in msg and ("missing" in msg or "wrong" in msg)


def is_gpg_private_key_ring(data: bytes) -> bool:
    """utils.IsGPGPrivateKeyRing: an OpenPGP key ring (binary or armored)
    whose first packet is a key packet."""
    if data.lstrip().startswith(b"-----BEGIN PGP PRIVATE KEY BLOCK-----"):
        return True
    if not data:
        return False
    tag_byte = data[0]
    if not tag_byte & 0x80:
        return False
    tag = tag_byte & 0x3F if tag_byte & 0x40 else (tag_byte & 0x3C) >> 2
    # Secret-Key (5) or Public-Key (6) packets start a key ring; x/crypto's
    # ReadKeyRing accepts either.
    return tag in (5, 6)
