"""The hidden, deprecated ``skopeo layers``: the directory it writes and its
errors, compared with the reference skopeo (which has the same command)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skopeo import layers
from skopeo.errors import SkopeoError
from skopeo.testing import images
from skopeo.testing.fixtures import fatal_message

DEPRECATED = "DEPRECATED: skopeo layers is deprecated in favor of skopeo copy\n"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    images.make_image(str(tmp_path / "single"), "t1")
    images.make_multiarch(str(tmp_path / "multi"), "m")
    return tmp_path


def _layers_dirs(cwd: Path) -> list[Path]:
    return sorted(p for p in cwd.iterdir() if p.name.startswith("layers-"))


def _contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _run_both(run_skopeo, oracle, tmp_path: Path, *args: str) -> tuple[dict[str, bytes], dict[str, bytes]]:  # type: ignore[no-untyped-def]
    out = []
    for name, runner in (("ours", run_skopeo), ("reference", oracle)):
        cwd = tmp_path / name
        cwd.mkdir()
        proc = runner("layers", *args, cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == DEPRECATED and proc.stdout == ""
        [written] = _layers_dirs(cwd)
        assert written.name[len("layers-"):].isdigit()
        assert (written.stat().st_mode & 0o777) == 0o700
        out.append(_contents(written))
    return out[0], out[1]


@pytest.mark.oracle
def test_all_blobs_as_the_reference(tmp_path: Path, source: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    ours, reference = _run_both(run_skopeo, oracle, tmp_path, f"oci:{source / 'single'}:t1")
    assert ours == reference
    manifest = json.loads(ours["manifest.json"])
    expected = {d["digest"].split(":")[1] for d in [*manifest["layers"], manifest["config"]]}
    assert set(ours) == expected | {"manifest.json", "version"}


@pytest.mark.oracle
def test_a_list_gives_its_instance_blobs_and_the_list(tmp_path: Path, source: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    ours, reference = _run_both(run_skopeo, oracle, tmp_path, "--override-arch", "arm64", f"oci:{source / 'multi'}:m")
    assert ours == reference
    assert json.loads(ours["manifest.json"])["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert len(ours) == 4  # one layer, the config, manifest.json, version


@pytest.mark.oracle
def test_named_layers_only(tmp_path: Path, source: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    index = json.loads((source / "single" / "index.json").read_bytes())
    manifest = json.loads((source / "single" / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    first, second = (d["digest"] for d in manifest["layers"])
    ours, reference = _run_both(run_skopeo, oracle, tmp_path, f"oci:{source / 'single'}:t1", first[7:], second,
                                first)
    assert ours == reference
    assert set(ours) == {first[7:], second[7:], "manifest.json", "version"}


@pytest.mark.parametrize(("args", "message", "code"), [
    ((), "Usage: layers imageReference [layer...]", 1),
    (("{src}:t1", "xyz"), "invalid checksum digest length", 1),
    (("{src}:t1", "md5:" + "0" * 32), "invalid checksum digest length", 1),
    (("nope:x",), 'Invalid image name "nope:x", unknown transport "nope"', 1),
    (("{src}:nope",), 'no descriptor found for reference "nope"', 2),
    (("{src}:t1", "0" * 64), "open {src_path}/blobs/sha256/" + "0" * 64 + ": no such file or directory", 1),
])
def test_errors(tmp_path: Path, source: Path, run_skopeo, args: tuple[str, ...], message: str, code: int) -> None:  # type: ignore[no-untyped-def]
    src = f"oci:{source / 'single'}"
    proc = run_skopeo("layers", *(a.format(src=src) for a in args), cwd=tmp_path)
    assert proc.returncode == code
    assert proc.stderr.startswith(DEPRECATED)
    assert fatal_message(proc.stderr) == message.format(src_path=source / "single")


def test_a_corrupt_blob_is_refused_and_not_kept(tmp_path: Path, source: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    layout = source / "single"
    index = json.loads((layout / "index.json").read_bytes())
    manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    digest = manifest["layers"][0]["digest"]
    path = layout / "blobs" / "sha256" / digest[7:]
    data = bytearray(path.read_bytes())
    data[50] ^= 1
    path.write_bytes(bytes(data))
    cwd = tmp_path / "run"
    cwd.mkdir()
    proc = run_skopeo("layers", f"oci:{layout}:t1", cwd=cwd)
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == f'corrupt blob "{digest}"'
    [written] = _layers_dirs(cwd)  # left behind, as upstream, but without the bad blob
    assert digest[7:] not in os.listdir(written)


def test_digest_arguments() -> None:
    hexa = "a" * 64
    assert layers.blob_digests([hexa, "sha256:" + hexa]) == ["sha256:" + hexa] * 2
    with pytest.raises(SkopeoError, match=r"^invalid checksum digest length$"):
        layers.blob_digests(["sha512:" + "a" * 128])  # "sha256:" is put in front of anything else


def test_from_a_registry(tmp_path: Path, source: Path, registry, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    run_skopeo("copy", "--dest-tls-verify=false", f"oci:{source / 'single'}:t1", f"docker://{registry.host}/x:t1",
               check=True)
    cwd = tmp_path / "run"
    cwd.mkdir()
    proc = run_skopeo("layers", "--tls-verify=false", f"docker://{registry.host}/x:t1", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    [written] = _layers_dirs(cwd)
    assert images.validate(f"dir:{written}")
