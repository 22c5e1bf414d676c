"""Hostile or broken input: a clear error, nothing written outside the layer,
and the store as it was (no layer, image or staging directory left behind)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from storage_helpers import Store
from storage_layers import build_tar, chardev, directory, file, hardlink, rich_layer, symlink, write_image

from skopeo.testing.fixtures import fatal_message


def _snapshot(store: Store) -> dict[str, bytes]:
    """Every file of the store but lock files (their tokens change on any write)."""
    out = {}
    for dirpath, _, filenames in os.walk(store.root):
        for name in filenames:
            p = Path(dirpath) / name
            if name.endswith(".lock") or name.startswith("lock-"):
                continue
            out[str(p.relative_to(store.root))] = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
    return out


def _copy_layers(tmp_path: Path, run_skopeo, store: Store, layers: list[bytes]):  # type: ignore[no-untyped-def]
    layout = tmp_path / "bad"
    write_image(layout, "x", layers)
    return run_skopeo("copy", f"oci:{layout}:x", store.ref("localhost/bad:x"))


@pytest.fixture
def seeded(store: Store, oci_images: Path, run_skopeo) -> Store:  # type: ignore[no-untyped-def]
    """The store with one image already in it."""
    run_skopeo("copy", f"oci:{oci_images}:one", store.ref("localhost/one:v1"), check=True)
    return store


@pytest.mark.parametrize(("entries", "message"), [
    ([file("../../escaped", b"x")], '"../../escaped" is outside of'),
    ([directory("a"), file("a/../../../escaped", b"x")], '"../../escaped" is outside of'),
    ([symlink("up", "../../../.."), file("up/escaped", b"x")], "a symlink on its path points outside of the layer"),
    ([directory("d"), symlink("d/up", "../.."), file("d/up/tmp/escaped", b"x")],
     "a symlink on its path points outside of the layer"),
    ([hardlink("h", "../../../etc/passwd")], "points outside of the layer"),
    ([file("a"), file("./a")], "duplicates of file paths not supported"),
])
def test_hostile_layers_are_refused(tmp_path: Path, seeded: Store, run_skopeo, entries, message: str) -> None:  # type: ignore[no-untyped-def]
    before = _snapshot(seeded)
    proc = _copy_layers(tmp_path, run_skopeo, seeded, [build_tar(rich_layer()), build_tar(entries)])
    assert proc.returncode == 1
    assert message in fatal_message(proc.stderr)
    assert _snapshot(seeded) == before
    assert not list(tmp_path.rglob("escaped"))
    assert not (Path("/etc") / "escaped").exists()


def test_absolute_symlinks_resolve_inside_the_layer(tmp_path: Path, store: Store, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    """A path through an absolute symlink lands inside the layer, as in
    upstream's chroot: ``lib -> /usr/lib`` then ``lib/x`` writes ``usr/lib/x``."""
    proc = _copy_layers(tmp_path, run_skopeo, store,
                        [build_tar([directory("usr"), directory("usr/lib"), symlink("lib", "/usr/lib"),
                                    file("lib/x", b"inside")])])
    assert proc.returncode == 0, proc.stderr
    layers = json.loads((store.root / f"{store.driver}-layers" / "layers.json").read_text())
    base = store.root / ("overlay" if store.driver == "overlay" else "vfs/dir") / layers[0]["id"]
    assert (base / ("diff" if store.driver == "overlay" else "") / "usr/lib/x").read_bytes() == b"inside"


