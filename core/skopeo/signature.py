"""Signatures: the interface of verifiers and signers (keyed by signature kind:
``simple-signing``, ``sigstore``, or whatever a third-party plugin adds), the
on-disk blob format every transport stores, and the JSON payload both built-in
kinds sign.

Transports only ever see *blobs* (``bytes``); :func:`decode` / :func:`encode`
turn them into :class:`Signature` values and back.  The blob format is
containers/image's: a simple-signing signature is stored raw (an OpenPGP
message, recognised by its first packet tag), every other kind as
``0x00`` + kind + ``\\n`` + data, so ``dir:`` and friends can hold several
kinds side by side without knowing about any of them."""

from __future__ import annotations

import base64
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from .errors import SkopeoError
from .golang.oserror import path_error_text

SIMPLE_SIGNING = "simple-signing"
SIGSTORE = "sigstore-json"
# The policy-facing kind name of sigstore handlers (the blob format id is SIGSTORE).
SIGSTORE_KIND = "sigstore"

SIMPLE_SIGNING_TYPE = "atomic container signature"
SIGSTORE_TYPE = "cosign container image signature"
SIGSTORE_MIME = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGSTORE_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGSTORE_CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
SIGSTORE_CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
SIGSTORE_SET_ANNOTATION = "dev.sigstore.cosign/bundle"

# containers/image version we claim in creator IDs (what Debian's skopeo 1.9.3 writes).
CONTAINERS_IMAGE_VERSION = "5.23.1"

# First bytes of an OpenPGP message: compressed data, one-pass signature or a
# signature packet, in old and new packet formats.
_OPENPGP_FIRST_BYTES = frozenset(
    [0xA0, 0xA1, 0xA2, 0xA3, 0xC8, 0x90, 0x91, 0x92, 0x93, 0xC4, 0x88, 0x89, 0x8A, 0x8B, 0xC2]
)
# Storage format ids by kind; kinds not listed use their own name.
_FORMAT_OF_KIND = {SIGSTORE_KIND: SIGSTORE}
_KIND_OF_FORMAT = {v: k for k, v in _FORMAT_OF_KIND.items()}


class InvalidSignatureError(SkopeoError):
    """A signature blob or payload that cannot be parsed or does not verify."""


@dataclass(frozen=True)
class Signature:
    """One signature: its kind (``simple-signing``, ``sigstore``, …) and the
    kind-specific data (the OpenPGP message; the sigstore JSON; …)."""

    kind: str
    data: bytes

    @property
    def blob(self) -> bytes:
        return encode(self)


def encode(sig: Signature) -> bytes:
    """The storage blob for *sig*."""
    if sig.kind == SIMPLE_SIGNING:
        return sig.data
    fmt = _FORMAT_OF_KIND.get(sig.kind, sig.kind)
    return b"\x00" + fmt.encode() + b"\n" + sig.data


def decode(blob: bytes) -> Signature:
    """Parse a storage blob (raises InvalidSignatureError with upstream's wording)."""
    if not blob:
        raise InvalidSignatureError("empty signature blob")
    first = blob[0]
    if first in _OPENPGP_FIRST_BYTES:
        return Signature(SIMPLE_SIGNING, blob)
    if first == 0:
        fmt, nl, data = blob[1:].partition(b"\n")
        if not nl:
            raise InvalidSignatureError("invalid signature format, missing newline")
        for b in fmt:
            if b < 32 or b >= 0x7F:
                raise InvalidSignatureError(f"invalid signature format, non-ASCII byte {b:#x}")
        name = fmt.decode()
        return Signature(_KIND_OF_FORMAT.get(name, name), data)
    raise InvalidSignatureError(f"unrecognized signature format, starting with binary {first:#x}")


def split_by_kind(blobs: list[bytes], kind: str) -> tuple[list[Signature], list[str]]:
    """(signatures of *kind*, descriptions of the rest) — handlers use this to
    pick out their own signatures from everything a source returned."""
    mine: list[Signature] = []
    others: list[str] = []
    for blob in blobs:
        try:
            sig = decode(blob)
        except InvalidSignatureError as e:
            others.append(e.message)
            continue
        if sig.kind == kind:
            mine.append(sig)
        else:
            others.append(sig.kind)
    return mine, others


# --- sigstore JSON envelope (the data of a ``sigstore`` Signature) ----------------
@dataclass(frozen=True)
class SigstoreEnvelope:
    mime_type: str
    payload: bytes
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        # Field order and base64 payload as Go's json.Marshal writes the struct.
        return json.dumps(
            {"mimeType": self.mime_type, "payload": base64.b64encode(self.payload).decode(),
             "annotations": dict(sorted(self.annotations.items()))},
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> SigstoreEnvelope:
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise InvalidSignatureError(f"parsing sigstore signature: {e}") from None
        if not isinstance(obj, dict):
            raise InvalidSignatureError("parsing sigstore signature: not a JSON object")
        mime, payload, annotations = obj.get("mimeType"), obj.get("payload"), obj.get("annotations") or {}
        if not isinstance(mime, str) or not isinstance(payload, str) or not isinstance(annotations, dict):
            raise InvalidSignatureError("parsing sigstore signature: invalid field types")
        try:
            raw = base64.b64decode(payload, validate=True)
        except ValueError as e:
            raise InvalidSignatureError(f"parsing sigstore signature payload: {e}") from None
        return cls(mime, raw, {str(k): str(v) for k, v in annotations.items()})


# --- the signed JSON payload (simple signing and sigstore) -----------------------
@dataclass(frozen=True)
class UntrustedPayload:
    """The claims of a signature payload — untrusted until its signature verified."""

    docker_manifest_digest: str
    docker_reference: str
    creator_id: str | None = None
    timestamp: int | None = None


def make_payload(manifest_digest: str, docker_reference: str, sig_type: str, creator: str) -> bytes:
    """The payload JSON exactly as containers/image writes it (Go map key order)."""
    obj = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": sig_type,
        },
        "optional": {"creator": creator, "timestamp": int(time.time())},
    }
    # Go's encoding/json escapes <, > and & even here; references cannot contain them.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise InvalidSignatureError(f'Duplicate key "{k}"')
        out[k] = v
    return out


