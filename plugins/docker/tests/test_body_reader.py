"""Blob downloads that break: upstream's bodyReader behaviour and texts.
Content-Range parsing is table-tested against upstream's parseContentRange
texts; a download that keeps breaking (a real registry behind a proxy that
cuts every body in half, ranged ones too) reconnects while it makes progress,
logs each reconnection at info level as upstream main does, and fails with one
fatal line carrying upstream's heuristic tuning data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import OCILayoutWriter, random_layer_tar
from skopeo.testing.registry import Registry
from skopeo_docker.body_reader import parse_content_range

from .conftest import Runner


@pytest.mark.parametrize(("values", "expected"), [
    (["bytes 0-9/10"], (0, 9, 10)),
    (["bytes 5-9/*"], (5, 9, -1)),
    ([], "missing Content-Range: header"),
    (["bytes 0-1/2", "bytes 0-1/2"], "ambiguous Content-Range:, 2 header values"),
    (["items 0-1/2"], 'invalid Content-Range: "items 0-1/2", missing prefix "bytes "'),
    (["bytes -1/2"], 'invalid Content-Range: "bytes -1/2", parsing first-pos: missing decimal number'),
    (["bytes 0:1/2"], "invalid Content-Range: \"bytes 0:1/2\": missing expected '-'"),
    (["bytes 0-/2"], 'invalid Content-Range: "bytes 0-/2", parsing last-pos: missing decimal number'),
    (["bytes 0-1"], "invalid Content-Range: \"bytes 0-1\": missing expected '/'"),
    (["bytes 0-1/"], 'invalid Content-Range: "bytes 0-1/", parsing complete-length: missing decimal number'),
    (["bytes 0-1/2x"], 'invalid Content-Range: "bytes 0-1/2x", unexpected trailing content'),
    (["bytes 0-1/*x"], 'invalid Content-Range: "bytes 0-1/*x", unexpected trailing content'),
])
def test_content_range(values: list[str], expected: tuple[int, int, int] | str) -> None:
    if isinstance(expected, tuple):
        assert parse_content_range(values) == expected
    else:
        with pytest.raises(ValueError) as info:
            parse_content_range(values)
        assert str(info.value) == expected


@pytest.mark.slow
def test_download_that_keeps_breaking(registry: Registry, faulty_proxy: Any, skopeo: Runner, tmp_path: Path) -> None:
    w = OCILayoutWriter(str(tmp_path / "src"))
    w.tag(w.image([random_layer_tar(77, files=4, size=1 << 20)]), "v1")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'src'}:v1", f"docker://{registry.host}/r:v1",
           check=True)
    proxy = faulty_proxy(registry.port, "truncate_all")
    proc = skopeo("copy", "--src-tls-verify=false", f"docker://{proxy.host}/r:v1", f"dir:{tmp_path}/d")
    assert proc.returncode == 1
    message = fatal_message(proc.stderr)
    assert re.fullmatch(r"(reading config blob sha256:[0-9a-f]{64}|writing blob: happened during read): "
                        r"\(heuristic tuning data: total \d+ @[\d.]+ ms, last retry \d+ @[\d.]+ ms, "
                        r"last progress @ [\d.]+ ms\): unexpected EOF", message), message
    others = [line for line in proc.stderr.splitlines() if "level=fatal" not in line]
    assert others, proc.stderr
    for line in others:
        assert re.search(r'level=info msg="Reading blob body from http://\S+/blobs/sha256:[0-9a-f]{64} failed '
                         r"\(unexpected EOF\), reconnecting (\(first reconnection\)|after \d+ bytes)…", line), line
    assert not (tmp_path / "d" / "manifest.json").exists()