@pytest.mark.requires("root")
def test_device_nodes_as_root(tmp_path: Path, store: Store, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    proc = _copy_layers(tmp_path, run_skopeo, store, [build_tar([directory("dev"), chardev("dev/null", 1, 3)])])
    assert proc.returncode == 0, proc.stderr
    layers = json.loads((store.root / f"{store.driver}-layers" / "layers.json").read_text())
    base = store.root / ("overlay" if store.driver == "overlay" else "vfs/dir") / layers[0]["id"]
    st = (base / ("diff" if store.driver == "overlay" else "") / "dev/null").lstat()
    assert os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


def test_corrupt_layers_json(seeded: Store, run_skopeo, oci_images: Path) -> None:  # type: ignore[no-untyped-def]
    path = seeded.root / f"{seeded.driver}-layers" / "layers.json"
    path.write_text('[{"id": "abc", ')
    before = _snapshot(seeded)
    proc = run_skopeo("copy", f"oci:{oci_images}:three", seeded.ref("localhost/three:v1"))
    assert proc.returncode == 1
    assert f'loading "{path}": unexpected end of JSON input' in fatal_message(proc.stderr)
    assert _snapshot(seeded) == before
    proc = run_skopeo("inspect", seeded.ref("localhost/one:v1"))
    assert proc.returncode == 0, proc.stderr  # images.json and the blobs still answer inspect


def test_missing_layer_files(seeded: Store, run_skopeo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A layer whose files were removed behind the store's back: reading it
    fails with the file named, and the copy leaves nothing."""
    layers = json.loads((seeded.root / f"{seeded.driver}-layers" / "layers.json").read_text())
    base = seeded.root / ("overlay" if seeded.driver == "overlay" else "vfs/dir") / layers[0]["id"]
    victim = next(p for p in base.rglob("file-*") if p.is_file())
    victim.unlink()
    proc = run_skopeo("copy", seeded.ref("localhost/one:v1"), f"dir:{tmp_path}/out")
    assert proc.returncode == 1
    assert "no such file or directory" in fatal_message(proc.stderr)
    assert victim.name in fatal_message(proc.stderr)


def test_missing_layer_record(seeded: Store, run_skopeo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = seeded.root / f"{seeded.driver}-layers" / "layers.json"
    layer_id = json.loads(path.read_text())[0]["id"]
    path.write_text("[]")
    proc = run_skopeo("copy", seeded.ref("localhost/one:v1"), f"dir:{tmp_path}/out")
    assert proc.returncode == 1
    assert f'reading layer "{layer_id}": layer not known' in fatal_message(proc.stderr)


def test_truncated_blob_leaves_nothing(tmp_path: Path, seeded: Store, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    before = _snapshot(seeded)
    layout = tmp_path / "trunc"
    write_image(layout, "x", [build_tar(rich_layer())])
    blobs = sorted((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    big = blobs[-1]
    big.write_bytes(big.read_bytes()[:-100])
    proc = run_skopeo("copy", f"oci:{layout}:x", seeded.ref("localhost/trunc:x"))
    assert proc.returncode == 1
    assert _snapshot(seeded) == before


def test_diff_id_must_match_the_config(tmp_path: Path, seeded: Store, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    layout = tmp_path / "lying"
    write_image(layout, "x", [build_tar([file("a", b"1")])])
    index = json.loads((layout / "index.json").read_text())
    manifest_path = layout / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(manifest_path.read_text())
    config_path = layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]
    config = json.loads(config_path.read_text())
    config["rootfs"]["diff_ids"] = ["sha256:" + "0" * 64]
    import hashlib

    raw = json.dumps(config).encode()
    digest = hashlib.sha256(raw).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(raw)
    manifest["config"].update(digest="sha256:" + digest, size=len(raw))
    raw_m = json.dumps(manifest).encode()
    digest_m = hashlib.sha256(raw_m).hexdigest()
    (layout / "blobs" / "sha256" / digest_m).write_bytes(raw_m)
    index["manifests"][0].update(digest="sha256:" + digest_m, size=len(raw_m))
    (layout / "index.json").write_text(json.dumps(index))
    before = _snapshot(seeded)
    proc = run_skopeo("copy", f"oci:{layout}:x", seeded.ref("localhost/lying:x"))
    assert proc.returncode == 1
    assert "does not match config's DiffID" in fatal_message(proc.stderr)
    assert _snapshot(seeded) == before


def test_tampered_manifest_refused_by_digest(seeded: Store, run_skopeo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A reference by digest is checked against the manifest the store holds
    (the core's generic check, as upstream's UnparsedImage): edited manifest
    files are refused, however the store indexes them."""
    import hashlib

    raw = run_skopeo("inspect", "--raw", seeded.ref("localhost/one:v1"), check=True).stdout.encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    name = seeded.ref(f"localhost/one@{digest}")
    assert run_skopeo("inspect", "--raw", name).returncode == 0
    edited = raw.replace(b'"schemaVersion":2', b'"schemaVersion": 2')
    assert edited != raw
    files = [p for p in seeded.root.glob("*-images/*/*") if p.name == "manifest" or p.name.startswith("=")]
    assert files
    for p in files:
        if p.read_bytes() == raw:
            p.write_bytes(edited)
    mismatch = f"Manifest does not match provided manifest digest {digest}"
    proc = run_skopeo("inspect", name)
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == f"Error retrieving manifest for image: {mismatch}"
    proc = run_skopeo("copy", name, f"dir:{tmp_path / 'out'}")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == f"determining manifest MIME type for {name}: {mismatch}"
    assert not (tmp_path / "out" / "manifest.json").exists()
