"""The tar reader and tar-split: a layer extracted and recorded is rebuilt byte
for byte, for every tar format writers produce; malformed input fails cleanly."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from storage_layers import build_tar, directory, file, hardlink, rich_layer, symlink

from skopeo_storage import tarstream as ts
from skopeo_storage.layerio import LayerFormatError, ingest_tar
from skopeo_storage.tarsplit import TarAssembler, crc64, entries, go_clean
from skopeo_storage.unpack import Extractor


@pytest.mark.parametrize(("path", "clean"), [
    ("", "."), ("./", "."), ("a//b/./c/", "a/b/c"), ("../a", "../a"), ("/../a", "/a"), ("a/../../b", "../b"),
    ("//x", "/x"), ("a/b/..", "a"),
])
def test_go_clean(path: str, clean: str) -> None:
    assert go_clean(path) == clean


def test_crc64_matches_go_iso() -> None:
    # The values podman's tar-split records carry (checked against one it wrote).
    assert crc64(b"hello world") == 0xB9CF3F572AD9AC3E
    assert crc64(b"world", crc64(b"hello ")) == crc64(b"hello world")


def _roundtrip(tmp_path: Path, tar: bytes, mode: str = "overlay") -> bytes:
    root = tmp_path / "root"
    root.mkdir()
    record = tmp_path / "tar-split.gz"
    extractor = Extractor(str(root), mode, rootless=os.geteuid() != 0, ignore_chown_errors=False)
    fd = os.open(record, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        ingest_tar(io.BytesIO(tar), extractor, fd)
    finally:
        os.close(fd)
        extractor.close()
    assembler = TarAssembler(open(record, "rb"), lambda name: open(root / name.lstrip("/"), "rb"))
    try:
        out = b""
        while chunk := assembler.read(7777):
            out += chunk
    finally:
        assembler.close()
    return out


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_rebuilt_tar_is_identical(tmp_path: Path, fmt: int) -> None:
    entries_ = [e for e in rich_layer() if not (fmt == tarfile.USTAR_FORMAT and (e.pax or len(e.name) > 100))]
    tar = build_tar(entries_, fmt, trailing=b"\0" * 4096 + b"junk after the end")
    assert _roundtrip(tmp_path, tar) == tar


def test_record_format(tmp_path: Path) -> None:
    """JSON lines as tar-split writes them: segments, then a file entry with its
    CRC; a zero-size entry has a null payload."""
    tar = build_tar([file("a", b"abc"), directory("d")])
    root = tmp_path / "r"
    root.mkdir()
    fd = os.open(tmp_path / "ts", os.O_WRONLY | os.O_CREAT, 0o600)
    ingest_tar(io.BytesIO(tar), Extractor(str(root), "overlay", rootless=True, ignore_chown_errors=True), fd)
    os.close(fd)
    lines = gzip.decompress((tmp_path / "ts").read_bytes()).splitlines()
    parsed = [json.loads(line) for line in lines]
    assert [p["position"] for p in parsed] == list(range(len(parsed)))
    files = [p for p in parsed if p["type"] == 1]
    assert files[0]["name"] == "a" and files[0]["size"] == 3
    assert files[0]["payload"] == "N3bEIAAAAAA="  # big-endian CRC-64/ISO of "abc"
    assert files[1] == {"type": 1, "name": "d/", "payload": None, "position": files[1]["position"]}
    assert list(entries(open(tmp_path / "ts", "rb")))  # readable back


def test_duplicate_paths_are_refused(tmp_path: Path) -> None:
    tar = build_tar([file("a"), file("./a")])
    with pytest.raises(LayerFormatError, match="duplicates of file paths not supported"):
        _roundtrip(tmp_path, tar)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda t: t[:700], "unexpected EOF"),
    (lambda t: t[:148] + b"99999999" + t[156:], "invalid tar header"),
    (lambda t: bytes(512) + b"\x01" + bytes(511), "invalid tar header"),
])
def test_malformed_tars(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    tar = build_tar([file("a", b"z" * 1000)])
    with pytest.raises(LayerFormatError, match=message):
        _roundtrip(tmp_path, damage(tar))


def test_reader_applies_pax_and_gnu_names() -> None:
    long = "x/" * 80 + "end"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        tar = build_tar([file(long, b"1"), symlink("s", "/" + long), hardlink("h", long)], fmt)
        reader = ts.TarReader(io.BytesIO(tar))
        names = []
        while (hdr := reader.next()) is not None:
            names.append((hdr.name, hdr.linkname))
            while reader.read_payload():
                pass
        assert names == [(long, ""), ("s", "/" + long), ("h", long)]


def test_sparse_files_are_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("sparse")
    info.type = tarfile.GNUTYPE_SPARSE
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(info)
    with pytest.raises(LayerFormatError, match="sparse"):
        _roundtrip(tmp_path, buf.getvalue())
