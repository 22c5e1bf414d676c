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

from . import pem

SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
SALT_SIZE, NONCE_SIZE, KEY_SIZE = 32, 24, 32


class KeyError_(SkopeoError):
    pass


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
    return pem.encode(SIGSTORE_PEM_TYPE, encrypt(pkcs8, passphrase.encode())), public


def load_private_key(pem_data: bytes, passphrase: str) -> Any:
    """The private key of an (encrypted) cosign-format PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    block, _ = pem.decode(pem_data)
    if block is None:
        raise KeyError_("invalid pem block")
    kind, der = block.type, block.bytes
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
    """sigstore's ``UnmarshalPEMToPublicKey`` (texts of Go's parsers where we can
    give them; a DER structure cryptography rejects is reported as Go's
    ``x509: failed to parse public key``)."""
    from cryptography.hazmat.primitives import serialization

    block, _ = pem.decode(pem_data)
    if block is None:
        raise KeyError_("PEM decoding failed")
    if block.type == "RSA PUBLIC KEY":
        try:
            from cryptography.hazmat.primitives.asymmetric import rsa

            key = serialization.load_der_public_key(_pkcs1_as_spki(block.bytes))
            if isinstance(key, rsa.RSAPublicKey):
                return key
        except ValueError:
            pass
        raise KeyError_("x509: malformed PKCS#1 public key")
    if block.type != "PUBLIC KEY":
        raise KeyError_(f"unknown Public key PEM file type: {block.type}. Are you passing the correct public key?")
    try:
        return serialization.load_der_public_key(block.bytes)
    except ValueError:
        pass
    except Exception:  # UnsupportedAlgorithm: a key type Go does not know either
        raise KeyError_("x509: unknown public key algorithm") from None
    if _is_pkcs1(block.bytes):
        raise KeyError_("x509: failed to parse public key (use ParsePKCS1PublicKey instead for this key format)")
    raise KeyError_("x509: failed to parse public key")


def _pkcs1_as_spki(der: bytes) -> bytes:
    """A PKCS#1 RSAPublicKey wrapped as SubjectPublicKeyInfo."""
    def tlv(tag: int, body: bytes) -> bytes:
        n = len(body)
        length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([tag]) + length + body

    rsa_algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    return tlv(0x30, rsa_algorithm + tlv(0x03, b"\x00" + der))


def _is_pkcs1(der: bytes) -> bool:
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_der_public_key(_pkcs1_as_spki(der))
    except Exception:
        return False
    return True


def public_key_pem(key: Any) -> bytes:
    """sigstore's ``MarshalPublicKeyToPEM`` (PKIX DER in a PUBLIC KEY block)."""
    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.encode("PUBLIC KEY", der)


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


def check_verifiable(public_key: Any) -> None:
    """sigstore's ``LoadVerifier``: only RSA, ECDSA and Ed25519 keys verify."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise KeyError_("unsupported public key type")


def verification_failure(public_key: Any, signature: bytes, payload: bytes) -> str | None:
    """Why *signature* over *payload* does not verify with *public_key* (sigstore's
    verifier texts: ECDSA as ASN.1 DER, else IEEE P1363 r||s), or None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            try:
                utils.decode_dss_signature(signature)
            except ValueError:
                if not signature or len(signature) > 132 or len(signature) % 2:
                    return "ecdsa: Invalid IEEE_P1363 encoded bytes"
                half = len(signature) // 2
                der = utils.encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                                 int.from_bytes(signature[half:], "big"))
                try:
                    public_key.verify(der, payload, ec.ECDSA(hashes.SHA256()))
                except InvalidSignature:
                    return "invalid signature when validating IEEE_P1363 encoded signature"
                return None
            try:
                public_key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                return "invalid signature when validating ASN.1 encoded signature"
        elif isinstance(public_key, rsa.RSAPublicKey):
            try:
                public_key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                return "crypto/rsa: verification error"
        else:
            try:
                public_key.verify(signature, payload)
            except InvalidSignature:
                return "failed to verify signature"
    except ValueError as e:  # a signature cryptography cannot even read
        return str(e)
    return None
