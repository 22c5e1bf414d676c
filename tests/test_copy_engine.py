"""The copy engine through local transports: lists, platforms, compression,
digest verification and failure atomicity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skopeo import api
from skopeo import manifest as mf
from skopeo.copy import MULTI_ARCH_ALL, CopyOptions
from skopeo.errors import DigestMismatchError, SkopeoError
from skopeo.policy import Policy, PolicyContext
from skopeo.testing import images

ACCEPT = PolicyContext(Policy.accept_anything())


def _copy(src: str, dest: str, **kw: object) -> api.CopyResult:
    return api.copy(src, dest, CopyOptions(**kw), ACCEPT)  # type: ignore[arg-type]


@pytest.fixture
def multiarch(tmp_path: Path) -> tuple[str, images.Written]:
    path = tmp_path / "multi"
    idx = images.make_multiarch(str(path), "latest")
    return f"oci:{path}:latest", idx


def test_list_system_picks_platform(tmp_path: Path, multiarch: tuple[str, images.Written], run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    src, _ = multiarch
    for arch in ("amd64", "arm64", "ppc64le"):
        run_skopeo("--override-arch", arch, "copy", src, f"dir:{tmp_path}/ours-{arch}", check=True)
        oracle("--override-arch", arch, "copy", src, f"dir:{tmp_path}/theirs-{arch}", check=True)
        ours = (tmp_path / f"ours-{arch}" / "manifest.json").read_bytes()
        assert ours == (tmp_path / f"theirs-{arch}" / "manifest.json").read_bytes()
        assert json.loads(run_skopeo("inspect", "--config", f"dir:{tmp_path}/ours-{arch}", check=True).stdout)["architecture"] == arch
    proc = run_skopeo("--override-arch", "s390x", "copy", src, f"dir:{tmp_path}/none")
    assert proc.returncode == 1
    assert 'choosing image instance: no image found in image index for architecture \\"s390x\\", variant \\"\\", OS \\"linux\\"' in proc.stderr


def test_list_all_keeps_digests_and_matches_reference(tmp_path: Path, multiarch: tuple[str, images.Written], run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    src, idx = multiarch
    proc = run_skopeo("copy", "--all", src, f"dir:{tmp_path}/ours", check=True)
    assert "Copying 3 images generated from 3 images in list" in proc.stdout
    assert "Writing manifest list to image destination" in proc.stdout
    oracle("copy", "--all", src, f"dir:{tmp_path}/theirs", check=True)
    ours = sorted(os.listdir(tmp_path / "ours"))
    assert ours == sorted(os.listdir(tmp_path / "theirs"))
    for name in ours:
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "theirs" / name).read_bytes(), name
    assert api.manifest_digest((tmp_path / "ours" / "manifest.json").read_bytes()) == idx.digest
    images.validate(f"dir:{tmp_path}/ours")
    # And back into a layout, where the reference tool reads every platform.
    run_skopeo("copy", "--all", f"dir:{tmp_path}/ours", f"oci:{tmp_path}/layout:multi", check=True)
    for arch in ("amd64", "arm64", "ppc64le"):
        out = oracle("--override-arch", arch, "inspect", f"oci:{tmp_path}/layout:multi", check=True).stdout
        assert json.loads(out)["Architecture"] == arch
        assert json.loads(out)["Digest"] == idx.digest


def test_docker_list_to_oci_is_converted(tmp_path: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "dl"
    images.make_multiarch(str(path), "v1", docker=True)
    run_skopeo("copy", "--all", f"oci:{path}:v1", f"dir:{tmp_path}/d", check=True)
    run_skopeo("copy", "--all", f"dir:{tmp_path}/d", f"oci:{tmp_path}/out:v1", check=True)
    raw = json.loads(run_skopeo("inspect", "--raw", f"oci:{tmp_path}/out:v1", check=True).stdout)
    assert raw["mediaType"] == mf.OCI_INDEX
    assert all(m["mediaType"] == mf.OCI_MANIFEST for m in raw["manifests"])
    images.validate(f"oci:{tmp_path}/out:v1")
    oracle("copy", "--all", f"oci:{tmp_path}/out:v1", f"dir:{tmp_path}/check", check=True)


def test_index_only_copies_just_the_list(tmp_path: Path, multiarch: tuple[str, images.Written]) -> None:
    src, idx = multiarch
    result = _copy(src, f"dir:{tmp_path}/d", multi_arch="index-only")
    assert result.digest == idx.digest
    assert sorted(os.listdir(tmp_path / "d")) == ["manifest.json", "version"]


def test_corrupt_blob_fails_and_leaves_no_manifest(tmp_path: Path, sample_layout: Path) -> None:
    _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/good")
    layer = next(p for p in (tmp_path / "good").iterdir() if p.stat().st_size > 100000)
    data = bytearray(layer.read_bytes())
    data[5000] ^= 0xFF
    layer.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError, match="Digest did not match"):
        _copy(f"dir:{tmp_path}/good", f"oci:{tmp_path}/out:x")
    assert not (tmp_path / "out" / "index.json").exists() or "x" not in (tmp_path / "out" / "index.json").read_text()
    blob_dir = tmp_path / "out" / "blobs" / "sha256"
    leftovers = list(blob_dir.iterdir()) if blob_dir.exists() else []
    assert not any(p.name == layer.name for p in leftovers)


def test_truncated_blob_fails(tmp_path: Path, sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/good")
    layer = next(p for p in (tmp_path / "good").iterdir() if p.stat().st_size > 100000)
    layer.write_bytes(layer.read_bytes()[:1000])
    proc = run_skopeo("copy", f"dir:{tmp_path}/good", f"dir:{tmp_path}/out")
    assert proc.returncode == 1
    assert "size mismatch" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_zstd_recompression_roundtrip(tmp_path: Path, sample_layout: Path, oracle) -> None:  # type: ignore[no-untyped-def]
    _copy(f"oci:{sample_layout}:hello", f"oci:{tmp_path}/z:zstd", compression_format="zstd")
    raw = json.loads(api.inspect_raw(f"oci:{tmp_path}/z:zstd"))
    assert raw["layers"][0]["mediaType"] == mf.OCI_LAYER_ZSTD
    images.validate(f"oci:{tmp_path}/z:zstd")
    # The reference decompresses and verifies our zstd layer.
    oracle("copy", "--dest-decompress", f"oci:{tmp_path}/z:zstd", f"dir:{tmp_path}/plain", check=True)
    with pytest.raises(SkopeoError, match="zstd"):
        _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/bad", compression_format="zstd",
              manifest_type=mf.DOCKER_V2S2, force_compression_format=True)


def test_preserve_digests_keeps_manifest(tmp_path: Path, sample_layout: Path) -> None:
    """As upstream: --format and --dest-decompress are ignored when digests must be kept."""
    result = _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d", preserve_digests=True,
                   force_layer_compression="decompress", manifest_type=mf.DOCKER_V2S2)
    assert result.manifest == api.inspect_raw(f"oci:{sample_layout}:hello")


def test_parallel_and_serial_copies_agree(tmp_path: Path) -> None:
    path = tmp_path / "many"
    images.make_image(str(path), "t", seed=7, layers=6)
    a = _copy(f"oci:{path}:t", f"dir:{tmp_path}/a", parallel_copies=6)
    b = _copy(f"oci:{path}:t", f"dir:{tmp_path}/b", parallel_copies=1)
    assert a.manifest == b.manifest
    images.validate(f"dir:{tmp_path}/a")


def test_existing_blobs_are_reused(tmp_path: Path, sample_layout: Path) -> None:
    import io
    import sys

    _copy(f"oci:{sample_layout}:hello", f"oci:{tmp_path}/o:one")
    out = io.StringIO()
    _copy(f"oci:{sample_layout}:hello", f"oci:{tmp_path}/o:two", report=out)
    assert "skipped: already exists" in out.getvalue()
    del sys


def test_multi_arch_all_constant() -> None:
    assert MULTI_ARCH_ALL == "all"
