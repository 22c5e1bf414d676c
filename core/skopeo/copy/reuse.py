"""The copy engine and the blob-info cache: what a destination may reuse in
place of a layer, the layer a reused blob becomes, and what a finished
transfer teaches the cache (containers/image's ``recordValidatedDigestData``:
only digests this process computed or verified)."""

from __future__ import annotations

from .. import compression as comp
from .. import manifest as mf
from ..blobinfocache import UNCOMPRESSED, UNKNOWN_COMPRESSION, BlobInfoCache, CompressorData
from ..transport import ReusedBlob, ReuseOptions
from .decisions import LayerOperation


def reuse_options(
    desc: mf.Descriptor, can_substitute: bool, changeable: bool, manifest_types: tuple[str, ...] | None,
    compression_format: str | None, force_compression_format: bool, preserves: bool,
) -> ReuseOptions:
    """What may stand for the layer *desc*: another compression of its content
    only when the manifest may change and the layer's type allows it
    (*changeable*); only the forced format with ``--force-compression``.
    *preserves*: the layer's media type says it would be copied as it is."""
    return ReuseOptions(
        can_substitute=can_substitute and changeable,
        possible_manifest_formats=manifest_types,
        required_compression=compression_format if force_compression_format else None,
        original_compression=mf.layer_compression(desc.media_type),
        uploads_original=preserves,
    )


def reused_layer(desc: mf.Descriptor, reused: ReusedBlob) -> tuple[str, int, str | None, bool, dict[str, str] | None]:
    """(digest, size, compression, changed, annotations) of the layer a reused
    blob becomes: *desc* itself, or the substitute in its own compression."""
    hinted = mf.layer_compression(desc.media_type)
    if reused.digest == desc.digest or reused.compression in ("", UNKNOWN_COMPRESSION):
        return reused.digest, reused.size, hinted, reused.digest != desc.digest, None
    compression = None if reused.compression == UNCOMPRESSED else reused.compression
    return reused.digest, reused.size, compression, True, reused.annotations


def record_transfer(
    cache: BlobInfoCache, op: LayerOperation, detected: str | None, target: str | None, changeable: bool,
    source_digest: str, stored_digest: str, annotations: dict[str, str] | None,
) -> None:
    """Record what copying *source_digest* (content compressed with *detected*,
    verified) as *stored_digest* (*op* applied, *target* the result's
    compression) proved.  A layer whose compression cannot change is opaque:
    nothing is recorded."""
    if not changeable:
        return
    source_name = detected or UNCOMPRESSED
    specific = UNKNOWN_COMPRESSION
    if op == LayerOperation.PRESERVE:
        if detected is None:
            cache.record_digest_uncompressed_pair(source_digest, source_digest)
        stored_name = source_name
    elif op == LayerOperation.DECOMPRESS:
        cache.record_digest_uncompressed_pair(source_digest, stored_digest)
        stored_name = UNCOMPRESSED
    else:
        assert target is not None
        if op == LayerOperation.COMPRESS:
            cache.record_digest_uncompressed_pair(stored_digest, source_digest)
        # A recompressed layer proves nothing about pairs: neither digest is
        # of the uncompressed content.
        stored_name = comp.ZSTD if target == comp.ZSTD_CHUNKED else target
        if target != stored_name:
            specific = target
    cache.record_digest_compressor(
        stored_digest, CompressorData(stored_name, specific, annotations if specific != UNKNOWN_COMPRESSION else None))
    if source_digest != stored_digest:
        cache.record_digest_compressor(source_digest, CompressorData(source_name))
