"""The streaming tar writer: headers Go-compatible, sizes patched in place,
concurrent streams (one direct, the others spooled) all land intact."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from skopeo_archive.tarwriter import TarWriter, header


def test_header_round_trips_through_tarfile() -> None:
    block = header("a/b.tar", 1234, mode=0o444)
    info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    assert (info.name, info.size, info.mode, info.mtime, info.uid, info.uname) == ("a/b.tar", 1234, 0o444, 0, 0, "")
    huge = tarfile.TarInfo.frombuf(header("big", 9 << 30), "utf-8", "surrogateescape")
    assert huge.size == 9 << 30  # base-256 size field, still one block


@pytest.mark.parametrize("seekable", [True, False])
def test_concurrent_streams(tmp_path: Path, seekable: bool) -> None:
    blobs = [os.urandom(300_000 + i * 1000) for i in range(8)]
    path = tmp_path / "out.tar"
    if seekable:
        out = open(path, "w+b", buffering=0)
    else:
        r, w = os.pipe()
        out = os.fdopen(w, "wb", buffering=0)
        received = bytearray()
        reader = threading.Thread(target=lambda: received.extend(_drain(r)))
        reader.start()
    writer = TarWriter(out, str(tmp_path))  # type: ignore[arg-type]
    results: list[tuple[str, int]] = []
    threads = [threading.Thread(target=lambda b=b: results.append(
        writer.add_stream(io.BytesIO(b), -1, lambda d: d[7:] + ".bin"))) for b in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A duplicate is dropped again.
    writer.add_stream(io.BytesIO(blobs[0]), -1, lambda d: None)
    writer.finish()
    out.close()
    if not seekable:
        reader.join()
        path.write_bytes(bytes(received))
    with tarfile.open(path) as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert got == {hashlib.sha256(b).hexdigest() + ".bin": b for b in blobs}
    assert sorted(results) == sorted(("sha256:" + hashlib.sha256(b).hexdigest(), len(b)) for b in blobs)
    assert list(tmp_path.iterdir()) == [path]


def _drain(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 16):
        parts.append(chunk)
    os.close(fd)
    return b"".join(parts)
