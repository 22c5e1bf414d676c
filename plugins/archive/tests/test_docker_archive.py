"""docker-archive: reading, writing, appending, and agreement with skopeo 1.9.3."""

from __future__ import annotations

import filecmp
import gzip
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from archive_helpers import layers, sha, write_archive

from skopeo import api
from skopeo.errors import SkopeoError
from skopeo.testing.fixtures import fatal_message, skopeo_command
from skopeo.testing.images import make_image, validate


def members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def manifest_json(path: Path) -> list[dict[str, object]]:
    with tarfile.open(path) as tar:
        f = tar.extractfile("manifest.json")
        assert f is not None
        return json.loads(f.read())


def same_dirs(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files, (cmp.left_only, cmp.right_only, cmp.diff_files)


@pytest.mark.oracle
def test_write_is_byte_identical_to_reference(sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    args = ["copy", "-q", "--additional-tag", "example.com/extra:two", f"oci:{sample_layout}:hello"]
    run_skopeo(*args, "docker-archive:ours.tar:example.com/demo:one", check=True)
    oracle(*args, "docker-archive:ref.tar:example.com/demo:one", check=True)
    assert Path("ours.tar").read_bytes() == Path("ref.tar").read_bytes()
    names = members(Path("ours.tar"))
    assert names[-2:] == ["manifest.json", "repositories"]
    with tarfile.open("ours.tar") as tar:
        for m in tar.getmembers():
            assert m.mtime == 0 and m.uid == 0 and m.gid == 0
            assert m.mode == (0 if m.issym() else 0o444)


@pytest.mark.oracle
def test_reference_reads_ours_and_we_read_reference(sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    make_image("multi", "m", seed=7, layers=4)
    run_skopeo("copy", "-q", "oci:multi:m", "docker-archive:ours.tar:x/y:z", check=True)
    oracle("copy", "-q", "oci:multi:m", "docker-archive:ref.tar:x/y:z", check=True)
    for archive in ("ours.tar", "ref.tar"):
        run_skopeo("copy", "-q", f"docker-archive:{archive}", f"dir:we-{archive}", check=True)
        oracle("copy", "-q", f"docker-archive:{archive}", f"dir:ref-{archive}", check=True)
        same_dirs(Path(f"we-{archive}"), Path(f"ref-{archive}"))
        ours = run_skopeo("inspect", "--raw", f"docker-archive:{archive}", check=True).stdout
        ref = oracle("inspect", "--raw", f"docker-archive:{archive}", check=True).stdout
        assert ours == ref
    # (validate() cannot check the archive itself: its layers are labelled gzip but stored plain.)
    run_skopeo("copy", "-q", "docker-archive:ours.tar", "oci:back:b", check=True)
    assert len(validate("oci:back:b")) == 4


def test_source_manifest_quirks() -> None:
    ls = layers(1, 2)
    (cfg,) = write_archive(Path("a.tar"), [(["example.com/a:1"], ls)])
    raw, mime = api.parse("docker-archive:a.tar").new_image_source(api.SystemContext()).get_manifest()
    m = json.loads(raw)
    assert mime == m["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert m["config"] == {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(cfg), "digest": sha(cfg)}
    assert m["layers"] == [
        {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(x), "digest": sha(x)} for x in ls
    ]


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("compressed", [False, True])
def test_read_layouts(legacy: bool, compressed: bool, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    ls = layers(2, 3)
    write_archive(Path("a.tar"), [(["example.com/a:1"], ls)], legacy=legacy, compress_layers=compressed)
    ours = run_skopeo("inspect", "--raw", "docker-archive:a.tar", check=True).stdout
    # Compressed layers are served decompressed: sizes and digests are the diffIDs'.
    assert [x["size"] for x in json.loads(ours)["layers"]] == [len(x) for x in ls]
    assert ours == oracle("inspect", "--raw", "docker-archive:a.tar", check=True).stdout
    run_skopeo("copy", "-q", "docker-archive:a.tar", "oci:o:x", check=True)
    assert len(validate("oci:o:x")) == 3


def test_compressed_archive_is_read(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    write_archive(Path("a.tar"), [(["a:1"], layers(3))])
    Path("a.tar.gz").write_bytes(gzip.compress(Path("a.tar").read_bytes()))
    assert run_skopeo("inspect", "--raw", "docker-archive:a.tar.gz", check=True).stdout == \
        run_skopeo("inspect", "--raw", "docker-archive:a.tar", check=True).stdout
    assert not list(Path(".").glob("docker-tar-*")), "spooled copy not removed"


@pytest.mark.oracle
def test_multi_image_selection(run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    write_archive(Path("m.tar"), [(["a:1", "example.com/b:2"], layers(4)), ([], layers(5)), (["c:3"], layers(6))])
    by_index = run_skopeo("inspect", "--raw", "docker-archive:m.tar:@2", check=True).stdout
    by_name = run_skopeo("inspect", "--raw", "docker-archive:m.tar:c:3", check=True).stdout
    assert by_index == by_name == oracle("inspect", "--raw", "docker-archive:m.tar:c:3", check=True).stdout
    assert run_skopeo("inspect", "--raw", "docker-archive:m.tar:docker.io/library/a:1", check=True).stdout == \
        run_skopeo("inspect", "--raw", "docker-archive:m.tar:@0", check=True).stdout
    none = run_skopeo("inspect", "docker-archive:m.tar")
    assert none.returncode == 1 and "Unexpected tar manifest.json: expected 1 item, got 3" in none.stderr
    missing = run_skopeo("inspect", "docker-archive:m.tar:nope:1")
    assert missing.returncode == 1 and 'Tag \\"docker.io/library/nope:1\\" not found' in missing.stderr
    far = run_skopeo("inspect", "docker-archive:m.tar:@3")
    assert "Invalid source index @3, only 3 manifest items available" in far.stderr
    tags = run_skopeo("list-tags", "docker-archive:m.tar", check=True).stdout
    # Upstream prints the stored strings, and @N for untagged images.
    assert json.loads(tags) == {"Tags": ["a:1", "example.com/b:2", "@1", "c:3"]}
    assert tags == oracle("list-tags", "docker-archive:m.tar", check=True).stdout


def test_reference_grammar() -> None:
    t = api.parse("docker-archive:a.tar:busybox").transport
    assert api.parse("docker-archive:a.tar:busybox").string_within_transport() == "a.tar:docker.io/library/busybox:latest"
    assert api.parse("docker-archive:a.tar:@4").string_within_transport() == "a.tar:@4"
    assert api.parse("docker-archive:a.tar").string_within_transport() == "a.tar"
    digest = "sha256:" + "0" * 64
    # Errors show the normalised reference; a digest alone is "not tagged" first.
    with pytest.raises(SkopeoError, match=f"^reference does not include a tag: docker.io/library/busybox@{digest}$"):
        api.parse(f"docker-archive:a.tar:busybox@{digest}")
    with pytest.raises(SkopeoError, match=f"digest references: docker.io/library/busybox:1@{digest}$"):
        api.parse(f"docker-archive:a.tar:busybox:1@{digest}")
    with pytest.raises(SkopeoError, match="must not be negative"):
        api.parse("docker-archive:a.tar:@-1")
    with pytest.raises(SkopeoError, match="does not support any scopes"):
        t.validate_policy_configuration_scope("/x")
    with pytest.raises(SkopeoError, match="must not contain a manifest index"):
        api.parse("docker-archive:a.tar:@0").new_image_destination(api.SystemContext())


def test_existing_file_refused_empty_file_used(sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    Path("full.tar").write_bytes(b"x")
    r = run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", "docker-archive:full.tar")
    assert r.returncode == 1 and "docker-archive doesn't support modifying existing images" in r.stderr
    assert Path("full.tar").read_bytes() == b"x"
    Path("empty.tar").write_bytes(b"")
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", "docker-archive:empty.tar", check=True)
    assert manifest_json(Path("empty.tar"))[0]["RepoTags"] == []


def test_write_to_stdout_pipe(sample_layout: Path, run_skopeo, policy_file: Path) -> None:  # type: ignore[no-untyped-def]
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", "docker-archive:file.tar:a:b", check=True)
    proc = subprocess.run(
        [*skopeo_command(), "--policy", str(policy_file), "copy", "-q", f"oci:{sample_layout}:hello",
         "docker-archive:/dev/stdout:a:b"],
        capture_output=True, check=True,
    )
    assert proc.stdout == Path("file.tar").read_bytes()


def test_failed_copy_leaves_no_archive(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    img = make_image("bad", "t", seed=9, layers=2)
    index = json.loads(Path("bad/blobs/sha256", img.digest[7:]).read_bytes())
    blob = Path("bad/blobs/sha256", index["layers"][1]["digest"][7:])
    data = bytearray(blob.read_bytes())
    data[-20] ^= 0xFF
    blob.write_bytes(bytes(data))
    r = run_skopeo("copy", "-q", "oci:bad:t", "docker-archive:out.tar")
    assert r.returncode == 1
    # Upstream's words (1.9.3 and main): the damaged gzip trailer is found while decompressing.
    assert fatal_message(r.stderr) == "writing blob: writing to temporary on-disk layer: happened during read: gzip: invalid checksum"
    assert not Path("out.tar").exists()


def test_many_layers(run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    make_image("many", "m", seed=11, layers=8)
    run_skopeo("copy", "-q", "oci:many:m", "docker-archive:many.tar:m:1", check=True)
    names = members(Path("many.tar"))
    assert len(names) == len(set(names)) == 8 + 1 + 8 * 3 + 2
    run_skopeo("copy", "-q", "docker-archive:many.tar", "oci:back:b", check=True)
    assert len(validate("oci:back:b")) == 8
    oracle("copy", "-q", "docker-archive:many.tar", "dir:ref", check=True)


@pytest.mark.oracle
def test_append_several_images(sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    make_image("two", "t", seed=12, layers=3)
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", "docker-archive:m.tar:a:1", check=True)
    run_skopeo("copy", "-q", "--dest-archive-append", "oci:two:t", "docker-archive:m.tar:b:2", check=True)
    run_skopeo("copy", "-q", "--dest-archive-append", f"oci:{sample_layout}:hello", "docker-archive:m.tar:a:again", check=True)
    # The tag moves to the newly appended image.
    run_skopeo("copy", "-q", "--dest-archive-append", "oci:two:t", "docker-archive:m.tar:a:1", check=True)
    items = manifest_json(Path("m.tar"))
    assert [i["RepoTags"] for i in items] == [["docker.io/library/a:again"], ["docker.io/library/b:2", "docker.io/library/a:1"]]
    names = members(Path("m.tar"))
    assert len(names) == len(set(names)) and names[-2:] == ["manifest.json", "repositories"]
    for ref in ("a:1", "b:2", "a:again"):
        assert run_skopeo("inspect", "--raw", f"docker-archive:m.tar:{ref}", check=True).stdout == \
            oracle("inspect", "--raw", f"docker-archive:m.tar:{ref}", check=True).stdout
    assert json.loads(oracle("list-tags", "docker-archive:m.tar", check=True).stdout)["Tags"] == [
        "docker.io/library/a:again", "docker.io/library/b:2", "docker.io/library/a:1"]


def test_append_refuses_foreign_layout_and_restores_on_failure(sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    write_archive(Path("foreign.tar"), [(["a:1"], layers(13))])
    with tarfile.open("foreign.tar", "a") as tar:
        info = tarfile.TarInfo("extra")
        tar.addfile(info)
    r = run_skopeo("copy", "-q", "--dest-archive-append", f"oci:{sample_layout}:hello", "docker-archive:foreign.tar:b:1")
    assert r.returncode == 1 and "cannot append" in r.stderr
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", "docker-archive:ok.tar:a:1", check=True)
    before = Path("ok.tar").read_bytes()
    img = make_image("bad", "t", seed=14, layers=1)
    index = json.loads(Path("bad/blobs/sha256", img.digest[7:]).read_bytes())
    blob = Path("bad/blobs/sha256", index["layers"][0]["digest"][7:])
    blob.write_bytes(blob.read_bytes()[:-30] + b"\0" * 30)
    r = run_skopeo("copy", "-q", "--dest-archive-append", "oci:bad:t", "docker-archive:ok.tar:b:1")
    assert r.returncode == 1
    assert Path("ok.tar").read_bytes() == before
