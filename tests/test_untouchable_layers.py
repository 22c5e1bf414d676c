"""Layers the engine must not touch (issue 12, item 1): an artifact's blobs and
encrypted layers are copied byte for byte to every destination, whatever
compression flags say, with the manifest the reference skopeo writes; a
conversion that cannot carry them is refused with upstream's error and
leaves no destination behind."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from samples import HELLO_OCI as SAMPLE_LAYOUT
from skopeo import manifest as mf
from skopeo.golang import gojson
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import OCILayoutWriter, Written, random_layer_tar
from skopeo.testing.require import find_upstream_main, reference_skopeo

pytestmark = pytest.mark.oracle
Runner = Callable[..., subprocess.CompletedProcess[str]]

THING = "application/vnd.example.thing.v1+json"
COSIGN = "application/vnd.dev.cosign.simplesigning.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
ARTIFACT_TYPE = "application/vnd.example.thing.v1"


def _put(w: OCILayoutWriter, manifest: dict[str, Any], tag: str) -> None:
    blob = w.blob(gojson.marshal(manifest))
    w.tag(Written(blob.digest, blob.size, mf.OCI_MANIFEST), tag)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A layout with ``art`` (an artifact: empty config, a JSON layer),
    ``cosign`` (an image config with a cosign signature layer), ``mixed`` (an
    uncompressed tar layer and a JSON one), and ``enc`` (the sample image
    encrypted by the reference skopeo)."""
    oracle = reference_skopeo()
    root = tmp_path_factory.mktemp("untouchable")
    layout = root / "src"
    w = OCILayoutWriter(str(layout))
    thing = w.blob(b'{"hello": "artifact"}\n')
    empty = w.blob(b"{}")
    _put(w, {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
             "config": {"mediaType": EMPTY_CONFIG, "digest": empty.digest, "size": empty.size},
             "layers": [{"mediaType": THING, "digest": thing.digest, "size": thing.size}]}, "art")
    sig = w.blob(b'{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha256:aa"},'
                 b'"type":"cosign container image signature"},"optional":null}')
    cfg = w.blob(gojson.marshal({"architecture": "amd64", "os": "linux", "config": {},
                                 "rootfs": {"type": "layers", "diff_ids": [sig.digest]}}))
    _put(w, {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
             "config": {"mediaType": mf.OCI_CONFIG, "digest": cfg.digest, "size": cfg.size},
             "layers": [{"mediaType": COSIGN, "digest": sig.digest, "size": sig.size,
                         "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ"}}]}, "cosign")
    tar = w.blob(random_layer_tar(5))
    cfg2 = w.blob(gojson.marshal({"architecture": "amd64", "os": "linux", "config": {},
                                  "rootfs": {"type": "layers", "diff_ids": [tar.digest, thing.digest]}}))
    _put(w, {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
             "config": {"mediaType": mf.OCI_CONFIG, "digest": cfg2.digest, "size": cfg2.size},
             "layers": [{"mediaType": mf.OCI_LAYER, "digest": tar.digest, "size": tar.size},
                        {"mediaType": THING, "digest": thing.digest, "size": thing.size}]}, "mixed")
    key = root / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(root / "pub.pem")], check=True,
                   capture_output=True)
    policy = root / "policy.json"
    policy.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    subprocess.run([oracle, "--policy", str(policy), "copy", "-q", "--encryption-key", f"jwe:{root / 'pub.pem'}",
                    f"oci:{SAMPLE_LAYOUT}:hello", f"oci:{layout}:enc"], check=True, capture_output=True)
    return layout


