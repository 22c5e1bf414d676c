"""cosign-compatible keys.

The private key is PKCS#8 DER, encrypted with go-tuf's ``encrypted`` format —
a JSON envelope ``{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},
"salt":…},"cipher":{"name":"nacl/secretbox","nonce":…},"ciphertext":…}`` with
base64 byte fields — and wrapped in PEM ``ENCRYPTED SIGSTORE PRIVATE KEY``
(cosign ≥ 2 and current containers/image; ``ENCRYPTED COSIGN PRIVATE KEY`` from
older tools is read too).  The public key is PEM ``PUBLIC KEY`` (PKIX)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from skopeo.errors import SkopeoError

SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
SALT_SIZE, NONCE_SIZE, KEY_SIZE = 32, 24, 32


class KeyError_(SkopeoError):
    pass


def _pem(kind: str, der: bytes) -> bytes:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()


def _pem_decode(data: bytes) -> tuple[str, bytes] | None:
    """The first PEM block of *data* (type, DER), like Go's pem.Decode."""
    text = data.decode("ascii", "replace")
    start = text.find("-----BEGIN ")
    if start < 0:
        return None
    head_end = text.find("-----", start + 11)
    if head_end < 0:
        return None
    kind = text[start + 11 : head_end]
    end_marker = f"-----END {kind}-----"
    end = text.find(end_marker, head_end)
    if end < 0:
        return None
    body = "".join(line.strip() for line in text[head_end + 5 : end].splitlines() if ":" not in line)
    try:
        return kind, base64.b64decode(body, validate=True)
    except ValueError:
        return None


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=KEY_SIZE, n=n, r=r, p=p).derive(passphrase)


def encrypt(plaintext: bytes, passphrase: bytes) -> bytes:
    """go-tuf ``encrypted.Encrypt`` with its default (non-legacy) scrypt parameters."""
    import nacl.secret

    salt, nonce = os.urandom(SALT_SIZE), os.urandom(NONCE_SIZE)
    key = _scrypt(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    sealed = nacl.secret.SecretBox(key).encrypt(plaintext, nonce).ciphertext  # MAC + ciphertext, as Go's secretbox.Seal
    envelope = {
        "kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def decrypt(data: bytes, passphrase: bytes) -> bytes:
    import nacl.exceptions
    import nacl.secret

    try:
        env: Any = json.loads(data)
        kdf, cipher = env["kdf"], env["cipher"]
        if kdf["name"] != "scrypt":
            raise KeyError_(f"encrypted: unknown kdf name {kdf['name']!r}")
        if cipher["name"] != "nacl/secretbox":
            raise KeyError_(f"encrypted: unknown cipher name {cipher['name']!r}")
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        # go-tuf's parameter sets only (N 2^15…2^20, r 8, p 1): anything else
        # could be a denial of service through absurd memory use.
        if not (r == SCRYPT_R and p == SCRYPT_P and n in {1 << k for k in range(15, 21)}):
            raise KeyError_("encrypted: unexpected kdf parameters")
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(cipher["nonce"])
        sealed = base64.b64decode(env["ciphertext"])
    except KeyError_:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise KeyError_(f"encrypted: invalid envelope: {e}") from None
    key = _scrypt(passphrase, salt, n, r, p)
    try:
        return bytes(nacl.secret.SecretBox(key).decrypt(sealed, nonce))
    except (nacl.exceptions.CryptoError, ValueError):
        raise KeyError_("encrypted: decryption failed") from None


def generate_key_pair(passphrase: str) -> tuple[bytes, bytes]:
    """(encrypted private key PEM, public key PEM) of a new ECDSA P-256 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _pem(SIGSTORE_PEM_TYPE, encrypt(pkcs8, passphrase.encode())), public


def load_private_key(pem_data: bytes, passphrase: str) -> Any:
    """The private key of an (encrypted) cosign-format PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    block = _pem_decode(pem_data)
    if block is None:
        raise KeyError_("invalid pem block")
    kind, der = block
    if kind not in (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE):
        raise KeyError_(f"unsupported pem type: {kind}")
    try:
        plain = decrypt(der, passphrase.encode())
    except KeyError_ as e:
        raise KeyError_(f"decrypt: {e.message}") from None
    try:
        key = serialization.load_der_private_key(plain, password=None)
    except ValueError as e:
        raise KeyError_(f"parsing private key: {e}") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise KeyError_("unsupported key type")
    return key


def load_public_key(pem_data: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_public_key(pem_data)
    except ValueError as e:
        raise KeyError_(f"parsing public key: {e}") from None


def sign(key: Any, payload: bytes) -> bytes:
    """A signature over *payload* with SHA-256 (ECDSA: ASN.1 DER, as cosign)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(payload, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(payload)
    raise KeyError_("unsupported key type")


def verify(public_key: Any, signature: bytes, payload: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, payload)
        else:
            return False
    except InvalidSignature:
        return False
    return True
