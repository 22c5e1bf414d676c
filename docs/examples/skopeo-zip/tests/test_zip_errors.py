"""Every way a zip: image can be wrong, and what the user sees: one fatal line
with an actionable message, the documented exit status, and no half-written
archive left behind."""

from __future__ import annotations

import json
import struct
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from skopeo_zip.archive import VERSION, blob_member

RunSkopeo = Callable[..., subprocess.CompletedProcess[str]]


def layer_digest(archive: Path) -> str:
    with zipfile.ZipFile(archive) as zf:
        digest: str = json.loads(zf.read("manifest.json"))["layers"][0]["digest"]
    return digest


def rewrite(src: Path, dest: Path, changes: dict[str, bytes | None]) -> None:
    """Copy an archive member by member, replacing (or, with None, dropping) some."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            if info.filename in changes:
                data = changes[info.filename]
                if data is not None:
                    zout.writestr(info, data)
            else:
                zout.writestr(info, zin.read(info))


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def assert_fails(proc: subprocess.CompletedProcess[str], message: str, code: int = 1) -> None:
    assert proc.returncode == code, proc.stderr
    assert "level=fatal" in proc.stderr and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".skopeo-zip-"))


# --- reading -----------------------------------------------------------------------
def test_missing_archive_is_image_not_found(tmp_path: Path, run_skopeo: RunSkopeo) -> None:
    missing = tmp_path / "missing.zip"
    assert_fails(run_skopeo("inspect", f"zip:{missing}"), f"open {missing}: no such file or directory", code=2)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p.mkdir(), "is a directory, not a zip file"),
        (lambda p: p.write_bytes(b"just text"), "is not a zip file"),
        (lambda p: make_zip(p, {"manifest.json": b"{}"}), "is not a zip image: it has no 'version' member"),
        (
            lambda p: make_zip(p, {"version": b"Zip Transport Version: 2.0\n"}),
            "unsupported zip transport version 'Zip Transport Version: 2.0'",
        ),
        (lambda p: make_zip(p, {"version": b"x" * 1025}), "is larger than 1024 bytes"),
    ],
    ids=["directory", "not-a-zip", "no-version", "future-version", "huge-version"],
)
def test_not_a_zip_image(tmp_path: Path, run_skopeo: RunSkopeo, setup: Callable[[Path], object], message: str) -> None:
    archive = tmp_path / "bad.zip"
    setup(archive)
    assert_fails(run_skopeo("inspect", f"zip:{archive}"), message)


def test_missing_manifest_is_image_not_found(tmp_path: Path, run_skopeo: RunSkopeo) -> None:
    archive = make_zip(tmp_path / "empty.zip", {"version": VERSION})
    assert_fails(run_skopeo("inspect", f"zip:{archive}"), "no manifest.json in the archive", code=2)


def test_oversized_manifest_is_refused(tmp_path: Path, run_skopeo: RunSkopeo) -> None:
    archive = make_zip(tmp_path / "big.zip", {"version": VERSION, "manifest.json": b" " * (4 * 1024 * 1024 + 1)})
    proc = run_skopeo("inspect", "--raw", f"zip:{archive}")
    assert_fails(proc, f"manifest.json in {archive} is larger than 4194304 bytes")


def test_malformed_digest_in_manifest(tmp_path: Path, zip_image: Path, run_skopeo: RunSkopeo) -> None:
    with zipfile.ZipFile(zip_image) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    manifest["layers"][0]["digest"] = "sha256:../../etc/passwd"
    broken = tmp_path / "broken.zip"
    rewrite(zip_image, broken, {"manifest.json": json.dumps(manifest).encode()})
    proc = run_skopeo("copy", f"zip:{broken}", f"dir:{tmp_path / 'out'}")
    assert_fails(proc, "invalid checksum digest length")  # go-digest checks the length first


def test_missing_blob(tmp_path: Path, zip_image: Path, run_skopeo: RunSkopeo) -> None:
    digest = layer_digest(zip_image)
    broken = tmp_path / "broken.zip"
    rewrite(zip_image, broken, {blob_member(digest): None})
    assert_fails(run_skopeo("copy", f"zip:{broken}", f"dir:{tmp_path / 'out'}"), f"blob {digest} is not in {broken}")


def test_blob_with_wrong_content_fails_the_digest_check(tmp_path: Path, zip_image: Path, run_skopeo: RunSkopeo) -> None:
    """A member with a valid CRC but other bytes: the copy engine's verifier catches it,
    and neither a new archive nor a temporary file is left behind."""
    digest = layer_digest(zip_image)
    with zipfile.ZipFile(zip_image) as zf:
        data = bytearray(zf.read(blob_member(digest)))
    data[100] ^= 0xFF
    tampered = tmp_path / "tampered.zip"
    rewrite(zip_image, tampered, {blob_member(digest): bytes(data)})

    proc = run_skopeo("copy", f"zip:{tampered}", f"dir:{tmp_path / 'out'}")
    assert_fails(proc, f"Digest did not match, expected {digest}")
    assert_fails(run_skopeo("copy", f"zip:{tampered}", f"zip:{tmp_path / 'new.zip'}"), "Digest did not match")
    assert not (tmp_path / "new.zip").exists()
    # Overwriting an existing image with a failed copy leaves the old one intact.
    before = zip_image.read_bytes()
    assert_fails(run_skopeo("copy", f"zip:{tampered}", f"zip:{zip_image}"), "Digest did not match")
    assert zip_image.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_damaged_member_reports_the_crc_error(tmp_path: Path, zip_image: Path, run_skopeo: RunSkopeo) -> None:
    digest = layer_digest(zip_image)
    raw = bytearray(zip_image.read_bytes())
    with zipfile.ZipFile(zip_image) as zf:
        offset = zf.getinfo(blob_member(digest)).header_offset
    name_len, extra_len = struct.unpack("<HH", raw[offset + 26 : offset + 30])
    raw[offset + 30 + name_len + extra_len + 100] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    assert_fails(
        run_skopeo("copy", f"zip:{damaged}", f"dir:{tmp_path / 'out'}"),
        f"reading {blob_member(digest)} from {damaged}: Bad CRC-32",
    )


# --- writing -----------------------------------------------------------------------
def test_empty_path_is_invalid(run_skopeo: RunSkopeo) -> None:
    assert_fails(run_skopeo("inspect", "zip:"), "zip: path must not be empty")


@pytest.mark.parametrize(
    "setup",
    [lambda p: p.write_bytes(b"important data"), lambda p: make_zip(p, {"thesis.tex": b"important data"})],
    ids=["plain-file", "other-zip"],
)
def test_destination_refuses_to_overwrite_other_files(
    tmp_path: Path, sample_layout: Path, run_skopeo: RunSkopeo, setup: Callable[[Path], object]
) -> None:
    target = tmp_path / "precious.zip"
    setup(target)
    before = target.read_bytes()
    assert_fails(
        run_skopeo("copy", f"oci:{sample_layout}:hello", f"zip:{target}"),
        f"initializing destination zip:{target}: not a zip image written by skopeo, "
        "don't want to overwrite important data",
    )
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_destination_may_be_an_empty_file(tmp_path: Path, sample_layout: Path, run_skopeo: RunSkopeo) -> None:
    target = tmp_path / "placeholder.zip"
    target.touch()
    run_skopeo("copy", f"oci:{sample_layout}:hello", f"zip:{target}", check=True)
    assert zipfile.is_zipfile(target)


def test_destination_is_a_directory(tmp_path: Path, sample_layout: Path, run_skopeo: RunSkopeo) -> None:
    target = tmp_path / "dir.zip"
    target.mkdir()
    assert_fails(run_skopeo("copy", f"oci:{sample_layout}:hello", f"zip:{target}"), "is a directory")


def test_destination_directory_missing(tmp_path: Path, sample_layout: Path, run_skopeo: RunSkopeo) -> None:
    target = tmp_path / "no" / "such" / "dir" / "x.zip"
    # resolve_path_for_policy refuses a missing parent when the name is parsed,
    # as the built-in dir:, oci: and oci-archive: transports do.
    assert_fails(
        run_skopeo("copy", f"oci:{sample_layout}:hello", f"zip:{target}"),
        f"Invalid destination name zip:{target}: lstat {tmp_path}/no: no such file or directory",
    )
