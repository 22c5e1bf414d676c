"""Interop with the oracles: Debian's skopeo 1.9.3 and umoci read what we write,
and we read what they write, with the same manifest digests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from oci_helpers import (
    SAMPLE_DIGEST,
    copy,
    entries,
    make_dir_image,
    make_image,
    make_multiarch,
    needs_reference_skopeo,
    needs_umoci,
)

from skopeo import plugins
from skopeo.context import SystemContext
from skopeo.testing.require import reference_skopeo, require_tool

pytestmark = pytest.mark.oracle


def run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc.stdout


def old_skopeo(*args: str) -> str:
    return run(reference_skopeo(), "--insecure-policy", *args)


def our_manifest(text: str) -> bytes:
    with plugins.parse_image_name(text).new_image_source(SystemContext()) as src:
        return src.get_manifest()[0]


@needs_reference_skopeo
def test_old_skopeo_reads_our_layout(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:ours:v1")
    raw = (sample / "blobs" / "sha256" / SAMPLE_DIGEST.split(":")[1]).read_bytes()
    assert old_skopeo("inspect", "--raw", "oci:ours:v1").encode() == raw
    assert json.loads(old_skopeo("inspect", "oci:ours:v1"))["Digest"] == SAMPLE_DIGEST
    old_skopeo("copy", "oci:ours:v1", "dir:viaold")
    assert (tmp_path / "viaold" / "manifest.json").read_bytes() == raw
    # An untagged-only layout is read as "the only image".
    copy(f"oci:{sample}:hello", "oci:untagged")
    assert json.loads(old_skopeo("inspect", "oci:untagged"))["Digest"] == SAMPLE_DIGEST


@needs_reference_skopeo
def test_old_skopeo_reads_our_converted_and_list_images(tmp_path: Path) -> None:
    make_dir_image(tmp_path / "d")
    converted = copy("dir:d", "oci:ours:conv")
    assert json.loads(old_skopeo("inspect", "oci:ours:conv"))["Digest"] == converted.digest
    index_digest, _ = make_multiarch(tmp_path / "src", "m")
    copy("oci:src:m", "oci:ours:list", multi_arch="all")
    assert json.loads(old_skopeo("inspect", "--raw", "oci:ours:list"))["manifests"]
    old_skopeo("copy", "--all", "oci:ours:list", "oci:oldcopy:list")
    assert entries(tmp_path / "oldcopy") == [(index_digest, "list")]


@needs_umoci
def test_umoci_validates_our_layout(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:ours:first")
    other = make_image(tmp_path / "src", "x", payload=b"other")
    copy("oci:src:x", "oci:ours:second")
    copy("oci:src:x", "oci:ours:first")  # retag: the old entry stays, untagged
    assert entries(tmp_path / "ours") == [(SAMPLE_DIGEST, None), (other, "second"), (other, "first")]
    assert sorted(run(require_tool("umoci"), "ls", "--layout", "ours").split()) == ["first", "second"]
    for tag in ("first", "second"):
        # stat walks manifest and config and fails on anything missing or malformed.
        assert "history" in json.loads(run(require_tool("umoci"), "stat", "--json", "--image", f"ours:{tag}"))
    # umoci can unpack what we wrote (every blob is where it should be).
    run(require_tool("umoci"), "raw", "unpack", "--rootless", "--image", "ours:second", str(tmp_path / "rootfs"))
    assert (tmp_path / "rootfs" / "hello.txt").read_bytes() == b"other"


@needs_umoci
def test_umoci_after_delete(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:ours:a")
    make_image(tmp_path / "src", "x", payload=b"other")
    copy("oci:src:x", "oci:ours:b")
    plugins.parse_image_name("oci:ours:a").delete_image(SystemContext())
    assert run(require_tool("umoci"), "ls", "--layout", "ours").split() == ["b"]
    run(require_tool("umoci"), "stat", "--image", "ours:b")


@needs_reference_skopeo
def test_we_read_old_skopeo_layout(sample: Path, tmp_path: Path) -> None:
    for dest in ("oci:theirs:first", "oci:theirs:second", "oci:theirs"):
        old_skopeo("copy", f"oci:{sample}:hello", dest)
    # The 1.9.3 golden from the spec: three entries, same digest.
    assert entries(tmp_path / "theirs") == [(SAMPLE_DIGEST, "first"), (SAMPLE_DIGEST, "second"), (SAMPLE_DIGEST, None)]
    for ref in ("oci:theirs:first", "oci:theirs:second", "oci:theirs:@2"):
        assert copy(ref, "oci:mine:" + ref.rsplit(":", 1)[1].strip("@")).digest == SAMPLE_DIGEST
    make_dir_image(tmp_path / "d")
    old_skopeo("copy", "dir:d", "oci:theirs:conv")
    theirs = json.loads(old_skopeo("inspect", "oci:theirs:conv"))["Digest"]
    assert copy("oci:theirs:conv", "oci:mine:conv").digest == theirs


@needs_reference_skopeo
def test_converted_manifest_matches_old_skopeo(tmp_path: Path) -> None:
    """Same input, same conversion: both tools produce byte-identical OCI manifests."""
    make_dir_image(tmp_path / "d")
    old_skopeo("copy", "dir:d", "oci:theirs:conv")
    ours = copy("dir:d", "oci:mine:conv")
    assert our_manifest("oci:theirs:conv") == ours.manifest


@needs_reference_skopeo
def test_interleaved_writers(sample: Path, tmp_path: Path) -> None:
    """We append to a layout 1.9.3 created and it appends to ours."""
    old_skopeo("copy", f"oci:{sample}:hello", "oci:mixed:old1")
    other = make_image(tmp_path / "src", "x", payload=b"other")
    copy("oci:src:x", "oci:mixed:new1")
    old_skopeo("copy", "oci:src:x", "oci:mixed:old2")
    copy(f"oci:{sample}:hello", "oci:mixed:new2")
    assert entries(tmp_path / "mixed") == [
        (SAMPLE_DIGEST, "old1"),
        (other, "new1"),
        (other, "old2"),
        (SAMPLE_DIGEST, "new2"),
    ]
    for tag, digest in (("old1", SAMPLE_DIGEST), ("new1", other), ("old2", other), ("new2", SAMPLE_DIGEST)):
        assert json.loads(old_skopeo("inspect", f"oci:mixed:{tag}"))["Digest"] == digest
        assert copy(f"oci:mixed:{tag}", f"dir:check-{tag}").digest == digest


@needs_reference_skopeo
def test_shared_blob_dir_interop(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:ours:s", dest_ctx=SystemContext(shared_blob_dir=str(tmp_path / "shared")))
    out = old_skopeo("--debug", "inspect", "--shared-blob-dir", str(tmp_path / "shared"), "--raw", "oci:ours:s")
    assert out.encode() == (sample / "blobs" / "sha256" / SAMPLE_DIGEST.split(":")[1]).read_bytes()
