"""ostree: written and read back, checked with the ``ostree`` command (refs,
commit metadata, the files of each layer commit against the layer tar) and,
for the tar-split metadata, with Go's own ``tar-split`` tool (the library
upstream's transport used): it rebuilds each layer tar byte for byte from our
metadata and a checkout, and disassembles it into the same entries."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ostree_cli import listing, metadata, ostree, refs, tar_listing
from ostree_layers import gnu_layer, rich_layer

from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError, SkopeoError
from skopeo.testing import images
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.require import require_tool
from skopeo.transport import BlobInfo
from skopeo_ostree import tarsplit
from skopeo_ostree.reference import OstreeTransport, UnavailableOstreeTransport, encode_ref

Run = Callable[..., subprocess.CompletedProcess[str]]
NAME = "example.com/ns/app:v1"
BRANCH = "ociimage/example.com_2Fns_2Fapp_3Av1"
TAR_SPLIT = shutil.which("tar-split")


def _tar_split() -> str:
    """Go's tar-split tool (dev/setup installs it)."""
    return require_tool("tar-split")


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _image(path: Path, compress: bool, docker: bool = False, **kwargs: object) -> list[bytes]:
    w = images.OCILayoutWriter(str(path))
    tars = [rich_layer(), gnu_layer()]
    w.tag(w.image(tars, compress=compress, docker=docker, **kwargs), "t")  # type: ignore[arg-type]
    return tars


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / _hex(digest)).read_bytes()


def _go_entries(data: bytes) -> list[dict[str, object]]:
    """tar-split entries; Debian's older tar-split ends with an empty segment
    where the current library writes none."""
    entries = [json.loads(line) for line in gzip.decompress(data).splitlines()]
    return [e for e in entries if not (e["type"] == tarsplit.SEGMENT_TYPE and not e["payload"])]


@pytest.mark.slow
def test_layout_checked_with_ostree(repo: Path, tmp_path: Path, run_skopeo: Run) -> None:
    tars = _image(tmp_path / "src", compress=True)
    run_skopeo("copy", "-q", f"oci:{tmp_path}/src:t", f"ostree:{NAME}@{repo}", check=True)
    # The same conversion to schema 2 written to dir:, for the expected manifest.
    run_skopeo("copy", "-q", "--format", "v2s2", f"oci:{tmp_path}/src:t", f"dir:{tmp_path}/v2s2", check=True)
    manifest = (tmp_path / "v2s2" / "manifest.json").read_bytes()
    parsed = mf.parse(manifest)
    assert isinstance(parsed, mf.ImageManifest) and parsed.config is not None
    layer_refs = {f"ociimage/{_hex(la.digest)}" for la in parsed.layers}
    assert refs(repo) == layer_refs | {f"ociimage/{_hex(parsed.config.digest)}", BRANCH}

    # The image commit: manifest, digest, signature count, and its files.
    assert metadata(repo, BRANCH, "docker.manifest").encode() == manifest
    assert metadata(repo, BRANCH, "docker.digest") == _sha(manifest)
    assert metadata(repo, BRANCH, "signatures") == "0"
    assert sorted(listing(repo, BRANCH)) == ["/", "/manifest.json"]
    assert ostree(repo, "cat", BRANCH, "/manifest.json").encode() == manifest
    assert "Parent:  " + "0" * 64 in ostree(repo, "log", BRANCH)

    # The config commit: one file, /content.
    config_ref = f"ociimage/{_hex(parsed.config.digest)}"
    assert ostree(repo, "cat", config_ref, "/content").encode() == (tmp_path / "v2s2" / _hex(parsed.config.digest)).read_bytes()
    assert metadata(repo, config_ref, "docker.size") == str(parsed.config.size)

    for layer, tar in zip(parsed.layers, tars, strict=True):
        ref = f"ociimage/{_hex(layer.digest)}"
        assert metadata(repo, ref, "docker.size") == str(layer.size)
        assert metadata(repo, ref, "docker.uncompressed_digest") == _sha(tar)
        assert metadata(repo, ref, "docker.uncompressed_size") == str(len(tar))
        # Files, owners, modes, xattrs, links as the tar has them.
        expected, contents = tar_listing(tar)
        assert listing(repo, ref) == expected
        checkout = tmp_path / f"co-{_hex(layer.digest)[:12]}"
        ostree(repo, "checkout", "-U", ref, str(checkout))
        for path, data in contents.items():
            assert (checkout / path.lstrip("/")).read_bytes() == data, path
        # The tar-split metadata rebuilds the exact tar with Go's tar-split.
        split = base64.b64decode(metadata(repo, ref, "tarsplit.output"))
        tar_split = _tar_split()
        (tmp_path / "split.json.gz").write_bytes(split)
        subprocess.run([tar_split, "asm", "--input", str(tmp_path / "split.json.gz"), "--path", str(checkout),
                        "--output", str(tmp_path / "rebuilt.tar")], check=True, capture_output=True)
        assert (tmp_path / "rebuilt.tar").read_bytes() == tar
    assert "no errors found" in ostree(repo, "fsck")


