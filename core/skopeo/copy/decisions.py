"""The copy engine's decisions, as pure functions of plain values (MIME types,
capabilities, options), so each is tested by a table without any transport:
the layer operation, the manifest types to try, the list type, and why an
image may not be modified."""

from __future__ import annotations

from enum import StrEnum

from .. import compression as comp
from .. import manifest as mf
from ..errors import ManifestError
from ..transport import COMPRESS, DECOMPRESS, PRESERVE


class LayerOperation(StrEnum):
    """What the engine does to one layer's bytes."""

    PRESERVE = "preserve"
    COMPRESS = "compress"
    DECOMPRESS = "decompress"
    # Decompress, then compress in the target format.
    RECOMPRESS = "recompress"

    @property
    def decompresses(self) -> bool:
        return self in (LayerOperation.DECOMPRESS, LayerOperation.RECOMPRESS)

    @property
    def compresses(self) -> bool:
        return self in (LayerOperation.COMPRESS, LayerOperation.RECOMPRESS)


def layer_operation(
    detected: str | None,
    may_change: bool,
    desired: str,
    compression_format: str | None,
    force_compression_format: bool,
) -> tuple[LayerOperation, str | None]:
    """(operation, compression of the result) for a layer whose content is
    compressed with *detected* (None: not compressed).

    *desired* is what the destination (or the caller) wants done to layers:
    PRESERVE, COMPRESS or DECOMPRESS; *compression_format* is
    ``--dest-compress-format`` (gzip when not given)."""
    if not may_change:
        return LayerOperation.PRESERVE, detected
    fmt = compression_format or comp.GZIP
    if desired == COMPRESS:
        if detected is None:
            return LayerOperation.COMPRESS, fmt
        if detected not in (comp.GZIP, comp.ZSTD):
            return LayerOperation.RECOMPRESS, fmt
        if compression_format and detected != fmt:
            return LayerOperation.RECOMPRESS, fmt
        return LayerOperation.PRESERVE, detected
    if desired == DECOMPRESS and detected is not None:
        return LayerOperation.DECOMPRESS, None
    if desired == PRESERVE and force_compression_format and compression_format and detected != fmt:
        return (LayerOperation.RECOMPRESS if detected else LayerOperation.COMPRESS), fmt
    return LayerOperation.PRESERVE, detected


def manifest_candidates(
    src_mime: str,
    may_modify: bool,
    supported: tuple[str, ...] | None,
    forced: str | None,
    compression_format: str | None,
) -> list[str]:
    """The manifest types to try for an image of *src_mime*, in order: the
    source's own when the destination takes it, then schema2, then signed
    schema1, then the destination's other types (*supported*, or ``--format``
    given as *forced*).  zstd layers need an OCI manifest."""
    if forced is not None:
        supported = (forced,)
    if not may_modify or supported is None:
        return [src_mime]
    out: list[str] = []
    if src_mime in supported:
        out.append(src_mime)
    for t in (mf.DOCKER_V2S2, mf.DOCKER_V2S1_SIGNED):
        if t in supported and t not in out:
            out.append(t)
    for t in supported:
        if t not in out and t not in mf.LISTS:
            out.append(t)
    if compression_format in (comp.ZSTD, comp.ZSTD_CHUNKED):
        # zstd layers can only be described by OCI manifests.
        restricted = [t for t in out if t == mf.OCI_MANIFEST]
        if not restricted:
            if forced is not None:
                raise ManifestError(
                    f"compression using {compression_format} required together with format {forced}, "
                    "which does not support it"
                )
            raise ManifestError(
                f"compression using {compression_format} required but the destination only supports MIME types "
                f"[{' '.join(supported)}], none of which support it"
            )
        out = restricted
    return out


def list_type(src_mime: str, may_modify: bool, supported: tuple[str, ...] | None, forced: str | None) -> str | None:
    """The list type to write for a list of *src_mime*; None when the
    destination takes no list type at all.  ``--format`` (*forced*) picks the
    list of its family."""
    if forced is not None and may_modify:
        return mf.OCI_INDEX if forced == mf.OCI_MANIFEST else mf.DOCKER_LIST
    if supported is None or src_mime in supported or not may_modify:
        return src_mime
    for t in supported:
        if t in mf.LISTS:
            return t
    return None


def list_candidates(chosen: str, may_modify: bool, supported: tuple[str, ...] | None, forced: str | None) -> list[str]:
    """The list types to try, *chosen* first, then the other list types the
    destination may take (as upstream: a registry refusing one may accept another)."""
    candidates = [chosen]
    if may_modify and forced is None:
        candidates += [t for t in (supported or mf.LISTS) if t in mf.LISTS and t != chosen]
    return candidates


def cannot_modify_reason(has_signatures: bool, preserve_digests: bool, dest_digest: str | None) -> str:
    """Why the image must be copied byte for byte (upstream's wording), or ""."""
    if has_signatures:
        return "Would invalidate signatures"
    if preserve_digests:
        return "Instructed to preserve digests"
    if dest_digest is not None:
        return "Destination specifies a digest"
    return ""
