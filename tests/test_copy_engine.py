"""The copy engine through local transports: lists, platforms, compression,
digest verification and failure atomicity."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from skopeo import api
from skopeo import manifest as mf
from skopeo.copy import MULTI_ARCH_ALL, CopyOptions
from skopeo.errors import DigestMismatchError, SkopeoError
from skopeo.policy import Policy, PolicyContext
from skopeo.testing import images
from skopeo.testing.fixtures import fatal_message

ACCEPT = PolicyContext(Policy.accept_anything())


def _copy(src: str, dest: str, **kw: object) -> api.CopyResult:
    return api.copy(src, dest, CopyOptions(**kw), ACCEPT)  # type: ignore[arg-type]


@pytest.fixture
def multiarch(tmp_path: Path) -> tuple[str, images.Written]:
    path = tmp_path / "multi"
    idx = images.make_multiarch(str(path), "latest")
    return f"oci:{path}:latest", idx


def test_list_system_picks_platform(tmp_path: Path, multiarch: tuple[str, images.Written], run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    src, _ = multiarch
    for arch in ("amd64", "arm64", "ppc64le"):
        run_skopeo("--override-arch", arch, "copy", src, f"dir:{tmp_path}/ours-{arch}", check=True)
        oracle("--override-arch", arch, "copy", src, f"dir:{tmp_path}/theirs-{arch}", check=True)
        ours = (tmp_path / f"ours-{arch}" / "manifest.json").read_bytes()
        assert ours == (tmp_path / f"theirs-{arch}" / "manifest.json").read_bytes()
        assert json.loads(run_skopeo("inspect", "--config", f"dir:{tmp_path}/ours-{arch}", check=True).stdout)["architecture"] == arch
    proc = run_skopeo("--override-arch", "s390x", "copy", src, f"dir:{tmp_path}/none")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == (
        f'choosing an image from manifest list {src}: '
        'no image found in image index for architecture "s390x", variant "", OS "linux"')


def test_list_all_keeps_digests_and_matches_reference(tmp_path: Path, multiarch: tuple[str, images.Written], run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    src, idx = multiarch
    proc = run_skopeo("copy", "--all", src, f"dir:{tmp_path}/ours", check=True)
    assert "Copying 3 images generated from 3 images in list" in proc.stdout
    assert "Writing manifest list to image destination" in proc.stdout
    oracle("copy", "--all", src, f"dir:{tmp_path}/theirs", check=True)
    ours = sorted(os.listdir(tmp_path / "ours"))
    assert ours == sorted(os.listdir(tmp_path / "theirs"))
    for name in ours:
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "theirs" / name).read_bytes(), name
    assert api.manifest_digest((tmp_path / "ours" / "manifest.json").read_bytes()) == idx.digest
    images.validate(f"dir:{tmp_path}/ours")
    # And back into a layout, where the reference tool reads every platform.
    run_skopeo("copy", "--all", f"dir:{tmp_path}/ours", f"oci:{tmp_path}/layout:multi", check=True)
    for arch in ("amd64", "arm64", "ppc64le"):
        out = oracle("--override-arch", arch, "inspect", f"oci:{tmp_path}/layout:multi", check=True).stdout
        assert json.loads(out)["Architecture"] == arch
        assert json.loads(out)["Digest"] == idx.digest


def test_docker_list_to_oci_is_converted(tmp_path: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "dl"
    images.make_multiarch(str(path), "v1", docker=True)
    run_skopeo("copy", "--all", f"oci:{path}:v1", f"dir:{tmp_path}/d", check=True)
    run_skopeo("copy", "--all", f"dir:{tmp_path}/d", f"oci:{tmp_path}/out:v1", check=True)
    raw = json.loads(run_skopeo("inspect", "--raw", f"oci:{tmp_path}/out:v1", check=True).stdout)
    assert raw["mediaType"] == mf.OCI_INDEX
    assert all(m["mediaType"] == mf.OCI_MANIFEST for m in raw["manifests"])
    images.validate(f"oci:{tmp_path}/out:v1")
    oracle("copy", "--all", f"oci:{tmp_path}/out:v1", f"dir:{tmp_path}/check", check=True)


def test_index_only_copies_just_the_list(tmp_path: Path, multiarch: tuple[str, images.Written]) -> None:
    src, idx = multiarch
    result = _copy(src, f"dir:{tmp_path}/d", multi_arch="index-only")
    assert result.digest == idx.digest
    assert sorted(os.listdir(tmp_path / "d")) == ["manifest.json", "version"]


def test_corrupt_blob_fails_and_leaves_no_manifest(tmp_path: Path, sample_layout: Path) -> None:
    _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/good")
    layer = next(p for p in (tmp_path / "good").iterdir() if p.stat().st_size > 100000)
    data = bytearray(layer.read_bytes())
    data[5000] ^= 0xFF
    layer.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError, match="Digest did not match"):
        _copy(f"dir:{tmp_path}/good", f"oci:{tmp_path}/out:x")
    assert not (tmp_path / "out" / "index.json").exists() or "x" not in (tmp_path / "out" / "index.json").read_text()
    blob_dir = tmp_path / "out" / "blobs" / "sha256"
    leftovers = list(blob_dir.iterdir()) if blob_dir.exists() else []
    assert not any(p.name == layer.name for p in leftovers)




def test_broken_blobs_fail_as_upstream_says(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """Truncated, altered and missing layers: the same message as the reference
    (``writing blob: happened during read: …``, ``reading blob …: open …``),
    after the same ``Copying blob`` line, and no manifest written."""
    _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/good")
    layer = next(p for p in (tmp_path / "good").iterdir() if p.stat().st_size > 100000)
    original = layer.read_bytes()
    altered = bytearray(original)
    altered[500] ^= 1
    for i, damage in enumerate((original[:1000], bytes(altered), None)):
        if damage is None:
            layer.unlink()
        else:
            layer.write_bytes(damage)
        ours = run_skopeo("copy", f"dir:{tmp_path}/good", f"dir:{tmp_path}/out{i}")
        theirs = oracle("copy", f"dir:{tmp_path}/good", f"dir:{tmp_path}/ref{i}")
        assert ours.returncode == theirs.returncode == 1
        assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)
        assert ours.stdout == theirs.stdout
        assert f"Copying blob sha256:{layer.name}" in ours.stdout
        assert not (tmp_path / f"out{i}" / "manifest.json").exists()


@pytest.mark.parametrize("source_compression", ["gzip", "zstd"])
def test_damaged_compressed_layer_is_an_error_not_a_traceback(tmp_path: Path, sample_layout: Path, run_skopeo,  # type: ignore[no-untyped-def]
                                                              source_compression: str) -> None:
    """A layer whose compressed stream is damaged, decompressed on the way
    (recompressed, or decompressed into a docker-archive): one error line.
    For gzip the words are upstream's (1.9.3 and main); for zstd they are
    libzstd's (upstream's decoder words each corruption its own way)."""
    src = f"oci:{tmp_path}/src:t"
    _copy(f"oci:{sample_layout}:hello", src, compression_format=source_compression)
    layer = json.loads(api.inspect_raw(src))["layers"][0]["digest"]
    blob = tmp_path / "src" / "blobs" / "sha256" / layer[7:]
    data = bytearray(blob.read_bytes())
    data[-8 if source_compression == "gzip" else len(data) // 2] ^= 0xFF  # the gzip CRC; zstd block data
    blob.write_bytes(bytes(data))
    want = {"gzip": "gzip: invalid checksum", "zstd": "zstd decompress error: Data corruption detected"}[source_compression]
    other = "zstd" if source_compression == "gzip" else "gzip"
    for dest, flags, prefix in (
        (f"oci:{tmp_path}/re:t", ["--dest-compress-format", other], "writing blob: happened during read: "),
        (f"docker-archive:{tmp_path}/a.tar", [], "writing blob: writing to temporary on-disk layer: happened during read: "),
    ):
        proc = run_skopeo("copy", "-q", *flags, src, dest)
        assert proc.returncode == 1
        assert fatal_message(proc.stderr) == prefix + want
    assert not (tmp_path / "a.tar").exists() and not (tmp_path / "re" / "index.json").exists()


def test_zstd_recompression_roundtrip(tmp_path: Path, sample_layout: Path, oracle) -> None:  # type: ignore[no-untyped-def]
    _copy(f"oci:{sample_layout}:hello", f"oci:{tmp_path}/z:zstd", compression_format="zstd")
    raw = json.loads(api.inspect_raw(f"oci:{tmp_path}/z:zstd"))
    assert raw["layers"][0]["mediaType"] == mf.OCI_LAYER_ZSTD
    images.validate(f"oci:{tmp_path}/z:zstd")
    # The reference decompresses and verifies our zstd layer.
    oracle("copy", "--dest-decompress", f"oci:{tmp_path}/z:zstd", f"dir:{tmp_path}/plain", check=True)
    with pytest.raises(SkopeoError, match="zstd"):
        _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/bad", compression_format="zstd",
              manifest_type=mf.DOCKER_V2S2, force_compression_format=True)


def test_preserve_digests_keeps_manifest(tmp_path: Path, sample_layout: Path) -> None:
    """As upstream: --format and --dest-decompress are ignored when digests must be kept."""
    result = _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d", preserve_digests=True,
                   force_layer_compression="decompress", manifest_type=mf.DOCKER_V2S2)
    assert result.manifest == api.inspect_raw(f"oci:{sample_layout}:hello")


def test_parallel_and_serial_copies_agree(tmp_path: Path) -> None:
    path = tmp_path / "many"
    images.make_image(str(path), "t", seed=7, layers=6)
    a = _copy(f"oci:{path}:t", f"dir:{tmp_path}/a", parallel_copies=6)
    b = _copy(f"oci:{path}:t", f"dir:{tmp_path}/b", parallel_copies=1)
    assert a.manifest == b.manifest
    images.validate(f"dir:{tmp_path}/a")


def test_existing_blobs_are_reused(tmp_path: Path, sample_layout: Path) -> None:
    import io

    _copy(f"oci:{sample_layout}:hello", f"oci:{tmp_path}/o:one")
    layer = json.loads(api.inspect_raw(f"oci:{tmp_path}/o:one"))["layers"][0]["digest"]
    blob = tmp_path / "o" / "blobs" / "sha256" / layer.split(":")[1]
    written = blob.stat().st_mtime_ns
    out = io.StringIO()
    _copy(f"oci:{sample_layout}:hello", f"oci:{tmp_path}/o:two", report=out)
    assert blob.stat().st_mtime_ns == written  # not written again
    # Not a terminal: the plain line, as upstream ("skipped: already exists" is a bar's text).
    assert f"Copying blob {layer}\n" in out.getvalue()
    assert "skipped" not in out.getvalue()


def test_multi_arch_all_constant() -> None:
    assert MULTI_ARCH_ALL == "all"


GZIPPED_EMPTY_LAYER = bytes([31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88, 0, 8, 0, 0, 255, 255,
                             46, 175, 181, 239, 0, 4, 0, 0])


def _schema1_dir(tmp_path: Path, sample_layout: Path) -> Path:
    """An unsigned schema1 image (one real layer, one throwaway) in a dir: directory."""
    _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/v2")
    v2 = json.loads((tmp_path / "v2" / "manifest.json").read_text())
    layer = v2["layers"][0]["digest"]
    d = tmp_path / "s1"
    d.mkdir()
    (d / "version").write_text("Directory Transport Version: 1.1\n")
    (d / layer.split(":")[1]).write_bytes((tmp_path / "v2" / layer.split(":")[1]).read_bytes())
    assert mf.EMPTY_LAYER_DIGEST == "sha256:" + __import__("hashlib").sha256(GZIPPED_EMPTY_LAYER).hexdigest()
    (d / mf.EMPTY_LAYER_DIGEST.split(":")[1]).write_bytes(GZIPPED_EMPTY_LAYER)
    base = {"id": "b" * 64, "created": "2026-01-01T00:00:00.5Z", "container_config": {"Cmd": ["/bin/sh -c #(nop) ADD file:busybox in /"]}}
    top = {"id": "c" * 64, "parent": "b" * 64, "created": "2026-01-02T00:00:00Z", "author": "tester <t@example.com>",
           "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ", "CMD [\"sh\"]"]},
           "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": {"a": "<b>"}},
           "architecture": "amd64", "os": "linux", "docker_version": "20.10.7", "throwaway": True, "Size": 0}
    manifest = {"schemaVersion": 1, "name": "library/hello", "tag": "v1", "architecture": "amd64",
                "fsLayers": [{"blobSum": mf.EMPTY_LAYER_DIGEST}, {"blobSum": layer}],
                "history": [{"v1Compatibility": json.dumps(top)}, {"v1Compatibility": json.dumps(base)}]}
    (d / "manifest.json").write_text(json.dumps(manifest, indent=3))
    return d


def test_schema1_converted_like_reference(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    s1 = _schema1_dir(tmp_path, sample_layout)
    info = json.loads(run_skopeo("inspect", f"dir:{s1}", check=True).stdout)
    assert info["Tag"] == "v1" and info["Architecture"] == "amd64"
    assert info["Layers"] == [json.loads((s1 / "manifest.json").read_text())["fsLayers"][1]["blobSum"], mf.EMPTY_LAYER_DIGEST]
    for fmt in ("oci", "v2s2"):
        run_skopeo("copy", "--format", fmt, f"dir:{s1}", f"dir:{tmp_path}/ours-{fmt}", check=True)
        oracle("copy", "--format", fmt, f"dir:{s1}", f"dir:{tmp_path}/theirs-{fmt}", check=True)
        ours = sorted(p.name for p in (tmp_path / f"ours-{fmt}").iterdir())
        assert ours == sorted(p.name for p in (tmp_path / f"theirs-{fmt}").iterdir())
        for name in ours:
            assert (tmp_path / f"ours-{fmt}" / name).read_bytes() == (tmp_path / f"theirs-{fmt}" / name).read_bytes(), (fmt, name)
        images.validate(f"dir:{tmp_path}/ours-{fmt}")
    # oci: accepts no schema1, so the conversion happens without --format too.
    run_skopeo("copy", f"dir:{s1}", f"oci:{tmp_path}/layout:s1", check=True)
    images.validate(f"oci:{tmp_path}/layout:s1")


def test_oversized_config_is_refused_without_reading_it_all(tmp_path: Path, sample_layout: Path) -> None:
    """Configs are read into memory, so their size is capped (4 MiB) before use."""
    import hashlib

    _copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d")
    big = b'{"architecture":"amd64","os":"linux","pad":"' + b"x" * (5 << 20) + b'"}'
    digest = "sha256:" + hashlib.sha256(big).hexdigest()
    (tmp_path / "d" / digest.split(":")[1]).write_bytes(big)
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    manifest["config"]["digest"], manifest["config"]["size"] = digest, len(big)
    (tmp_path / "d" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SkopeoError, match="too large"):
        _copy(f"dir:{tmp_path}/d", f"dir:{tmp_path}/out")
    with pytest.raises(SkopeoError, match="too large"):
        api.inspect(f"dir:{tmp_path}/d")


def _awkward_tar() -> bytes:
    """Entries of every kind a layer holds: directories, files (empty, large,
    with a long name, with xattrs), symlinks, hard links, a fifo."""
    import io
    import random
    import tarfile

    rng = random.Random(5)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: object) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mtime, info.mode = kind, len(data), 1700000000, 0o755 if kind == tarfile.DIRTYPE else 0o644
            for key, value in attrs.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("etc/", tarfile.DIRTYPE)
        add("etc/empty")
        add("etc/big.bin", data=rng.randbytes(3 << 20), uid=1000, gid=1000)
        add("etc/" + "long-name-" * 20 + ".txt", data=b"long\n" * 100)
        add("etc/caps", data=b"x", pax_headers={"SCHILY.xattr.security.capability": "\x01\x02"})
        add("etc/link", tarfile.SYMTYPE, linkname="big.bin")
        add("etc/hard", tarfile.LNKTYPE, linkname="etc/big.bin")
        add("etc/pipe", tarfile.FIFOTYPE)
    return buf.getvalue()


def test_zstd_chunked(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """``--dest-compress-format zstd:chunked``: a plain zstd stream of the same
    tar (diff_ids unchanged, the reference decompresses it), whose TOC (found by
    footer and annotations) describes every entry like the reference's, and
    whose per-file frames decompress to exactly each file's content."""
    import io
    import tarfile

    import zstandard

    from skopeo import zstdchunked

    layer = _awkward_tar()
    src = tmp_path / "src"
    writer = images.OCILayoutWriter(str(src))
    writer.tag(writer.image([layer]), "v1")
    run_skopeo("copy", "--dest-compress-format", "zstd:chunked", f"oci:{src}:v1", f"oci:{tmp_path}/out:v1", check=True)
    images.validate(f"oci:{tmp_path}/out:v1")  # digests, sizes, and the diff_id of the decompressed stream
    manifest = json.loads(api.inspect_raw(f"oci:{tmp_path}/out:v1"))
    (desc,) = manifest["layers"]
    assert desc["mediaType"] == mf.OCI_LAYER_ZSTD
    blob = (tmp_path / "out" / "blobs" / "sha256" / desc["digest"].split(":")[1]).read_bytes()

    def unzstd(data: bytes) -> bytes:
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()

    assert unzstd(blob) == layer
    toc = zstdchunked.read_toc(blob, desc["annotations"])
    by_name = {e["name"]: e for e in toc["entries"]}
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        for member in tar.getmembers():
            name = member.name + ("/" if member.isdir() else "")
            entry = by_name[name]
            if member.isreg() and member.size:
                content = tar.extractfile(member).read()  # type: ignore[union-attr]
                frames = blob[entry["offset"]:entry["endOffset"]]
                assert unzstd(frames) == content
                assert entry["digest"] == f"sha256:{hashlib.sha256(content).hexdigest()}"
    assert by_name["etc/link"]["type"] == "symlink" and by_name["etc/link"]["linkName"] == "big.bin"
    assert by_name["etc/hard"]["type"] == "hardlink" and by_name["etc/pipe"]["type"] == "fifo"
    assert by_name["etc/caps"]["xattrs"] == {"security.capability": "AQI="}
    assert by_name["etc/big.bin"]["uid"] == 1000
    # The reference reads it as the plain layer.
    oracle("copy", "--dest-decompress", f"oci:{tmp_path}/out:v1", f"dir:{tmp_path}/plain", check=True)
    assert (tmp_path / "plain" / hashlib.sha256(layer).hexdigest()).read_bytes() == layer
    # And describes the same entries for the same input (upstream also splits
    # large files into extra "chunk" entries at content-defined boundaries).
    # 1.9.3 writes the previous format, which read_toc still reads; it wrote
    # absent times as Go's zero time, which containers/storage takes for absent.
    oracle("copy", "--dest-compress-format", "zstd:chunked", f"oci:{src}:v1", f"oci:{tmp_path}/theirs:v1", check=True)
    theirs = json.loads(oracle("inspect", "--raw", f"oci:{tmp_path}/theirs:v1", check=True).stdout)["layers"][0]
    assert sorted(theirs["annotations"]) == [zstdchunked.OLD_CHECKSUM_ANNOTATION, zstdchunked.OLD_POSITION_ANNOTATION]
    their_blob = (tmp_path / "theirs" / "blobs" / "sha256" / theirs["digest"].split(":")[1]).read_bytes()
    positional = {"offset", "endOffset", "chunkSize", "chunkOffset", "chunkDigest", "chunkType"}

    def described(entries: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in e.items() if k not in positional and v != "0001-01-01T00:00:00Z"}
                for e in entries if e["type"] != "chunk"]

    assert described(toc["entries"]) == described(zstdchunked.read_toc(their_blob, theirs["annotations"])["entries"])


