"""Schema1 images in the copy: a schema1 source converted to schema2 as it is
copied (layers copied with their diffIDs computed, throwaway layers dropped),
and a schema2/OCI image written as a signed schema1 manifest (``--format v2s1``)."""

from __future__ import annotations

import io

from .. import compression as comp
from .. import imageconfig
from .. import manifest as mf
from ..errors import ManifestError
from ..transport import BlobInfo, ImageDestination
from .layers import SCHEMA1_IMAGE, LayerPipeline, LayerResult


def converted_from_schema1(
    layers: LayerPipeline, parsed: mf.ImageManifest
) -> tuple[mf.ImageManifest, bytes, list[LayerResult]]:
    """Copy a schema1 image's layers (throwaway layers are dropped) computing
    their diffIDs, and return the equivalent schema2 manifest, its config
    and the copied layers, as upstream converts schema1 images."""
    compat_raw = [str(h.get("v1Compatibility", "{}")) for h in parsed.obj.get("history") or []]
    compat = parsed.schema1_v1_compat()
    if len(compat) != len(parsed.layers):
        raise ManifestError(f"schema1 manifest has {len(parsed.layers)} layers but {len(compat)} history entries")
    # Every blob is copied, as upstream does; throwaway layers are then left
    # out of the schema2 manifest.  parsed.layers is base first, history newest first.
    # A reused blob must fit the schema2 manifest built here.
    copied = layers.copy_layers(parsed.layers, True, SCHEMA1_IMAGE, need_diff_ids=True, manifest_types=(mf.DOCKER_V2S2,))
    results = [r for r, c in zip(copied, reversed(compat), strict=True) if not c.get("throwaway")]
    diff_ids = [r.diff_id for r in results]
    config_raw = imageconfig.schema1_to_schema2_config(compat_raw, diff_ids)
    from .. import digest as digest_mod

    config = mf.Descriptor(mf.DOCKER_CONFIG, digest_mod.of_bytes(config_raw), len(config_raw))
    descs = [mf.Descriptor(mf.layer_media_type("docker", r.compression), r.digest, r.size) for r in results]
    converted = mf.ImageManifest(mf.DOCKER_V2S2, b"", config, descs, {"mediaType": mf.DOCKER_V2S2})
    converted.raw = converted.serialize()
    unchanged = [LayerResult(d.digest, d.size, r.compression, d, changed=False) for d, r in zip(descs, results, strict=True)]
    return converted, config_raw, unchanged


def schema1_manifest(dest: ImageDestination, parsed: mf.ImageManifest, layers: list[LayerResult],
                     config_raw: bytes | None) -> bytes:
    """A signed schema1 manifest for a schema2/OCI image (no config blob is
    written: schema1 carries the config in its history)."""
    from .. import schema1

    assert parsed.config is not None and config_raw is not None
    if parsed.config.media_type not in (mf.OCI_CONFIG, mf.DOCKER_CONFIG):
        raise ManifestError(f"cannot convert an artifact with config type {parsed.config.media_type!r} to schema1")
    for r in layers:
        if r.compression in (comp.ZSTD, comp.ZSTD_CHUNKED):
            raise ManifestError(mf.zstd_in_docker_error(r.source.media_type))
        if r.compression not in (None, comp.GZIP) or mf.is_foreign_layer(r.source.media_type):
            raise ManifestError(f"schema1 manifests cannot describe layer {r.digest} ({r.source.media_type})")
    dref = dest.reference.docker_reference()
    unsigned, uses_empty_layer = schema1.from_config(
        config_raw, [r.source.digest for r in layers], [r.digest for r in layers],
        dref.path if dref is not None else "", (dref.tag or "") if dref is not None else "",
    )
    if uses_empty_layer:
        empty = BlobInfo(mf.EMPTY_LAYER_DIGEST, len(schema1.GZIPPED_EMPTY_LAYER), mf.DOCKER_LAYER_GZIP)
        if dest.try_reusing_blob(empty) is None:
            dest.put_blob(io.BytesIO(schema1.GZIPPED_EMPTY_LAYER), empty)
    return schema1.sign(unsigned)
