"""Layer media types as containers/image's ``manifest`` package edits them
when a copy changes layers (``UpdateLayerInfos``, ``updatedMIMEType``,
``CanChangeLayerCompression``) or converts a manifest to the other family
(``convertToManifestSchema2`` / ``convertToManifestOCI1``).

Only the layer types it knows are ever relabelled: a layer of any other type
(an artifact's JSON, a Helm chart, an SBOM, an encrypted layer) keeps its
media type and its bytes, and a conversion that cannot carry it fails with
upstream's error instead of inventing a type.

Pure functions of plain values, tested by tables in ``tests/test_layertypes.py``."""

from __future__ import annotations

from typing import NamedTuple

from . import manifest as mf
from .errors import ManifestError

# types.LayerCompression
PRESERVE_ORIGINAL = "preserve"
COMPRESS = "compress"
DECOMPRESS = "decompress"
# types.LayerCrypto
ENCRYPT = "encrypt"
DECRYPT = "decrypt"

ENCRYPTED_SUFFIX = "+encrypted"
ENC_ANNOTATION_PREFIX = "org.opencontainers.image.enc"

# Sets of types that differ only in compression (compressionMIMETypeSet): the
# key is the base compression (None: uncompressed), "" marks a variant that is
# recognized but not allowed.
_Variants = dict[str | None, str]
_UNSUPPORTED = ""
OCI_VARIANTS: tuple[_Variants, ...] = (
    {None: mf.OCI_ND_LAYER, "gzip": mf.OCI_ND_LAYER_GZIP, "zstd": mf.OCI_ND_LAYER_ZSTD},
    {None: mf.OCI_LAYER, "gzip": mf.OCI_LAYER_GZIP, "zstd": mf.OCI_LAYER_ZSTD},
)
SCHEMA2_VARIANTS: tuple[_Variants, ...] = (
    {None: mf.DOCKER_FOREIGN_LAYER, "gzip": mf.DOCKER_FOREIGN_LAYER_GZIP, "zstd": _UNSUPPORTED},
    {None: mf.DOCKER_LAYER, "gzip": mf.DOCKER_LAYER_GZIP, "zstd": _UNSUPPORTED},
)
_SCHEMA1_FAKE = mf.DOCKER_LAYER_GZIP  # fakeSchema1MIMEType: schema1 has no layer types
SCHEMA1_VARIANTS: tuple[_Variants, ...] = ({None: _SCHEMA1_FAKE, "gzip": _SCHEMA1_FAKE, "zstd": _UNSUPPORTED},)

# Layer types a schema2 manifest may hold (manifest.SupportedSchema2MediaType, layers only).
_SCHEMA2_LAYER_TYPES = frozenset({
    mf.DOCKER_FOREIGN_LAYER, mf.DOCKER_FOREIGN_LAYER_GZIP, mf.DOCKER_LAYER_GZIP, mf.DOCKER_LAYER, mf.DOCKER_LAYER_ZSTD,
})
_OCI_TO_DOCKER = {
    mf.OCI_ND_LAYER: mf.DOCKER_FOREIGN_LAYER, mf.OCI_ND_LAYER_GZIP: mf.DOCKER_FOREIGN_LAYER_GZIP,
    mf.OCI_LAYER: mf.DOCKER_LAYER, mf.OCI_LAYER_GZIP: mf.DOCKER_LAYER_GZIP,
}
_DOCKER_TO_OCI = {
    mf.DOCKER_FOREIGN_LAYER: mf.OCI_ND_LAYER, mf.DOCKER_FOREIGN_LAYER_GZIP: mf.OCI_ND_LAYER_GZIP,
    mf.DOCKER_LAYER: mf.OCI_LAYER, mf.DOCKER_LAYER_GZIP: mf.OCI_LAYER_GZIP, mf.DOCKER_LAYER_ZSTD: mf.OCI_LAYER_ZSTD,
}
# Base types that have an encrypted variant (getEncryptedMediaType).
_ENCRYPTABLE = frozenset({mf.DOCKER_LAYER_GZIP, mf.OCI_LAYER, mf.OCI_ND_LAYER})


class LayerCompressionIncompatibleError(ManifestError):
    """manifest.ManifestLayerCompressionIncompatibilityError: this manifest type
    cannot describe the layer's compression, another type may."""


class LayerEdit(NamedTuple):
    """What a copy did to one layer, as containers/image's BlobInfo records it
    for UpdateLayerInfos: *compression* (PRESERVE_ORIGINAL, COMPRESS or
    DECOMPRESS) with *algorithm* (the base compression of the result; None
    with PRESERVE_ORIGINAL keeps the type as it is), and *crypto* ("",
    ENCRYPT or DECRYPT).  *digest* is the new digest (for error texts)."""

    digest: str
    compression: str = PRESERVE_ORIGINAL
    algorithm: str | None = None
    crypto: str = ""


