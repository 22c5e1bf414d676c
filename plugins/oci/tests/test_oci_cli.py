"""The oci: transport through the ``skopeo`` command line (the console script of
this venv), including parallel ``skopeo copy`` processes into one layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from oci_helpers import SAMPLE_DIGEST, entries, make_dir_image, make_image

from skopeo.testing.fixtures import fatal_message

SKOPEO = str(Path(sys.executable).parent / "skopeo")


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([SKOPEO, "--insecure-policy", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_copy_and_inspect(sample: Path, tmp_path: Path) -> None:
    out = skopeo("copy", f"oci:{sample}:hello", "oci:out:v1").stdout
    assert "Writing manifest to image destination" in out
    assert json.loads(skopeo("inspect", "oci:out:v1").stdout)["Digest"] == SAMPLE_DIGEST
    raw = skopeo("inspect", "--raw", "oci:out:v1").stdout.encode()
    assert raw == (sample / "blobs" / "sha256" / SAMPLE_DIGEST.split(":")[1]).read_bytes()
    assert entries(tmp_path / "out") == [(SAMPLE_DIGEST, "v1")]


def test_copy_dir_to_oci(tmp_path: Path) -> None:
    make_dir_image(tmp_path / "d")
    skopeo("copy", "dir:d", "oci:out:tag")
    inspected = json.loads(skopeo("inspect", "oci:out:tag").stdout)
    assert [(inspected["Digest"], "tag")] == entries(tmp_path / "out")


def test_missing_reference_exits_2(sample: Path) -> None:
    proc = skopeo("inspect", f"oci:{sample}:nosuch", check=False)
    assert proc.returncode == 2
    assert 'no descriptor found for reference \\"nosuch\\"' in proc.stderr


def test_ambiguous_and_index_forms(sample: Path) -> None:
    make_image(sample, "second", payload=b"2")
    proc = skopeo("inspect", f"oci:{sample}", check=False)
    assert proc.returncode == 1
    assert "more than one image in oci, choose an image" in proc.stderr
    assert json.loads(skopeo("inspect", f"oci:{sample}:@0").stdout)["Digest"] == SAMPLE_DIGEST
    proc = skopeo("copy", f"oci:{sample}:hello", f"oci:{sample}:@0", check=False)
    assert proc.returncode == 1
    assert "Destination reference must not contain a manifest index @0" in proc.stderr


def test_invalid_reference(sample: Path) -> None:
    proc = skopeo("inspect", "oci:x:Bad Name", check=False)
    assert proc.returncode == 1
    assert "Invalid image Bad Name" in proc.stderr


def test_signatures_refused(tmp_path: Path) -> None:
    make_dir_image(tmp_path / "d", signature=b"sig")
    proc = skopeo("copy", "dir:d", "oci:out:s", check=False)
    assert proc.returncode == 1
    assert "Can not copy signatures to oci:out:s: Pushing signatures for OCI images is not supported" in proc.stderr
    skopeo("copy", "--remove-signatures", "dir:d", "oci:out:s")


def test_accept_uncompressed_and_shared_blob_dir(tmp_path: Path) -> None:
    digest = make_image(tmp_path / "src", "raw", compressed=False)
    skopeo(
        "copy", "--dest-oci-accept-uncompressed-layers", "--dest-shared-blob-dir", "shared", "oci:src:raw", "oci:out:u"
    )
    assert entries(tmp_path / "out") == [(digest, "u")]
    assert list((tmp_path / "out" / "blobs").iterdir()) == []
    assert (tmp_path / "shared" / "sha256" / digest.split(":")[1]).is_file()
    inspected = skopeo("inspect", "--shared-blob-dir", "shared", "oci:out:u")
    assert json.loads(inspected.stdout)["Digest"] == digest
    skopeo("copy", "--src-shared-blob-dir", "shared", "oci:out:u", "dir:back")


@pytest.mark.slow
def test_parallel_cli_copies(sample: Path, tmp_path: Path) -> None:
    expected = {}
    for i in range(3):
        expected[f"img{i}"] = make_image(tmp_path / f"src{i}", "x", payload=f"img {i}".encode())
    procs = []
    for tag, _ in expected.items():
        procs.append(
            subprocess.Popen(
                [SKOPEO, "--insecure-policy", "copy", "-q", f"oci:src{tag[-1]}:x", f"oci:multi:{tag}"],
                stderr=subprocess.PIPE,
            )
        )
    for i in range(5):
        expected[f"hello{i}"] = SAMPLE_DIGEST
        procs.append(
            subprocess.Popen(
                [SKOPEO, "--insecure-policy", "copy", "-q", f"oci:{sample}:hello", f"oci:multi:hello{i}"],
                stderr=subprocess.PIPE,
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert {tag: digest for digest, tag in entries(tmp_path / "multi")} == expected
    for tag, digest in expected.items():
        assert json.loads(skopeo("inspect", f"oci:multi:{tag}").stdout)["Digest"] == digest


def test_delete(sample: Path) -> None:
    other = make_image(sample, "other", payload=b"other")
    skopeo("delete", f"oci:{sample}:hello")
    assert entries(sample) == [(other, "other")]
    assert not (sample / "blobs" / "sha256" / SAMPLE_DIGEST.split(":")[1]).exists()
    proc = skopeo("delete", f"oci:{sample}:hello", check=False)
    # As upstream main (1.9.3 could not delete from oci: layouts at all).
    assert proc.returncode == 2
    assert fatal_message(proc.stderr) == 'no descriptor found for reference "hello"'
