"""Layer media types under the copy's edits and conversions (layertypes),
table by table, with upstream's error texts."""

from __future__ import annotations

import pytest

from skopeo import layertypes as lt
from skopeo import manifest as mf
from skopeo.errors import ManifestError

THING = "application/vnd.example.thing.v1+json"
COSIGN = "application/vnd.dev.cosign.simplesigning.v1+json"
ENC_GZIP = mf.OCI_LAYER_GZIP + "+encrypted"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
D = "sha256:" + "d" * 64


@pytest.mark.parametrize(
    ("manifest", "config", "layer", "expected"),
    [
        # Known tar layers of an image: compression may change.
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, mf.OCI_LAYER, True),
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, mf.OCI_LAYER_ZSTD, True),
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, mf.OCI_ND_LAYER_GZIP, True),
        (mf.DOCKER_V2S2, mf.DOCKER_CONFIG, mf.DOCKER_LAYER_GZIP, True),
        (mf.DOCKER_V2S2, mf.DOCKER_CONFIG, mf.DOCKER_FOREIGN_LAYER, True),
        (mf.DOCKER_V2S1_SIGNED, "", "", True),
        # Anything else is copied byte for byte.
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, THING, False),
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, COSIGN, False),
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, ENC_GZIP, False),
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, mf.OCI_LAYER + "+encrypted", False),
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, mf.DOCKER_LAYER_GZIP, False),
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, "", False),
        # An artifact's layers, even of a tar type.
        (mf.OCI_MANIFEST, EMPTY_CONFIG, mf.OCI_LAYER_GZIP, False),
        (mf.OCI_MANIFEST, EMPTY_CONFIG, THING, False),
        # schema2 knows no zstd type of its own, nor OCI types.
        (mf.DOCKER_V2S2, mf.DOCKER_CONFIG, mf.DOCKER_LAYER_ZSTD, False),
        (mf.DOCKER_V2S2, mf.DOCKER_CONFIG, mf.OCI_LAYER_GZIP, False),
    ],
)
def test_can_change_compression(manifest: str, config: str, layer: str, expected: bool) -> None:
    assert lt.can_change_compression(manifest, config, layer) is expected


KEEP = lt.LayerEdit(D)
GZIPPED = lt.LayerEdit(D, lt.COMPRESS, "gzip")
ZSTD = lt.LayerEdit(D, lt.COMPRESS, "zstd")
CHUNKED = lt.LayerEdit(D, lt.PRESERVE_ORIGINAL, "zstd:chunked")
PLAIN = lt.LayerEdit(D, lt.DECOMPRESS)
FOUND_GZIP = lt.LayerEdit(D, lt.PRESERVE_ORIGINAL, "gzip")
ENCRYPT = lt.LayerEdit(D, crypto=lt.ENCRYPT)
DECRYPT = lt.LayerEdit(D, crypto=lt.DECRYPT)


