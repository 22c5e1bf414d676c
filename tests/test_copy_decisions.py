"""The copy engine's pure decisions, table by table, without any transport."""

from __future__ import annotations

import pytest

from skopeo import layertypes as lt
from skopeo import manifest as mf
from skopeo.copy.decisions import (
    LayerOperation,
    cannot_modify_reason,
    encryption_compression_format,
    layer_crypto,
    layer_edit,
    layer_operation,
    layers_to_encrypt,
    list_candidates,
    list_type,
    manifest_candidates,
)
from skopeo.errors import ManifestError, SkopeoError, UsageError
from skopeo.transport import COMPRESS, DECOMPRESS, PRESERVE

P, C, D, R = LayerOperation.PRESERVE, LayerOperation.COMPRESS, LayerOperation.DECOMPRESS, LayerOperation.RECOMPRESS
REGISTRY = (mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.OCI_INDEX, mf.DOCKER_LIST, mf.DOCKER_V2S1_SIGNED, mf.DOCKER_V2S1)
OCI_ONLY = (mf.OCI_MANIFEST, mf.OCI_INDEX)


@pytest.mark.parametrize(
    ("detected", "may_change", "desired", "fmt", "force", "expected"),
    [
        # Nothing may change: whatever was asked.
        ("gzip", False, DECOMPRESS, None, False, (P, "gzip")),
        (None, False, COMPRESS, "zstd", True, (P, None)),
        # The destination wants compressed layers (registries, oci:).
        (None, True, COMPRESS, None, False, (C, "gzip")),
        (None, True, COMPRESS, "zstd", False, (C, "zstd")),
        ("gzip", True, COMPRESS, None, False, (P, "gzip")),
        ("zstd", True, COMPRESS, None, False, (P, "zstd")),
        ("gzip", True, COMPRESS, "zstd", False, (R, "zstd")),
        ("zstd", True, COMPRESS, "gzip", False, (R, "gzip")),
        ("zstd", True, COMPRESS, "zstd:chunked", False, (R, "zstd:chunked")),
        ("bzip2", True, COMPRESS, None, False, (R, "gzip")),
        ("xz", True, COMPRESS, "zstd", False, (R, "zstd")),
        # The destination wants them uncompressed.
        ("gzip", True, DECOMPRESS, None, False, (D, None)),
        ("zstd", True, DECOMPRESS, "zstd", True, (D, None)),
        (None, True, DECOMPRESS, None, False, (P, None)),
        # Preserved, unless a format is forced.
        ("gzip", True, PRESERVE, "zstd", False, (P, "gzip")),
        ("gzip", True, PRESERVE, "zstd", True, (R, "zstd")),
        (None, True, PRESERVE, "zstd", True, (C, "zstd")),
        ("zstd", True, PRESERVE, "zstd", True, (P, "zstd")),
        ("gzip", True, PRESERVE, None, True, (P, "gzip")),
    ],
)
def test_layer_operation(detected: str | None, may_change: bool, desired: str, fmt: str | None, force: bool,
                         expected: tuple[LayerOperation, str | None]) -> None:
    assert layer_operation(detected, may_change, desired, fmt, force) == expected


@pytest.mark.parametrize(
    ("detected", "desired", "fmt", "force"),
    [
        # A layer that is not a known tar layer (an artifact's blob, an encrypted
        # layer) is never touched, whatever the destination wants or the flags say.
        (None, COMPRESS, None, False),
        (None, COMPRESS, "zstd", True),
        ("gzip", COMPRESS, "zstd", False),
        ("gzip", DECOMPRESS, None, False),
        ("gzip", PRESERVE, "zstd", True),
        ("zstd", COMPRESS, "zstd:chunked", True),
    ],
)
def test_layer_operation_never_changes_unknown_layers(detected: str | None, desired: str, fmt: str | None,
                                                      force: bool) -> None:
    assert layer_operation(detected, True, desired, fmt, force, changeable=False) == (P, detected)