@pytest.mark.parametrize("make", [rich_layer, gnu_layer, lambda: gzip.decompress(_sample_layer())], ids=["pax", "gnu", "sample"])
def test_disassembly_equals_go_tar_split(make: Callable[[], bytes], tmp_path: Path) -> None:
    tar_split = _tar_split()
    tar = tmp_path / "layer.tar"
    tar.write_bytes(make())
    subprocess.run([tar_split, "disasm", "--no-stdout", "--output", str(tmp_path / "go.json.gz"), str(tar)],
                   check=True, capture_output=True)
    assert _go_entries(tarsplit.disassemble(str(tar))) == _go_entries((tmp_path / "go.json.gz").read_bytes())


def _sample_layer() -> bytes:
    from samples import HELLO_OCI as SAMPLE_LAYOUT

    blobs = SAMPLE_LAYOUT / "blobs" / "sha256"
    return max(blobs.iterdir(), key=lambda p: p.stat().st_size).read_bytes()


@pytest.mark.slow
def test_reads_back_the_same_image(repo: Path, tmp_path: Path, run_skopeo: Run) -> None:
    tars = _image(tmp_path / "src", compress=True)
    run_skopeo("copy", "-q", f"oci:{tmp_path}/src:t", f"ostree:{NAME}@{repo}", check=True)
    stored = metadata(repo, BRANCH, "docker.manifest").encode()
    parsed = mf.parse(stored)
    assert isinstance(parsed, mf.ImageManifest) and parsed.config is not None
    run_skopeo("copy", "-q", f"ostree:{NAME}@{repo}", f"dir:{tmp_path}/back", check=True)
    back = (tmp_path / "back" / "manifest.json").read_bytes()
    # Layers come back as the tars they were (upstream's LayerInfosForCopy):
    # digest and size uncompressed, media type as stored; config unchanged.
    uncompressed = [la._replace(digest=_sha(t), size=len(t)) for la, t in zip(parsed.layers, tars, strict=True)]
    assert back == parsed.serialize(layers=uncompressed)
    for tar in tars:
        assert (tmp_path / "back" / _hex(_sha(tar))).read_bytes() == tar
    config = (tmp_path / "back" / _hex(parsed.config.digest)).read_bytes()
    assert _sha(config) == parsed.config.digest
    assert json.loads(config)["rootfs"]["diff_ids"] == [_sha(t) for t in tars]
    info = json.loads(run_skopeo("inspect", f"ostree:{NAME}@{repo}", check=True).stdout)
    assert info["Layers"] == [_sha(t) for t in tars]
    assert info["Digest"] == _sha(back)


@pytest.mark.slow
def test_uncompressed_image_round_trips_byte_for_byte(repo: Path, tmp_path: Path, run_skopeo: Run) -> None:
    _image(tmp_path / "src", compress=False, docker=True)
    run_skopeo("copy", "-q", f"oci:{tmp_path}/src:t", f"dir:{tmp_path}/orig", check=True)
    (tmp_path / "orig" / "signature-1").write_bytes(b"\x00example\nsignature bytes")
    run_skopeo("copy", "-q", f"dir:{tmp_path}/orig", f"ostree:plain@{repo}", check=True)
    assert metadata(repo, "ociimage/plain_3Alatest", "signatures") == "1"
    assert ostree(repo, "cat", "ociimage/plain_3Alatest", "/signature-1").encode() == b"\x00example\nsignature bytes"
    run_skopeo("copy", "-q", f"ostree:plain@{repo}", f"dir:{tmp_path}/back", check=True)
    for name in os.listdir(tmp_path / "orig"):
        assert (tmp_path / "back" / name).read_bytes() == (tmp_path / "orig" / name).read_bytes(), name
    images.validate(f"ostree:plain@{repo}")