def test_zstd_chunked_of_a_layer_that_is_not_a_tar(tmp_path: Path) -> None:
    writer = images.OCILayoutWriter(str(tmp_path / "src"))
    writer.tag(writer.image([b"\x01" * 5000]), "v1")
    with pytest.raises(SkopeoError, match="compressing layer as zstd:chunked"):
        _copy(f"oci:{tmp_path}/src:v1", f"oci:{tmp_path}/out:v1", compression_format="zstd:chunked")


@pytest.mark.parametrize(("arch", "variant", "wanted"), [
    ("amd64", "", [""]),
    ("amd64", "v1", [""]),
    ("amd64", "v3", ["v3", "v2", ""]),
    ("arm64", "", ["", "v8"]),
    ("arm", "v7", ["v7", "v6", "v5", ""]),
    ("arm", "", ["", "v8", "v7", "v6", "v5"]),
    ("riscv64", "rva23", ["rva23", ""]),
])
def test_wanted_platform_variants(arch: str, variant: str, wanted: list[str]) -> None:
    """Upstream's WantedPlatforms: a variant falls back to less capable ones and
    finally to none; an amd64 image's "v1" is the same as no variant."""
    assert [v for _, _, v in mf.wanted_platforms("linux", arch, variant)] == wanted


def test_amd64_variant_request_falls_back(tmp_path: Path, multiarch: tuple[str, images.Written], run_skopeo,  # type: ignore[no-untyped-def]
                                          oracle) -> None:
    src, _ = multiarch
    for flags in (["--override-arch", "amd64", "--override-variant", "v3"], ["--override-arch", "arm64"]):
        ours = run_skopeo(*flags, "inspect", "--config", src, check=True)
        theirs = oracle(*flags, "inspect", "--config", src, check=True)
        assert json.loads(ours.stdout)["architecture"] == json.loads(theirs.stdout)["architecture"] == flags[1]