@pytest.mark.parametrize(
    ("op", "detected", "target", "changeable", "expected"),
    [
        (C, None, "gzip", True, (lt.COMPRESS, "gzip")),
        (R, "gzip", "zstd:chunked", True, (lt.PRESERVE_ORIGINAL, "zstd:chunked")),
        (D, "zstd", None, True, (lt.DECOMPRESS, None)),
        # Kept: a known layer's type follows what was found in it, any other stays.
        (P, "gzip", "gzip", True, (lt.PRESERVE_ORIGINAL, "gzip")),
        (P, None, None, True, (lt.DECOMPRESS, None)),
        (P, "gzip", "gzip", False, (lt.PRESERVE_ORIGINAL, None)),
        (P, None, None, False, (lt.PRESERVE_ORIGINAL, None)),
    ],
)
def test_layer_edit(op: LayerOperation, detected: str | None, target: str | None, changeable: bool,
                    expected: tuple[str, str | None]) -> None:
    assert layer_edit(op, detected, target, changeable) == expected


ENC = mf.OCI_LAYER_GZIP + "+encrypted"
DG = "sha256:" + "d" * 64


@pytest.mark.parametrize(
    ("media_type", "to_encrypt", "can_decrypt", "cannot_modify", "expected"),
    [
        (mf.OCI_LAYER_GZIP, False, False, "", (False, False)),
        (mf.OCI_LAYER_GZIP, True, False, "", (False, True)),
        (mf.OCI_LAYER_GZIP, False, True, "", (False, False)),
        (ENC, False, True, "", (True, False)),
        (ENC, False, False, "Would invalidate signatures", (False, False)),
        # Already encrypted: left as it is.
        (ENC, True, False, "", (False, False)),
        (ENC, False, True, "Would invalidate signatures",
         f"layer {DG} should be decrypted, but we can’t modify the manifest: Would invalidate signatures"),
        (mf.OCI_LAYER, True, False, "Instructed to preserve digests",
         f"layer {DG} should be encrypted, but we can’t modify the manifest: Instructed to preserve digests"),
        (ENC, True, True, "", "Unable to support both decryption and encryption in the same copy"),
    ],
)
def test_layer_crypto(media_type: str, to_encrypt: bool, can_decrypt: bool, cannot_modify: str,
                      expected: tuple[bool, bool] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(SkopeoError) as e:
            layer_crypto(media_type, DG, to_encrypt, can_decrypt, cannot_modify)
        assert e.value.message == expected
    else:
        assert layer_crypto(media_type, DG, to_encrypt, can_decrypt, cannot_modify) == expected


@pytest.mark.parametrize(
    ("indexes", "total", "expected"),
    [
        (None, 3, set()),
        ([], 3, {0, 1, 2}),
        ([0], 3, {0}),
        ([-1], 3, {2}),
        ([-3, 2, 2], 3, {0, 2}),
        ([3], 3, "when choosing layers to encrypt, layer index 3 out of range (3 layers exist)"),
        ([0, -4], 3, "when choosing layers to encrypt, layer index -4 out of range (3 layers exist)"),
        ([0], 0, "when choosing layers to encrypt, layer index 0 out of range (0 layers exist)"),
    ],
)
def test_layers_to_encrypt(indexes: list[int] | None, total: int, expected: set[int] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(UsageError) as e:
            layers_to_encrypt(indexes, total)
        assert e.value.message == expected
    else:
        assert layers_to_encrypt(indexes, total) == expected


def test_encryption_compression_format() -> None:
    assert encryption_compression_format(None, False) is None
    assert encryption_compression_format("gzip", True) == "gzip"
    assert encryption_compression_format("zstd:chunked", False) == "zstd"
    with pytest.raises(UsageError) as e:
        encryption_compression_format("zstd:chunked", True)
    assert e.value.message == ("explicitly requested to combine zstd:chunked with encryption, which is not beneficial; "
                               "use plain zstd instead")


def test_layer_operation_is_named_not_a_bare_string() -> None:
    assert [op.value for op in LayerOperation] == ["preserve", "compress", "decompress", "recompress"]
    assert [op for op in LayerOperation if op.decompresses] == [D, R]
    assert [op for op in LayerOperation if op.compresses] == [C, R]


@pytest.mark.parametrize(
    ("src", "may_modify", "supported", "forced", "fmt", "expected"),
    [
        # Unmodifiable, or a destination that takes anything: the source's type only.
        (mf.OCI_MANIFEST, False, REGISTRY, mf.DOCKER_V2S2, None, [mf.OCI_MANIFEST]),
        (mf.DOCKER_V2S2, True, None, None, None, [mf.DOCKER_V2S2]),
        # The source's type first, then schema2, then signed schema1, then the rest (no lists).
        (mf.OCI_MANIFEST, True, REGISTRY, None, None,
         [mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.DOCKER_V2S1_SIGNED, mf.DOCKER_V2S1]),
        (mf.DOCKER_V2S1_SIGNED, True, REGISTRY, None, None,
         [mf.DOCKER_V2S1_SIGNED, mf.DOCKER_V2S2, mf.OCI_MANIFEST, mf.DOCKER_V2S1]),
        (mf.DOCKER_V2S2, True, OCI_ONLY, None, None, [mf.OCI_MANIFEST]),
        # --format replaces what the destination supports.
        (mf.OCI_MANIFEST, True, OCI_ONLY, mf.DOCKER_V2S2, None, [mf.DOCKER_V2S2]),
        (mf.OCI_MANIFEST, True, None, mf.DOCKER_V2S1_SIGNED, None, [mf.DOCKER_V2S1_SIGNED]),
        # zstd layers: OCI only.
        (mf.DOCKER_V2S2, True, REGISTRY, None, "zstd", [mf.OCI_MANIFEST]),
        (mf.OCI_MANIFEST, True, REGISTRY, None, "zstd:chunked", [mf.OCI_MANIFEST]),
        (mf.OCI_MANIFEST, True, REGISTRY, None, "gzip",
         [mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.DOCKER_V2S1_SIGNED, mf.DOCKER_V2S1]),
    ],
)
def test_manifest_candidates(src: str, may_modify: bool, supported: tuple[str, ...] | None, forced: str | None,
                             fmt: str | None, expected: list[str]) -> None:
    assert manifest_candidates(src, may_modify, supported, forced, fmt) == expected


@pytest.mark.parametrize(
    ("supported", "forced", "message"),
    [
        ((mf.DOCKER_V2S2, mf.DOCKER_LIST), None,
         "compression using zstd required but the destination only supports MIME types "
         f"[{mf.DOCKER_V2S2}, {mf.DOCKER_LIST}], none of which support it"),
        (REGISTRY, mf.DOCKER_V2S2,
         f"compression using zstd required together with format {mf.DOCKER_V2S2}, which does not support it"),
    ],
)
def test_manifest_candidates_zstd_without_oci(supported: tuple[str, ...], forced: str | None, message: str) -> None:
    with pytest.raises(ManifestError) as e:
        manifest_candidates(mf.DOCKER_V2S2, True, supported, forced, "zstd")
    assert e.value.message == message


@pytest.mark.parametrize(
    ("src", "may_modify", "supported", "forced", "fmt", "expected"),
    [
        # Encrypted layers need an OCI manifest.
        (mf.DOCKER_V2S2, True, REGISTRY, None, None, [mf.OCI_MANIFEST]),
        (mf.OCI_MANIFEST, True, None, None, None, [mf.OCI_MANIFEST]),
        (mf.DOCKER_V2S2, True, None, None, None, [mf.OCI_MANIFEST]),
        (mf.DOCKER_V2S2, False, None, None, None, [mf.DOCKER_V2S2]),
        (mf.OCI_MANIFEST, False, REGISTRY, None, None, [mf.OCI_MANIFEST]),
        (mf.DOCKER_V2S2, True, REGISTRY, mf.OCI_MANIFEST, "zstd", [mf.OCI_MANIFEST]),
        (mf.DOCKER_V2S2, True, (mf.DOCKER_V2S2,), None, None,
         f"encryption required but the destination only supports MIME types [{mf.DOCKER_V2S2}], none of which "
         "support encryption"),
        (mf.OCI_MANIFEST, True, (mf.DOCKER_V2S2, mf.DOCKER_V2S1_SIGNED), None, "zstd",
         "compression using zstd, and encryption, required but the destination only supports MIME types "
         f"[{mf.DOCKER_V2S2}, {mf.DOCKER_V2S1_SIGNED}], none of which support both"),
        (mf.OCI_MANIFEST, True, REGISTRY, mf.DOCKER_V2S2, None,
         f"encryption required together with format {mf.DOCKER_V2S2}, which does not support encryption"),
        (mf.OCI_MANIFEST, False, REGISTRY, mf.DOCKER_V2S1_SIGNED, "zstd:chunked",
         f"compression using zstd:chunked, and encryption, required together with format {mf.DOCKER_V2S1_SIGNED}, "
         "which does not support both"),
    ],
)
def test_manifest_candidates_with_encryption(src: str, may_modify: bool, supported: tuple[str, ...] | None,
                                             forced: str | None, fmt: str | None, expected: list[str] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ManifestError) as e:
            manifest_candidates(src, may_modify, supported, forced, fmt, requires_encryption=True)
        assert e.value.message == expected
    else:
        assert manifest_candidates(src, may_modify, supported, forced, fmt, requires_encryption=True) == expected


@pytest.mark.parametrize(
    ("src", "may_modify", "supported", "forced", "expected"),
    [
        (mf.OCI_INDEX, True, REGISTRY, None, mf.OCI_INDEX),
        (mf.DOCKER_LIST, True, None, None, mf.DOCKER_LIST),
        (mf.DOCKER_LIST, True, OCI_ONLY, None, mf.OCI_INDEX),
        (mf.DOCKER_LIST, False, OCI_ONLY, None, mf.DOCKER_LIST),
        (mf.DOCKER_LIST, True, (mf.OCI_MANIFEST,), None, None),
        # --format picks the list of its family, unless nothing may change.
        (mf.DOCKER_LIST, True, REGISTRY, mf.OCI_MANIFEST, mf.OCI_INDEX),
        (mf.OCI_INDEX, True, REGISTRY, mf.DOCKER_V2S2, mf.DOCKER_LIST),
        (mf.OCI_INDEX, True, REGISTRY, mf.DOCKER_V2S1_SIGNED, mf.DOCKER_LIST),
        (mf.OCI_INDEX, False, REGISTRY, mf.DOCKER_V2S2, mf.OCI_INDEX),
    ],
)
def test_list_type(src: str, may_modify: bool, supported: tuple[str, ...] | None, forced: str | None,
                   expected: str | None) -> None:
    assert list_type(src, may_modify, supported, forced) == expected


@pytest.mark.parametrize(
    ("chosen", "may_modify", "supported", "forced", "expected"),
    [
        (mf.OCI_INDEX, True, REGISTRY, None, [mf.OCI_INDEX, mf.DOCKER_LIST]),
        (mf.DOCKER_LIST, True, None, None, [mf.DOCKER_LIST, mf.OCI_INDEX]),
        (mf.OCI_INDEX, True, OCI_ONLY, None, [mf.OCI_INDEX]),
        (mf.OCI_INDEX, False, REGISTRY, None, [mf.OCI_INDEX]),
        (mf.DOCKER_LIST, True, REGISTRY, mf.DOCKER_V2S2, [mf.DOCKER_LIST]),
    ],
)
def test_list_candidates(chosen: str, may_modify: bool, supported: tuple[str, ...] | None, forced: str | None,
                         expected: list[str]) -> None:
    assert list_candidates(chosen, may_modify, supported, forced) == expected


@pytest.mark.parametrize(
    ("signed", "preserve", "dest_digest", "reason"),
    [
        (False, False, None, ""),
        (True, True, "sha256:" + "a" * 64, "Would invalidate signatures"),
        (False, True, "sha256:" + "a" * 64, "Instructed to preserve digests"),
        (False, False, "sha256:" + "a" * 64, "Destination specifies a digest"),
    ],
)
def test_cannot_modify_reason(signed: bool, preserve: bool, dest_digest: str | None, reason: str) -> None:
    assert cannot_modify_reason(signed, preserve, dest_digest) == reason
