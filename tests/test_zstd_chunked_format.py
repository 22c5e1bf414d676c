"""zstd:chunked in containers/storage's current format, checked by a reader
written here from the format's description (not skopeo.zstdchunked): the
footer and the annotations locate the TOC and the tar-split, their checksums
hold, every file's frames hold its content, and the tar rebuilt from the
tar-split and the TOC's file contents (CRC-64/ISO checked with a CRC written
here) is the layer's tar byte for byte, as a partial pull rebuilds it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from samples import HELLO_OCI as SAMPLE_LAYOUT
from skopeo import manifest as mf
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import OCILayoutWriter, validate
from skopeo.testing.require import DEFAULT_UPSTREAM, find_upstream_main

Runner = Callable[..., subprocess.CompletedProcess[str]]
PREFIX = "io.github.containers.zstd-chunked."
MAIN = find_upstream_main() or DEFAULT_UPSTREAM  # upstream main, where built (never in CI)

# --- an independent reader ---------------------------------------------------------------
_CRC_TABLE: list[int] = []


def crc64_iso(data: bytes, crc: int = 0) -> int:
    """CRC-64 with the ISO polynomial (reflected 0xD800000000000000), as Go's crc64.ISO."""
    if not _CRC_TABLE:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xD800000000000000 if c & 1 else c >> 1
            _CRC_TABLE.append(c)
    crc ^= 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def _skippable_frame_at(blob: bytes, offset: int) -> bytes:
    """The payload of the skippable frame whose payload starts at *offset*."""
    magic, size = struct.unpack("<II", blob[offset - 8:offset])
    assert magic == 0x184D2A50
    return blob[offset:offset + size]


def unzstd(data: bytes, limit: int | None = None) -> bytes:
    out = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    assert limit is None or len(out) == limit
    return out