@pytest.mark.parametrize(
    ("src", "target", "config", "types", "edits", "expected"),
    [
        # No layer changed: only the family's types.
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [THING], None, [THING]),
        (mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.OCI_CONFIG, [mf.OCI_LAYER_GZIP, mf.OCI_ND_LAYER],
         None, [mf.DOCKER_LAYER_GZIP, mf.DOCKER_FOREIGN_LAYER]),
        (mf.DOCKER_V2S2, mf.OCI_MANIFEST, mf.DOCKER_CONFIG, [mf.DOCKER_LAYER_ZSTD], None, [mf.OCI_LAYER_ZSTD]),
        # Edits: an unknown type is kept whatever else changed.
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, EMPTY_CONFIG, [THING, mf.OCI_LAYER], [KEEP, GZIPPED],
         [THING, mf.OCI_LAYER_GZIP]),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [ENC_GZIP, mf.OCI_LAYER_GZIP], [KEEP, ZSTD],
         [ENC_GZIP, mf.OCI_LAYER_ZSTD]),
        # A known layer's type follows the compression found in it.
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [mf.OCI_LAYER], [FOUND_GZIP], [mf.OCI_LAYER_GZIP]),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [mf.OCI_LAYER_GZIP], [PLAIN], [mf.OCI_LAYER]),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [mf.OCI_LAYER], [CHUNKED], [mf.OCI_LAYER_ZSTD]),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [mf.OCI_ND_LAYER], [GZIPPED], [mf.OCI_ND_LAYER_GZIP]),
        # Conversions with edits: zstd is undone on the OCI side first.
        (mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.OCI_CONFIG, [mf.OCI_LAYER_ZSTD], [lt.LayerEdit(D, lt.PRESERVE_ORIGINAL, "gzip")],
         [mf.DOCKER_LAYER_GZIP]),
        (mf.DOCKER_V2S2, mf.OCI_MANIFEST, mf.DOCKER_CONFIG, [mf.DOCKER_LAYER], [ZSTD], [mf.OCI_LAYER_ZSTD]),
        # Encryption and decryption (OCI only).
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [mf.OCI_LAYER_GZIP], [ENCRYPT], [ENC_GZIP]),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [mf.OCI_LAYER], [GZIPPED._replace(crypto=lt.ENCRYPT)],
         [ENC_GZIP]),
        (mf.DOCKER_V2S2, mf.OCI_MANIFEST, mf.DOCKER_CONFIG, [mf.DOCKER_LAYER_GZIP], [ENCRYPT], [ENC_GZIP]),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [ENC_GZIP], [DECRYPT], [mf.OCI_LAYER_GZIP]),
        (mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.OCI_CONFIG, [ENC_GZIP], [DECRYPT], [mf.DOCKER_LAYER_GZIP]),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [mf.OCI_ND_LAYER], [ENCRYPT], [mf.OCI_ND_LAYER + "+encrypted"]),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, [mf.OCI_LAYER_ZSTD], [ENCRYPT], [mf.OCI_LAYER_ZSTD + "+encrypted"]),
        # A schema1 target: Docker types, and edits schema1 can record.
        (mf.OCI_MANIFEST, mf.DOCKER_V2S1_SIGNED, mf.OCI_CONFIG, [mf.OCI_LAYER_GZIP], [PLAIN], [mf.DOCKER_LAYER_GZIP]),
    ],
)
def test_target_layer_types(src: str, target: str, config: str, types: list[str], edits: list[lt.LayerEdit] | None,
                            expected: list[str]) -> None:
    assert lt.target_layer_types(src, target, config, "", types, edits) == expected


