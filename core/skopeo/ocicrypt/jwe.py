"""The ``jwe`` key wrapper: the layer's private options as a JWE in JSON
serialization, content encrypted with A256GCM, the key wrapped with RSA-OAEP
for RSA recipients and ECDH-ES+A256KW for EC ones (or a JWK's own ``alg``),
as ocicrypt does with go-jose.

Built on jwcrypto (latchset, the JOSE implementation Red Hat maintains and
Fedora/RHEL ship) rather than by hand on cryptography: JWE has enough moving
parts (the protected header as AAD, Concat KDF for ECDH-ES, AES key wrap, the
flattened and general JSON forms, every content algorithm a JWE from another
tool may use) that a well-kept implementation is the safer choice; it is
imported only when a JWE key is used."""

from __future__ import annotations

import json
from typing import Any

from ..errors import SkopeoError
from .config import DecryptConfig, EncryptConfig, Parameters
from .keys import KeyError_, parse_private_key, parse_public_key

# What ocicrypt accepts when unwrapping (key algorithms it writes, and every
# RFC 7518 content algorithm).
_KEY_ALGS = ("RSA-OAEP", "RSA-OAEP-256", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW")
_CONTENT_ALGS = ("A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512", "A128GCM", "A192GCM", "A256GCM")


def _compact(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _as_jwk(key: Any) -> Any:
    from jwcrypto import jwk

    return key if isinstance(key, jwk.JWK) else jwk.JWK.from_pyca(key)


def _recipient(key: Any) -> tuple[Any, str]:
    """(JWK, key algorithm) for a public key (addPubKeys)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwcrypto import jwk

    alg = "RSA-OAEP"
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = "ECDH-ES+A256KW"
    elif isinstance(key, jwk.JWK) and key.get("alg"):
        alg = str(key.get("alg"))
        if alg not in _KEY_ALGS:
            raise SkopeoError(f"{alg} is an unsupported JWE key algorithm")
    return _as_jwk(key), alg


class JWEKeyWrapper:
    annotation_id = "org.opencontainers.image.enc.keys.jwe"

    def wrap_keys(self, ec: EncryptConfig, opts: bytes) -> bytes | None:
        from jwcrypto import jwe
        from jwcrypto.common import JWException

        recipients = [_recipient(parse_public_key(data, "JWE")) for data in ec.parameters.get("pubkeys", [])]
        if not recipients:
            return None
        try:
            if len(recipients) == 1:  # go-jose's flattened form: everything in the protected header
                key, alg = recipients[0]
                token = jwe.JWE(opts, protected=_compact({"alg": alg, "enc": "A256GCM"}))
                token.add_recipient(key)
            else:
                token = jwe.JWE(opts, protected=_compact({"enc": "A256GCM"}))
                for key, alg in recipients:
                    token.add_recipient(key, header=_compact({"alg": alg}))
            serialized: str = token.serialize()
            return serialized.encode()
        except (JWException, ValueError, TypeError) as e:
            raise SkopeoError(f"JWE Encrypt failed: {e}") from None

    def unwrap_key(self, dc: DecryptConfig, packet: bytes) -> bytes:
        from jwcrypto import jwe
        from jwcrypto.common import JWException

        try:
            text = packet.decode()
            parsed = jwe.JWE()
            parsed.allowed_algs = [*_KEY_ALGS, *_CONTENT_ALGS]
            parsed.deserialize(text)
            header = parsed.jose_header
            recipients = parsed.objects.get("recipients") or [parsed.objects]
            if header.get("enc") not in _CONTENT_ALGS or any(
                    {**header, **(r.get("header") or {})}.get("alg") not in _KEY_ALGS for r in recipients):
                raise ValueError("algorithm not allowed")
        except (UnicodeDecodeError, ValueError, JWException, TypeError, KeyError, AttributeError):
            raise SkopeoError("jose.ParseEncrypted failed") from None
        private_keys = self.private_keys(dc.parameters)
        if not private_keys:
            raise SkopeoError("No private keys found for JWE decryption")
        passwords = dc.parameters.get("privkeys-passwords", [])
        if len(passwords) != len(private_keys):
            raise SkopeoError("Private key password array length must be same as that of private keys")
        for data, password in zip(private_keys, passwords, strict=True):
            try:
                key = _as_jwk(parse_private_key(data, password or None, "JWE"))
            except KeyError_:
                raise
            token = jwe.JWE()
            token.allowed_algs = [*_KEY_ALGS, *_CONTENT_ALGS]
            try:
                token.deserialize(text, key)
            except (JWException, ValueError, TypeError, KeyError):
                continue
            plain: bytes = token.payload
            return plain
        raise SkopeoError("JWE: No suitable private key found for decryption")

    def no_possible_keys(self, params: Parameters) -> bool:
        return not self.private_keys(params)

    def private_keys(self, params: Parameters) -> list[bytes]:
        return params.get("privkeys", [])
