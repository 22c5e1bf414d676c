"""ocicrypt's layer cipher ``AES_256_CTR_HMAC_SHA256``: the layer is
encrypted with AES-256 in CTR mode under a random key and a random 16-byte
nonce, and an HMAC-SHA256 over the ciphertext, keyed with the same key, goes
into the public options.  Both directions stream in bounded memory; the
decrypting reader checks the HMAC at the end of the ciphertext and raises
there, before the end of the plaintext is reported, so nothing downstream
takes a tampered layer for complete (as VerifyingReader does for digests).

The options are the JSON ocicrypt writes with Go's encoding/json
(``[]byte`` as standard base64, map keys sorted):
private ``{"symkey":…,"digest":…,"cipheroptions":{"nonce":…}}`` (wrapped for
each recipient) and public ``{"cipher":…,"hmac":…,"cipheroptions":{}}``
(``org.opencontainers.image.enc.pubopts``)."""

from __future__ import annotations

import base64
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from ..errors import SkopeoError
from ..golang import gojson
from ..golang.gojson import decode_base64
from ..transport import BlobStream

AES256CTR = "AES_256_CTR_HMAC_SHA256"
KEY_SIZE = 32
NONCE_SIZE = 16
CHUNK = 1 << 20


@dataclass
class PrivateOptions:
    symkey: bytes
    digest: str
    nonce: bytes

    def to_json(self) -> bytes:
        return gojson.marshal({"symkey": _b64(self.symkey), "digest": self.digest,
                               "cipheroptions": {"nonce": _b64(self.nonce)}})

    @classmethod
    def from_json(cls, data: bytes) -> PrivateOptions:
        obj = _object(data, "privOptsData")
        options = _field(obj, "cipheroptions")
        return cls(_bytes(_field(obj, "symkey"), "privOptsData"), str(_field(obj, "digest") or ""),
                   _bytes((options or {}).get("nonce") if isinstance(options, dict) else None, "privOptsData"))


@dataclass
class PublicOptions:
    cipher: str
    hmac: bytes

    def to_json(self) -> bytes:
        return gojson.marshal({"cipher": self.cipher, "hmac": _b64(self.hmac), "cipheroptions": {}})

    @classmethod
    def from_json(cls, data: bytes) -> PublicOptions:
        obj = _object(data, "pubOptsData")
        return cls(str(_field(obj, "cipher") or ""), _bytes(_field(obj, "hmac"), "pubOptsData"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise SkopeoError(f"could not JSON unmarshal {what}: {e}") from None
    if not isinstance(obj, dict):
        raise SkopeoError(f"could not JSON unmarshal {what}: not an object")
    return obj


def _field(obj: dict[str, Any], name: str) -> Any:
    """Go's encoding/json matches field names case-insensitively."""
    if name in obj:
        return obj[name]
    for k, v in obj.items():
        if k.lower() == name:
            return v
    return None


def _bytes(value: Any, what: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise SkopeoError(f"could not JSON unmarshal {what}: a []byte field is not a string")
    try:
        return decode_base64(value)
    except ValueError as e:
        raise SkopeoError(f"could not JSON unmarshal {what}: {e}") from None


def _ctr(key: bytes, nonce: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()


def _hmac(key: bytes) -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import hmac as chmac

    return chmac.HMAC(key, hashes.SHA256())


class EncryptingReader:
    """The ciphertext of *source* under a new random key; :meth:`options`
    (after the end was read) gives the private and public options."""

    def __init__(self, source: BlobStream, digest: str) -> None:
        self._source = source
        self._digest = digest
        self._key = os.urandom(KEY_SIZE)
        self._nonce = os.urandom(NONCE_SIZE)
        self._cipher = _ctr(self._key, self._nonce)
        self._mac = _hmac(self._key)
        self.done = False

    def read(self, n: int = -1) -> bytes:
        if self.done:
            return b""
        data = self._source.read(n if n is not None and n > 0 else CHUNK)
        if not data:
            self.done = True
            return b""
        out: bytes = self._cipher.update(data)
        self._mac.update(out)
        return out

    def close(self) -> None:
        self._source.close()

    def options(self) -> tuple[PrivateOptions, PublicOptions]:
        if not self.done:
            raise SkopeoError("Read()ing not complete, unable to finalize")
        return (PrivateOptions(self._key, self._digest, self._nonce),
                PublicOptions(AES256CTR, self._mac.finalize()))


class DecryptingReader:
    """The plaintext of *source*; raises at the end of the ciphertext when its
    HMAC is not the one in the public options (ocicrypt's wording)."""

    def __init__(self, source: BlobStream, private: PrivateOptions, public: PublicOptions) -> None:
        if public.cipher == "":
            raise SkopeoError("no cipher type provided")
        if public.cipher != AES256CTR:
            raise SkopeoError(f"unsupported cipher type: {public.cipher}")
        if len(private.symkey) != KEY_SIZE:
            raise SkopeoError(f"invalid key length of {len(private.symkey)} bytes; need {KEY_SIZE} bytes")
        if not public.hmac:
            raise SkopeoError("HMAC is not provided for decryption process")
        if len(private.nonce) != NONCE_SIZE:
            # Go's cipher.NewCTR panics on a wrong IV length; say what is wrong instead.
            raise SkopeoError(f"invalid nonce length of {len(private.nonce)} bytes; need {NONCE_SIZE} bytes")
        self._source = source
        self._cipher = _ctr(private.symkey, private.nonce)
        self._mac = _hmac(private.symkey)
        self._expected = public.hmac
        self.done = False

    def read(self, n: int = -1) -> bytes:
        if self.done:
            return b""
        data = self._source.read(n if n is not None and n > 0 else CHUNK)
        if not data:
            actual = self._mac.finalize()
            if not hmac.compare_digest(actual, self._expected):
                # Upstream prints the actual HMAC's raw bytes with %s; hex is readable.
                raise SkopeoError(f"could not properly decrypt byte stream; exp hmac: '{self._expected.hex()}', "
                                  f"actual hmac: '{actual.hex()}'")
            self.done = True
            return b""
        self._mac.update(data)
        out: bytes = self._cipher.update(data)
        return out

    def close(self) -> None:
        self._source.close()