def read_chunked(blob: bytes, annotations: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(TOC, tar-split entries), every position and checksum checked."""
    # The footer: a skippable frame of 64 bytes, the last thing in the blob.
    footer = _skippable_frame_at(blob, len(blob) - 64)
    toc_off, toc_len, toc_plain, kind, split_off, split_len, split_plain = struct.unpack("<7Q", footer[:56])
    assert footer[56:] == b"GNUlInUx" and kind == 1
    assert annotations[PREFIX + "manifest-position"] == f"{toc_off}:{toc_len}:{toc_plain}:1"
    assert annotations[PREFIX + "tarsplit-position"] == f"{split_off}:{split_len}:{split_plain}"
    compressed_toc = _skippable_frame_at(blob, toc_off)
    assert len(compressed_toc) == toc_len
    assert annotations[PREFIX + "manifest-checksum"] == "sha256:" + hashlib.sha256(compressed_toc).hexdigest()
    toc = json.loads(unzstd(compressed_toc, toc_plain))
    compressed_split = _skippable_frame_at(blob, split_off)
    assert len(compressed_split) == split_len and split_off == toc_off + toc_len + 8
    assert toc["version"] == 1 and toc["tarSplitDigest"] == "sha256:" + hashlib.sha256(compressed_split).hexdigest()
    lines = unzstd(compressed_split, split_plain).splitlines()
    split = [json.loads(line) for line in lines]
    assert [e["position"] for e in split] == list(range(len(split)))
    return toc, split


def rebuild(blob: bytes, toc: dict[str, Any], split: list[dict[str, Any]]) -> bytes:
    """The tar, as a partial pull rebuilds it: segments as they are, each file's
    content from the frames its TOC entry names."""
    by_name = {e["name"]: e for e in toc["entries"] if e["type"] != "chunk"}
    out = bytearray()
    for e in split:
        if e["type"] == 2:
            out += base64.b64decode(e["payload"])
            continue
        assert e["type"] == 1
        size = e.get("size", 0)
        if not size:
            assert e["payload"] is None
            continue
        entry = by_name[e["name"]]
        content = unzstd(blob[entry["offset"]:entry["endOffset"]])
        assert len(content) == size == entry["size"]
        assert entry["digest"] == "sha256:" + hashlib.sha256(content).hexdigest()
        assert base64.b64decode(e["payload"]) == struct.pack(">Q", crc64_iso(content))
        out += content
    return bytes(out)


def check_toc_matches_headers(toc: dict[str, Any], tar_bytes: bytes) -> None:
    """What containers/storage checks before using a TOC: an entry per tar
    header, with the header's metadata."""
    entries = {e["name"]: e for e in toc["entries"] if e["type"] != "chunk"}
    kinds = {tarfile.REGTYPE: "reg", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink",
             tarfile.FIFOTYPE: "fifo", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block"}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        members = tar.getmembers()
    assert len(members) == len(entries)
    for m in members:
        e = entries[m.name + ("/" if m.isdir() else "")]
        assert e["type"] == kinds[m.type]
        assert e.get("mode", 0) == m.mode and e.get("uid", 0) == m.uid and e.get("gid", 0) == m.gid
        assert e.get("linkName", "") == m.linkname
        if m.isreg():
            assert e.get("size", 0) == m.size


# --- layers --------------------------------------------------------------------------------

def awkward_tar(trailing: bytes = b"") -> bytes:
    """Every kind of entry, sizes around frame and block boundaries, PAX
    records, long names, and (optionally) bytes after the end of the archive."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **kw: Any) -> None:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data)
            info.mtime = kw.pop("mtime", 1700000000)
            for k, v in kw.items():
                setattr(info, k, v)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("d", tarfile.DIRTYPE, mode=0o755)
        add("d/empty", mode=0o600)
        add("d/one", data=b"1")
        add("d/block", data=b"b" * 512)
        add("d/big", data=os.urandom(3 << 20), uid=1000, gid=100, mode=0o640)
        add("d/" + "long-" * 40 + "name", data=b"long\n" * 99)
        add("d/xattr", data=b"x", pax_headers={"SCHILY.xattr.user.k": "v"})
        add("d/subsec", data=b"t", pax_headers={"mtime": "1700000000.123456789"})
        add("d/link", tarfile.SYMTYPE, linkname="big")
        add("d/hard", tarfile.LNKTYPE, linkname="d/big")
        add("d/fifo", tarfile.FIFOTYPE)
        add("d/zero", mtime=0, data=b"epoch")
    return buf.getvalue() + trailing


def _layout(tmp_path: Path, layers: list[bytes]) -> str:
    w = OCILayoutWriter(str(tmp_path / "src"))
    w.tag(w.image(layers), "v1")
    return f"oci:{tmp_path / 'src'}:v1"


def _layer(layout: Path, tag: str = "x") -> tuple[dict[str, Any], bytes]:
    index = json.loads((layout / "index.json").read_bytes())
    [entry] = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    m = json.loads((layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes())
    layers = [(lay, (layout / "blobs" / "sha256" / lay["digest"].split(":")[1]).read_bytes()) for lay in m["layers"]]
    return layers[0]


@pytest.mark.parametrize("trailing", [b"", b"\0" * 9216, b"\0" * 512 + b"junk after the end"])
def test_the_format_read_from_its_description(trailing: bytes, tmp_path: Path, run_skopeo: Runner) -> None:
    layer = awkward_tar(trailing)
    src = _layout(tmp_path, [layer])
    run_skopeo("copy", "-q", "--dest-compress-format", "zstd:chunked", src, f"oci:{tmp_path / 'out'}:x", check=True)
    desc, blob = _layer(tmp_path / "out")
    assert desc["mediaType"] == mf.OCI_LAYER_ZSTD
    assert sorted(desc["annotations"]) == [PREFIX + "manifest-checksum", PREFIX + "manifest-position",
                                           PREFIX + "tarsplit-position"]
    assert unzstd(blob) == layer  # any zstd reader sees the plain tar
    toc, split = read_chunked(blob, desc["annotations"])
    assert rebuild(blob, toc, split) == layer
    check_toc_matches_headers(toc, layer)
    times = {e["name"]: e.get("modtime") for e in toc["entries"]}
    assert times["d/subsec"] == "2023-11-14T22:13:20.123456789Z" and times["d/zero"] == "1970-01-01T00:00:00Z"
    assert all("accesstime" not in e and "changetime" not in e for e in toc["entries"])  # absent times left out
    assert validate(f"oci:{tmp_path / 'out'}:x")


def test_round_trips(tmp_path: Path, run_skopeo: Runner) -> None:
    """zstd:chunked layers copied as they are, decompressed, and recompressed
    (their zstd:chunked annotations go when the representation changes)."""
    layer = awkward_tar()
    src = _layout(tmp_path, [layer])
    run_skopeo("copy", "-q", "--dest-compress-format", "zstd:chunked", src, f"oci:{tmp_path / 'a'}:x", check=True)
    a_desc, a_blob = _layer(tmp_path / "a")
    run_skopeo("copy", "-q", f"oci:{tmp_path / 'a'}:x", f"oci:{tmp_path / 'b'}:x", check=True)
    assert _layer(tmp_path / "b") == (a_desc, a_blob)
    run_skopeo("copy", "-q", "--dest-decompress", f"oci:{tmp_path / 'a'}:x", f"dir:{tmp_path / 'plain'}", check=True)
    assert (tmp_path / "plain" / hashlib.sha256(layer).hexdigest()).read_bytes() == layer
    run_skopeo("copy", "-q", "--dest-compress-format", "gzip", f"oci:{tmp_path / 'a'}:x", f"oci:{tmp_path / 'c'}:x",
               check=True)
    c_desc, _ = _layer(tmp_path / "c")
    assert c_desc["mediaType"] == mf.OCI_LAYER_GZIP and "annotations" not in c_desc
    assert validate(f"oci:{tmp_path / 'c'}:x")


def test_duplicate_paths_cannot_be_described(tmp_path: Path, run_skopeo: Runner) -> None:
    """tar-split refuses a tar naming a path twice, so zstd:chunked cannot be written."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for data in (b"one", b"two"):
            info = tarfile.TarInfo("same")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    src = _layout(tmp_path, [buf.getvalue()])
    proc = run_skopeo("copy", "--dest-compress-format", "zstd:chunked", src, f"oci:{tmp_path / 'out'}:x")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).endswith("compressing layer as zstd:chunked: duplicates of file paths not supported")
    assert not (tmp_path / "out" / "index.json").exists()


@pytest.mark.requires("upstream-main")
def test_same_toc_and_tar_split_as_upstream_main(tmp_path: Path, run_skopeo: Runner, policy_file: Path) -> None:
    """Where upstream main is built: the same entries (upstream also splits
    large files into "chunk" entries) and a byte-identical tar-split."""
    for name, src in (("sample", f"oci:{SAMPLE_LAYOUT}:hello"), ("awkward", _layout(tmp_path, [awkward_tar(b"\0" * 9216)]))):
        run_skopeo("copy", "-q", "--dest-compress-format", "zstd:chunked", src, f"oci:{tmp_path / name}:x", check=True)
        subprocess.run([MAIN, "--policy", str(policy_file), "copy", "-q", "--dest-compress-format", "zstd:chunked", src,
                        f"oci:{tmp_path / (name + '-main')}:x"], check=True, capture_output=True)
        ours, theirs = (_read(tmp_path / n) for n in (name, name + "-main"))
        assert _described(ours[0]) == _described(theirs[0])
        assert ours[1] == theirs[1]


_POSITIONAL = {"offset", "endOffset", "chunkSize", "chunkOffset", "chunkDigest", "chunkType", "digest"}


def _described(toc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in _POSITIONAL} for e in toc["entries"] if e["type"] != "chunk"]


def _read(layout: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    desc, blob = _layer(layout)
    return read_chunked(blob, desc["annotations"])
