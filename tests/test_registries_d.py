"""registries.d: merging, lookup precedence, and lookaside reads and writes."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from skopeo import registries_d
from skopeo.reference import parse_normalized

DIGEST = "sha256:" + "ab" * 32
SIG = b"\xa3\x01fake-openpgp"


def _write(d: Path, name: str, text: str) -> None:
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)


def test_precedence_and_staging(tmp_path: Path) -> None:
    d = tmp_path / "registries.d"
    _write(d, "a.yaml", """
default-docker:
  lookaside: file:///default
docker:
  example.com:
    lookaside: https://host.example/sigs
    lookaside-staging: file:///staging
  example.com/ns/repo:
    use-sigstore-attachments: true
  example.com/ns/repo:special:
    sigstore: file:///old-style
""")
    _write(d, "b.yaml", "docker:\n  other.io/x:\n    sigstore: file:///other\n    sigstore-staging: file:///other-staging\n")
    _write(d, "ignored.yml", "default-docker: {lookaside: file:///never}\n")
    cfg = registries_d.lookaside_for(parse_normalized("example.com/ns/repo:v1"), str(d))
    # The repository section sets no URL, so the host section provides them.
    assert cfg.read_url == "https://host.example/sigs/ns/repo"
    assert cfg.write_url == "file:///staging/ns/repo"
    assert cfg.use_sigstore_attachments is True
    special = registries_d.lookaside_for(parse_normalized("example.com/ns/repo:special"), str(d))
    assert special.read_url == special.write_url == "file:///old-style/ns/repo"
    other = registries_d.lookaside_for(parse_normalized("other.io/x/y:1"), str(d))
    assert (other.read_url, other.write_url) == ("file:///other/x/y", "file:///other-staging/x/y")
    assert not other.use_sigstore_attachments
    fallback = registries_d.lookaside_for(parse_normalized("busybox"), str(d))
    assert fallback.read_url == "file:///default/library/busybox"


def test_builtin_default_and_missing_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = registries_d.lookaside_for(parse_normalized("quay.io/a/b:1"), str(tmp_path / "missing"))
    expected = ("file:///var/lib/containers/sigstore" if registries_d.os.geteuid() == 0
                else f"file://{tmp_path}/.local/share/containers/sigstore") + "/a/b"
    assert cfg.read_url == expected


def test_duplicate_definitions(tmp_path: Path) -> None:
    d = tmp_path / "d"
    _write(d, "a.yaml", "docker:\n  example.com:\n    lookaside: file:///a\n")
    _write(d, "b.yaml", "docker:\n  example.com:\n    lookaside: file:///b\n")
    with pytest.raises(registries_d.RegistriesDError) as e:
        registries_d.load(str(d))
    assert e.value.message == (f'Error parsing signature storage configuration: "docker" namespace "example.com" '
                               f'defined both in "{d}/a.yaml" and "{d}/b.yaml"')
    d2 = tmp_path / "d2"
    _write(d2, "a.yaml", "default-docker:\n  lookaside: file:///a\n")
    _write(d2, "b.yaml", "default-docker:\n  lookaside: file:///b\n")
    with pytest.raises(registries_d.RegistriesDError, match='"default-docker" defined both in'):
        registries_d.load(str(d2))


def test_file_lookaside_roundtrip(tmp_path: Path) -> None:
    base = f"file://{tmp_path}/sigs/ns/repo"
    registries_d.write_signatures(base, DIGEST, [SIG, SIG + b"2", SIG + b"3"])
    hexpart = DIGEST.split(":")[1]
    assert (tmp_path / "sigs" / "ns" / f"repo@sha256={hexpart}" / "signature-3").exists()
    assert registries_d.read_signatures(base, DIGEST) == [SIG, SIG + b"2", SIG + b"3"]
    registries_d.write_signatures(base, DIGEST, [SIG])  # stale ones go away
    assert registries_d.read_signatures(base, DIGEST) == [SIG]
    assert registries_d.read_signatures(base, "sha256:" + "cd" * 32) == []
    with pytest.raises(registries_d.SkopeoError, match="Writing directly to a https lookaside"):
        registries_d.write_signatures("https://example.com/sigs/ns/repo", DIGEST, [SIG])
    (tmp_path / "sigs" / "ns" / f"repo@sha256={hexpart}" / "signature-1").write_bytes(b"garbage")
    with pytest.raises(registries_d.SkopeoError, match="unrecognized signature format"):
        registries_d.read_signatures(base, DIGEST)


@pytest.fixture
def http_lookaside(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_lookaside_read(http_lookaside: str, tmp_path: Path) -> None:
    registries_d.write_signatures(f"file://{tmp_path}/www/ns/repo", DIGEST, [SIG, SIG + b"2"])
    assert registries_d.read_signatures(f"{http_lookaside}/ns/repo", DIGEST) == [SIG, SIG + b"2"]
    assert registries_d.read_signatures(f"{http_lookaside}/other/repo", DIGEST) == []
