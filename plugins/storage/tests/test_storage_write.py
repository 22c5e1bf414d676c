"""Writing into a store: reuse of layers, tags moved between images, delete,
signatures, manifest lists, and a copy running while podman pulls into the same
store."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

from storage_helpers import Store
from storage_layers import build_tar, file, write_image

from skopeo.testing.fixtures import fatal_message, skopeo_command
from skopeo.testing.images import make_multiarch


def _images(store: Store) -> list[dict]:  # type: ignore[type-arg]
    return json.loads((store.root / f"{store.driver}-images" / "images.json").read_text())


def _layers(store: Store) -> list[dict]:  # type: ignore[type-arg]
    return json.loads((store.root / f"{store.driver}-layers" / "layers.json").read_text())


def test_retag_moves_the_name_and_layers_are_reused(store: Store, oci_images: Path, run_skopeo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_skopeo("copy", f"oci:{oci_images}:three", store.ref("localhost/app:v1"), check=True)
    first = _images(store)[0]
    # The same image again: every layer reused (records untouched), one image.
    layers_json = (store.root / f"{store.driver}-layers" / "layers.json").read_bytes()
    run_skopeo("copy", f"oci:{oci_images}:three", store.ref("localhost/app:v1"), check=True)
    assert (store.root / f"{store.driver}-layers" / "layers.json").read_bytes() == layers_json
    assert len(_layers(store)) == 3 and len(_images(store)) == 1
    # Another image under the same name takes the name away from the first one.
    run_skopeo("copy", f"oci:{oci_images}:one", store.ref("localhost/app:v1"), check=True)
    images = {i["id"]: i for i in _images(store)}
    assert images[first["id"]].get("names") is None
    assert images[first["id"]]["names-history"] == ["localhost/app:v1"]
    second = next(i for i in images.values() if i["id"] != first["id"])
    assert second["names"] == ["localhost/app:v1"]
    listed = store.podman("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.split("\n")
    assert f"localhost/app:v1 {second['id'][:12]}" in listed
    assert f"<none>:<none> {first['id'][:12]}" in listed


def test_delete(store: Store, tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    """Delete removes the image and the layers only it used, as upstream."""
    base = build_tar([file("base", b"base")])
    layout = tmp_path / "shared"
    write_image(layout, "a", [base, build_tar([file("a", b"a")])])
    write_image(layout, "b", [base, build_tar([file("b", b"b")])])
    run_skopeo("copy", f"oci:{layout}:a", store.ref("localhost/a:v1"), check=True)
    run_skopeo("copy", f"oci:{layout}:b", store.ref("localhost/b:v1"), check=True)
    assert len(_layers(store)) == 3
    run_skopeo("delete", store.ref("localhost/a:v1"), check=True)
    assert [i["names"] for i in _images(store)] == [["localhost/b:v1"]]
    assert len(_layers(store)) == 2  # the shared base stays
    assert store.podman("image", "exists", "localhost/b:v1", check=False).returncode == 0
    assert store.podman("image", "exists", "localhost/a:v1", check=False).returncode == 1
    proc = run_skopeo("delete", store.ref("localhost/a:v1"))
    assert proc.returncode == 2
    assert "does not resolve to an image ID" in fatal_message(proc.stderr)
    run_skopeo("delete", store.ref("localhost/b:v1"), check=True)
    assert _images(store) == [] and _layers(store) == []
    driver_dir = store.root / store.driver
    leftovers = [p.name for p in (driver_dir / "dir" if store.driver == "vfs" else driver_dir).iterdir()
                 if p.name not in ("l", "tempdirs", ".has-mount-program")]
    assert leftovers == []


def test_delete_refuses_an_image_a_container_uses(store: Store, oci_images: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    run_skopeo("copy", f"oci:{oci_images}:one", store.ref("localhost/one:v1"), check=True)
    cid = store.podman("create", "localhost/one:v1", "/bin/true").stdout.strip()
    proc = run_skopeo("delete", store.ref("localhost/one:v1"))
    assert proc.returncode == 1
    assert f"image used by {cid}: image is in use by a container" in fatal_message(proc.stderr)
    store.podman("rm", cid)


def test_signatures_are_kept(store: Store, oci_images: Path, run_skopeo, reference_skopeo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "signed"
    run_skopeo("copy", f"oci:{oci_images}:one", f"dir:{src}", check=True)
    (src / "signature-1").write_bytes(b"first signature")
    (src / "signature-2").write_bytes(b"second one")
    run_skopeo("copy", f"dir:{src}", store.ref("localhost/signed:v1"), check=True)
    image = _images(store)[0]
    assert json.loads(image["metadata"]) == {
        "signature-sizes": [15, 10],
        "signatures-sizes": {image["digest"]: [15, 10]},
    }
    for tool, out in ((run_skopeo, tmp_path / "ours"), (reference_skopeo, tmp_path / "theirs")):
        proc = tool("copy", "--remove-signatures", store.ref("localhost/signed:v1"), f"dir:{out}")
        assert proc.returncode == 0, proc.stderr
    proc = run_skopeo("copy", store.ref("localhost/signed:v1"), f"dir:{tmp_path}/kept")
    # Serving layers uncompressed changes the manifest, which signatures forbid, as upstream.
    assert proc.returncode == 1
    assert "Would invalidate signatures" in fatal_message(proc.stderr)


def test_manifest_list_instance_and_digest_references(store: Store, tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    layout = tmp_path / "multi"
    listed = make_multiarch(str(layout), "multi")
    run_skopeo("copy", f"oci:{layout}:multi", store.ref("localhost/multi:v1"), check=True)
    image = _images(store)[0]
    assert f"manifest-{listed.digest}" in image["big-data-names"]
    assert image["digest"] == listed.digest  # the first manifest item stored, as upstream
    # The list's digest finds the image, and its manifest is the instance's.
    proc = run_skopeo("inspect", "--raw", store.ref(f"localhost/multi@{listed.digest}"), check=True)
    assert json.loads(proc.stdout)["mediaType"] == "application/vnd.oci.image.index.v1+json"
    proc = run_skopeo("inspect", store.ref(f"localhost/multi@{listed.digest}"), check=True)
    assert json.loads(proc.stdout)["Architecture"] == "amd64"


def test_copy_while_podman_pulls(make_store, registry, reference_skopeo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Ours and podman write into one store at once, sharing a base layer: both
    images complete, every layer once, and the store reads back whole."""
    store = make_store("overlay")
    big = build_tar([file(f"f{i}", bytes([i]) * 200_000) for i in range(40)])
    layout = tmp_path / "race"
    write_image(layout, "ours", [big, build_tar([file("ours", b"1")])])
    write_image(layout, "theirs", [big, build_tar([file("theirs", b"2")])])
    for tag in ("ours", "theirs"):
        reference_skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{registry.host}/race:{tag}")
    for attempt in range(3):
        policy = tmp_path / "policy.json"
        policy.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
        ours = subprocess.Popen([*skopeo_command(), "--policy", str(policy), "copy", "--src-tls-verify=false",
                                 f"docker://{registry.host}/race:ours", store.ref(f"{registry.host}/race:ours")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        result: dict[str, subprocess.CompletedProcess[str]] = {}

        def pull(result: dict[str, subprocess.CompletedProcess[str]] = result) -> None:
            result["podman"] = store.podman("pull", "-q", "--tls-verify=false", f"{registry.host}/race:theirs",
                                            check=False)

        t = threading.Thread(target=pull)
        t.start()
        _, err = ours.communicate(timeout=300)
        t.join(300)
        assert ours.returncode == 0, err
        assert result["podman"].returncode == 0, result["podman"].stderr
        names = sorted(n for i in _images(store) for n in i.get("names") or [])
        assert names == [f"{registry.host}/race:ours", f"{registry.host}/race:theirs"]
        ids = [r["id"] for r in _layers(store)]
        assert len(ids) == len(set(ids)) == 3
        assert not any((r.get("flags") or {}).get("incomplete") for r in _layers(store))
        for tag in ("ours", "theirs"):
            proc = reference_skopeo("inspect", store.ref(f"{registry.host}/race:{tag}"))
            assert json.loads(proc.stdout)["Name"] == f"{registry.host}/race"
            store.podman("image", "inspect", f"{registry.host}/race:{tag}")
        if attempt < 2:
            store.podman("rmi", "-a")
