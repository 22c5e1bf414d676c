"""The independent reader behind ``skopeo.testing.images.validate`` (plain json,
hashlib, tarfile): it must notice what a symmetric write/read bug would hide."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from skopeo.testing.images import OCILayoutWriter, make_image, random_layer_tar, validate
from skopeo.testing.independent import read_image


def manifest_of(layout: Path) -> tuple[Path, dict]:  # type: ignore[type-arg]
    digest = json.loads((layout / "index.json").read_bytes())["manifests"][0]["digest"]
    path = layout / "blobs" / "sha256" / digest[7:]
    return path, json.loads(path.read_bytes())


def test_reads_what_validate_reads(tmp_path: Path) -> None:
    make_image(str(tmp_path / "l"), "t", seed=3)
    assert read_image(f"oci:{tmp_path / 'l'}:t") == validate(f"oci:{tmp_path / 'l'}:t")
    assert read_image(f"zip:{tmp_path / 'x.zip'}") is None  # not a format it knows


def test_blob_stored_under_another_name(tmp_path: Path) -> None:
    """A layout whose blob files are misnamed the way a writer and a reader sharing
    one bug would both agree on."""
    make_image(str(tmp_path / "l"), "t", seed=3)
    _, manifest = manifest_of(tmp_path / "l")
    layer = tmp_path / "l" / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]
    layer.rename(layer.with_name(layer.name[::-1]))
    with pytest.raises(FileNotFoundError):
        read_image(f"oci:{tmp_path / 'l'}:t")


def test_media_type_that_lies_about_compression(tmp_path: Path) -> None:
    w = OCILayoutWriter(str(tmp_path / "l"))
    img = w.image([random_layer_tar(5)], compress=False)  # an uncompressed layer…
    w.tag(img, "t")
    path, manifest = manifest_of(tmp_path / "l")
    manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"  # …said to be gzip
    raw = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    (path.parent / digest[7:]).write_bytes(raw)
    index = json.loads((tmp_path / "l" / "index.json").read_bytes())
    index["manifests"][0].update(digest=digest, size=len(raw))
    (tmp_path / "l" / "index.json").write_text(json.dumps(index))
    with pytest.raises(AssertionError, match="is uncompressed but its media type is"):
        read_image(f"oci:{tmp_path / 'l'}:t")


def test_diff_id_mismatch_in_a_dir_image(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    layer_tar = b"not really a tar" * 64
    layer = gzip.compress(layer_tar, mtime=0)
    def put(data: bytes) -> str:
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        (out / d[7:]).write_bytes(data)
        return d

    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(layer),
                            "size": len(layer)}]}
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AssertionError, match="not its diff_id"):
        read_image(f"dir:{out}")
