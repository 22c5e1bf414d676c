"""The dir: transport on its own: file layout, destination rules, signatures."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from skopeo import api
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions
from skopeo.errors import ImageNotFoundError, SkopeoError
from skopeo.policy import Policy, PolicyContext
from skopeo.testing import images
from skopeo.testing.fixtures import fatal_message
from skopeo.transport import BlobInfo
from skopeo_dir.transport import VERSION_1_1, VERSION_1_2, DirTransport, blob_name

ACCEPT = PolicyContext(Policy.accept_anything())


def test_blob_names() -> None:
    assert blob_name("sha256:" + "a" * 64) == "a" * 64
    assert blob_name("sha512:" + "b" * 128) == "sha512-" + "b" * 128
    with pytest.raises(SkopeoError, match=r"^invalid checksum digest length$"):  # go-digest: the length first
        blob_name("sha256:../../etc/passwd")


def test_layout_written_like_upstream(tmp_path: Path, sample_layout: Path) -> None:
    api.copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d", CopyOptions(), ACCEPT)
    names = sorted(os.listdir(tmp_path / "d"))
    assert names[-2:] == ["manifest.json", "version"]
    assert (tmp_path / "d" / "version").read_text() == VERSION_1_1
    assert all(len(n) == 64 for n in names[:-2])
    images.validate(f"dir:{tmp_path}/d")


def test_lists_write_instance_manifests(tmp_path: Path) -> None:
    images.make_multiarch(str(tmp_path / "m"), "t")
    api.copy(f"oci:{tmp_path}/m:t", f"dir:{tmp_path}/d", CopyOptions(multi_arch="all"), ACCEPT)
    assert len([n for n in os.listdir(tmp_path / "d") if n.endswith(".manifest.json")]) == 3
    images.validate(f"dir:{tmp_path}/d")  # read back by us and by an independent reader


def test_signatures_roundtrip_and_stale_ones_removed(tmp_path: Path) -> None:
    ref = DirTransport().parse_reference(str(tmp_path / "s"))
    dest = ref.new_image_destination(SystemContext())
    dest.put_signatures([b"one", b"two", b"three"])
    dest.put_signatures([b"new"])
    assert ref.new_image_source(SystemContext()).get_signatures() == [b"new"]
    dest.put_signatures([b"inst"], "sha256:" + "c" * 64)
    assert (tmp_path / "s" / ("c" * 64 + ".signature-1")).read_bytes() == b"inst"


def test_non_sha256_digest_bumps_version(tmp_path: Path) -> None:
    import hashlib

    ref = DirTransport().parse_reference(str(tmp_path / "v"))
    dest = ref.new_image_destination(SystemContext())
    data = b"hello"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    stored = dest.put_blob(io.BytesIO(data), BlobInfo(digest, len(data)))
    assert stored.digest == digest
    dest.put_manifest(b"{}", "")
    dest.commit(b"{}", "")
    assert (tmp_path / "v" / "version").read_text() == VERSION_1_2
    assert (tmp_path / "v" / blob_name(digest)).read_bytes() == data


def test_unknown_digest_is_computed(tmp_path: Path) -> None:
    ref = DirTransport().parse_reference(str(tmp_path / "u"))
    stored = ref.new_image_destination(SystemContext()).put_blob(io.BytesIO(b"abc"), BlobInfo(None))
    assert stored.digest == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert stored.size == 3


def test_failed_blob_leaves_no_file(tmp_path: Path) -> None:
    class Broken:
        def read(self, n: int = -1) -> bytes:
            raise OSError("source went away")

    ref = DirTransport().parse_reference(str(tmp_path / "f"))
    dest = ref.new_image_destination(SystemContext())
    with pytest.raises(OSError):
        dest.put_blob(Broken(), BlobInfo("sha256:" + "d" * 64, 10))  # type: ignore[arg-type]
    assert sorted(os.listdir(tmp_path / "f")) == ["version"]


def test_rejects_newer_version_and_missing_manifest(tmp_path: Path) -> None:
    d = tmp_path / "newer"
    d.mkdir()
    (d / "version").write_text("Directory Transport Version: 1.9\n")
    with pytest.raises(SkopeoError, match="unsupported directory transport version"):
        DirTransport().parse_reference(str(d)).new_image_destination(SystemContext())
    with pytest.raises(SkopeoError, match=r"manifest\.json: no such file or directory") as info:
        DirTransport().parse_reference(str(tmp_path / "none")).new_image_source(SystemContext()).get_manifest()
    assert not isinstance(info.value, ImageNotFoundError)  # exit status 1, as upstream


def test_policy_scopes(tmp_path: Path) -> None:
    with pytest.raises(SkopeoError, match=f"lstat {tmp_path}/a: no such file or directory"):
        DirTransport().parse_reference(str(tmp_path / "a" / "b"))  # as upstream: the parent must exist
    (tmp_path / "a").mkdir()
    ref = DirTransport().parse_reference(str(tmp_path / "a" / "b"))
    assert ref.policy_configuration_identity() == str(tmp_path.resolve() / "a" / "b")
    assert ref.policy_configuration_namespaces()[0] == str(tmp_path.resolve() / "a")
    with pytest.raises(SkopeoError, match=r"^Invalid scope relative: Must be an absolute path$"):
        DirTransport().validate_policy_configuration_scope("relative")


# (version file content, upstream main's message with {path} for the image's resolved path); None: accepted.
VERSION_FILES = [
    (b"Directory Transport Version: 1.1\n", None),
    (b"Directory Transport Version: 1.2\n", None),
    (b"Directory Transport Version: -1.5\n", None),  # Go's %d takes a sign; lower than 1.2
    (b"Directory Transport Version: 1.3\n",
     'unsupported directory transport version "Directory Transport Version: 1.3\\n" at {path}'),
    (b"Directory Transport Version: 2.0\n",
     'unsupported directory transport version "Directory Transport Version: 2.0\\n" at {path}'),
    (b"Directory Transport Version: 01.1\n", 'invalid version file content: "Directory Transport Version: 01.1\\n"'),
    (b"Directory Transport Version: 1.1", 'invalid version file content: "Directory Transport Version: 1.1"'),
    (b"Directory Transport Version: 1.1\n\n", 'invalid version file content: "Directory Transport Version: 1.1\\n\\n"'),
    (b"bogus", 'invalid version file content: "bogus"'),
    (b"", 'invalid version file content: ""'),
    (b"\xff\n", 'invalid version file content: "\\xff\\n"'),
]


@pytest.mark.parametrize(("content", "message"), VERSION_FILES)
def test_source_version_file(content: bytes, message: str | None, tmp_path: Path, sample_layout: Path,
                             run_skopeo) -> None:  # type: ignore[no-untyped-def]
    """Messages recorded from upstream main (1.9.3 read any version file)."""
    image = tmp_path / "img"
    api.copy(f"oci:{sample_layout}:hello", f"dir:{image}", CopyOptions(), ACCEPT)
    (image / "version").write_bytes(content)
    proc = run_skopeo("inspect", f"dir:{image}")
    if message is None:
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode == 1
    logged = message.format(path=image).replace("\\", "\\\\")  # logrus escapes the backslashes of %q
    assert fatal_message(proc.stderr) == f'Error parsing image name "dir:{image}": ' + logged
    copy = run_skopeo("copy", f"dir:{image}", f"oci:{tmp_path}/out:x")
    assert fatal_message(copy.stderr) == f"initializing source dir:{image}: " + logged
    assert not (tmp_path / "out" / "index.json").exists()  # nothing written (upstream leaves the empty layout too)


def test_unreadable_source_version_file(tmp_path: Path, sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "img"
    api.copy(f"oci:{sample_layout}:hello", f"dir:{image}", CopyOptions(), ACCEPT)
    (image / "version").unlink()
    (image / "version").mkdir()
    proc = run_skopeo("inspect", f"dir:{image}")
    assert fatal_message(proc.stderr) == (f'Error parsing image name "dir:{image}": reading version file '
                                          f'"{image}/version": read {image}/version: is a directory')
    (image / "version").rmdir()
    assert run_skopeo("inspect", f"dir:{image}").returncode == 0  # no version file: an old image, accepted


def test_destination_with_newer_version_names_the_resolved_path(tmp_path: Path, sample_layout: Path,
                                                                run_skopeo) -> None:  # type: ignore[no-untyped-def]
    real = tmp_path / "real"
    real.mkdir()
    (real / "version").write_text("Directory Transport Version: 1.3\n")
    (real / "keep").write_text("data")
    (tmp_path / "link").symlink_to(real)
    proc = run_skopeo("copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/link")
    assert fatal_message(proc.stderr) == (f"initializing destination dir:{tmp_path}/link: unsupported directory "
                                          f'transport version "Directory Transport Version: 1.3\\\\n" at {real}')
    assert (real / "keep").read_text() == "data"
