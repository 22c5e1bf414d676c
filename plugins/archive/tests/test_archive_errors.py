"""Error messages of docker-archive: and oci-archive: as skopeo 1.9.3 words them:
broken and non-tar archives, image selection, digest references, bad paths."""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from archive_helpers import add_file, config_for, fatal_message, layers, write_archive

DIGEST = "sha256:" + "a" * 64
# Upstream extracts an oci-archive into a random directory in --tmpdir or
# /var/tmp ($TMPDIR is not read): ociNNN for 1.9.3, container_images_ociNNN for
# main, whose name we follow.
UNTAR_DIR_RE = re.compile(r"/(container_images_)?oci[0-9]+(?=[\"/])")


def as_main(message: str) -> str:
    """1.9.3's message as upstream main words it: a tar component's name is quoted."""
    return re.sub(r"loading tar component ([^\s:]+):", r'loading tar component "\1":', message)


def _tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            add_file(tar, name, data)


def _cut(path: Path, build: Callable[[Path], None], at: Callable[[bytes], int]) -> None:
    build(path)
    data = path.read_bytes()
    path.write_bytes(data[:at(data)])


def _data_offset(data: bytes, name: str) -> int:
    return data.index(name.encode() + b"\0") + 512


def _image(path: Path, layer_name: str = "l.tar", config_name: str = "c.json", with_layer: bool = True,
           with_config: bool = True, junk: bool = False) -> None:
    """manifest.json first, then config and layer (so a cut after it is "late")."""
    ls = layers(41, 1)
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["a:1"], "Layers": [layer_name]}]).encode()
    members = [("manifest.json", manifest)]
    if with_config:
        members.append(("c.json", config_for(ls)))
    if with_layer:
        members.append(("l.tar", ls[0]))
    if junk:
        members.append(("junk", os.urandom(5000)))
    _tar(path, members)


BROKEN: dict[str, Callable[[Path], None]] = {
    "empty file": lambda p: p.write_bytes(b""),
    "short text": lambda p: p.write_bytes(b"not a tar\n"),
    "long text": lambda p: p.write_bytes(b"this is not a tar archive" * 100),
    "one zero block": lambda p: p.write_bytes(bytes(512)),
    "zero block then text": lambda p: p.write_bytes(bytes(512) + b"x" * 512),
    "cut in a zero block": lambda p: p.write_bytes(bytes(700)),
    "no manifest": lambda p: _tar(p, [("index.json", b"{}"), ("oci-layout", b"{}")]),
    "cut in first header": lambda p: _cut(p, _image, lambda d: 300),
    "cut in manifest data": lambda p: _cut(p, lambda q: _tar(q, [("manifest.json", b"[" + b" " * 3000 + b"]")]),
                                           lambda d: 1500),
    "cut in padding": lambda p: _cut(p, lambda q: _tar(q, [("x", b"abc")]), lambda d: 600),
    "cut in layer data": lambda p: _cut(p, _image, lambda d: _data_offset(d, "l.tar") + 100),
    "cut after the image": lambda p: _cut(p, lambda q: _image(q, junk=True), lambda d: _data_offset(d, "junk") + 100),
    "missing layer": lambda p: _image(p, with_layer=False),
    "missing config": lambda p: _image(p, with_config=False),
    "directory": lambda p: p.mkdir(),
}


