"""oci-archive: reading without extraction, writing by replacement, agreement with skopeo 1.9.3."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from skopeo.testing.fixtures import skopeo_command
from skopeo.testing.images import make_image, make_multiarch, validate


def entries(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


@pytest.mark.oracle
def test_write_matches_reference_layout(sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", "oci-archive:ours.tar:v1", check=True)
    oracle("copy", "-q", f"oci:{sample_layout}:hello", "oci-archive:ref.tar:v1", check=True)
    ours, ref = entries(Path("ours.tar")), entries(Path("ref.tar"))
    assert set(ours) == set(ref)
    for name, m in ours.items():
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root")
        assert m.mode == (0o755 if m.isdir() else 0o644) and m.mtime > 0
        if name.startswith("blobs/sha256/"):
            assert m.size == ref[name].size
    with tarfile.open("ours.tar") as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "v1"}
    for archive in ("ours.tar", "ref.tar"):
        a = run_skopeo("inspect", "--raw", f"oci-archive:{archive}:v1", check=True).stdout
        b = oracle("inspect", "--raw", f"oci-archive:{archive}:v1", check=True).stdout
        assert a == b
    run_skopeo("copy", "-q", "oci-archive:ref.tar:v1", "oci:back:b", check=True)
    assert validate("oci:back:b")


def test_write_replaces_whole_archive(sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    make_image("two", "t", seed=31, layers=3)
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", "oci-archive:a.tar:first", check=True)
    run_skopeo("copy", "-q", "oci:two:t", "oci-archive:a.tar:second", check=True)
    r = run_skopeo("inspect", "oci-archive:a.tar:first")
    assert r.returncode == 2 and 'no descriptor found for reference \\"first\\"' in r.stderr
    run_skopeo("copy", "-q", "oci-archive:a.tar:second", "oci:back:b", check=True)
    assert len(validate("oci:back:b")) == 3
    assert not list(Path(".").glob(".oci-archive-*"))


def test_failed_write_keeps_old_archive(sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", "oci-archive:a.tar:first", check=True)
    before = Path("a.tar").read_bytes()
    img = make_image("bad", "t", seed=33, layers=2)
    manifest = json.loads(Path("bad/blobs/sha256", img.digest[7:]).read_bytes())
    blob = Path("bad/blobs/sha256", manifest["layers"][1]["digest"][7:])
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    r = run_skopeo("copy", "-q", "oci:bad:t", "oci-archive:a.tar:x")
    assert r.returncode == 1 and "Digest did not match" in r.stderr
    assert Path("a.tar").read_bytes() == before
    assert not list(Path(".").glob(".oci-archive-*"))


def test_uncompressed_source_is_compressed_and_list_copied(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    make_image("plain", "p", seed=32, layers=4, compress=False)
    run_skopeo("copy", "-q", "oci:plain:p", "oci-archive:c.tar:p", check=True)
    run_skopeo("copy", "-q", "oci-archive:c.tar:p", "oci:back:b", check=True)
    m = json.loads(run_skopeo("inspect", "--raw", "oci:back:b", check=True).stdout)
    assert all(x["mediaType"].endswith("+gzip") for x in m["layers"])
    assert len(validate("oci:back:b")) == 4
    make_multiarch("ma", "all")
    run_skopeo("copy", "-q", "--all", "oci:ma:all", "oci-archive:ma.tar:all", check=True)
    run_skopeo("copy", "-q", "--all", "oci-archive:ma.tar:all", "oci:mb:all", check=True)
    assert len(validate("oci:mb:all")) == 3


def test_write_to_pipe(sample_layout: Path, policy_file: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([*skopeo_command(), "--policy", str(policy_file), "copy", "-q", f"oci:{sample_layout}:hello",
                           "oci-archive:/dev/stdout:v"], capture_output=True, check=True)
    Path("piped.tar").write_bytes(proc.stdout)
    run_skopeo("copy", "-q", "oci-archive:piped.tar:v", "oci:back:b", check=True)
    assert validate("oci:back:b")


def test_reference_grammar(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    r = run_skopeo("inspect", "oci-archive:x.tar:@1")
    assert r.returncode == 1 and "Invalid image @1" in r.stderr