def base_compression(algorithm: str | None) -> str | None:
    """zstd:chunked is zstd as far as media types go."""
    return "zstd" if algorithm == "zstd:chunked" else algorithm


def is_encrypted(media_type: str) -> bool:
    return media_type.endswith(ENCRYPTED_SUFFIX)


def _variant_set(table: tuple[_Variants, ...], mime: str) -> _Variants | None:
    for variants in table:
        if mime in variants.values():
            return variants
    return None


def can_change_compression(manifest_mime: str, config_media_type: str, layer_type: str) -> bool:
    """``CanChangeLayerCompression``: whether the engine may (de)compress a
    layer of *layer_type* in an image of *manifest_mime* (an OCI artifact,
    whose config is not an image config, never)."""
    if manifest_mime in mf.SCHEMA1:
        return True  # no media types: assumed to be an image
    if manifest_mime == mf.OCI_MANIFEST:
        if config_media_type != mf.OCI_CONFIG:
            return False
        table = OCI_VARIANTS
    else:
        table = SCHEMA2_VARIANTS
    return layer_type != _UNSUPPORTED and _variant_set(table, layer_type) is not None


def _compression_variant(table: tuple[_Variants, ...], mime: str, algorithm: str | None) -> str:
    """compressionVariantMIMEType."""
    if mime == _UNSUPPORTED:
        raise ManifestError("cannot update unknown MIME type")
    variants = _variant_set(table, mime)
    name = base_compression(algorithm)
    if variants is not None:
        if name in variants:
            if variants[name] != _UNSUPPORTED:
                return variants[name]
            if name is not None:
                raise LayerCompressionIncompatibleError(f'{name} compression is not supported for type "{mime}"')
            raise LayerCompressionIncompatibleError(f'uncompressed variant is not supported for type "{mime}"')
        if name is not None:
            raise LayerCompressionIncompatibleError(f'unknown compressed with algorithm {name} variant for type "{mime}"')
        raise LayerCompressionIncompatibleError(f'uncompressed variant is not supported for type "{mime}"')
    if algorithm is not None:
        raise ManifestError(f'unsupported MIME type for compression: "{mime}"')
    raise ManifestError(f'unsupported MIME type for decompression: "{mime}"')


def _updated_type(table: tuple[_Variants, ...], mime: str, edit: LayerEdit) -> str:
    """updatedMIMEType: *mime* after *edit*'s compression change."""
    if edit.compression == PRESERVE_ORIGINAL:
        return mime if edit.algorithm is None else _compression_variant(table, mime, edit.algorithm)
    if edit.compression == DECOMPRESS:
        return _compression_variant(table, mime, None)
    if edit.algorithm is None:  # compressed by an unknown algorithm: keep the type
        return mime
    return _compression_variant(table, mime, edit.algorithm)


def _wrap(edit: LayerEdit, fn: str, table: tuple[_Variants, ...], mime: str) -> str:
    try:
        return _updated_type(table, mime, edit)
    except ManifestError as e:
        raise e.wrap(f'{fn}, layer "{edit.digest}"') from None


def encrypted_type(mime: str) -> str:
    """getEncryptedMediaType."""
    parts = mime.split("+")
    if "encrypted" in parts[1:]:
        raise ManifestError(f'unsupported mediaType: "{mime}" already encrypted')
    if parts[0] not in _ENCRYPTABLE:
        raise ManifestError(f'unsupported mediaType to encrypt: "{mime}"')
    return mime + ENCRYPTED_SUFFIX


def update_oci(types: list[str], edits: list[LayerEdit]) -> list[str]:
    """OCI1.UpdateLayerInfos, media types only."""
    out = []
    for mime, edit in zip(types, edits, strict=True):
        if edit.crypto == DECRYPT:
            if not is_encrypted(mime):
                raise ManifestError(
                    f'error preparing updated manifest: decryption specified but original mediatype is not encrypted: "{mime}"')
            mime = mime.removesuffix(ENCRYPTED_SUFFIX)
        mime = _wrap(edit, "preparing updated manifest", OCI_VARIANTS, mime)
        if edit.crypto == ENCRYPT:
            try:
                mime = encrypted_type(mime)
            except ManifestError:
                raise ManifestError(
                    f'error preparing updated manifest: encryption specified but no counterpart for mediatype: "{mime}"'
                ) from None
        out.append(mime)
    return out