@pytest.mark.slow
def test_signatures_and_changed_layers(repo: Path, tmp_path: Path, run_skopeo: Run) -> None:
    _image(tmp_path / "src", compress=True, docker=True)
    run_skopeo("copy", "-q", f"oci:{tmp_path}/src:t", f"dir:{tmp_path}/orig", check=True)
    (tmp_path / "orig" / "signature-1").write_bytes(b"\x00example\nsigned")
    run_skopeo("copy", "-q", f"dir:{tmp_path}/orig", f"ostree:signed@{repo}", check=True)
    proc = run_skopeo("copy", f"ostree:signed@{repo}", f"dir:{tmp_path}/back")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).endswith(
        'Copying this image would require changing layer representation, which we cannot do: "Would invalidate signatures"')
    run_skopeo("copy", "-q", "--remove-signatures", f"ostree:signed@{repo}", f"dir:{tmp_path}/back", check=True)


@pytest.mark.slow
def test_layers_reused_and_tags_overwritten(repo: Path, tmp_path: Path, run_skopeo: Run) -> None:
    _image(tmp_path / "src", compress=True)
    run_skopeo("copy", "-q", f"oci:{tmp_path}/src:t", f"ostree:{NAME}@{repo}", check=True)
    stored = mf.parse(metadata(repo, BRANCH, "docker.manifest").encode())
    assert isinstance(stored, mf.ImageManifest) and stored.config is not None
    dest = OstreeTransport().parse_reference(f"{NAME}@{repo}").new_image_destination(SystemContext())
    try:
        for layer in stored.layers:
            assert dest.try_reusing_blob(BlobInfo(layer.digest)) == BlobInfo(layer.digest, layer.size)
        assert dest.try_reusing_blob(BlobInfo(stored.config.digest)) is None  # configs are written again, as upstream
    finally:
        dest.close()
    before = {ref: ostree(repo, "rev-parse", ref).strip() for ref in refs(repo)}
    time.sleep(1.1)  # a commit made again would differ by its time
    run_skopeo("copy", "-q", f"oci:{tmp_path}/src:t", f"ostree:{NAME}@{repo}", check=True)
    after = {ref: ostree(repo, "rev-parse", ref).strip() for ref in refs(repo)}
    assert before.keys() == after.keys()
    assert all(before[f"ociimage/{_hex(la.digest)}"] == after[f"ociimage/{_hex(la.digest)}"] for la in stored.layers)
    assert before[BRANCH] != after[BRANCH]


def test_bad_repositories(tmp_path: Path, repo: Path, run_skopeo: Run, sample_layout: Path) -> None:
    not_a_repo = tmp_path / "empty"
    not_a_repo.mkdir()
    corrupt = tmp_path / "corrupt"
    shutil.copytree(repo, corrupt)
    (corrupt / "config").write_text("this is [not an ostree config\n")
    cases = {
        f"{tmp_path}/missing/repo": f"lstat {tmp_path}/missing: no such file or directory",
        str(not_a_repo): "opendir(objects): No such file or directory",
        str(corrupt): "Couldn't parse config file",
    }
    for path, expected in cases.items():
        for args in (["copy", f"oci:{sample_layout}:hello", f"ostree:busybox@{path}"], ["inspect", f"ostree:busybox@{path}"]):
            proc = run_skopeo(*args)
            assert proc.returncode == 1, proc.stderr
            assert expected in fatal_message(proc.stderr), (args, proc.stderr)
    assert not list(tmp_path.glob("ostree-*")), "temporary files are removed"


def test_missing_image_and_bad_layers(repo: Path, tmp_path: Path, run_skopeo: Run) -> None:
    proc = run_skopeo("inspect", f"ostree:nothere@{repo}")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).endswith("manifest not found")
    # A layer that is not a tar: nothing reaches the repository.
    w = images.OCILayoutWriter(str(tmp_path / "bad"))
    w.tag(w.image([b"this is not a tar archive" * 100], compress=True, docker=True), "t")
    proc = run_skopeo("copy", f"oci:{tmp_path}/bad:t", f"ostree:bad@{repo}")
    assert proc.returncode == 1
    assert "importing layer sha256:" in fatal_message(proc.stderr)
    assert fatal_message(proc.stderr).endswith("archive/tar: invalid tar header")
    assert refs(repo) == set()


