"""Signatures of registry images.

Two stores, as containers/image has them:

* the lookaside that registries.d configures for the repository (the core's
  :mod:`skopeo.registries_d` does the work), for simple signatures;
* sigstore attachments, when registries.d sets ``use-sigstore-attachments``
  for the repository: the tag ``sha256-<hex>.sig`` in the same repository holds
  an OCI manifest whose layers are the signatures (the layer blob is the
  payload, the layer annotations carry the cryptographic signature and
  optional certificates), the layout cosign uses.

Reading returns the lookaside's blobs followed by one ``sigstore`` blob per
attachment layer; writing sends sigstore signatures to the attachment (adding
layers, skipping those already there) and every other kind to the lookaside.
The source and the destination delegate here."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from skopeo import digest as digest_mod
from skopeo import imageconfig, log, registries_d
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.golang import gojson
from skopeo.reference import DockerReference
from skopeo.transport import BlobInfo

from .client import RegistryClient
from .registry import blob_bytes, fetch_manifest, put_manifest
from .registry_errors import is_manifest_unknown

if TYPE_CHECKING:
    from skopeo.signature import Signature, SigstoreEnvelope

# skopeo.signature (~3 ms: four dataclasses) is imported where signatures are
# actually decoded or built: a copy of an image without any never needs it.

# A destination's put_blob: (stream, info, is_config) → what was stored.
PutBlob = Callable[..., BlobInfo]


# --- both stores ---------------------------------------------------------------------------
def image_signatures(ctx: SystemContext, client: RegistryClient, ref: DockerReference,
                     manifest_digest: str) -> list[bytes]:
    """Every signature blob of *manifest_digest*: the lookaside's, then the
    sigstore attachments' (when registries.d enables them for *ref*)."""
    config = registries_d.lookaside_for(ref, ctx.registries_d)
    out = registries_d.read_signatures(config.read_url, manifest_digest)
    if not config.use_sigstore_attachments:
        log.debug("Not looking for sigstore attachments: disabled by configuration")
        return out
    out.extend(sigstore_attachment_signatures(client, ref, manifest_digest))
    return out


def store_image_signatures(ctx: SystemContext, client: RegistryClient, ref: DockerReference, put_blob: PutBlob,
                           manifest_digest: str, blobs: list[bytes]) -> None:
    """Store *blobs* for *manifest_digest*: sigstore signatures as attachments,
    the others in the lookaside (upstream's PutSignaturesWithFormat)."""
    from skopeo.signature import SIGSTORE_KIND, InvalidSignatureError, decode

    sigstore: list[Signature] = []
    others: list[bytes] = []
    for blob in blobs:
        try:
            sig = decode(blob)
        except InvalidSignatureError:
            others.append(blob)  # the lookaside writer reports it
            continue
        if sig.kind == SIGSTORE_KIND:
            sigstore.append(sig)
        else:
            others.append(blob)
    config = registries_d.lookaside_for(ref, ctx.registries_d)
    if sigstore:
        if not config.use_sigstore_attachments:
            raise SkopeoError("writing sigstore attachments is disabled by configuration")
        put_sigstore_attachments(client, ref, put_blob, sigstore, manifest_digest)
    if others:
        registries_d.write_signatures(config.write_url, manifest_digest, others)


# --- sigstore attachments ---------------------------------------------------------------------
def attachment_tag(manifest_digest: str) -> str:
    """The tag holding the sigstore attachments of *manifest_digest*: ``sha256-<hex>.sig``."""
    digest_mod.validate(manifest_digest)
    return manifest_digest.replace(":", "-", 1) + ".sig"


def attachment_manifest(client: RegistryClient, ref: DockerReference,
                        manifest_digest: str) -> mf.ImageManifest | None:
    """The parsed attachment manifest of *manifest_digest*, or None when there is none."""
    tag = attachment_tag(manifest_digest)
    name = f"{ref.name}:{tag}"
    log.debug(f"Looking for sigstore attachments in {name}")
    try:
        data, mime = fetch_manifest(client, ref, tag)
    except SkopeoError as e:
        if is_manifest_unknown(e):
            log.debug(f"Fetching sigstore attachment manifest failed, assuming it does not exist: {e}")
            return None
        log.debug(f"Fetching sigstore attachment manifest failed: {e}")
        raise
    if mime != mf.OCI_MANIFEST:
        raise SkopeoError(f'unexpected MIME type for sigstore attachment manifest {name}: "{mime}"')
    try:
        parsed = mf.parse(data, mf.OCI_MANIFEST)
    except SkopeoError as e:
        raise SkopeoError(f"parsing manifest {name}: {e}") from None
    assert isinstance(parsed, mf.ImageManifest)
    return parsed


