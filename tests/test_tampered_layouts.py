"""Tampered layouts are refused: a manifest blob that does not hash to the
digest index.json gives for it, or whose size differs from the descriptor's,
whether read by inspect, inspect --raw or copy, as oci: or packed as
oci-archive:. (Upstream 1.9.3 and main read such a manifest as valid.)"""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import make_image, make_multiarch

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _index(layout: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((layout / "index.json").read_text())  # type: ignore[no-any-return]


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def _swap_manifest(layout: Path, digest: str) -> None:
    """Rewrite the manifest blob *digest* with other valid JSON of the same size."""
    path = _blob(layout, digest)
    data = json.loads(path.read_bytes())
    data["annotations"] = {"x": ""}
    new = json.dumps(data, separators=(",", ":")).encode()
    original = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(new[: len(original)] if len(new) >= len(original) else new + b" " * (len(original) - len(new)))


def _pack(layout: Path, archive: Path) -> None:
    with tarfile.open(archive, "w") as tar:
        for item in sorted(layout.rglob("*")):
            tar.add(item, arcname=str(item.relative_to(layout)), recursive=False)


@pytest.fixture(params=["oci", "oci-archive"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _name(kind: str, layout: Path, tmp_path: Path, tag: str) -> str:
    if kind == "oci":
        return f"oci:{layout}:{tag}"
    archive = tmp_path / "image.tar"
    _pack(layout, archive)
    return f"oci-archive:{archive}:{tag}"


def test_manifest_not_matching_its_digest(kind: str, tmp_path: Path, run_skopeo: Runner) -> None:
    layout = tmp_path / "l"
    written = make_image(str(layout), "v1", seed=3)
    _swap_manifest(layout, written.digest)
    name = _name(kind, layout, tmp_path, "v1")
    expected = f"Manifest does not match provided manifest digest {written.digest}"
    inspect = run_skopeo("inspect", name)
    assert inspect.returncode == 1
    assert fatal_message(inspect.stderr).endswith(expected)
    assert inspect.stdout == ""
    raw = run_skopeo("inspect", "--raw", name)
    assert raw.returncode == 1 and fatal_message(raw.stderr).endswith(expected)
    assert raw.stdout == ""
    out = tmp_path / "out"
    copy = run_skopeo("copy", name, f"dir:{out}")
    assert copy.returncode == 1
    assert fatal_message(copy.stderr) == f"determining manifest MIME type for {name}: {expected}"
    assert not (out / "manifest.json").exists()


def test_descriptor_size_differs(kind: str, tmp_path: Path, run_skopeo: Runner) -> None:
    layout = tmp_path / "l"
    written = make_image(str(layout), "v1", seed=4)
    index = _index(layout)
    index["manifests"][0]["size"] += 1
    (layout / "index.json").write_text(json.dumps(index))
    name = _name(kind, layout, tmp_path, "v1")
    proc = run_skopeo("inspect", "--raw", name)
    assert proc.returncode == 1
    size = _blob(layout, written.digest).stat().st_size
    assert fatal_message(proc.stderr).endswith(f"Manifest {written.digest} has {size} bytes, its descriptor says {size + 1}")


def test_list_instance_not_matching_its_digest(kind: str, tmp_path: Path, run_skopeo: Runner) -> None:
    """An instance of an index is checked against the index's descriptor by the copy engine."""
    layout = tmp_path / "l"
    make_multiarch(str(layout), "multi")
    index_digest = _index(layout)["manifests"][0]["digest"]
    instances = json.loads(_blob(layout, index_digest).read_bytes())["manifests"]
    victim = instances[1]["digest"]
    _swap_manifest(layout, victim)
    name = _name(kind, layout, tmp_path, "multi")
    out = tmp_path / "out"
    proc = run_skopeo("copy", "--all", name, f"oci:{out}:m")
    assert proc.returncode == 1
    assert victim in fatal_message(proc.stderr)
    assert not (out / "index.json").exists() or "m" not in (out / "index.json").read_text()
    # The untouched layout copies fine: the check is not what fails.
    clean = tmp_path / "clean"
    make_multiarch(str(clean), "multi")
    assert run_skopeo("copy", "--all", f"oci:{clean}:multi", f"oci:{tmp_path}/o2:m").returncode == 0
