"""The copy engine's pure decisions, table by table, without any transport."""

from __future__ import annotations

import pytest

from skopeo import manifest as mf
from skopeo.copy.decisions import (
    LayerOperation,
    cannot_modify_reason,
    layer_operation,
    list_candidates,
    list_type,
    manifest_candidates,
)
from skopeo.errors import ManifestError
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
         f"[{mf.DOCKER_V2S2} {mf.DOCKER_LIST}], none of which support it"),
        (REGISTRY, mf.DOCKER_V2S2,
         f"compression using zstd required together with format {mf.DOCKER_V2S2}, which does not support it"),
    ],
)
def test_manifest_candidates_zstd_without_oci(supported: tuple[str, ...], forced: str | None, message: str) -> None:
    with pytest.raises(ManifestError) as e:
        manifest_candidates(mf.DOCKER_V2S2, True, supported, forced, "zstd")
    assert e.value.message == message


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
