"""Writing Docker schema1 manifests (``--format v2s1``): converting a
schema2/OCI image the way containers/image does, and signing the result as a
libtrust "pretty JWS", which registries and Docker require even though nobody
verifies who signed (the key is thrown away, as upstream does).

The conversion follows docker/distribution's config builder: one schema1 layer
per config history entry (empty-layer entries point at a tiny gzipped empty
tar, which the destination must then hold), v1 IDs chained from the layer
digests, and the top entry carrying the whole config.  Readers (docker pull,
containers/image) ignore the IDs beyond their chaining; they are computed like
upstream's anyway, so the same image converts to the same bytes but for the
signature."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from .errors import ManifestError
from .golang import gojson
from .golang.gotime import ZERO_TIME_JSON, go_time_json
from .manifest import DOCKER_V2S1_SIGNED, EMPTY_LAYER_DIGEST

# The gzip stream of an empty 1024-byte tar, byte for byte as Docker writes it.
GZIPPED_EMPTY_LAYER = bytes([
    31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20,
    140, 88, 0, 8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0,
])


def _v1_id(blob_digest: str, *others: str) -> str:
    return hashlib.sha256(" ".join([blob_digest.partition(":")[2], *others]).encode()).hexdigest()


def _string(entry: dict[str, Any], key: str, what: str) -> str:
    value = entry.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ManifestError(f"invalid image configuration: {what} {key} is not a string")
    return value


def from_config(config_raw: bytes, source_layers: list[str], dest_layers: list[str], name: str, tag: str) -> tuple[bytes, bool]:
    """The unsigned schema1 manifest for an image with this config.  v1 IDs are
    derived from *source_layers* (the digests the image had), ``blobSum``s are
    *dest_layers* (what was written).  Returns the manifest and whether it
    references the empty layer (:data:`GZIPPED_EMPTY_LAYER`)."""
    try:
        config = json.loads(config_raw)
    except ValueError as e:
        raise ManifestError(f"invalid image configuration: {e}") from None
    if not isinstance(config, dict):
        raise ManifestError("invalid image configuration: not a JSON object")
    history = config.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ManifestError("invalid image configuration: history is not a list of objects")
    if not history:
        raise ManifestError(f"Cannot convert an image with 0 history entries to {DOCKER_V2S1_SIGNED}")
    count = len(history)
    fs_layers: list[dict[str, str]] = [{}] * count
    compat: list[str] = [""] * count
    layer_index = 0
    parent = v1_id = ""
    uses_empty_layer = False
    for v2_index, entry in enumerate(history):
        parent = v1_id
        empty = bool(entry.get("empty_layer"))
        if empty:
            source_blob = dest_blob = EMPTY_LAYER_DIGEST
            uses_empty_layer = True
        else:
            if layer_index >= len(source_layers):
                raise ManifestError(f"Invalid image configuration, needs more than the {len(source_layers)} distributed layers")
            source_blob, dest_blob = source_layers[layer_index], dest_layers[layer_index]
            layer_index += 1
        v1_id = _v1_id(source_blob, parent)
        # Field order and omissions of containers/image's Schema1V1Compatibility.
        fake: dict[str, Any] = {"id": v1_id}
        if parent:
            fake["parent"] = parent
        comment = _string(entry, "comment", "history")
        if comment:
            fake["comment"] = comment
        created = _string(entry, "created", "history")
        fake["created"] = go_time_json(created) if created else ZERO_TIME_JSON
        fake["container_config"] = {"Cmd": [_string(entry, "created_by", "history")]}
        author = _string(entry, "author", "history")
        if author:
            fake["author"] = author
        if empty:
            fake["throwaway"] = True
        fs_layers[count - 1 - v2_index] = {"blobSum": dest_blob}
        compat[count - 1 - v2_index] = gojson.marshal(fake).decode()
    # The top entry is the whole config (minus what schema2 added), keys sorted
    # as Go marshals a map; its ID also covers the config.
    top = dict(config)
    top.pop("rootfs", None)
    top.pop("history", None)
    top["id"] = _v1_id(source_blob, parent, config_raw.decode())
    if parent:
        top["parent"] = parent
    if history[-1].get("empty_layer"):
        top["throwaway"] = True
    compat[0] = gojson.marshal(dict(sorted(top.items()))).decode()
    manifest = {
        "name": name,
        "tag": tag,
        "architecture": _string(config, "architecture", "config"),
        "fsLayers": fs_layers,
        "history": [{"v1Compatibility": c} for c in compat],
        "schemaVersion": 1,
    }
    return gojson.marshal(manifest), uses_empty_layer


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign(unsigned: bytes, now: float | None = None) -> bytes:
    """*unsigned* with a libtrust JWS ``signatures`` member, made with a fresh
    P-256 key.  The payload stays byte-identical, so the manifest digest is the
    digest of *unsigned*."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    close = len(unsigned.rstrip()) - 1
    if close < 0 or unsigned[close:close + 1] != b"}":
        raise ManifestError("invalid JSON content to sign")
    format_length = len(unsigned[:close].rstrip())
    if unsigned[format_length - 1:format_length] == b",":
        raise ManifestError("invalid JSON content to sign")
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    numbers = public.public_numbers()
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # libtrust's key ID: the first 240 bits of the SPKI hash, base32, in groups of 4.
    kid_b32 = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode()
    kid = ":".join(kid_b32[i:i + 4] for i in range(0, len(kid_b32), 4))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    protected = _b64url(gojson.marshal({
        "formatLength": format_length, "formatTail": _b64url(unsigned[format_length:]), "time": stamp,
    }))
    der = key.sign(f"{protected}.{_b64url(unsigned)}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = {
        "header": {
            "jwk": {"crv": "P-256", "kid": kid, "kty": "EC",
                    "x": _b64url(numbers.x.to_bytes(32, "big")), "y": _b64url(numbers.y.to_bytes(32, "big"))},
            "alg": "ES256",
        },
        "signature": _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
        "protected": protected,
    }
    return unsigned[:format_length] + b',"signatures":' + gojson.marshal([signature]) + b"}"
