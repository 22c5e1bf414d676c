"""copy flags that change what reaches a registry, through the command line:
--dest-precompute-digests, --dest-force-compress-format, --preserve-digests and
the platform overrides, with the reference skopeo reading the results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from skopeo import manifest as mf
from skopeo.testing.images import make_multiarch, validate
from skopeo.testing.registry import Registry

from .conftest import Runner, fatal_message


def _blob_uploads(requests: list[tuple[str, str, object]]) -> list[str]:
    return [f"{m} {t}" for m, t, _ in requests if "/blobs/uploads/" in t]


def _layer_types(skopeo: Runner, ref: str) -> list[str]:
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", ref, check=True).stdout)
    return [layer["mediaType"] for layer in raw["layers"]]


@pytest.mark.oracle
def test_dest_precompute_digests_skips_layers_the_registry_has(
    skopeo: Runner, reference_skopeo: Runner, registry: Registry, oci_image: str, faulty_proxy
) -> None:
    """A recompressed layer's digest is unknown until it is written: without the
    flag it is uploaded again; with it, it is computed first and found."""
    proxy = faulty_proxy(registry.port, "none")
    base = f"docker://{proxy.host}/pre/app"
    zstd = ("--dest-tls-verify=false", "--dest-compress-format", "zstd")
    skopeo("copy", *zstd, oci_image, f"{base}:v1", check=True)
    layers = json.loads(skopeo("inspect", "--tls-verify=false", f"{base}:v1", check=True).stdout)["Layers"]
    assert _layer_types(skopeo, f"{base}:v1") == [mf.OCI_LAYER_ZSTD] * 2

    seen = len(proxy.requests)
    skopeo("copy", *zstd, "--dest-precompute-digests", oci_image, f"{base}:v2", check=True)
    assert _blob_uploads(proxy.requests[seen:]) == []
    heads = [t for m, t, _ in proxy.requests[seen:] if m == "HEAD" and "/blobs/" in t]
    assert all(any(t.endswith(digest) for t in heads) for digest in layers), heads

    seen = len(proxy.requests)
    skopeo("copy", *zstd, oci_image, f"{base}:v3", check=True)
    assert sum(1 for r in _blob_uploads(proxy.requests[seen:]) if r.startswith("POST")) == len(layers)

    theirs = json.loads(reference_skopeo("inspect", "--tls-verify=false", f"{base}:v2", check=True).stdout)
    assert theirs["Layers"] == layers


def test_dest_precompute_digests_spools_only_for_a_registry(skopeo: Runner, registry: Registry, oci_image: str,
                                                          tmp_path: Path) -> None:
    """The flag spools a changed layer (in --tmpdir) only for a registry, as
    upstream's DockerRegistryPushPrecomputeDigests: with an unusable --tmpdir
    the push fails with main's text (one line, no traceback) and nothing is
    committed, while a copy to dir: ignores the flag and succeeds."""
    flags = ("--dest-precompute-digests", "--dest-compress-format", "zstd", "--dest-force-compress-format")
    missing = tmp_path / "missing"
    proc = skopeo("--tmpdir", str(missing), "copy", "--dest-tls-verify=false", *flags, oci_image,
                  f"docker://{registry.host}/pre/tmp:v1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    msg = fatal_message(proc.stderr)
    assert re.fullmatch(rf"writing blob: creating temporary on-disk layer: open {re.escape(str(missing))}/"
                        r"container_images_stream-blob\S+: no such file or directory", msg), msg
    gone = skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/pre/tmp:v1")
    assert gone.returncode == 2, gone.stderr
    skopeo("--tmpdir", str(missing), "copy", *flags, oci_image, f"dir:{tmp_path / 'out'}", check=True)
    assert validate(f"dir:{tmp_path / 'out'}")


def test_dir_only_flags_are_ignored_with_a_warning(skopeo: Runner, registry: Registry, oci_image: str) -> None:
    dest = f"docker://{registry.host}/warn/app:v1"
    proc = skopeo("copy", "--dest-tls-verify=false", "--dest-decompress", oci_image, dest, check=True)
    assert "--dest-decompress can only be used if the destination transport is 'dir'" in proc.stderr
    assert _layer_types(skopeo, dest) == [mf.OCI_LAYER_GZIP] * 2
    proc = skopeo("copy", "--dest-tls-verify=false", "--dest-compress", oci_image, dest, check=True)
    assert "--dest-compress can only be used if the destination transport is 'dir'" in proc.stderr


@pytest.mark.oracle
def test_dest_force_compress_format(skopeo: Runner, reference_skopeo: Runner, registry: Registry, oci_image: str,
                                    tmp_path: Path) -> None:
    dest = f"docker://{registry.host}/force/app:zstd"
    skopeo("copy", "--dest-tls-verify=false", "--dest-compress-format", "zstd", "--dest-force-compress-format",
           oci_image, dest, check=True)
    assert _layer_types(skopeo, dest) == [mf.OCI_LAYER_ZSTD] * 2
    # The reference decompresses our zstd layers and checks their diff_ids.
    reference_skopeo("copy", "--src-tls-verify=false", "--dest-decompress", dest, f"dir:{tmp_path}/plain", check=True)
    assert len(validate(f"dir:{tmp_path}/plain")) == 2  # both layers' digests and diff_ids

    # A destination that keeps layers as they are (dir:) recompresses only when forced.
    skopeo("copy", "--dest-compress-format", "zstd", oci_image, f"dir:{tmp_path}/kept", check=True)
    skopeo("copy", "--dest-compress-format", "zstd", "--dest-force-compress-format", oci_image,
           f"dir:{tmp_path}/forced", check=True)
    kept = json.loads((tmp_path / "kept" / "manifest.json").read_text())
    forced = json.loads((tmp_path / "forced" / "manifest.json").read_text())
    assert {layer["mediaType"] for layer in kept["layers"]} == {mf.OCI_LAYER_GZIP}
    assert {layer["mediaType"] for layer in forced["layers"]} == {mf.OCI_LAYER_ZSTD}

    proc = skopeo("copy", "--dest-force-compress-format", oci_image, f"dir:{tmp_path}/bad")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == "cannot use ForceCompressionFormat with undefined default compression format"


@pytest.mark.oracle
def test_preserve_digests_to_a_registry(skopeo: Runner, reference_skopeo: Runner, registry: Registry,
                                        oci_image: str) -> None:
    """--preserve-digests keeps the manifest byte for byte even when the flags ask
    for changes (as upstream, conversions are then not made)."""
    src_raw = skopeo("inspect", "--raw", oci_image, check=True).stdout
    for flags, tag in ((["--dest-decompress"], "a"), (["--format", "v2s2"], "b")):
        dest = f"docker://{registry.host}/keep/app:{tag}"
        ours = skopeo("copy", "--dest-tls-verify=false", "--preserve-digests", *flags, oci_image, dest)
        theirs = reference_skopeo("copy", "--dest-tls-verify=false", "--preserve-digests", *flags, oci_image,
                                  f"docker://{registry.host}/keep/ref:{tag}")
        assert ours.returncode == theirs.returncode
        if ours.returncode == 0:
            assert skopeo("inspect", "--raw", "--tls-verify=false", dest, check=True).stdout == src_raw
        else:
            assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)


@pytest.mark.oracle
def test_platform_overrides_choose_the_instance(skopeo: Runner, reference_skopeo: Runner, registry: Registry,
                                                tmp_path: Path) -> None:
    layout = tmp_path / "multi"
    make_multiarch(str(layout), "latest")
    src = f"docker://{registry.host}/plat/app:latest"
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:latest", src, check=True)
    cases = [
        ("--override-arch", "arm64", "--override-variant", "v8"),
        ("--override-arch", "ppc64le", "--override-os", "linux"),
        ("--override-arch", "arm64", "--override-variant", "v7"),
        ("--override-os", "windows"),
    ]
    for i, flags in enumerate(cases):
        ours = skopeo(*flags, "copy", "--src-tls-verify=false", src, f"dir:{tmp_path}/ours{i}")
        theirs = reference_skopeo(*flags, "copy", "--src-tls-verify=false", src, f"dir:{tmp_path}/theirs{i}")
        assert ours.returncode == theirs.returncode, (flags, ours.stderr, theirs.stderr)
        if ours.returncode == 0:
            assert (tmp_path / f"ours{i}" / "manifest.json").read_bytes() == \
                (tmp_path / f"theirs{i}" / "manifest.json").read_bytes(), flags
        else:  # upstream main's wording (1.9.3 does not quote the architecture and OS)
            wanted = dict(zip(flags[::2], flags[1::2], strict=True))
            assert fatal_message(ours.stderr) == (
                f"choosing an image from manifest list {src}: no image found in image index for architecture "
                f'"{wanted.get("--override-arch", "amd64")}", variant "{wanted.get("--override-variant", "")}", '
                f'OS "{wanted.get("--override-os", "linux")}"'
            ), flags


@pytest.mark.oracle
def test_index_only_tries_each_list_type(skopeo: Runner, reference_skopeo: Runner, registry: Registry,
                                         tmp_path: Path) -> None:
    """--multi-arch index-only into a repository that lacks the instances: the
    registry refuses the list; as upstream, the other list type is tried too and
    the error names both."""
    layout = tmp_path / "multi"
    make_multiarch(str(layout), "latest")
    src = f"docker://{registry.host}/idx/app:latest"
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:latest", src, check=True)
    args = ("copy", "--multi-arch", "index-only", "--src-tls-verify=false", "--dest-tls-verify=false", src)
    ours = skopeo(*args, f"docker://{registry.host}/idx/ours:t")
    theirs = reference_skopeo(*args, f"docker://{registry.host}/idx/theirs:t")
    assert ours.returncode == theirs.returncode == 1
    msg = fatal_message(ours.stderr)
    assert msg.startswith("Uploading manifest list failed, attempted the following formats: "
                          f"{mf.OCI_INDEX}(uploading manifest t to {registry.host}/idx/ours: "), msg
    assert f", {mf.DOCKER_LIST}(uploading manifest t to " in msg
    assert fatal_message(theirs.stderr).startswith(
        f"Uploading manifest list failed, attempted the following formats: {mf.OCI_INDEX}(")
