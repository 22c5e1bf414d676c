"""Writing oci: layouts: files, index.json semantics, capabilities."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from oci_helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    REF_NAME,
    SAMPLE_DIGEST,
    blob_files,
    copy,
    entries,
    index_of,
    make_dir_image,
    make_image,
    make_multiarch,
)

from skopeo import plugins
from skopeo.context import SystemContext
from skopeo.copy import MULTI_ARCH_ALL
from skopeo.errors import SkopeoError
from skopeo.transport import COMPRESS, PRESERVE


def test_new_layout_files(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:out:v1")
    out = tmp_path / "out"
    assert (out / "oci-layout").read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'
    assert (out / "index.json").read_bytes() == (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
        b'{"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        b'"digest":"' + SAMPLE_DIGEST.encode() + b'","size":349,'
        b'"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}'
    )
    # Manifest, config and layer, all under blobs/sha256, identical to the source.
    assert blob_files(out / "blobs") == blob_files(sample / "blobs")
    for p in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o755 if p.is_dir() else 0o644), p
    assert sorted(p.name for p in out.iterdir()) == ["blobs", "index.json", "oci-layout"]


def test_first_second_untagged(sample: Path, tmp_path: Path) -> None:
    """The 1.9.3-verified golden: three entries with the same digest."""
    for dest in ("oci:o2:first", "oci:o2:second", "oci:o2"):
        copy(f"oci:{sample}:hello", dest)
    assert entries(tmp_path / "o2") == [(SAMPLE_DIGEST, "first"), (SAMPLE_DIGEST, "second"), (SAMPLE_DIGEST, None)]
    untagged = index_of(tmp_path / "o2")["manifests"][2]
    assert list(untagged) == ["mediaType", "digest", "size"]


def test_untagged_rewrite_replaces_same_digest(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:o")
    copy(f"oci:{sample}:hello", "oci:o")
    assert entries(tmp_path / "o") == [(SAMPLE_DIGEST, None)]


def test_retag_same_image_is_idempotent(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:o:t")
    copy(f"oci:{sample}:hello", "oci:o:t")
    assert entries(tmp_path / "o") == [(SAMPLE_DIGEST, "t")]


def test_tagging_picks_up_untagged_entry(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:o")
    copy(f"oci:{sample}:hello", "oci:o:t")
    assert entries(tmp_path / "o") == [(SAMPLE_DIGEST, "t")]


def test_retag_different_image_leaves_old_entry_untagged(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:o:t")
    other = make_image(tmp_path / "src", "x", payload=b"other")
    copy("oci:src:x", "oci:o:t")
    copy("oci:src:x", "oci:o:keep")
    layout = tmp_path / "o"
    assert entries(layout) == [(SAMPLE_DIGEST, None), (other, "t"), (other, "keep")]
    # The emptied annotations map disappears, as Go's omitempty does.
    assert "annotations" not in index_of(layout)["manifests"][0]


def test_existing_entries_and_unknown_fields_preserved(sample: Path, tmp_path: Path) -> None:
    layout = tmp_path / "o"
    copy(f"oci:{sample}:hello", "oci:o:old")
    index = index_of(layout)
    index["annotations"] = {"com.example.index": "yes"}
    index["x-unknown"] = [1, 2]
    index["manifests"][0]["annotations"]["com.example.note"] = "kept"
    index["manifests"][0]["platform"] = {"architecture": "amd64", "os": "linux"}
    (layout / "index.json").write_text(json.dumps(index))
    other = make_image(tmp_path / "src", "x", payload=b"other")
    copy("oci:src:x", "oci:o:old")
    after = index_of(layout)
    assert after["annotations"] == {"com.example.index": "yes"}
    assert after["x-unknown"] == [1, 2]
    first = after["manifests"][0]
    assert first["annotations"] == {"com.example.note": "kept"}
    assert first["platform"] == {"architecture": "amd64", "os": "linux"}
    assert after["manifests"][1]["digest"] == other


def test_existing_index_without_media_type_and_mode_kept(sample: Path) -> None:
    # samples/hello-oci was written by umoci: no top-level mediaType, index.json 0600.
    (sample / "index.json").chmod(0o600)
    copy(f"oci:{sample}:hello", f"oci:{sample}:again")
    raw = (sample / "index.json").read_bytes()
    assert raw.startswith(b'{"schemaVersion":2,"manifests":[')
    assert stat.S_IMODE((sample / "index.json").stat().st_mode) == 0o600
    assert (sample / "oci-layout").read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'


def test_blobs_dir_created_even_if_unused(sample: Path, tmp_path: Path) -> None:
    plugins.parse_image_name("oci:empty:x").new_image_destination(SystemContext()).close()
    assert (tmp_path / "empty" / "blobs").is_dir()


def test_capabilities(tmp_path: Path) -> None:
    ref = plugins.parse_image_name("oci:o:x")
    caps = ref.new_image_destination(SystemContext()).capabilities
    assert caps.supported_manifest_types == (OCI_MANIFEST, OCI_INDEX)
    assert caps.desired_layer_compression == COMPRESS
    assert caps.thread_safe_put_blob
    assert caps.signatures_unsupported_reason == "Pushing signatures for OCI images is not supported"
    caps2 = ref.new_image_destination(SystemContext(oci_accept_uncompressed_layers=True)).capabilities
    assert caps2.desired_layer_compression == PRESERVE


def test_uncompressed_layers_get_compressed(tmp_path: Path) -> None:
    make_image(tmp_path / "src", "raw", compressed=False)
    copy("oci:src:raw", "oci:o:c")
    layer = json.loads(copy("oci:o:c", "oci:o2:c").manifest)["layers"][0]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    data = (tmp_path / "o" / "blobs" / "sha256" / layer["digest"].split(":")[1]).read_bytes()
    assert data[:2] == b"\x1f\x8b"


def test_accept_uncompressed_layers(tmp_path: Path) -> None:
    digest = make_image(tmp_path / "src", "raw", compressed=False)
    result = copy("oci:src:raw", "oci:o:u", dest_ctx=SystemContext(oci_accept_uncompressed_layers=True))
    assert result.digest == digest
    assert json.loads(result.manifest)["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"


def test_docker_v2s2_source_converted_to_oci(tmp_path: Path) -> None:
    make_dir_image(tmp_path / "d")
    result = copy("dir:d", "oci:o:conv")
    assert result.mime == OCI_MANIFEST
    entry = index_of(tmp_path / "o")["manifests"][0]
    assert entry["mediaType"] == OCI_MANIFEST
    assert entry["digest"] == result.digest


def test_signatures_refused(tmp_path: Path) -> None:
    make_dir_image(tmp_path / "d", signature=b"not really a signature")
    with pytest.raises(SkopeoError) as info:
        copy("dir:d", "oci:o:signed")
    assert info.value.message == (
        "Can not copy signatures to oci:o:signed: Pushing signatures for OCI images is not supported"
    )
    # Nothing was committed.
    assert not (tmp_path / "o" / "index.json").exists()
    copy("dir:d", "oci:o:signed", remove_signatures=True)
    assert len(entries(tmp_path / "o")) == 1


def test_copy_list_all(tmp_path: Path) -> None:
    index_digest, instances = make_multiarch(tmp_path / "src", "multi")
    result = copy("oci:src:multi", "oci:o:m", multi_arch=MULTI_ARCH_ALL)
    assert result.digest == index_digest
    layout = tmp_path / "o"
    # Only the list goes into index.json; instances live in blobs/ only.
    assert entries(layout) == [(index_digest, "m")]
    assert index_of(layout)["manifests"][0]["mediaType"] == OCI_INDEX
    for d in instances:
        assert (layout / "blobs" / "sha256" / d.split(":")[1]).is_file()
    assert blob_files(layout / "blobs") == blob_files(tmp_path / "src" / "blobs")


def test_copy_list_system_instance(tmp_path: Path) -> None:
    _, instances = make_multiarch(tmp_path / "src", "multi")
    options = SystemContext(override_arch="arm64", override_os="linux")
    from skopeo.copy import CopyOptions, copy_image
    from skopeo.policy import Policy, PolicyContext

    result = copy_image(
        PolicyContext(Policy.accept_anything()),
        plugins.parse_image_name("oci:o:one"),
        plugins.parse_image_name("oci:src:multi"),
        CopyOptions(source_ctx=options),
    )
    assert result.digest == instances[1]
    assert entries(tmp_path / "o") == [(instances[1], "one")]


def test_shared_blob_dir(sample: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    ctx = SystemContext(shared_blob_dir=str(shared))
    copy(f"oci:{sample}:hello", "oci:o:s", dest_ctx=ctx)
    layout = tmp_path / "o"
    assert (layout / "blobs").is_dir()
    assert list((layout / "blobs").iterdir()) == []
    assert blob_files(shared) == blob_files(sample / "blobs")
    assert entries(layout) == [(SAMPLE_DIGEST, "s")]
    # Reading needs the same shared directory.
    from skopeo.copy import CopyOptions, copy_image
    from skopeo.policy import Policy, PolicyContext

    result = copy_image(
        PolicyContext(Policy.accept_anything()),
        plugins.parse_image_name("dir:back"),
        plugins.parse_image_name("oci:o:s"),
        CopyOptions(source_ctx=ctx),
    )
    assert result.digest == SAMPLE_DIGEST
    with pytest.raises(SkopeoError, match="no such file or directory"):
        copy("oci:o:s", "dir:fails")


def test_failed_copy_leaves_index_alone(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:o:keep")
    before = (tmp_path / "o" / "index.json").read_bytes()
    layer = next(p for p in (sample / "blobs" / "sha256").iterdir() if p.stat().st_size > 100_000)
    layer.write_bytes(b"corrupt")
    with pytest.raises(SkopeoError, match=f"^writing blob: happened during read: Digest did not match, expected sha256:{layer.name}, got sha256:"
                                          f"{hashlib.sha256(b'corrupt').hexdigest()}$"):
        copy(f"oci:{sample}:hello", "oci:o2:new")
    assert not (tmp_path / "o2" / "index.json").exists()
    assert (tmp_path / "o" / "index.json").read_bytes() == before
    # No temporary files left behind.
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["blobs"]
    assert not [p for p in (tmp_path / "o2").rglob("*") if p.name.startswith(".")]


def test_ref_name_annotation_key() -> None:
    assert REF_NAME == "org.opencontainers.image.ref.name"


def test_copy_list_index_only(tmp_path: Path) -> None:
    index_digest, instances = make_multiarch(tmp_path / "src", "multi")
    copy("oci:src:multi", "oci:o:m", multi_arch="index-only")
    layout = tmp_path / "o"
    assert entries(layout) == [(index_digest, "m")]
    # The instances were not copied; the list is still recorded, as upstream does.
    assert not (layout / "blobs" / "sha256" / instances[0].split(":")[1]).exists()
    plugins.parse_image_name("oci:o:m").delete_image(SystemContext())
    assert entries(layout) == []
    assert blob_files(layout / "blobs") == set()