def update_schema2(types: list[str], edits: list[LayerEdit]) -> list[str]:
    """Schema2.UpdateLayerInfos, media types only."""
    out = []
    for mime, edit in zip(types, edits, strict=True):
        if mime not in _SCHEMA2_LAYER_TYPES:
            raise ManifestError(
                f'Error preparing updated manifest: unknown media type of original layer "{edit.digest}": "{mime}"')
        out.append(_wrap(edit, "preparing updated manifest", SCHEMA2_VARIANTS, mime))
        if edit.crypto:
            raise ManifestError(f'encryption change (for layer "{edit.digest}") is not supported in schema2 manifests')
    return out


def check_schema1(edits: list[LayerEdit]) -> None:
    """Schema1.UpdateLayerInfos: what schema1 cannot record."""
    for edit in edits:
        _wrap(edit, "preparing updated manifest", SCHEMA1_VARIANTS, _SCHEMA1_FAKE)
        if edit.crypto:
            raise ManifestError(f'encryption change (for layer "{edit.digest}") is not supported in schema1 manifests')


def non_image_artifact_error(artifact_type: str, config_media_type: str) -> str:
    """NonImageArtifactError's text.  Upstream main names the manifest's
    artifactType when it has one; 1.9.3 named the config type always."""
    mime = artifact_type or config_media_type
    if mime == mf.DOCKER_CONFIG:
        return f'invalid mixed OCI image with Docker v2s2 config ("{mime}")'
    return f'unsupported image-specific operation on artifact with type "{mime}"'


def oci_to_docker(types: list[str]) -> list[str]:
    """convertToManifestSchema2's layer types."""
    out = []
    for mime in types:
        if mime in _OCI_TO_DOCKER:
            out.append(_OCI_TO_DOCKER[mime])
        elif mime == mf.OCI_ND_LAYER_ZSTD:
            raise ManifestError(f'Error during manifest conversion: "{mime}": zstd compression is not supported for docker images')
        elif mime == mf.OCI_LAYER_ZSTD:
            raise ManifestError(
                f'Error during manifest conversion: "{mime}": zstd compression is not officially supported for docker images')
        elif is_encrypted(mime) and mime.startswith((mf.OCI_LAYER, mf.OCI_ND_LAYER)):
            raise ManifestError(f'during manifest conversion: encrypted layers ("{mime}") are not supported in docker images')
        else:
            raise ManifestError(f'Unknown media type during manifest conversion: "{mime}"')
    return out


def docker_to_oci(types: list[str]) -> list[str]:
    """convertToManifestOCI1's layer types."""
    out = []
    for mime in types:
        if mime not in _DOCKER_TO_OCI:
            raise ManifestError(f'Unknown media type during manifest conversion: "{mime}"')
        out.append(_DOCKER_TO_OCI[mime])
    return out


def _oci_only_edits(types: list[str], edits: list[LayerEdit]) -> tuple[list[str], list[LayerEdit]]:
    """layerEditsOfOCIOnlyFeatures: decryption and changes of zstd layers are
    applied to the OCI manifest before it becomes a Docker one (Docker types
    cannot express them); returns the types then and the edits left."""
    first: list[LayerEdit] = []
    later: list[LayerEdit] = []
    needed = False
    for mime, edit in zip(types, edits, strict=True):
        now = LayerEdit(edit.digest)
        left = edit
        if edit.crypto == DECRYPT:
            needed = True
            now = now._replace(crypto=DECRYPT)
            left = left._replace(crypto="")
        if mime in (mf.OCI_LAYER_ZSTD, mf.OCI_ND_LAYER_ZSTD):
            needed = True
            now = now._replace(compression=edit.compression, algorithm=edit.algorithm)
            left = left._replace(compression=PRESERVE_ORIGINAL, algorithm=None)
        first.append(now)
        later.append(left)
    if not needed:
        return types, edits
    return update_oci(types, first), later


def target_layer_types(
    src_mime: str,
    target_mime: str,
    config_media_type: str,
    artifact_type: str,
    types: list[str],
    edits: list[LayerEdit] | None,
) -> list[str]:
    """The layer media types of a manifest of *target_mime* made from an image
    of *src_mime* whose layers have *types*, after *edits* (None: no layer
    changed, only a conversion if the family differs).  For a schema1 target,
    the Docker types of the intermediate schema2 manifest."""
    src_docker = src_mime != mf.OCI_MANIFEST
    to_docker = target_mime != mf.OCI_MANIFEST
    if not src_docker and to_docker:
        if config_media_type != mf.OCI_CONFIG:
            raise ManifestError(non_image_artifact_error(artifact_type, config_media_type))
        if edits is not None:
            types, edits = _oci_only_edits(types, edits)
        types = oci_to_docker(types)
    elif src_docker and not to_docker:
        types = docker_to_oci(types)
    if edits is None:
        return types
    if target_mime == mf.OCI_MANIFEST:
        return update_oci(types, edits)
    if target_mime in mf.SCHEMA1:
        check_schema1(edits)
        return types
    return update_schema2(types, edits)
