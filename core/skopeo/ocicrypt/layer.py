"""Encrypting and decrypting one layer as ocicrypt's ``EncryptLayer`` /
``DecryptLayer`` do: the layer cipher's private options are wrapped for every
recipient by each key wrapper (``org.opencontainers.image.enc.keys.<scheme>``,
several wrapped copies joined by commas, each base64), the public options go
into ``org.opencontainers.image.enc.pubopts``; decryption unwraps the private
options with the first wrapper and key that can, then streams the plaintext.

Key wrappers: ``pgp``, ``jwe``, ``pkcs7`` and ``provider.<name>`` for each key
provider of ``$OCICRYPT_KEYPROVIDER_CONFIG``.  ocicrypt tries them in Go's
random map order; here the order is fixed (that order), so errors listing
what each one said read the same on every run."""

from __future__ import annotations

import base64
from typing import Protocol

from ..errors import SkopeoError
from ..golang.gojson import decode_base64
from ..transport import BlobStream
from .blockcipher import DecryptingReader, EncryptingReader, PrivateOptions, PublicOptions
from .config import DecryptConfig, EncryptConfig, Parameters

PUBOPTS_ANNOTATION = "org.opencontainers.image.enc.pubopts"


class KeyWrapper(Protocol):
    annotation_id: str

    def wrap_keys(self, ec: EncryptConfig, opts: bytes) -> bytes | None:
        """The private options wrapped for this wrapper's recipients in *ec*
        (None: it has none)."""

    def unwrap_key(self, dc: DecryptConfig, packet: bytes) -> bytes:
        """The private options from one wrapped copy (SkopeoError if no key fits)."""

    def no_possible_keys(self, params: Parameters) -> bool: ...

    def private_keys(self, params: Parameters) -> list[bytes]: ...


def key_wrappers() -> list[KeyWrapper]:
    from . import jwe, keyprovider, pgp, pkcs7

    wrappers: list[KeyWrapper] = [pgp.PGPKeyWrapper(), jwe.JWEKeyWrapper(), pkcs7.PKCS7KeyWrapper()]
    wrappers.extend(keyprovider.configured_wrappers())
    return wrappers


class EncryptedLayer:
    """The ciphertext of one layer; :meth:`annotations` once it was read to its end."""

    def __init__(self, source: BlobStream, config: EncryptConfig, digest: str) -> None:
        self.reader = EncryptingReader(source, digest)
        self._config = config

    def annotations(self) -> dict[str, str]:
        """The encryption annotations (EncryptLayerFinalizer)."""
        private, public = self.reader.options()
        opts = private.to_json()
        out: dict[str, str] = {}
        for wrapper in key_wrappers():
            wrapped = wrapper.wrap_keys(self._config, opts)
            if wrapped:
                out[wrapper.annotation_id] = base64.b64encode(wrapped).decode()
        if not out:
            raise SkopeoError("no wrapped keys produced by encryption")
        out[PUBOPTS_ANNOTATION] = base64.b64encode(public.to_json()).decode()
        return out


def _unwrap_private_options(dc: DecryptConfig, annotations: dict[str, str]) -> bytes:
    """decryptLayerKeyOptsData."""
    private_key_given = False
    errors = ""
    for wrapper in key_wrappers():
        b64 = annotations.get(wrapper.annotation_id, "")
        if not b64:
            continue
        if wrapper.no_possible_keys(dc.parameters):
            continue
        if wrapper.private_keys(dc.parameters):
            private_key_given = True
        problems = ""
        for item in b64.split(","):
            try:
                packet = decode_base64(item)
            except ValueError:
                problems = ""
                errors += "could not base64 decode the annotation\n"
                break
            try:
                return wrapper.unwrap_key(dc, packet)
            except SkopeoError as e:
                problems += f"- {e.message}\n"
        if problems:
            errors += f"no suitable key found for decrypting layer key:\n{problems}\n"
    if not private_key_given:
        raise SkopeoError(f"missing private key needed for decryption:\n{errors}")
    raise SkopeoError(f"no suitable key unwrapper found or none of the private keys could be used for decryption:\n{errors}")


def decrypting_reader(source: BlobStream, dc: DecryptConfig, annotations: dict[str, str]) -> DecryptingReader:
    """The plaintext of an encrypted layer with *annotations* (DecryptLayer)."""
    private_data = _unwrap_private_options(dc, annotations)
    pub_b64 = annotations.get(PUBOPTS_ANNOTATION, "")
    try:
        public_data = decode_base64(pub_b64) if pub_b64 else b'{"cipher":"","hmac":null}'
    except ValueError as e:
        raise SkopeoError(str(e)) from None
    private = PrivateOptions.from_json(private_data)
    public = PublicOptions.from_json(public_data)
    return DecryptingReader(source, private, public)
