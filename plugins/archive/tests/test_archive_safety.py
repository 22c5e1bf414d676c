"""Crafted malicious archives: each gets a clear error and nothing is written
outside the destination."""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from archive_helpers import add_file, add_link, config_for, layers, sha

from skopeo_archive import tarindex


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def build(path: Path, fill: Callable[[tarfile.TarFile], None]) -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        fill(tar)


def image_with_layer_name(name: str, tar: tarfile.TarFile, extra: Callable[[tarfile.TarFile], None] | None = None) -> None:
    ls = layers(21, 1)
    cfg = config_for(ls)
    if extra:
        extra(tar)
    add_file(tar, "c.json", cfg)
    add_file(tar, "manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["a:1"], "Layers": [name]}]).encode())


CASES: dict[str, tuple[Callable[[tarfile.TarFile], None], str]] = {
    "absolute member": (lambda t: (add_file(t, "/etc/evil", b"x"), image_with_layer_name("l.tar", t)), "absolute path"),
    "dotdot member": (lambda t: (add_file(t, "../evil", b"x"), image_with_layer_name("l.tar", t)), "escapes the archive root"),
    "inner dotdot member": (lambda t: (add_file(t, "a/../../evil", b"x"), image_with_layer_name("l.tar", t)),
                            "escapes the archive root"),
    "layer path escapes": (lambda t: image_with_layer_name("../../../../etc/passwd", t), "escapes the archive root"),
    "absolute layer path": (lambda t: image_with_layer_name("/etc/passwd", t), "absolute path"),
    "symlink to absolute": (lambda t: image_with_layer_name("l.tar", t, lambda t2: add_link(t2, "l.tar", "/etc/passwd")),
                            "points outside the archive"),
    "symlink escaping": (lambda t: image_with_layer_name("d/l.tar", t, lambda t2: add_link(t2, "d/l.tar", "../../x")),
                         "points outside the archive"),
    "hardlink escaping": (lambda t: image_with_layer_name("l.tar", t, lambda t2: add_link(t2, "l.tar", "../x", hard=True)),
                          "escapes the archive root"),
    "symlink loop": (lambda t: image_with_layer_name("a", t, lambda t2: (add_link(t2, "a", "b"), add_link(t2, "b", "a"))),
                     "too many levels of links"),
    "duplicate manifest": (lambda t: (image_with_layer_name("l.tar", t), add_file(t, "manifest.json", b"[]")),
                           "more than once"),
    "device node": (lambda t: (t.addfile(_dev("null")), image_with_layer_name("l.tar", t)), "not a regular file"),
    "missing layer": (lambda t: image_with_layer_name("nope.tar", t), "Some layer tarfiles are missing in the tarball"),
    "huge manifest": (lambda t: add_file(t, "manifest.json", b" " * ((1 << 20) + 1)), "larger than"),
    "bad manifest": (lambda t: add_file(t, "manifest.json", b'{"Config": 1}'), "decoding tar manifest.json"),
    "not a tar": (lambda t: None, 'loading tar component \\"manifest.json\\": archive/tar: invalid tar header'),
}


def _dev(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info


@pytest.mark.parametrize("case", sorted(CASES))
def test_malicious_docker_archive(case: str, tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    fill, message = CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    archive = work / "evil.tar"
    if case == "not a tar":
        archive.write_bytes(b"this is not a tar archive" * 100)
    else:
        build(archive, fill)
    before = snapshot(tmp_path)
    r = run_skopeo("copy", "-q", f"docker-archive:{archive}", f"dir:{work}/out")
    assert r.returncode == 1, r.stderr
    assert message in r.stderr, r.stderr
    # Nothing appeared anywhere (the destination is created only by a successful copy's first blob).
    assert {p for p in snapshot(tmp_path) - before if not p.startswith("work/out")} == set()
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "evil").exists()


def test_layer_not_matching_its_diff_id_is_refused(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    ls = layers(22, 1)
    cfg = config_for(ls)

    def fill(t: tarfile.TarFile) -> None:
        add_file(t, "l.tar", ls[0][:-1] + b"X")  # same size, different content
        add_file(t, "c.json", cfg)
        add_file(t, "manifest.json", json.dumps([{"Config": "c.json", "RepoTags": [], "Layers": ["l.tar"]}]).encode())

    build(Path("bad.tar"), fill)
    r = run_skopeo("copy", "-q", "docker-archive:bad.tar", "oci:out:x")
    assert r.returncode == 1 and "Digest did not match" in r.stderr
    assert not any(Path("out/blobs/sha256").glob(sha(ls[0])[7:]))


def test_member_count_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tarindex, "MAX_MEMBERS", 5)
    with tarfile.open("many.tar", "w") as t:
        for i in range(10):
            add_file(t, f"f{i}", b"")
    with pytest.raises(tarindex.ArchiveError, match="more than 5 members"):
        tarindex.TarIndex("many.tar")


def test_truncated_archive() -> None:
    with tarfile.open("t.tar", "w") as t:
        add_file(t, "big", os.urandom(100_000))
    data = Path("t.tar").read_bytes()
    Path("t.tar").write_bytes(data[:50_000])
    with pytest.raises(tarindex.ArchiveError):
        idx = tarindex.TarIndex("t.tar")
        stream, _ = idx.open("big")
        stream.read()


def test_malicious_oci_archive(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                "digest": "sha256:" + "a" * 64, "size": 2}]}

    def fill(t: tarfile.TarFile) -> None:
        add_file(t, "index.json", json.dumps(index).encode())
        add_link(t, "blobs/sha256/" + "a" * 64, "/etc/passwd")

    build(Path("evil-oci.tar"), fill)
    r = run_skopeo("inspect", "oci-archive:evil-oci.tar")
    assert r.returncode == 1 and "points outside the archive" in r.stderr


def test_normalize_name() -> None:
    assert tarindex.normalize_name("./a//b/") == "a/b"
    for bad in ("/a", "..", "../a", "a/../../b", "a\x00b"):
        with pytest.raises(tarindex.ArchiveError):
            tarindex.normalize_name(bad)
