"""The crypto configuration ``copy --encryption-key`` / ``--decryption-key``
build, as ocicrypt's ``helpers.CreateCryptoConfig`` does: recipients are
``KIND:VALUE`` (``jwe:`` a public key file, ``pkcs7:`` a certificate file,
``pgp:`` a name or e-mail address in the GnuPG key ring, ``provider:`` a key
provider of the ocicrypt key-provider configuration); decryption keys are
files (a private key, optionally ``FILE:PASSWORD`` with ``pass=``, ``file=``
or ``fd=``; a certificate, for PKCS#7; a GnuPG secret key ring) or
``provider:NAME[:ARGS]``.

Parameters are kept as ocicrypt keeps them (``map[string][][]byte``), since
the key-provider protocol hands them to the provider as they are."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import SkopeoError, UsageError
from . import keys

Parameters = dict[str, list[bytes]]


@dataclass
class DecryptConfig:
    parameters: Parameters = field(default_factory=dict)


@dataclass
class EncryptConfig:
    parameters: Parameters = field(default_factory=dict)
    decrypt: DecryptConfig = field(default_factory=DecryptConfig)


def _read(path: str) -> bytes:
    from ..golang.oserror import path_error_text

    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SkopeoError(path_error_text("open", path, e)) from None


def _add(params: Parameters, key: str, value: bytes) -> None:
    params.setdefault(key, []).append(value)


def encrypt_config(recipients: list[str]) -> EncryptConfig:
    """processRecipientKeys and the EncryptWith* constructors (pkcs11 aside,
    which needs a PKCS#11 module: refused with a clear error)."""
    params: Parameters = {}
    pgp_recipients: list[bytes] = []
    try:
        for recipient in recipients:
            protocol, sep, value = recipient.partition(":")
            if not sep:
                raise SkopeoError("Invalid recipient format")
            if protocol == "pgp":
                pgp_recipients.append(value.encode())
            elif protocol == "jwe":
                data = _read_recipient(value)
                if not keys.is_public_key(data):
                    raise SkopeoError("File provided is not a public key")
                _add(params, "pubkeys", data)
            elif protocol == "pkcs7":
                data = _read_recipient(value)
                if not keys.is_certificate(data):
                    raise SkopeoError("File provided is not an x509 cert")
                _add(params, "x509s", data)
            elif protocol == "pkcs11":
                raise SkopeoError("pkcs11 keys are not supported by this build (no PKCS#11 module support)")
            elif protocol == "provider":
                name, sep, args = value.partition(":")
                if sep and name:
                    _add(params, name, args.encode())
                else:
                    _add(params, value, b"Enabled")
            else:
                raise SkopeoError("Provided protocol not recognized")
        if pgp_recipients:
            from .pgp import public_key_ring

            ring = public_key_ring()
            if ring is not None:  # without gpg, pgp recipients are ignored, as upstream
                params["gpg-recipients"] = pgp_recipients
                params["gpg-pubkeyringfile"] = [ring]
    except SkopeoError as e:
        raise UsageError(f"Invalid encryption keys: {e.message}") from None
    return EncryptConfig(params)


def _read_recipient(path: str) -> bytes:
    try:
        return _read(path)
    except SkopeoError as e:
        raise SkopeoError(f"Unable to read file: {e.message}") from None


def _password(text: str) -> bytes:
    """processPwdString."""
    if text.startswith("file="):
        return _read(text[5:])
    if text.startswith("pass="):
        return text[5:].encode()
    if text.startswith("fd="):
        from ..golang.strconv import NumError, atoi

        try:
            fd = atoi(text[3:])
        except NumError as e:
            raise SkopeoError(f"could not parse file descriptor {text[3:]}: {e}") from None
        try:
            with os.fdopen(fd, "rb", closefd=True) as f:
                return f.read(64)
        except OSError as e:
            raise SkopeoError(f"could not read from file descriptor: {e.strerror or e}") from None
    return text.encode()


def decrypt_config(key_specs: list[str]) -> DecryptConfig:
    """CreateDecryptCryptoConfig(keys, nil): processx509Certs and processPrivateKeyFiles."""
    params: Parameters = {}
    try:
        for spec in key_specs:  # certificates first: PKCS#7 needs one with the key
            name = spec.split(":")[0]
            if os.path.exists(name):
                data = _read(name)
                if keys.is_certificate(data):
                    _add(params, "x509s", data)
        for spec in key_specs:
            if spec.startswith("provider:"):
                name, sep, args = spec[len("provider:"):].partition(":")
                if sep and name:
                    _add(params, name, args.encode())
                else:
                    _add(params, spec[len("provider:"):], b"Enabled")
                continue
            parts = spec.split(":")
            password = _password(parts[1]) if len(parts) == 2 else None
            data = _read(parts[0])
            try:
                keys.parse_private_key(data, password, "")
                is_private = True
            except keys.KeyError_ as e:
                if keys.is_password_error(e):
                    raise
                is_private = False
            if is_private:
                _add(params, "privkeys", data)
                _add(params, "privkeys-passwords", password or b"")
            elif keys.is_gpg_private_key_ring(data):
                _add(params, "gpg-privatekeys", data)
                _add(params, "gpg-privatekeys-passwords", password or b"")
            # Anything else (a certificate, other files) is ignored, as upstream.
    except SkopeoError as e:
        raise UsageError(f"Invalid decryption keys: {e.message}") from None
    return DecryptConfig(params)


def check_flags(encryption_keys: list[str], encrypt_layers: list[int], decryption_keys: list[str]) -> None:
    """The combinations ``copy`` refuses before opening anything."""
    if encryption_keys and decryption_keys:
        raise UsageError("--encryption-key and --decryption-key cannot be specified together")
    if encrypt_layers and not encryption_keys:
        raise UsageError("--encrypt-layer can only be used with --encryption-key")
