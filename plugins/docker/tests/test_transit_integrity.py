"""Blobs and manifests damaged between a real registry and us are refused.

A loopback proxy in front of ``docker-registry`` flips one byte of one
response (same size, other digest), so only the digest check can notice.  The
expected digests are computed here with ``hashlib`` from the bytes the proxy
delivers; the messages are upstream's (checked against the reference skopeo,
1.9.3 and main, for ``dir:`` and ``oci:`` destinations)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from skopeo.testing.fixtures import fatal_message
from skopeo.testing.registry import Fault, Registry, flip_middle_byte

from .conftest import Runner


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_manifest(oci_image: str) -> dict:  # type: ignore[type-arg]
    """The manifest of the ``oci:PATH:TAG`` image, read with plain json."""
    layout = Path(oci_image.split(":")[1])
    index = json.loads((layout / "index.json").read_bytes())
    digest = index["manifests"][0]["digest"]
    result: dict = json.loads((layout / "blobs" / "sha256" / digest[7:]).read_bytes())  # type: ignore[type-arg]
    return result


def blob_bytes(oci_image: str, digest: str) -> bytes:
    return (Path(oci_image.split(":")[1]) / "blobs" / "sha256" / digest[7:]).read_bytes()


def manifest_status(registry: Registry, repo: str, ref: str) -> int:
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
    return httpx.get(f"{registry.url}/v2/{repo}/manifests/{ref}", headers={"Accept": accept}).status_code


@pytest.mark.parametrize("dest_kind", ["dir", "oci", "docker"])
def test_layer_corrupted_in_transit_is_refused(registry: Registry, registry_factory, oci_image: str,  # type: ignore[no-untyped-def]
                                              faulty_proxy, skopeo: Runner, tmp_path: Path, dest_kind: str) -> None:
    skopeo("copy", "-q", "--dest-tls-verify=false", oci_image, f"docker://{registry.host}/ns/app:v1", check=True)
    layer = oci_manifest(oci_image)["layers"][1]["digest"]  # the second layer only; config and first layer intact
    proxy = faulty_proxy(registry.port, "none", [Fault(rf"^GET /v2/ns/app/blobs/{layer}$", action="corrupt", times=None)])
    # Another registry: within this one the blob-info cache would mount the layers.
    target = registry_factory() if dest_kind == "docker" else registry
    dest = {"dir": f"dir:{tmp_path / 'd'}", "oci": f"oci:{tmp_path / 'o'}:v1",
            "docker": f"docker://{target.host}/other/copy:v1"}[dest_kind]
    proc = skopeo("copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{proxy.host}/ns/app:v1", dest)
    assert proc.returncode == 1, proc.stderr
    got = sha256(flip_middle_byte(blob_bytes(oci_image, layer)))
    msg = fatal_message(proc.stderr)
    # Upstream (1.9.3 and main) for dir: and oci:; for docker: upstream puts the
    # upload's 'Patch "URL": readfrom tcp …:' between the two parts.
    assert msg == f"writing blob: happened during read: Digest did not match, expected {layer}, got {got}", msg
    assert [t for m, t, _ in proxy.requests if m == "GET" and layer in t], "the layer was not read through the proxy"
    # Nothing was committed at the destination.
    if dest_kind == "dir":
        assert not (tmp_path / "d" / "manifest.json").exists()
    elif dest_kind == "oci":
        index = tmp_path / "o" / "index.json"
        assert not index.exists() or json.loads(index.read_bytes())["manifests"] == []
        assert not (tmp_path / "o" / "blobs" / "sha256" / layer[7:]).exists()
    else:
        assert manifest_status(target, "other/copy", "v1") == 404


def test_layer_corrupted_once_is_not_retried_into_success(registry: Registry, oci_image: str, faulty_proxy,
                                                          skopeo: Runner, tmp_path: Path) -> None:
    """``--retry-times`` repeats the copy; a digest mismatch is not a network error to paper over
    unless the bytes really differ the next time (here they do not: every download is corrupted)."""
    skopeo("copy", "-q", "--dest-tls-verify=false", oci_image, f"docker://{registry.host}/ns/app:v1", check=True)
    layer = oci_manifest(oci_image)["layers"][0]["digest"]
    proxy = faulty_proxy(registry.port, "none", [Fault(rf"^GET /v2/ns/app/blobs/{layer}$", action="corrupt", times=None)])
    proc = skopeo("copy", "-q", "--retry-times=1", "--retry-delay=0s", "--src-tls-verify=false",
                  f"docker://{proxy.host}/ns/app:v1", f"dir:{tmp_path / 'd'}")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).endswith(f"Digest did not match, expected {layer}, "
                                               f"got {sha256(flip_middle_byte(blob_bytes(oci_image, layer)))}")
    assert not (tmp_path / "d" / "manifest.json").exists()


def test_manifest_corrupted_in_transit_is_refused(registry: Registry, oci_image: str, faulty_proxy, skopeo: Runner,
                                                  tmp_path: Path) -> None:
    """A manifest whose bytes differ from the digest the registry sent (by
    tag), or from the one asked for (by digest).  By tag, deliberately stricter
    than upstream, which checks a manifest pulled by tag against nothing (and
    here copies the damaged one); by digest, upstream's check and words (the
    header proves nothing then)."""
    skopeo("copy", "-q", "--dest-tls-verify=false", oci_image, f"docker://{registry.host}/ns/app:v1", check=True)
    raw = httpx.get(f"{registry.url}/v2/ns/app/manifests/v1",
                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).content
    digest, damaged = sha256(raw), sha256(flip_middle_byte(raw))
    proxy = faulty_proxy(registry.port, "none", [Fault(r"^GET /v2/ns/app/manifests/", action="corrupt", times=None)])
    for ref, tag_or_digest in (("ns/app:v1", "v1"), (f"ns/app@{digest}", digest)):
        src = f"docker://{proxy.host}/{ref}"
        proc = skopeo("copy", "-q", "--src-tls-verify=false", src, f"dir:{tmp_path / 'd'}")
        assert proc.returncode == 1, proc.stderr
        if tag_or_digest == digest:
            assert fatal_message(proc.stderr) == (
                f"determining manifest MIME type for {src}: Manifest does not match provided manifest digest {digest}")
        else:
            assert fatal_message(proc.stderr) == (
                f"initializing source {src}: reading manifest {tag_or_digest} in {proxy.host}/ns/app: "
                f"registry reported digest {digest}, content has digest {damaged}"
            )
        assert not (tmp_path / "d" / "manifest.json").exists()