def test_lists_and_foreign_os(repo: Path, tmp_path: Path, run_skopeo: Run) -> None:
    images.make_multiarch(str(tmp_path / "multi"), "t")
    proc = run_skopeo("copy", "--all", f"oci:{tmp_path}/multi:t", f"ostree:multi@{repo}")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == (  # upstream's text: the destination declares no list type
        'copying multiple images: destination transport "ostree" does not support copying multiple images as a group')
    w = images.OCILayoutWriter(str(tmp_path / "win"))
    w.tag(w.image([images.random_layer_tar(1)], os_="windows"), "t")
    proc = run_skopeo("copy", f"oci:{tmp_path}/win:t", f"ostree:win@{repo}")
    assert proc.returncode == 1
    assert "windows" in fatal_message(proc.stderr)
    assert refs(repo) == set()


@pytest.mark.parametrize(("image", "encoded"), [
    ("busybox:latest", "busybox_3Alatest"),
    ("example.com:5000/ns/app:v1.2-rc", "example.com_3A5000_2Fns_2Fapp_3Av1.2-rc"),
    ("a_b", "a_5Fb"),
])
def test_ref_encoding(image: str, encoded: str) -> None:
    assert encode_ref(image) == encoded


def test_references(tmp_path: Path) -> None:
    t = OstreeTransport()
    ref = t.parse_reference("busybox")
    assert (ref.image, ref.repo, ref.image_branch) == ("busybox:latest", "/ostree/repo", "ociimage/busybox_3Alatest")
    assert str(ref) == "ostree:busybox:latest@/ostree/repo"
    ref = t.parse_reference(f"example.com/ns/app:v1@{tmp_path}")
    assert ref.policy_configuration_identity() == f"{tmp_path}:example.com/ns/app:v1"
    assert ref.policy_configuration_namespaces() == [
        f"{tmp_path}:example.com/ns/app", f"{tmp_path}:example.com/ns", f"{tmp_path}:example.com"]
    with pytest.raises(InvalidReferenceError, match="contains a colon"):
        (tmp_path / "a:b").mkdir()
        t.parse_reference(f"busybox@{tmp_path}/a:b")
    with pytest.raises(InvalidReferenceError):
        t.parse_reference("UPPER")


@pytest.mark.parametrize(("scope", "error"), [
    ("/repo:busybox", None),
    ("/repo", "Must include a repo"),
    ("repo:busybox", "repository must be an absolute path"),
    ("/repo/../x:busybox", "Uses non-canonical path format, perhaps try with path /x"),
])
def test_policy_scopes(scope: str, error: str | None) -> None:
    if error is None:
        OstreeTransport().validate_policy_configuration_scope(scope)
    else:
        with pytest.raises(InvalidReferenceError, match=error):
            OstreeTransport().validate_policy_configuration_scope(scope)


def test_unavailable_transport_says_what_is_missing() -> None:
    t = UnavailableOstreeTransport("PyGObject is not installed (pip install PyGObject)")
    assert not t.listed
    with pytest.raises(InvalidReferenceError, match="the ostree transport is unavailable: PyGObject is not installed"):
        t.parse_reference("busybox")


def test_tar_split_integrity_and_duplicates(tmp_path: Path) -> None:
    tar = tmp_path / "l.tar"
    tar.write_bytes(rich_layer())
    meta = tarsplit.disassemble(str(tar))

    def opener(content: bytes) -> Callable[[str], object]:
        import io

        return lambda name: io.BytesIO(content)

    with pytest.raises(SkopeoError, match=r'file integrity checksum failed for "\./etc/owned"'):
        b"".join(tarsplit.assemble(meta, opener(b"tampered")))  # type: ignore[arg-type]
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for _ in range(2):
            t.addfile(tarfile.TarInfo("same"), io.BytesIO(b""))
    tar.write_bytes(buf.getvalue())
    with pytest.raises(SkopeoError, match="duplicates of file paths not supported"):
        tarsplit.disassemble(str(tar))


@pytest.mark.parametrize("read_size", [1, 7, 512, 4096, 1 << 20, -1])
def test_chunks_reader(read_size: int) -> None:
    chunks = [b"a" * 3, b"", b"b" * 5000, b"c", b"d" * 70000]
    reader = tarsplit.ChunksReader(iter(chunks))
    got = []
    while data := reader.read(read_size):
        assert read_size < 0 or len(data) <= read_size
        got.append(data)
        if read_size < 0:
            break
    assert b"".join(got) == b"".join(chunks)
    assert reader.read(10) == b""
