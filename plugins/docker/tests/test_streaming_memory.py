"""Layers stream: a layer of several hundred MB goes to a real registry and back
while the peak resident memory of the ``skopeo`` process stays far below the
layer's size.  The peak is the kernel's count (``wait4``), so nothing inside
the process under test is trusted.

The layer is an uncompressed tar of zeros written as a sparse file (no disk I/O
to make it), and ``--preserve-digests`` keeps the copy from compressing it, so
the test measures streaming, not gzip."""

from __future__ import annotations

from pathlib import Path

import pytest

from skopeo.testing.fixtures import peak_rss, skopeo_command
from skopeo.testing.images import sparse_layer_image
from skopeo.testing.registry import Registry

pytestmark = pytest.mark.slow

LAYER_PAYLOAD = 320 << 20
# Far below the layer (holding it whole would exceed this); ~3x what a streaming
# copy needs (the interpreter and its modules, ~45 MiB, plus 1 MiB buffers).
PEAK_LIMIT = 128 << 20


def test_big_layer_streams_to_and_from_a_registry(registry: Registry, tmp_path: Path) -> None:
    layer = sparse_layer_image(str(tmp_path / "big"), "big", LAYER_PAYLOAD)
    dest = f"docker://{registry.host}/big/layer:v1"
    peaks = {}
    for step, args in (("push", ["--preserve-digests", "--dest-tls-verify=false", f"oci:{tmp_path / 'big'}:big", dest]),
                       ("pull", ["--src-tls-verify=false", dest, f"dir:{tmp_path / 'out'}"])):
        code, peaks[step], err = peak_rss([*skopeo_command(), "--insecure-policy", "copy", "-q", *args])
        assert code == 0, err.decode(errors="replace")
    assert (tmp_path / "out" / layer.digest[7:]).stat().st_size == layer.size
    assert max(peaks.values()) < PEAK_LIMIT, (
        f"peak RSS {', '.join(f'{k} {v >> 20} MiB' for k, v in peaks.items())} for a {layer.size >> 20} MiB layer")