@pytest.mark.oracle
@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_archive_source(case: str, transport: str, tmp_path: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    BROKEN[case](Path("in.tar"))
    scratch = tmp_path / "scratch"  # both tools' temporary files (upstream leaves some)
    scratch.mkdir()
    for args in (["copy", f"{transport}:in.tar", "dir:out"], ["inspect", f"{transport}:in.tar"]):
        ours = run_skopeo("--tmpdir", str(scratch), *args)
        assert not list(scratch.iterdir()), "temporary files left behind"
        ref = oracle("--tmpdir", str(scratch), *args)
        assert ours.returncode == ref.returncode == 1
        ours_msg = UNTAR_DIR_RE.sub("/ociN", fatal_message(ours.stderr))
        assert ours_msg == as_main(UNTAR_DIR_RE.sub("/ociN", fatal_message(ref.stderr)))
        shutil.rmtree("out", ignore_errors=True)  # dir: creates it when opened
    assert sorted(os.listdir(".")) == ["in.tar", "policy.json", "scratch"], "temporary files left behind"


def test_oci_archive_names_a_temp_directory(tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    """The directory upstream would extract into is made where upstream makes it
    (--tmpdir, else /var/tmp) and named as upstream names it; it is removed."""
    Path("empty.tar").write_bytes(b"")
    Path("short.tar").write_bytes(b"x")
    Path("dir").mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    untar = rf'untarring file "{re.escape(str(scratch))}/container_images_oci[0-9]+"'
    expected = {
        "empty.tar": rf"^open {re.escape(str(scratch))}/container_images_oci[0-9]+/index\.json: no such file or directory$",
        "short.tar": rf"^creating temp directory: {untar}: unexpected EOF$",
        "dir": rf"^creating temp directory: {untar}: read {re.escape(str(tmp_path))}/dir: is a directory$",
    }
    for name, pattern in expected.items():
        r = run_skopeo("--tmpdir", str(scratch), "copy", f"oci-archive:{name}", "dir:out")
        msg = fatal_message(r.stderr)
        prefix = f"initializing source oci-archive:{name}:: "
        assert r.returncode == 1 and msg.startswith(prefix) and re.match(pattern, msg[len(prefix):]), msg
    assert not list(scratch.iterdir()), "the temporary directory is removed"
    r = run_skopeo("--tmpdir", str(tmp_path / "nonexistent"), "copy", "oci-archive:short.tar", "dir:out")
    assert fatal_message(r.stderr) == (
        "initializing source oci-archive:short.tar:: creating temp directory: creating oci reference: creating temp "
        f"directory: stat {tmp_path}/nonexistent: no such file or directory")


def test_truncated_member_found_before_the_cut_is_served(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    _cut(Path("late.tar"), lambda p: _image(p, junk=True), lambda d: _data_offset(d, "junk") + 100)
    r = run_skopeo("inspect", "docker-archive:late.tar")
    # Opening works (manifest.json precedes the cut), reading the image does not.
    assert fatal_message(r.stderr) == "Error retrieving manifest for image: unexpected EOF"


@pytest.mark.oracle
def test_selection_errors_come_from_the_manifest(run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    write_archive(Path("two.tar"), [(["a:1"], layers(42)), (["b:2"], layers(43))])
    _tar(Path("none.tar"), [("manifest.json", b"[]")])
    cases = {
        "two.tar": "Unexpected tar manifest.json: expected 1 item, got 2",
        "two.tar:@2": "Invalid source index @2, only 2 manifest items available",
        "two.tar:nothere:v1": 'Tag "docker.io/library/nothere:v1" not found',
        "none.tar": "Unexpected tar manifest.json: expected 1 item, got 0",
    }
    for ref, error in cases.items():
        copy = run_skopeo("copy", f"docker-archive:{ref}", "dir:out")
        shown = "two.tar:docker.io/library/nothere:v1" if ref == "two.tar:nothere:v1" else ref
        assert fatal_message(copy.stderr) == f"determining manifest MIME type for docker-archive:{shown}: {error}"
        assert fatal_message(copy.stderr) == fatal_message(oracle("copy", f"docker-archive:{ref}", "dir:out").stderr)
        inspect = run_skopeo("inspect", f"docker-archive:{ref}")
        assert fatal_message(inspect.stderr) == f"Error retrieving manifest for image: {error}"
        assert fatal_message(inspect.stderr) == fatal_message(oracle("inspect", f"docker-archive:{ref}").stderr)
        assert copy.returncode == inspect.returncode == 1


@pytest.mark.oracle
@pytest.mark.parametrize("name", [f"foo@{DIGEST}", f"foo:v1@{DIGEST}"])
def test_digest_references(name: str, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    write_archive(Path("a.tar"), [(["foo:v1"], layers(44))])
    commands = [
        ["copy", f"oci:{sample_layout}:hello", f"docker-archive:out.tar:{name}"],
        ["copy", f"docker-archive:a.tar:{name}", "dir:out"],
        ["inspect", f"docker-archive:a.tar:{name}"],
    ]
    for args in commands:
        ours, ref = run_skopeo(*args), oracle(*args)
        assert ours.returncode == ref.returncode == 1
        assert fatal_message(ours.stderr) == fatal_message(ref.stderr)
        assert f"docker.io/library/{name}" in fatal_message(ours.stderr)
    assert not Path("out.tar").exists()


@pytest.mark.oracle
def test_path_under_a_regular_file(sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    Path("f").write_text("x")
    for args in (["copy", f"oci:{sample_layout}:hello", "docker-archive:f/a.tar"],
                 ["copy", "docker-archive:f/a.tar", "dir:out"], ["inspect", "docker-archive:f/a.tar"]):
        ours, ref = run_skopeo(*args), oracle(*args)
        assert ours.returncode == ref.returncode == 1
        assert fatal_message(ours.stderr) == fatal_message(ref.stderr)
        assert 'opening file "f/a.tar": open f/a.tar: not a directory' in fatal_message(ours.stderr)


@pytest.mark.oracle
@pytest.mark.parametrize("dest", ["", ".", "sub", "link/inner:x"])
def test_oci_archive_onto_a_directory(dest: str, tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sub" / "inner").mkdir(parents=True)
    (tmp_path / "link").symlink_to("sub")
    before = sorted(os.listdir(tmp_path.parent)), sorted(os.listdir(tmp_path))
    args = ["copy", f"oci:{sample_layout}:hello", f"oci-archive:{dest}"]
    ours = run_skopeo(*args)
    # Our archive was written beside the directory: nothing of it is left.
    assert (sorted(os.listdir(tmp_path.parent)), sorted(os.listdir(tmp_path))) == before
    (tmp_path / "sub" / "inner" / "scratch").mkdir()  # upstream's temporary layout (it leaves it)
    ref = oracle("--tmpdir", str(tmp_path / "sub" / "inner" / "scratch"), *args)
    target = {"": tmp_path, ".": tmp_path, "sub": tmp_path / "sub", "link/inner:x": tmp_path / "sub" / "inner"}[dest]
    msg = fatal_message(ours.stderr)
    assert msg == f'committing the finished image: creating tar file "{target}": open {target}: is a directory'
    assert ours.returncode == ref.returncode == 1 and msg == fatal_message(ref.stderr)


def test_oci_archive_through_a_symlink_writes_its_target(sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    Path("real.tar").write_bytes(b"old")
    Path("link.tar").symlink_to("real.tar")
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", "oci-archive:link.tar:v", check=True)
    # As upstream, which creates the file through the link.
    assert Path("link.tar").is_symlink() and tarfile.is_tarfile("real.tar")
    run_skopeo("inspect", "oci-archive:real.tar:v", check=True)