@pytest.mark.parametrize(
    ("src", "target", "config", "artifact", "types", "edits", "message", "incompatible"),
    [
        # An artifact cannot become a Docker image (main names its artifactType, 1.9.3 its config type).
        (mf.OCI_MANIFEST, mf.DOCKER_V2S2, EMPTY_CONFIG, "application/vnd.example.thing.v1", [THING], None,
         'unsupported image-specific operation on artifact with type "application/vnd.example.thing.v1"', False),
        (mf.OCI_MANIFEST, mf.DOCKER_V2S1_SIGNED, EMPTY_CONFIG, "", [THING], None,
         f'unsupported image-specific operation on artifact with type "{EMPTY_CONFIG}"', False),
        (mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.DOCKER_CONFIG, "", [mf.OCI_LAYER], None,
         f'invalid mixed OCI image with Docker v2s2 config ("{mf.DOCKER_CONFIG}")', False),
        # Layers Docker types cannot name.
        (mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.OCI_CONFIG, "", [COSIGN], None,
         f'Unknown media type during manifest conversion: "{COSIGN}"', False),
        (mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.OCI_CONFIG, "", [ENC_GZIP], None,
         f'during manifest conversion: encrypted layers ("{ENC_GZIP}") are not supported in docker images', False),
        (mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.OCI_CONFIG, "", [mf.OCI_LAYER_ZSTD], None,
         f'Error during manifest conversion: "{mf.OCI_LAYER_ZSTD}": zstd compression is not officially supported '
         "for docker images", False),
        (mf.DOCKER_V2S2, mf.OCI_MANIFEST, mf.DOCKER_CONFIG, "", [THING], None,
         f'Unknown media type during manifest conversion: "{THING}"', False),
        # Edits a family cannot describe.
        (mf.DOCKER_V2S2, mf.DOCKER_V2S2, mf.DOCKER_CONFIG, "", [mf.DOCKER_LAYER], [ZSTD],
         f'preparing updated manifest, layer "{D}": zstd compression is not supported for type "{mf.DOCKER_LAYER}"', True),
        (mf.DOCKER_V2S2, mf.DOCKER_V2S2, mf.DOCKER_CONFIG, "", [mf.DOCKER_LAYER], [lt.LayerEdit(D, lt.COMPRESS, "bzip2")],
         f'preparing updated manifest, layer "{D}": unknown compressed with algorithm bzip2 variant for type '
         f'"{mf.DOCKER_LAYER}"', True),
        (mf.DOCKER_V2S2, mf.DOCKER_V2S2, mf.DOCKER_CONFIG, "", [THING], [KEEP],
         f'Error preparing updated manifest: unknown media type of original layer "{D}": "{THING}"', False),
        (mf.DOCKER_V2S2, mf.DOCKER_V2S2, mf.DOCKER_CONFIG, "", [mf.DOCKER_LAYER_GZIP], [ENCRYPT],
         f'encryption change (for layer "{D}") is not supported in schema2 manifests', False),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, "", [THING], [PLAIN],
         f'preparing updated manifest, layer "{D}": unsupported MIME type for decompression: "{THING}"', False),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, EMPTY_CONFIG, "", [THING], [ENCRYPT],
         f'error preparing updated manifest: encryption specified but no counterpart for mediatype: "{THING}"', False),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, "", [COSIGN], [GZIPPED],
         f'preparing updated manifest, layer "{D}": unsupported MIME type for compression: "{COSIGN}"', False),
        (mf.OCI_MANIFEST, mf.OCI_MANIFEST, mf.OCI_CONFIG, "", [mf.OCI_LAYER_GZIP], [DECRYPT],
         "error preparing updated manifest: decryption specified but original mediatype is not encrypted: "
         f'"{mf.OCI_LAYER_GZIP}"', False),
        (mf.OCI_MANIFEST, mf.DOCKER_V2S1_SIGNED, mf.OCI_CONFIG, "", [mf.OCI_LAYER], [ZSTD],
         f'preparing updated manifest, layer "{D}": zstd compression is not supported for type "{mf.DOCKER_LAYER_GZIP}"',
         True),
    ],
)
def test_target_layer_types_refused(src: str, target: str, config: str, artifact: str, types: list[str],
                                    edits: list[lt.LayerEdit] | None, message: str, incompatible: bool) -> None:
    with pytest.raises(ManifestError) as e:
        lt.target_layer_types(src, target, config, artifact, types, edits)
    assert e.value.message == message
    assert isinstance(e.value, lt.LayerCompressionIncompatibleError) is incompatible


@pytest.mark.parametrize(
    ("mime", "expected"),
    [
        (mf.OCI_LAYER, mf.OCI_LAYER + "+encrypted"),
        (mf.OCI_LAYER_GZIP, ENC_GZIP),
        (mf.OCI_LAYER_ZSTD, mf.OCI_LAYER_ZSTD + "+encrypted"),
        (mf.DOCKER_LAYER_GZIP, mf.DOCKER_LAYER_GZIP + "+encrypted"),
        (ENC_GZIP, 'unsupported mediaType: "' + ENC_GZIP + '" already encrypted'),
        (THING, f'unsupported mediaType to encrypt: "{THING}"'),
        (mf.DOCKER_LAYER, f'unsupported mediaType to encrypt: "{mf.DOCKER_LAYER}"'),
    ],
)
def test_encrypted_type(mime: str, expected: str) -> None:
    if expected.startswith("unsupported"):
        with pytest.raises(ManifestError, match="^" + expected.replace("+", r"\+") + "$"):
            lt.encrypted_type(mime)
    else:
        assert lt.encrypted_type(mime) == expected