def sigstore_attachment_signatures(client: RegistryClient, ref: DockerReference, manifest_digest: str) -> list[bytes]:
    """One ``sigstore`` signature blob per layer of the attachment manifest.
    Every layer is returned whatever its MIME type (attestations too, as
    upstream does); verifiers decide by the MIME type."""
    from skopeo.signature import SIGSTORE_KIND, Signature, SigstoreEnvelope, encode

    manifest = attachment_manifest(client, ref, manifest_digest)
    if manifest is None:
        return []
    log.debug(f"Found a sigstore attachment manifest with {len(manifest.layers)} layers")
    out: list[bytes] = []
    for i, layer in enumerate(manifest.layers):
        log.debug(f"Fetching sigstore attachment {i + 1}/{len(manifest.layers)}: {layer.digest}")
        payload = blob_bytes(client, ref, layer, registries_d.MAX_SIGNATURE_SIZE)
        envelope = SigstoreEnvelope(layer.media_type, payload, dict(layer.annotations or {}))
        out.append(encode(Signature(SIGSTORE_KIND, envelope.to_json())))
    return out


def _layer_matches(layer: mf.Descriptor, envelope: SigstoreEnvelope) -> bool:
    return (layer.media_type == envelope.mime_type
            and layer.size == len(envelope.payload)
            and layer.digest == digest_mod.of_bytes(envelope.payload)
            and (layer.annotations or {}) == envelope.annotations)


def _put_bytes(put_blob: PutBlob, data: bytes, media_type: str, is_config: bool) -> mf.Descriptor:
    digest = digest_mod.of_bytes(data)
    try:
        stored = put_blob(io.BytesIO(data), BlobInfo(digest, len(data), media_type), is_config=is_config)
    except SkopeoError as e:
        raise e.wrap(f"writing blob {digest}") from None
    assert stored.digest is not None
    return mf.Descriptor(media_type, stored.digest, stored.size)


def put_sigstore_attachments(client: RegistryClient, ref: DockerReference, put_blob: PutBlob,
                             signatures: list[Signature], manifest_digest: str) -> None:
    """Add *signatures* to the attachment manifest of *manifest_digest*: upload
    each new payload as a layer, then a config whose ``rootfs.diff_ids`` lists
    the layers, then the manifest under the attachment tag (upstream's
    putSignaturesToSigstoreAttachments, which writes what cosign writes)."""
    from skopeo.signature import InvalidSignatureError, SigstoreEnvelope

    existing = attachment_manifest(client, ref, manifest_digest)
    layers: list[mf.Descriptor]
    if existing is None:
        layers = []
        manifest_obj = {"mediaType": mf.OCI_MANIFEST}
        config = imageconfig.to_oci_config(b"{}")
        config["rootfs"]["type"] = "layers"
    else:
        assert existing.config is not None
        log.debug(f"Fetching sigstore attachment config {existing.config.digest}")
        raw = blob_bytes(client, ref, existing.config, mf.MAX_CONFIG_SIZE)
        try:
            config = imageconfig.to_oci_config(raw)
        except SkopeoError as e:
            raise SkopeoError(
                f"parsing sigstore attachment config {existing.config.digest} in {ref.name}: {e}"
            ) from None
        layers = list(existing.layers)
        manifest_obj = existing.obj
    diff_ids: list[str] = list(config["rootfs"].get("diff_ids") or [])
    for sig in signatures:
        try:
            envelope = SigstoreEnvelope.from_json(sig.data)
        except InvalidSignatureError as e:
            raise SkopeoError(f"writing sigstore attachment: {e.message}") from None
        match = next((lay for lay in layers if _layer_matches(lay, envelope)), None)
        if match is not None:
            log.debug(f"Signature with digest {match.digest} already exists on the registry")
            continue
        desc = _put_bytes(put_blob, envelope.payload, envelope.mime_type, is_config=False)
        desc = mf.Descriptor(desc.media_type, desc.digest, desc.size, annotations=dict(envelope.annotations) or None)
        layers.append(desc)
        diff_ids.append(desc.digest)
        log.debug(f"Adding new signature, digest {desc.digest}")
    config["rootfs"]["diff_ids"] = diff_ids or None
    log.debug("Uploading updated sigstore attachment config")
    config_desc = _put_bytes(put_blob, gojson.marshal(config), mf.OCI_CONFIG, is_config=True)
    # An ImageManifest only to reuse its (Go field order) serialisation.
    template = mf.ImageManifest(mf.OCI_MANIFEST, b"", config_desc, layers, manifest_obj)
    data = template.serialize(mf.OCI_MANIFEST, config_desc, layers)
    log.debug("Uploading sigstore attachment manifest")
    put_manifest(client, ref, data, mf.OCI_MANIFEST, attachment_tag(manifest_digest))
