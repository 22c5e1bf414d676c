"""Layers stream through archives: a layer of several hundred MB is written
into a docker-archive and an oci-archive and read back while the peak resident
memory of the ``skopeo`` process (the kernel's count) stays far below its size.
See plugins/docker/tests/test_streaming_memory.py for the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from skopeo.testing.fixtures import peak_rss, skopeo_command
from skopeo.testing.images import sparse_layer_image

pytestmark = pytest.mark.slow

LAYER_PAYLOAD = 320 << 20
PEAK_LIMIT = 128 << 20


@pytest.mark.parametrize("archive", ["docker-archive", "oci-archive"])
def test_big_layer_streams_through_an_archive(tmp_path: Path, archive: str) -> None:
    layer = sparse_layer_image(str(tmp_path / "big"), "big", LAYER_PAYLOAD)
    tar = f"{archive}:{tmp_path / 'big.tar'}" + (":big:1" if archive == "docker-archive" else ":big")
    peaks = {}
    # oci-archive would gzip the layer (docker-archive keeps it as it is): this measures streaming, not compression.
    keep = ["--preserve-digests"] if archive == "oci-archive" else []
    for step, args in (("write", [*keep, f"oci:{tmp_path / 'big'}:big", tar]),
                       ("read", [tar, f"dir:{tmp_path / 'out'}"])):
        code, peaks[step], err = peak_rss([*skopeo_command(), "--insecure-policy", "copy", "-q", *args])
        assert code == 0, err.decode(errors="replace")
    assert (tmp_path / "out" / layer.digest[7:]).stat().st_size == layer.size
    assert max(peaks.values()) < PEAK_LIMIT, (
        f"peak RSS {', '.join(f'{k} {v >> 20} MiB' for k, v in peaks.items())} for a {layer.size >> 20} MiB layer")
