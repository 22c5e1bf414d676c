"""What a copy of a whole list prints, as upstream main prints it (recorded;
also compared live with /tmp/skopeo-main when it is built): instances in list
order, ``Storing list signatures`` always, ``--multi-arch index-only``'s
``Copying 0 images generated from N images in list``, and a destination
without list types refused before anything is read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from skopeo.testing import images
from skopeo.testing.fixtures import fatal_message

UPSTREAM_MAIN = os.environ.get("SKOPEO_UPSTREAM_MAIN", "/tmp/skopeo-main")


@pytest.fixture
def multi(tmp_path: Path) -> tuple[str, list[str]]:
    idx = images.make_multiarch(str(tmp_path / "src"), "multi")
    import json

    index = json.loads((tmp_path / "src" / "blobs" / "sha256" / idx.digest.split(":")[1]).read_text())
    return f"oci:{tmp_path / 'src'}:multi", [m["digest"] for m in index["manifests"]]


def _also_upstream(args: list[str], policy_file: Path, ours: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    if not os.path.exists(UPSTREAM_MAIN):
        return
    dest = args[-1].replace(f"{tmp_path}/", f"{tmp_path}/main-")  # its own destination
    theirs = subprocess.run([UPSTREAM_MAIN, "--policy", str(policy_file), *args[:-1], dest],
                            capture_output=True, text=True, timeout=120)
    assert theirs.returncode == ours.returncode
    assert theirs.stdout.replace(f"{tmp_path}/main-", f"{tmp_path}/") == ours.stdout
    if ours.returncode:
        assert fatal_message(theirs.stderr) == fatal_message(ours.stderr)


def test_all_prints_instances_in_order(multi: tuple[str, list[str]], run_skopeo, policy_file: Path,  # type: ignore[no-untyped-def]
                                       tmp_path: Path) -> None:
    src, instances = multi
    for dest in (f"oci:{tmp_path}/o:t", f"dir:{tmp_path}/d"):
        args = ["copy", "--all", src, dest]
        proc = run_skopeo(*args)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[:2] == ["Getting image list signatures", "Copying 3 images generated from 3 images in list"]
        headers = [i for i, line in enumerate(lines) if line.startswith("Copying image ")]
        assert [lines[i] for i in headers] == [f"Copying image {d} ({n}/3)" for n, d in enumerate(instances, 1)]
        for start, end in zip(headers, [*headers[1:], len(lines) - 2], strict=True):
            assert lines[start + 1:end] == ["Getting image source signatures", lines[start + 2], lines[start + 3],
                                             "Writing manifest to image destination"]
            assert lines[start + 2].startswith("Copying blob ") and lines[start + 3].startswith("Copying config ")
        assert lines[-2:] == ["Writing manifest list to image destination", "Storing list signatures"]
        _also_upstream(args, policy_file, proc, tmp_path)


def test_index_only(multi: tuple[str, list[str]], run_skopeo, policy_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src, _ = multi
    args = ["copy", "--multi-arch", "index-only", src, f"oci:{tmp_path}/o:t"]
    proc = run_skopeo(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "Getting image list signatures", "Copying 0 images generated from 3 images in list",
        "Writing manifest list to image destination", "Storing list signatures"]
    _also_upstream(args, policy_file, proc, tmp_path)


def test_destination_without_lists(multi: tuple[str, list[str]], run_skopeo, policy_file: Path,  # type: ignore[no-untyped-def]
                                   tmp_path: Path) -> None:
    """Refused before anything is read or written."""
    src, _ = multi
    transport = "docker-archive"
    args = ["copy", "--all", src, f"{transport}:{tmp_path}/x.tar"]
    proc = run_skopeo(*args)
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == (
        f'copying multiple images: destination transport "{transport}" does not support copying multiple images '
        "as a group")
    assert proc.stdout == ""
    assert not (tmp_path / "x.tar").exists()
    _also_upstream(args, policy_file, proc, tmp_path)