def _exact_object(value: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidSignatureError(f"{what} is not a JSON object")
    for k in value:
        if k not in keys:
            raise InvalidSignatureError(f'Unknown key "{k}"')
    for k in keys:
        if k not in value:
            raise InvalidSignatureError(f'Key "{k}" missing in a JSON object')
    return value


def parse_payload(data: bytes, expected_type: str, optional_may_be_null: bool = False) -> UntrustedPayload:
    """Strict for ``critical`` (exactly the known keys, the exact type string),
    lenient for ``optional`` (unknown keys ignored), as upstream parses it."""
    from .golang import gojson

    try:
        obj = gojson.loads(data, object_pairs_hook=_no_duplicates)  # Go's texts for malformed JSON
    except InvalidSignatureError:
        raise
    except ValueError as e:
        raise InvalidSignatureError(str(e)) from None
    top = _exact_object(obj, ("critical", "optional"), "signature")
    critical = _exact_object(top["critical"], ("type", "image", "identity"), "critical")
    if critical["type"] != expected_type:
        raise InvalidSignatureError(f"Unrecognized signature type {critical['type']}")
    image = _exact_object(critical["image"], ("docker-manifest-digest",), "critical.image")
    identity = _exact_object(critical["identity"], ("docker-reference",), "critical.identity")
    digest, ref = image["docker-manifest-digest"], identity["docker-reference"]
    if not isinstance(digest, str) or not isinstance(ref, str):
        raise InvalidSignatureError("critical.image or critical.identity has a field of the wrong type")
    creator: str | None = None
    timestamp: int | None = None
    optional = top["optional"]
    if optional is None and optional_may_be_null:
        optional = {}
    if not isinstance(optional, dict):
        raise InvalidSignatureError("optional is not a JSON object")
    if "creator" in optional:
        if not isinstance(optional["creator"], str):
            raise InvalidSignatureError("Field optional.creator is not a string")
        creator = optional["creator"]
    if "timestamp" in optional:
        ts = optional["timestamp"]
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or int(ts) != ts:
            raise InvalidSignatureError("Field optional.timestamp is not is not an integer")
        timestamp = int(ts)
    return UntrustedPayload(digest, ref, creator, timestamp)


# --- the plugin interface ------------------------------------------------------
@dataclass(frozen=True)
class VerificationResult:
    accepted: bool
    reason: str = ""


class SignatureHandler(ABC):
    # The kind this handler serves (the Signature.kind of its blobs).
    kind: str = ""
    # policy.json requirement ``type`` values this handler evaluates.
    requirement_types: tuple[str, ...] = ()

    @abstractmethod
    def verify(
        self,
        requirement: dict[str, Any],
        signatures: list[bytes],
        manifest: bytes,
        image_reference: Any,
    ) -> VerificationResult:
        """Decide whether *signatures* (storage blobs of every kind, as the source
        returned them; see :func:`split_by_kind`) satisfy *requirement* for this image."""

    def sign(self, manifest: bytes, identity: str, options: dict[str, Any]) -> bytes:
        """A new signature of *manifest* claiming *identity*, as a storage blob
        (:func:`encode`)."""
        raise NotImplementedError(f"{self.kind} signatures can be verified but not created")

    def prepare(self, options: dict[str, Any]) -> dict[str, Any]:
        """Called when a signing command starts, where upstream creates its
        signers: check and load what :meth:`sign` needs, once (parameter files,
        keys), raising SkopeoError with upstream's words; the options returned
        are those ``sign`` then receives for every image."""
        return options

    def check_signing(self, options: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Called once the signed identity is known, before anything is copied:
        raise now what :meth:`sign` would fail on for any image (a key that does
        not exist), so that a copy does not transfer an image it cannot sign."""

    def validate_requirement(self, requirement: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Strictly check a policy requirement of one of our ``requirement_types``
        that the core does not know (raise ValueError with the reason).  The
        built-in types are validated by the core before handlers see them."""

    def progress_message(self) -> str:
        """What copy prints before creating a signature of this kind."""
        return f"Signing image using a {self.kind} signature"


# --- passphrases (shared by every signer and the signing commands) ---------------
def read_passphrase_file(path: str | None) -> str | None:
    """The first line of *path* without its newline, as gpg and upstream read it;
    None when no file was given."""
    if not path:
        return None
    from . import log

    log.debug(f"Reading user-specified passphrase for signing from {path}")
    try:
        with open(path, "rb") as f:
            line = f.readline()
    except OSError as e:
        raise SkopeoError(path_error_text("open", path, e)) from None
    return line.decode().removesuffix("\n")


def prompt_passphrase(key_file: str) -> str:
    """Ask on the terminal (upstream's wording); refuse when stdin is not a TTY."""
    import getpass
    import sys

    if not sys.stdin.isatty():
        raise SkopeoError(f"Cannot prompt for a passphrase for key {key_file}, standard input is not a TTY")
    return getpass.getpass(f"Passphrase for key {key_file}: ")