def _oci_manifest(layout: Path, tag: str) -> bytes:
    index = json.loads((layout / "index.json").read_bytes())
    [entry] = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    return (layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes()


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def _untouched(layout: Path, manifest: bytes, sources: Path, tag: str) -> None:
    """Every layer of *manifest* that is not a tar layer is the source's, byte for byte."""
    src = json.loads(_oci_manifest(sources, tag))
    out = json.loads(manifest)
    for s, o in zip(src["layers"], out["layers"], strict=True):
        if s["mediaType"] in (THING, COSIGN) or s["mediaType"].endswith("+encrypted"):
            assert o == s
            data = _blob(layout, o["digest"])
            assert hashlib.sha256(data).hexdigest() == s["digest"].split(":")[1]
            assert data == _blob(sources, s["digest"])


@pytest.mark.parametrize("tag", ["art", "cosign", "enc"])
@pytest.mark.parametrize("flags", [
    [], ["--dest-compress-format", "zstd"], ["--dest-compress-format", "gzip"], ["--format", "oci"],
    ["--dest-oci-accept-uncompressed-layers"],
])
def test_to_oci_as_the_reference(tag: str, flags: list[str], sources: Path, tmp_path: Path, run_skopeo: Runner,
                                 oracle: Runner) -> None:
    run_skopeo("copy", "-q", *flags, f"oci:{sources}:{tag}", f"oci:{tmp_path / 'ours'}:x", check=True)
    oracle("copy", "-q", *flags, f"oci:{sources}:{tag}", f"oci:{tmp_path / 'theirs'}:x", check=True)
    ours = _oci_manifest(tmp_path / "ours", "x")
    assert ours == _oci_manifest(tmp_path / "theirs", "x") == _oci_manifest(sources, tag)
    _untouched(tmp_path / "ours", ours, sources, tag)


@pytest.mark.parametrize("tag", ["art", "cosign", "enc"])
@pytest.mark.parametrize("fmt", ["zstd", "zstd:chunked", "gzip"])
def test_forced_compression_formats_leave_them_alone(tag: str, fmt: str, sources: Path, tmp_path: Path,
                                                     run_skopeo: Runner) -> None:
    """--dest-force-compress-format is upstream main's (1.9.3 lacks it): main,
    too, copies these manifests unchanged."""
    run_skopeo("copy", "-q", "--dest-compress-format", fmt, "--dest-force-compress-format", f"oci:{sources}:{tag}",
               f"oci:{tmp_path / 'ours'}:x", check=True)
    ours = _oci_manifest(tmp_path / "ours", "x")
    assert ours == _oci_manifest(sources, tag)
    _untouched(tmp_path / "ours", ours, sources, tag)


def test_mixed_image_compresses_only_its_tar_layer(sources: Path, tmp_path: Path, run_skopeo: Runner,
                                                   oracle: Runner) -> None:
    run_skopeo("copy", "-q", f"oci:{sources}:mixed", f"oci:{tmp_path / 'ours'}:x", check=True)
    oracle("copy", "-q", f"oci:{sources}:mixed", f"oci:{tmp_path / 'theirs'}:x", check=True)
    ours = json.loads(_oci_manifest(tmp_path / "ours", "x"))
    theirs = json.loads(_oci_manifest(tmp_path / "theirs", "x"))
    # The gzip streams differ (another compressor); everything else is the reference's.
    assert [lay["mediaType"] for lay in ours["layers"]] == [lay["mediaType"] for lay in theirs["layers"]] == [
        mf.OCI_LAYER_GZIP, THING]
    assert ours["layers"][1] == theirs["layers"][1]
    _untouched(tmp_path / "ours", _oci_manifest(tmp_path / "ours", "x"), sources, "mixed")


@pytest.mark.parametrize("tag", ["art", "cosign", "enc"])
@pytest.mark.parametrize("flags", [[], ["--dest-compress"], ["--dest-decompress"]])
def test_to_dir_as_the_reference(tag: str, flags: list[str], sources: Path, tmp_path: Path, run_skopeo: Runner,
                                 oracle: Runner) -> None:
    run_skopeo("copy", "-q", *flags, f"oci:{sources}:{tag}", f"dir:{tmp_path / 'ours'}", check=True)
    oracle("copy", "-q", *flags, f"oci:{sources}:{tag}", f"dir:{tmp_path / 'theirs'}", check=True)
    ours = (tmp_path / "ours" / "manifest.json").read_bytes()
    assert ours == (tmp_path / "theirs" / "manifest.json").read_bytes() == _oci_manifest(sources, tag)
    assert sorted(os.listdir(tmp_path / "ours")) == sorted(os.listdir(tmp_path / "theirs"))
    for name in os.listdir(tmp_path / "ours"):
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "theirs" / name).read_bytes()


