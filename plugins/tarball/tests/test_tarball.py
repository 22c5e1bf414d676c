"""tarball: compared with the reference skopeo 1.9.3 (and upstream main when it
is built at /tmp/skopeo-main): the same layers byte for byte, the same manifest
and config, and a clear error for every kind of bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from skopeo import api
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.golang import gojson
from skopeo.testing import images
from skopeo.testing.fixtures import fatal_message, skopeo_command
from skopeo.testing.require import find_upstream_main
from skopeo.transport import BlobInfo
from skopeo_tarball.source import build_config, check_tar, layer_media_type
from skopeo_tarball.transport import TarballTransport

Run = Callable[..., subprocess.CompletedProcess[str]]
UPSTREAM_MAIN = find_upstream_main()


def _tar(path: Path, seed: int) -> Path:
    path.write_bytes(images.random_layer_tar(seed, files=4, size=3000))
    return path


def _dir_files(path: Path) -> dict[str, bytes]:
    return {name: (path / name).read_bytes() for name in sorted(os.listdir(path))}


def _normalized_1_9_3(files: dict[str, bytes]) -> dict[str, Any]:
    """1.9.3's dir: output in upstream main's form: main writes the manifest's
    mediaType and leaves out the empty "config": {} of the image config."""
    manifest = json.loads(files["manifest.json"])
    config_name = manifest["config"]["digest"].split(":", 1)[1]
    config = json.loads(files[config_name])
    assert config.pop("config") == {}
    return {"config": config, "layers": manifest["layers"], "has_media_type": "mediaType" in manifest}


@pytest.fixture
def layers(tmp_path: Path) -> list[Path]:
    plain = _tar(tmp_path / "plain.tar", 1)
    gz = tmp_path / "layer.tar.gz"
    gz.write_bytes(images.gzip_bytes(_tar(tmp_path / "g.tar", 2).read_bytes()))
    zst = tmp_path / "layer.tar.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(_tar(tmp_path / "z.tar", 3).read_bytes()))
    return [plain, gz, zst]


@pytest.mark.oracle
@pytest.mark.parametrize("which", [[0], [1], [2], [0, 1], [1, 1]], ids=["plain", "gzip", "zstd", "two", "same-twice"])
def test_copy_matches_reference(which: list[int], layers: list[Path], tmp_path: Path, run_skopeo: Run, oracle: Run) -> None:
    name = "tarball:" + ":".join(str(layers[i]) for i in which)
    run_skopeo("copy", "-q", name, f"dir:{tmp_path}/ours", check=True)
    oracle("copy", "-q", name, f"dir:{tmp_path}/ref", check=True)
    ours, ref = _dir_files(tmp_path / "ours"), _dir_files(tmp_path / "ref")
    # Layers byte for byte: each file is its layer, as given.
    for i in which:
        digest = images._sha(layers[i].read_bytes()).split(":", 1)[1]
        assert ours[digest] == ref[digest] == layers[i].read_bytes()
    manifest = json.loads(ours["manifest.json"])
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    config = json.loads(ours[manifest["config"]["digest"].split(":", 1)[1]])
    normalized = _normalized_1_9_3(ref)
    if 2 in which:
        # 1.9.3 decompresses only gzip: it takes a zstd file for a plain tar
        # (diffID = blob digest, type .tar).  Upstream main, which we follow,
        # decompresses zstd too.
        zstd_digest = images._sha(layers[2].read_bytes())
        assert normalized["config"]["rootfs"]["diff_ids"] == [zstd_digest]
        assert normalized["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
        assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
        assert config["rootfs"]["diff_ids"] == [images._sha(zstandard.ZstdDecompressor().decompress(layers[2].read_bytes()))]
    else:
        assert (config, manifest["layers"]) == (normalized["config"], normalized["layers"])
    assert [h["comment"] for h in config["history"]] == ["imported from tarball"] * len(which)
    images.validate(f"dir:{tmp_path}/ours")
    if UPSTREAM_MAIN is not None:  # byte for byte with upstream main, where it is built
        subprocess.run([UPSTREAM_MAIN, "--policy", str(tmp_path / "policy.json"), "copy", "-q", name, f"dir:{tmp_path}/main"],
                       check=True, capture_output=True)
        assert _dir_files(tmp_path / "main") == ours


@pytest.mark.oracle
def test_inspect_matches_reference(layers: list[Path], run_skopeo: Run, oracle: Run) -> None:
    name = f"tarball:{layers[0]}:{layers[1]}"
    fmt = "{{.Architecture}} {{.Os}} {{.Layers}} {{.Created}}"
    ours = run_skopeo("inspect", "--format", fmt, name, check=True).stdout
    assert ours == oracle("inspect", "--format", fmt, name, check=True).stdout
    assert ours.startswith("amd64 linux ") or not os.uname().machine == "x86_64"
    ours_cfg = json.loads(run_skopeo("inspect", "--config", "--raw", name, check=True).stdout)
    ref_cfg = json.loads(oracle("inspect", "--config", "--raw", name, check=True).stdout)
    ref_cfg.pop("config")
    assert ours_cfg == ref_cfg


def test_stdin_is_a_layer(layers: list[Path], tmp_path: Path, policy_file: Path) -> None:
    data = layers[1].read_bytes()
    argv = [*skopeo_command(), "--policy", str(policy_file), "copy", "-q", f"tarball:-:{layers[0]}", f"dir:{tmp_path}/d"]
    proc = subprocess.run(argv, input=data, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = _dir_files(tmp_path / "d")
    assert files[images._sha(data).split(":", 1)[1]] == data
    manifest = json.loads(files["manifest.json"])
    assert [la["mediaType"] for la in manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar"]
    images.validate(f"dir:{tmp_path}/d")


def test_config_built_like_upstream() -> None:
    config = json.loads(build_config([("sha256:" + "a" * 64, 1_000_000_000), ("sha256:" + "b" * 64, 3_500_000_000)]))
    assert list(config) == ["created", "architecture", "os", "rootfs", "history"]
    assert config["created"] == gojson.time_text(3_500_000_000) == config["history"][1]["created"]
    assert config["history"][0]["created_by"] == f"/bin/sh -c #(nop) ADD file:{'a' * 64} in /"


@pytest.mark.parametrize(("algo", "media_type"), [
    (None, "application/vnd.oci.image.layer.v1.tar"),
    ("gzip", "application/vnd.oci.image.layer.v1.tar+gzip"),
    ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
    ("bzip2", "application/vnd.oci.image.layer.v1.tar+gzip"),  # upstream's historical label
    ("xz", "application/vnd.oci.image.layer.v1.tar+gzip"),
])
def test_layer_media_types(algo: str | None, media_type: str) -> None:
    assert layer_media_type(algo) == media_type


def test_bzip2_layer_diff_id(tmp_path: Path) -> None:
    import bz2

    raw = images.random_layer_tar(7)
    path = tmp_path / "l.tar.bz2"
    path.write_bytes(bz2.compress(raw))
    src = TarballTransport().parse_reference(str(path)).new_image_source(SystemContext())
    config = json.loads(src.get_blob(BlobInfo(src.config_digest))[0].read())
    assert config["rootfs"]["diff_ids"] == [images._sha(raw)]


def test_check_tar_accepts_empty_and_end_blocks() -> None:
    check_tar(io.BytesIO(b""))
    check_tar(io.BytesIO(b"\0" * 1024))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.addfile(tarfile.TarInfo("x"), io.BytesIO(b""))
    check_tar(io.BytesIO(buf.getvalue() + b"trailing bytes after the end blocks"))


@pytest.mark.parametrize(("content", "reason"), [
    (b"hello, not a tar\n", "not a tar archive: unexpected EOF"),
    (b"x" * 2000, "not a tar archive: archive/tar: invalid tar header"),
    (images.random_layer_tar(1)[:700], "not a tar archive: unexpected EOF"),
    (images.gzip_bytes(b"text in gzip, not a tar\n" * 40), "not a tar archive: archive/tar: invalid tar header"),
    (images.gzip_bytes(images.random_layer_tar(1))[:300], "unexpected EOF"),
], ids=["short-text", "long-text", "truncated-tar", "gzip-text", "truncated-gzip"])
def test_bad_files(content: bytes, reason: str, tmp_path: Path, run_skopeo: Run) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    proc = run_skopeo("copy", f"tarball:{path}", f"dir:{tmp_path}/d")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == f'initializing source tarball:{path}: error reading "{path}": {reason}'


@pytest.mark.oracle
def test_reference_errors_match(tmp_path: Path, layers: list[Path], run_skopeo: Run, oracle: Run) -> None:
    for args in (["inspect", "tarball:missing"], ["inspect", f"tarball:{layers[0]}:"],
                 ["copy", f"dir:{tmp_path}", f"tarball:{layers[0]}"], ["copy", f"tarball:{layers[0]}", "tarball:nothing"]):
        ours, ref = run_skopeo(*args), oracle(*args)
        assert (ours.returncode, fatal_message(ours.stderr)) == (ref.returncode, fatal_message(ref.stderr)), args


def test_destination_refused(layers: list[Path], tmp_path: Path, run_skopeo: Run) -> None:
    images.make_image(str(tmp_path / "oci"), "t")
    proc = run_skopeo("copy", f"oci:{tmp_path}/oci:t", f"tarball:{layers[0]}")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == (
        f'initializing destination tarball:{layers[0]}: "tarball:" locations can only be read from, not written to')


def test_delete_removes_the_files(layers: list[Path], run_skopeo: Run) -> None:
    run_skopeo("delete", f"tarball:{layers[0]}:{layers[1]}", check=True)
    assert not layers[0].exists() and not layers[1].exists() and layers[2].exists()


def test_policy_scopes_and_lists(layers: list[Path]) -> None:
    transport = TarballTransport()
    with pytest.raises(SkopeoError, match='does not support any scopes except the default "" one'):
        transport.validate_policy_configuration_scope("/x")
    ref = transport.parse_reference(str(layers[0]))
    assert (ref.policy_configuration_identity(), ref.policy_configuration_namespaces()) == ("", [])
    src = ref.new_image_source(SystemContext())
    with pytest.raises(SkopeoError, match='manifest lists are not supported by the "tarball" transport'):
        src.get_manifest("sha256:" + "0" * 64)
    with pytest.raises(SkopeoError, match="no blob with digest"):
        src.get_blob(BlobInfo("sha256:" + "0" * 64))


def test_api_inspect(layers: list[Path]) -> None:
    info = api.inspect(f"tarball:{layers[2]}")
    assert info["Layers"] == [images._sha(layers[2].read_bytes())]


@pytest.mark.parametrize(("compress", "where", "reason"), [
    (images.gzip_bytes, 30, "flate: corrupt input"),
    (lambda d: __import__("bz2").compress(d), 0.5, "bzip2: corrupt input ("),
    (lambda d: __import__("lzma").compress(d), 0.5, "xz: corrupt input ("),
], ids=["gzip", "bzip2", "xz"])
def test_corrupt_compressed_files(compress: Callable[[bytes], bytes], where: float, reason: str, tmp_path: Path,
                                  run_skopeo: Run) -> None:
    data = bytearray(compress(images.random_layer_tar(3)))
    at = int(where * len(data)) if where < 1 else int(where)
    data[at:at + 32] = b"\xff" * 32
    path = tmp_path / "corrupt"
    path.write_bytes(bytes(data))
    proc = run_skopeo("copy", f"tarball:{path}", f"dir:{tmp_path}/d")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).startswith(f'initializing source tarball:{path}: error reading "{path}": {reason}')


@pytest.mark.parametrize("fmt", ["gnu", "oldgnu", "posix", "ustar", "v7"])
def test_stream_check_accepts_gnu_tar_formats(fmt: str, tmp_path: Path) -> None:
    """GNU tar's formats (sparse files, long names, pax records) pass the
    stream walker, compressed, with the right diffID."""
    import gzip as gzip_mod

    from skopeo_tarball.source import scan_layer

    root = tmp_path / "root"
    (root / "dir").mkdir(parents=True)
    (root / "dir" / "file").write_bytes(b"content\n" * 1000)
    gnu_features = fmt in ("gnu", "oldgnu", "posix")  # sparse files, names over 100 bytes
    if gnu_features:
        (root / ("long-" * 30)).write_text("long name\n")
    with open(root / "sparse", "wb") as f:
        f.seek(5 << 20)
        f.write(b"end of a sparse file")
    os.symlink("dir/file", root / "link")
    tar = tmp_path / "layer.tar"
    subprocess.run(["tar", f"--format={fmt}", *(["--sparse"] if gnu_features else []), "-C", str(root), "-cf", str(tar), "."],
                   check=True)
    raw = tar.read_bytes()
    assert scan_layer(io.BytesIO(gzip_mod.compress(raw)))[1] == images._sha(raw)
    check_tar(io.BytesIO(raw))