@pytest.mark.parametrize("damage", ["instance manifest", "instance layer"])
def test_damaged_list_instance_names_the_instance(tmp_path: Path, run_skopeo, damage: str) -> None:  # type: ignore[no-untyped-def]
    """A list whose second instance's manifest (or one of its layers) no longer
    matches its digest: refused, with upstream's words and context for a whole-list
    copy and for the instance chosen for this system."""
    idx = images.make_multiarch(str(tmp_path / "m"), "m")
    blobs = tmp_path / "m" / "blobs" / "sha256"
    instance = json.loads((blobs / idx.digest[7:]).read_bytes())["manifests"][1]["digest"]
    if damage == "instance manifest":
        target = blobs / instance[7:]
        target.write_bytes(target.read_bytes() + b" ")  # still valid JSON, another digest
        reason = (f"determining manifest MIME type for oci:{tmp_path}/m:m: "
                  f"Manifest does not match provided manifest digest {instance}")
    else:
        layer = json.loads((blobs / instance[7:]).read_bytes())["layers"][0]["digest"]
        target = blobs / layer[7:]
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        reason = (f"writing blob: happened during read: Digest did not match, expected {layer}, "
                  f"got sha256:{hashlib.sha256(data).hexdigest()}")
    for flags, context in ((["--all"], "copying image 2/3 from manifest list"),
                           (["--override-arch", "arm64"], "copying system image from manifest list")):
        out = tmp_path / f"out-{flags[0]}"
        proc = run_skopeo("copy", "-q", *flags, f"oci:{tmp_path}/m:m", f"dir:{out}")
        assert proc.returncode == 1
        assert fatal_message(proc.stderr) == f"{context}: {reason}"
        assert not (out / "manifest.json").exists()
