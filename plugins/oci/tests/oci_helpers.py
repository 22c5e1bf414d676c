"""Helpers for the oci: tests: synthetic images written by hand (not by the code
under test), a one-call copy, and index.json readers.  A uniquely named module,
not conftest, because several plugins have a tests/ directory."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from skopeo import plugins
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions, CopyResult, copy_image
from skopeo.policy import Policy, PolicyContext

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "hello-oci"
SAMPLE_DIGEST = "sha256:acca7b9a1878120ba41a9b0c67275cef10b17dc81f9d8c194729c6287462b6fc"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put(layout: Path, data: bytes) -> str:
    d = sha256(data)
    path = layout / "blobs" / "sha256" / d.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return d


def layer_tar(payload: bytes, name: str = "hello.txt") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def add_entry(layout: Path, entry: dict[str, Any]) -> None:
    """Append an index.json entry the way another tool would (no dedup, no retag)."""
    index_path = layout / "index.json"
    if index_path.exists():
        index = json.loads(index_path.read_text())
    else:
        index = {"schemaVersion": 2, "manifests": []}
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index["manifests"].append(entry)
    index_path.write_text(json.dumps(index))


def image_blobs(layout: Path, payload: bytes, compressed: bool = True, arch: str = "amd64") -> tuple[bytes, str]:
    """Store a one-layer image's layer and config; return (manifest bytes, digest)."""
    tar = layer_tar(payload)
    layer = gzip.compress(tar, mtime=0) if compressed else tar
    layer_digest = _put(layout, layer)
    config = json.dumps(
        {"architecture": arch, "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]}},
        separators=(",", ":"),
    ).encode()
    config_digest = _put(layout, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compressed else ""),
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        },
        separators=(",", ":"),
    ).encode()
    return manifest, _put(layout, manifest)


def make_image(
    layout: Path, tag: str | None = None, payload: bytes = b"hello\n", compressed: bool = True, arch: str = "amd64"
) -> str:
    """Write a one-layer image into *layout* (created if needed); return its manifest digest."""
    layout.mkdir(parents=True, exist_ok=True)
    manifest, digest = image_blobs(layout, payload, compressed, arch)
    entry: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest)}
    if tag:
        entry["annotations"] = {REF_NAME: tag}
    add_entry(layout, entry)
    return digest


def make_multiarch(layout: Path, tag: str | None = None, payload: bytes = b"multi\n") -> tuple[str, list[str]]:
    """An OCI index of an amd64 and an arm64 image; return (index digest, instance digests)."""
    layout.mkdir(parents=True, exist_ok=True)
    instances = []
    descs = []
    for arch in ("amd64", "arm64"):
        manifest, digest = image_blobs(layout, payload + arch.encode(), True, arch)
        instances.append(digest)
        descs.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(manifest),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}, separators=(",", ":")).encode()
    index_digest = _put(layout, index)
    entry: dict[str, Any] = {"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index)}
    if tag:
        entry["annotations"] = {REF_NAME: tag}
    add_entry(layout, entry)
    return index_digest, instances


def make_dir_image(path: Path, signature: bytes | None = None) -> str:
    """A dir: image holding a Docker v2s2 manifest (optionally with signature-1)."""
    path.mkdir(parents=True)
    tar = layer_tar(b"docker\n")
    layer = gzip.compress(tar, mtime=0)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]}}
    ).encode()
    for blob in (layer, config):
        (path / sha256(blob).split(":", 1)[1]).write_bytes(blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": sha256(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": sha256(layer),
                }
            ],
        }
    ).encode()
    (path / "manifest.json").write_bytes(manifest)
    (path / "version").write_text("Directory Transport Version: 1.1\n")
    if signature is not None:
        (path / "signature-1").write_bytes(signature)
    return sha256(manifest)


def copy(src: str, dest: str, dest_ctx: SystemContext | None = None, **kwargs: Any) -> CopyResult:
    options = CopyOptions(dest_ctx=dest_ctx or SystemContext(), **kwargs)
    return copy_image(
        PolicyContext(Policy.accept_anything()),
        plugins.parse_image_name(dest),
        plugins.parse_image_name(src),
        options,
    )


def index_of(layout: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((layout / "index.json").read_bytes())
    return result


def entries(layout: Path) -> list[tuple[str, str | None]]:
    """(digest, ref.name or None) for each index.json entry, in order."""
    return [(m["digest"], (m.get("annotations") or {}).get(REF_NAME)) for m in index_of(layout)["manifests"]]


def blob_files(root: Path) -> set[str]:
    return {f"{p.parent.name}:{p.name}" for p in root.rglob("*") if p.is_file()}


# Skipped when missing, errors under SKOPEO_TESTS_REQUIRE (skopeo.testing.require).
needs_reference_skopeo = pytest.mark.requires("reference-skopeo")
needs_umoci = pytest.mark.requires("umoci")


def blob_size(layout: Path, digest: str) -> int:
    """The size of a blob of *layout*, for descriptors added by hand."""
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).stat().st_size
