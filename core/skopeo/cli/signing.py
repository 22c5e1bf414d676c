"""Turning ``--sign-by*`` flags into signers for the copy engine.  Signature
kinds are provided by plugins (see ``register_signature_handlers``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..transport import ImageReference
from .app import Options

# flag → (signature kind, option name passed to the handler)
SIGNING_FLAGS = {
    "sign_by": ("simple-signing", "key_fingerprint"),
    "sign_by_sigstore_private_key": ("sigstore", "private_key_file"),
    "sign_by_sigstore": ("sigstore", "param_file"),
}


def _identity(sign_identity: str | None, ref: ImageReference) -> str:
    if sign_identity:
        return sign_identity
    dref = ref.docker_reference()
    if dref is None:
        raise UsageError(f"Cannot determine canonical Docker reference for destination {ref}")
    return str(dref)


def check_sign_identity(opts: Options) -> None:
    """As upstream, ``--sign-identity`` is checked whenever it is given, signing or not."""
    from ..reference import parse_normalized_named_strict

    identity = opts.get("sign_identity")
    if identity:
        try:
            parse_normalized_named_strict(identity)
        except Exception as e:
            raise UsageError(f"Could not parse --sign-identity: {getattr(e, 'message', e)}") from None


# Signing flags that may take their passphrase from --sign-passphrase-file.
_PASSPHRASE_FLAGS = ("sign_by", "sign_by_sq_fingerprint", "sign_by_sigstore_private_key")


def signers_from_flags(opts: Options, dest_ref: ImageReference | None) -> list[Callable[[bytes, ImageReference], bytes]]:
    """Signers for the copy engine; each signs with ``--sign-identity`` or the
    destination's own reference.  With *dest_ref* known (copy), a missing
    identity is reported before anything is copied."""
    chosen = [(flag, opts.get(flag)) for flag in SIGNING_FLAGS if opts.get(flag)]
    if opts.get("sign_passphrase_file") and sum(1 for flag in _PASSPHRASE_FLAGS if opts.get(flag)) > 1:
        raise UsageError(
            "Only one of --sign-by, --sign-by-sq-fingerprint and --sign-by-sigstore-private-key can be used with --sign-passphrase-file"
        )
    if not chosen and not opts.get("sign_passphrase_file") and not opts.get("sign_by_sq_fingerprint"):
        return []  # nothing to sign with: no signing plugin to load
    from .. import plugins
    from ..signature import prompt_passphrase, read_passphrase_file

    identity = opts.get("sign_identity")
    passphrase_file = opts.get("sign_passphrase_file")
    from_file = read_passphrase_file(passphrase_file)  # read once, for every signed image
    # The file serves the one signing flag it may go with; a sigstore key without
    # it is asked for once, before anything is copied (and before the identity
    # is checked, as upstream), not once per signed image.
    passphrases = {
        flag: from_file if from_file is not None else prompt_passphrase(str(value))
        for flag, value in chosen
        if from_file is not None or flag == "sign_by_sigstore_private_key"
    }
    handlers = plugins.signature_handlers()
    prepared: list[tuple[str, Any, dict[str, Any]]] = []
    for flag, value in chosen:
        kind, option = SIGNING_FLAGS[flag]
        handler = handlers.get(kind)
        if handler is None:
            raise UsageError(f"--{flag.replace('_', '-')} needs a plugin that creates {kind!r} signatures; none is installed")
        options: dict[str, Any] = {option: value, "passphrase_file": passphrase_file, "passphrase": passphrases.get(flag)}
        prepared.append((flag, handler, handler.prepare(options)))
    if opts.get("sign_by_sq_fingerprint"):
        # Upstream's wording when it is built without Sequoia, as skopeo-py is.
        raise UsageError("Error using --sign-by-sq-fingerprint: Sequoia-PGP support is not enabled in this build")
    if not prepared:
        return []
    if not identity and dest_ref is not None:
        _identity(None, dest_ref)
    signers: list[Callable[[bytes, ImageReference], bytes]] = []
    for _flag, handler, options in prepared:
        handler.check_signing(options)

        def sign(manifest: bytes, ref: ImageReference, _h: Any = handler, _o: dict[str, Any] = options) -> bytes:
            result: bytes = _h.sign(manifest, _identity(identity, ref), _o)
            return result

        # The copy engine prints "Creating signature: <this>" before calling the signer.
        sign.progress_message = handler.progress_message()  # type: ignore[attr-defined]
        signers.append(sign)
    return signers
