"""The copy engine's decisions, as pure functions of plain values (MIME types,
capabilities, options), so each is tested by a table without any transport:
the layer operation (and what it does to the layer's media type), which layers
are encrypted or decrypted, the manifest types to try, the list type, and why
an image may not be modified."""

from __future__ import annotations

from enum import StrEnum

from .. import compression as comp
from .. import layertypes as lt
from .. import manifest as mf
from ..errors import ManifestError, SkopeoError, UsageError
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
    changeable: bool = True,
) -> tuple[LayerOperation, str | None]:
    """(operation, compression of the result) for a layer whose content is
    compressed with *detected* (None: not compressed).

    *desired* is what the destination (or the caller) wants done to layers:
    PRESERVE, COMPRESS or DECOMPRESS; *compression_format* is
    ``--dest-compress-format`` (gzip when not given).  *changeable* is
    ``layertypes.can_change_compression`` for the layer: a layer whose type
    the engine does not know as a tar layer (an artifact's blob, an encrypted
    layer) is copied byte for byte whatever the destination or flags want."""
    if not may_change or not changeable:
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


def layer_edit(op: LayerOperation, detected: str | None, target: str | None, changeable: bool) -> tuple[str, str | None]:
    """(compression operation, algorithm) recorded for a copied layer, from
    which its new media type follows (containers/image's uploaded
    CompressionOperation/CompressionAlgorithm): a layer kept as it was keeps
    its type unless it is a known tar layer, whose type then follows the
    compression actually found in it."""
    if op == LayerOperation.COMPRESS:
        return lt.COMPRESS, target
    if op == LayerOperation.RECOMPRESS:
        return lt.PRESERVE_ORIGINAL, target
    if op == LayerOperation.DECOMPRESS:
        return lt.DECOMPRESS, None
    if not changeable:
        return lt.PRESERVE_ORIGINAL, None
    if detected is not None:
        return lt.PRESERVE_ORIGINAL, detected
    return lt.DECOMPRESS, None


def layer_crypto(
    media_type: str, digest: str, to_encrypt: bool, can_decrypt: bool, cannot_modify: str
) -> tuple[bool, bool]:
    """(decrypt, encrypt) for one layer, as upstream decides it: an encrypted
    layer is decrypted when decryption keys were given; a layer chosen for
    encryption is encrypted unless it already is; neither may happen when the
    image must stay byte for byte (*cannot_modify* says why)."""
    decrypt = lt.is_encrypted(media_type) and can_decrypt
    if decrypt and cannot_modify:
        raise SkopeoError(f"layer {digest} should be decrypted, but we can’t modify the manifest: {cannot_modify}")
    encrypt = to_encrypt and not lt.is_encrypted(media_type)
    if decrypt and to_encrypt:
        raise SkopeoError("Unable to support both decryption and encryption in the same copy")
    if encrypt and cannot_modify:
        raise SkopeoError(f"layer {digest} should be encrypted, but we can’t modify the manifest: {cannot_modify}")
    return decrypt, encrypt


def layers_to_encrypt(indexes: list[int] | None, total: int) -> frozenset[int]:
    """The layers ``--encrypt-layer`` names (negative indexes count from the
    end); an empty list means every layer, None none."""
    if indexes is None:
        return frozenset()
    if not indexes:
        return frozenset(range(total))
    chosen = set()
    for i in indexes:
        if 0 <= i < total:
            chosen.add(i)
        elif i < 0 and i + total >= 0:
            chosen.add(i + total)
        else:
            raise UsageError(f"when choosing layers to encrypt, layer index {i} out of range ({total} layers exist)")
    return frozenset(chosen)


def encryption_compression_format(compression_format: str | None, force: bool) -> str | None:
    """zstd:chunked is not combined with encryption (its TOC would be readable
    and useless): plain zstd instead, or an error when the format is forced."""
    if compression_format != comp.ZSTD_CHUNKED:
        return compression_format
    if force:
        raise UsageError(
            "explicitly requested to combine zstd:chunked with encryption, which is not beneficial; use plain zstd instead")
    return comp.ZSTD


def manifest_candidates(
    src_mime: str,
    may_modify: bool,
    supported: tuple[str, ...] | None,
    forced: str | None,
    compression_format: str | None,
    requires_encryption: bool = False,
) -> list[str]:
    """The manifest types to try for an image of *src_mime*, in order: the
    source's own when the destination takes it, then schema2, then signed
    schema1, then the destination's other types (*supported*, or ``--format``
    given as *forced*).  zstd layers need an OCI manifest, and so do
    encrypted ones (*requires_encryption*: encrypting, or copying encrypted
    layers without decrypting them)."""
    if forced is not None:
        supported = (forced,)
    zstd = compression_format in (comp.ZSTD, comp.ZSTD_CHUNKED)
    if requires_encryption and mf.OCI_MANIFEST not in (supported or (mf.OCI_MANIFEST,)):
        if forced is not None:
            if zstd:
                raise ManifestError(f"compression using {compression_format}, and encryption, required together with "
                                    f"format {forced}, which does not support both")
            raise ManifestError(f"encryption required together with format {forced}, which does not support encryption")
        assert supported is not None
        if zstd:
            raise ManifestError(f"compression using {compression_format}, and encryption, required but the destination "
                                f"only supports MIME types [{', '.join(supported)}], none of which support both")
        raise ManifestError(f"encryption required but the destination only supports MIME types [{', '.join(supported)}], "
                            "none of which support encryption")
    if requires_encryption:  # a destination taking anything takes OCI
        supported = tuple(t for t in (supported or mf.ALL_IMAGE_TYPES) if t == mf.OCI_MANIFEST)
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
                f"[{', '.join(supported)}], none of which support it"
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