@pytest.mark.slow
def test_through_a_registry(sources: Path, tmp_path: Path, registry, run_skopeo: Runner, oracle: Runner) -> None:  # type: ignore[no-untyped-def]
    for tag in ("art", "cosign", "enc"):
        run_skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{sources}:{tag}",
                   f"docker://{registry.host}/ours:{tag}", check=True)
        oracle("copy", "-q", "--dest-tls-verify=false", f"oci:{sources}:{tag}",
               f"docker://{registry.host}/theirs:{tag}", check=True)
        ours = run_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/ours:{tag}",
                          check=True).stdout.encode()
        theirs = run_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/theirs:{tag}",
                            check=True).stdout.encode()
        assert ours == theirs == _oci_manifest(sources, tag)
        # And back: the blobs the registry holds are the source's.
        back = tmp_path / f"back-{tag}"
        run_skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/ours:{tag}", f"oci:{back}:x",
                   check=True)
        assert _oci_manifest(back, "x") == _oci_manifest(sources, tag)
        _untouched(back, _oci_manifest(back, "x"), sources, tag)


# Upstream main's texts (1.9.3 names an artifact's config type instead of its
# artifactType, and lets encrypted layers reach the conversion).
REFUSALS = [
    ("art", ["--format", "v2s2"],
     f'creating an updated image manifest: unsupported image-specific operation on artifact with type "{ARTIFACT_TYPE}"'),
    ("art", ["--format", "v2s1"],
     f'creating an updated image manifest: unsupported image-specific operation on artifact with type "{ARTIFACT_TYPE}"'),
    ("cosign", ["--format", "v2s2"], f'creating an updated image manifest: Unknown media type during manifest conversion: "{COSIGN}"'),
    ("cosign", ["--format", "v2s1"], f'creating an updated image manifest: Unknown media type during manifest conversion: "{COSIGN}"'),
    ("mixed", ["--format", "v2s2"], f'creating an updated image manifest: Unknown media type during manifest conversion: "{THING}"'),
    ("enc", ["--format", "v2s2"],
     f"encryption required together with format {mf.DOCKER_V2S2}, which does not support encryption"),
    ("enc", ["--format", "v2s1"],
     f"encryption required together with format {mf.DOCKER_V2S1_SIGNED}, which does not support encryption"),
]


@pytest.mark.parametrize(("tag", "flags", "message"), REFUSALS)
def test_conversions_that_cannot_carry_them_are_refused(tag: str, flags: list[str], message: str, sources: Path,
                                                        tmp_path: Path, run_skopeo: Runner) -> None:
    proc = run_skopeo("copy", *flags, f"oci:{sources}:{tag}", f"oci:{tmp_path / 'out'}:x")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == message
    assert not (tmp_path / "out" / "index.json").exists() or "x" not in (tmp_path / "out" / "index.json").read_text()
    if (upstream := find_upstream_main()) is not None:  # upstream main, where built (never in CI)
        main = subprocess.run([upstream, "--policy", str(tmp_path / "policy.json"), "copy", *flags,
                               f"oci:{sources}:{tag}", f"oci:{tmp_path / 'main'}:x"], capture_output=True, text=True)
        assert fatal_message(main.stderr) == message


@pytest.mark.parametrize(("tag", "message"), [
    ("art", f'creating an updated image manifest: unsupported image-specific operation on artifact with type "{ARTIFACT_TYPE}"'),
    ("cosign", f'creating an updated image manifest: Unknown media type during manifest conversion: "{COSIGN}"'),
    ("enc", f"encryption required but the destination only supports MIME types [{mf.DOCKER_V2S2}], none of which "
            "support encryption"),
])
def test_docker_archive_refuses_them(tag: str, message: str, sources: Path, tmp_path: Path, run_skopeo: Runner) -> None:
    proc = run_skopeo("copy", f"oci:{sources}:{tag}", f"docker-archive:{tmp_path / 'out.tar'}")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == message
    assert not (tmp_path / "out.tar").exists()
