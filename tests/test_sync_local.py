"""sync between local transports (registry cases live with the docker plugin's tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skopeo.semver import Constraint, parse_version
from skopeo.sync import destination_name
from skopeo.testing import images
from skopeo.testing.fixtures import fatal_message


@pytest.fixture
def dir_tree(tmp_path: Path, run_skopeo) -> Path:  # type: ignore[no-untyped-def]
    layout = tmp_path / "layout"
    for i, tag in enumerate(("one", "two", "three")):
        images.make_image(str(layout), tag, seed=i + 1, layers=1)
    tree = tmp_path / "tree"
    (tree / "team" / "app").mkdir(parents=True)  # dir: never creates parent directories
    run_skopeo("copy", f"oci:{layout}:one", f"dir:{tree}/team/app:one", check=True)
    run_skopeo("copy", f"oci:{layout}:two", f"dir:{tree}/team/app:two", check=True)
    run_skopeo("copy", f"oci:{layout}:three", f"dir:{tree}/base", check=True)
    return tree


def test_dir_to_oci_layout_and_rerun_skips(tmp_path: Path, dir_tree: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "mirror"
    proc = run_skopeo("sync", "--src", "dir", "--dest", "oci", "--scoped", "--digestfile", f"{tmp_path}/digests", str(dir_tree), str(dest), check=True)
    assert "Synced 3 images from 1 sources" in proc.stderr
    index = json.loads((dest / "index.json").read_text())
    names = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])
    assert names == ["base", "team/app:one", "team/app:two"]
    for name in names:
        images.validate(f"oci:{dest}:{name}")
        oracle("inspect", f"oci:{dest}:{name}", check=True)
    lines = (tmp_path / "digests").read_text().splitlines()
    assert len(lines) == 3 and all(line.startswith("sha256:") and f" oci:{dest}:" in line for line in lines)
    again = run_skopeo("sync", "--src", "dir", "--dest", "oci", "--scoped", str(dir_tree), str(dest), check=True)
    assert again.stdout.count("Skipping: image already present at destination") == 3
    assert "0 copied, 3 skipped, 0 failed" in again.stderr


def test_dry_run_and_naming(tmp_path: Path, dir_tree: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo("sync", "--dry-run", "--src", "dir", "--dest", "oci", str(dir_tree), str(tmp_path / "m"), check=True)
    assert "Running in dry-run mode" in proc.stderr
    assert proc.stderr.count("Would have copied image ref") == 3
    assert not (tmp_path / "m").exists()


def test_dir_destination_must_not_exist(tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    layout = tmp_path / "l"
    images.make_image(str(layout), "t", layers=1)
    src = tmp_path / "src"
    src.mkdir()
    run_skopeo("copy", f"oci:{layout}:t", f"dir:{src}/img", check=True)
    proc = run_skopeo("sync", "--src", "dir", "--dest", "dir", str(src), str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "sync from 'dir' to 'dir' not implemented, consider using rsync instead" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "--dest", "dir", "a", "b"], "A source transport must be specified"),
        (["sync", "--src", "dir", "a", "b"], "A destination transport must be specified"),
        (["sync", "--src", "oci", "--dest", "dir", "a", "b"], '"oci" is not a valid source transport'),
        (["sync", "--src", "dir", "--dest", "dir", "a"], "Exactly two arguments expected"),
    ],
)
def test_sync_usage_errors(run_skopeo, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo(*args)
    assert proc.returncode == 1
    assert message in proc.stderr.replace('\\"', '"')


def test_destination_names() -> None:
    assert destination_name("docker", "reg:5000/mirror", "quay.io/libpod/busybox:latest", False, "") == "docker://reg:5000/mirror/busybox:latest"
    assert destination_name("docker", "reg/m", "quay.io/libpod/busybox:latest", True, "-x") == "docker://reg/m/quay.io/libpod/busybox:latest-x"
    assert destination_name("dir", "/media/usb", "quay.io/libpod/busybox:latest", True, "") == "dir:/media/usb/quay.io/libpod/busybox:latest"
    # Go's path.Join: a scoped dir: suffix starting with "/" stays under the destination.
    assert destination_name("docker", "reg/m", "/team/app", True, "") == "docker://reg/m/team/app"
    assert destination_name("dir", "/media/usb/", "/a//b/", False, "") == "dir:/media/usb/b"
    assert destination_name("oci", "/mirror", "quay.io/a/b:1", True, "") == "oci:/mirror:quay.io/a/b:1"


@pytest.mark.parametrize(
    ("constraint", "tags", "expected"),
    [
        (">= 3.12.0", ["3.11", "3.12.0", "v3.13", "latest", "3.14.0-rc1"], ["3.12.0", "v3.13"]),
        ("~1.2", ["1.1.9", "1.2.0", "1.2.9", "1.3.0"], ["1.2.0", "1.2.9"]),
        ("^1.2", ["1.1", "1.2.3", "1.9.9", "2.0.0"], ["1.2.3", "1.9.9"]),
        ("1.2.x", ["1.2.0", "1.2.7", "1.3.0"], ["1.2.0", "1.2.7"]),
        (">1.0, <2 || 3.x", ["1.0.0", "1.5.0", "2.1.0", "3.4.0"], ["1.5.0", "3.4.0"]),
        ("1.0 - 2.0", ["0.9", "1.0", "1.7.3", "2.0.0", "2.0.1"], ["1.0", "1.7.3", "2.0.0"]),
    ],
)
def test_semver_constraints(constraint: str, tags: list[str], expected: list[str]) -> None:
    c = Constraint(constraint)
    assert [t for t in tags if (v := parse_version(t)) is not None and c.matches(v)] == expected


@pytest.mark.parametrize("text", ["a: [", "a: b: c", "\tx: 1", "a:\n  - b\n c: d", "[1, 2", None])
def test_yaml_source_errors_as_upstream(tmp_path: Path, run_skopeo, oracle, text: str | None) -> None:  # type: ignore[no-untyped-def]
    """An unreadable or malformed YAML source: go-yaml's texts (libyaml's problems)."""
    path = tmp_path / "src.yaml"
    if text is not None:
        path.write_text(text)
    args = ("sync", "--src", "yaml", "--dest", "dir", str(path), str(tmp_path / "out"))
    ours, theirs = run_skopeo(*args), oracle(*args)
    assert ours.returncode == theirs.returncode == 1
    assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)
