"""The zip: transport end to end, through the real CLI, checked against the
reference skopeo's view of the same image."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest

import skopeo_dir
import skopeo_oci
import skopeo_zip
from skopeo import api, plugins
from skopeo.copy import CopyOptions
from skopeo.errors import InvalidReferenceError
from skopeo.policy import Policy, PolicyContext
from skopeo.testing.fixtures import fatal_message, skopeo_command
from skopeo.testing.images import make_image, make_multiarch, validate
from skopeo.transport import DECOMPRESS, PRESERVE
from skopeo_zip.archive import VERSION, ZipDestination, ZipSource

RunSkopeo = Callable[..., subprocess.CompletedProcess[str]]


def our_raw(name: str) -> bytes:
    """``skopeo inspect --raw`` from our CLI, as bytes."""
    return subprocess.run([*skopeo_command(), "inspect", "--raw", name], capture_output=True, check=True).stdout


def test_round_trip_oci_zip_dir_matches_reference(
    tmp_path: Path,
    sample_layout: Path,
    zip_image: Path,
    run_skopeo: RunSkopeo,
    oracle: RunSkopeo,
    raw_oracle: Callable[[str], bytes],
) -> None:
    source = f"oci:{sample_layout}:hello"
    expected = raw_oracle(source)
    assert our_raw(f"zip:{zip_image}") == expected

    ours = json.loads(run_skopeo("inspect", f"zip:{zip_image}", check=True).stdout)
    reference = json.loads(oracle("inspect", source, check=True).stdout)
    assert ours["Digest"] == "sha256:" + hashlib.sha256(expected).hexdigest()
    for key, value in reference.items():  # 1.9.3 lacks some newer fields (LayersData)
        assert ours[key] == value, key

    out = tmp_path / "out"
    run_skopeo("copy", f"zip:{zip_image}", f"dir:{out}", check=True)
    assert (out / "manifest.json").read_bytes() == expected
    assert raw_oracle(f"dir:{out}") == expected
    for blob in (sample_layout / "blobs" / "sha256").iterdir():
        if blob.name != hashlib.sha256(expected).hexdigest():
            assert (out / blob.name).read_bytes() == blob.read_bytes()
    assert validate(f"zip:{zip_image}")


def test_archive_layout(tmp_path: Path, zip_image: Path) -> None:
    with zipfile.ZipFile(zip_image) as zf:
        members = zf.infolist()
        names = [m.filename for m in members]
        assert names[0] == "version" and zf.read("version") == VERSION
        assert names[-1] == "manifest.json"  # written last, at commit
        manifest = json.loads(zf.read("manifest.json"))
        digests = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
        assert sorted(names[1:-1]) == sorted(d.removeprefix("sha256:") for d in digests)
        for m in members[1:-1]:
            assert m.compress_type == zipfile.ZIP_STORED
            assert m.date_time == (1980, 1, 1, 0, 0, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.zip", "policy.json", "sample-oci"]
    assert oct(zip_image.stat().st_mode & 0o777) == oct(0o644)


def test_rewriting_is_reproducible(sample_layout: Path, zip_image: Path, run_skopeo: RunSkopeo) -> None:
    first = zip_image.read_bytes()
    run_skopeo("copy", f"oci:{sample_layout}:hello", f"zip:{zip_image}", check=True)
    assert zip_image.read_bytes() == first


def test_signatures_round_trip(tmp_path: Path, sample_layout: Path, run_skopeo: RunSkopeo) -> None:
    signed = tmp_path / "signed"
    run_skopeo("copy", f"oci:{sample_layout}:hello", f"dir:{signed}", check=True)
    sigs = [b"first signature \x00\xff", b"second signature"]
    for i, sig in enumerate(sigs):
        (signed / f"signature-{i + 1}").write_bytes(sig)
    archive = tmp_path / "signed.zip"
    run_skopeo("copy", f"dir:{signed}", f"zip:{archive}", check=True)
    with zipfile.ZipFile(archive) as zf:
        assert [zf.read(f"signature-{i + 1}") for i in range(2)] == sigs
    back = tmp_path / "back"
    run_skopeo("copy", f"zip:{archive}", f"dir:{back}", check=True)
    assert [(back / f"signature-{i + 1}").read_bytes() for i in range(2)] == sigs
    assert not (back / "signature-3").exists()


@pytest.mark.parametrize("via", ["cli-zstd", "api-decompress"])
def test_layers_changed_by_the_engine(tmp_path: Path, sample_layout: Path, run_skopeo: RunSkopeo, via: str) -> None:
    """A layer the engine transforms arrives without a digest: the destination
    computes it, and the member is named by it."""
    archive = tmp_path / "changed.zip"
    source, dest = f"oci:{sample_layout}:hello", f"zip:{archive}"
    if via == "cli-zstd":
        run_skopeo("copy", "--dest-compress-format", "zstd", "--dest-force-compress-format", source, dest, check=True)
        media_type = "application/vnd.oci.image.layer.v1.tar+zstd"
    else:  # the CLI allows --dest-decompress for dir: only; the engine takes it for any destination
        api.copy(source, dest, CopyOptions(force_layer_compression=DECOMPRESS), PolicyContext(Policy.accept_anything()))
        media_type = "application/vnd.oci.image.layer.v1.tar"
    assert validate(dest)
    with zipfile.ZipFile(archive) as zf:
        layer = json.loads(zf.read("manifest.json"))["layers"][0]
        assert layer["mediaType"] == media_type
        data = zf.read(layer["digest"].removeprefix("sha256:"))
    assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"] and len(data) == layer["size"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".skopeo-zip-")] == []


def test_unusable_spool_directory_is_one_error(tmp_path: Path, sample_layout: Path, run_skopeo: RunSkopeo) -> None:
    """A changed layer is spooled in --tmpdir; when that cannot be written the
    copy fails with one line (no traceback) and leaves no archive."""
    archive = tmp_path / "changed.zip"
    missing = tmp_path / "missing"
    proc = run_skopeo("--tmpdir", str(missing), "copy", "--dest-compress-format", "zstd", "--dest-force-compress-format",
                      f"oci:{sample_layout}:hello", f"zip:{archive}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert fatal_message(proc.stderr) == f"writing blob: creating a temporary file in {missing}: no such file or directory"
    assert not archive.exists()


def test_many_layers_read_in_parallel(tmp_path: Path, run_skopeo: RunSkopeo) -> None:
    """dir: accepts parallel writes and ZipSource parallel reads, so the engine
    reads several members of one archive at once."""
    layout = tmp_path / "layers"
    image = make_image(str(layout), "many", layers=8)
    archive = tmp_path / "many.zip"
    run_skopeo("copy", f"oci:{layout}:many", f"zip:{archive}", check=True)
    out = tmp_path / "out"
    run_skopeo("copy", "--image-parallel-copies", "8", f"zip:{archive}", f"dir:{out}", check=True)
    assert len(validate(f"dir:{out}")) == 8
    assert "sha256:" + hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() == image.digest


def test_manifest_list_round_trip(tmp_path: Path, run_skopeo: RunSkopeo) -> None:
    layout = tmp_path / "multi"
    index = make_multiarch(str(layout), "multi")
    archive = tmp_path / "multi.zip"
    run_skopeo("copy", "--all", f"oci:{layout}:multi", f"zip:{archive}", check=True)
    assert our_raw(f"zip:{archive}") == our_raw(f"oci:{layout}:multi")
    assert validate(f"zip:{archive}") and len(validate(f"zip:{archive}")) == 3
    with zipfile.ZipFile(archive) as zf:
        instances = json.loads(zf.read("manifest.json"))["manifests"]
        for d in instances:
            zf.getinfo(d["digest"].removeprefix("sha256:") + ".manifest.json")
    again = tmp_path / "again"
    run_skopeo("copy", "--all", f"zip:{archive}", f"oci:{again}:multi", check=True)
    assert "sha256:" + hashlib.sha256(our_raw(f"oci:{again}:multi")).hexdigest() == index.digest


def test_policy_scopes_are_paths(tmp_path: Path, zip_image: Path, run_skopeo: RunSkopeo) -> None:
    policy = tmp_path / "reject-here.json"
    here = os.path.realpath(tmp_path)
    policy.write_text(json.dumps({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"zip": {here: [{"type": "reject"}]}},
    }))
    proc = run_skopeo("--policy", str(policy), "copy", f"zip:{zip_image}", f"dir:{tmp_path / 'out'}", policy=False)
    assert proc.returncode == 1
    assert f"Running image zip:{zip_image} is rejected by policy." in proc.stderr
    assert not (tmp_path / "out" / "manifest.json").exists()

    policy.write_text(json.dumps({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"zip": {"relative/dir": [{"type": "reject"}]}},
    }))
    proc = run_skopeo("--policy", str(policy), "copy", f"zip:{zip_image}", f"dir:{tmp_path / 'out'}", policy=False)
    assert proc.returncode == 1
    assert "Invalid scope relative/dir: Must be an absolute path" in proc.stderr


def test_api_with_only_the_plugins_a_test_registers(
    tmp_path: Path, sample_layout: Path, manager: Callable[..., pluggy.PluginManager]
) -> None:
    manager(skopeo_zip, skopeo_oci)
    assert sorted(plugins.transports()) == ["oci", "zip"]
    with pytest.raises(InvalidReferenceError, match='unknown transport "dir"'):
        api.parse("dir:/tmp/x")
    archive = tmp_path / "api.zip"
    result = api.copy(f"oci:{sample_layout}:hello", f"zip:{archive}", policy=PolicyContext(Policy.accept_anything()))
    assert api.inspect(f"zip:{archive}")["Digest"] == result.digest
    manager(skopeo_zip, skopeo_dir)
    api.copy(f"zip:{archive}", f"dir:{tmp_path / 'out'}", policy=PolicyContext(Policy.accept_anything()))
    assert (tmp_path / "out" / "manifest.json").read_bytes() == result.manifest


def test_capabilities_are_data() -> None:
    caps = ZipDestination.capabilities
    assert caps.supported_manifest_types is None
    assert caps.desired_layer_compression == PRESERVE
    assert caps.thread_safe_put_blob is False
    assert caps.signatures_unsupported_reason is None
    assert ZipSource.capabilities.thread_safe_get_blob is True


def test_plugin_module_is_import_light() -> None:
    code = "import sys, skopeo_zip; print([m for m in ('zipfile', 'skopeo_zip.archive') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
