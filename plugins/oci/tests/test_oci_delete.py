"""``delete`` of oci: images (upstream main): the entry goes, and so do the blobs
nothing else in the layout uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from oci_helpers import (
    OCI_MANIFEST,
    REF_NAME,
    SAMPLE_DIGEST,
    add_entry,
    blob_files,
    copy,
    entries,
    make_image,
    make_multiarch,
    sha256,
)

from skopeo import plugins
from skopeo.context import SystemContext
from skopeo.errors import ImageNotFoundError, SkopeoError


def delete(text: str, ctx: SystemContext | None = None) -> None:
    plugins.parse_image_name(text).delete_image(ctx or SystemContext())


def blobs(layout: Path) -> set[str]:
    return blob_files(layout / "blobs")


def test_delete_removes_entry_and_unshared_blobs(sample: Path) -> None:
    before = blobs(sample)
    other = make_image(sample, "other", payload=b"other")
    delete(f"oci:{sample}:hello")
    assert entries(sample) == [(other, "other")]
    assert not blobs(sample) & before
    # upstream writes the index with json.Encoder: compact plus a newline.
    assert (sample / "index.json").read_bytes().endswith(b"]}\n")
    assert copy(f"oci:{sample}:other", "dir:d").digest == other


def test_delete_keeps_shared_blobs(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    a = make_image(layout, "a", payload=b"same", arch="amd64")
    b = make_image(layout, "b", payload=b"same", arch="arm64")
    layer = json.loads((layout / "blobs" / "sha256" / a.split(":")[1]).read_bytes())["layers"][0]["digest"]
    delete("oci:l:a")
    assert entries(layout) == [(b, "b")]
    assert (layout / "blobs" / "sha256" / layer.split(":")[1]).exists()
    assert not (layout / "blobs" / "sha256" / a.split(":")[1]).exists()
    copy("oci:l:b", "dir:ok")


def test_delete_one_of_two_tags(sample: Path) -> None:
    copy(f"oci:{sample}:hello", f"oci:{sample}:alias")
    before = blobs(sample)
    delete(f"oci:{sample}:hello")
    assert entries(sample) == [(SAMPLE_DIGEST, "alias")]
    assert blobs(sample) == before


def test_delete_by_index_and_only_entry(sample: Path) -> None:
    other = make_image(sample, "other", payload=b"other")
    delete(f"oci:{sample}:@0")
    assert entries(sample) == [(other, "other")]
    delete(f"oci:{sample}")
    assert entries(sample) == []
    assert json.loads((sample / "index.json").read_text())["manifests"] == []
    assert blobs(sample) == set()


def test_delete_list_collects_instances(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    keep = make_image(layout, "keep", payload=b"keep")
    kept = blobs(layout)
    make_multiarch(layout, "multi")
    delete("oci:l:multi")
    assert entries(layout) == [(keep, "keep")]
    assert blobs(layout) == kept


def test_delete_leaves_unrelated_orphans(sample: Path) -> None:
    # Blobs no entry references (e.g. a writer that has not committed yet) are
    # not this delete's business.
    orphan = sample / "blobs" / "sha256" / sha256(b"orphan").split(":")[1]
    orphan.write_bytes(b"orphan")
    delete(f"oci:{sample}:hello")
    assert orphan.exists()


def test_delete_missing(sample: Path) -> None:
    with pytest.raises(ImageNotFoundError) as info:
        delete(f"oci:{sample}:nosuch")
    assert info.value.message == 'no descriptor found for reference "nosuch"'
    with pytest.raises(SkopeoError, match="index 5 is too large, only 1 entries available"):
        delete(f"oci:{sample}:@5")
    with pytest.raises(SkopeoError, match=r"open nonexist/index\.json: no such file or directory"):
        delete("oci:nonexist:x")


def test_delete_with_shared_blob_dir(sample: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    ctx = SystemContext(shared_blob_dir=str(shared))
    copy(f"oci:{sample}:hello", "oci:a:x", dest_ctx=ctx)
    copy(f"oci:{sample}:hello", "oci:b:x", dest_ctx=ctx)
    before = blob_files(shared)
    delete("oci:a:x", ctx)
    assert entries(tmp_path / "a") == []
    # Other layouts may use the shared blobs: they stay.
    assert blob_files(shared) == before
    with plugins.parse_image_name("oci:b:x").new_image_source(ctx) as src:
        src.get_manifest()


def test_delete_drops_sigstore_attachment(sample: Path) -> None:
    sig_manifest = make_image(sample, None, payload=b"signature")
    index = json.loads((sample / "index.json").read_text())
    index["manifests"].pop()
    (sample / "index.json").write_text(json.dumps(index))
    tag = SAMPLE_DIGEST.replace(":", "-") + ".sig"
    add_entry(sample, {"mediaType": OCI_MANIFEST, "digest": sig_manifest, "size": 1, "annotations": {REF_NAME: tag}})
    delete(f"oci:{sample}:hello")
    assert entries(sample) == []
    assert blobs(sample) == set()


def test_delete_rejects_unknown_entry_types(sample: Path) -> None:
    add_entry(sample, {"mediaType": "application/x-unknown", "digest": SAMPLE_DIGEST, "size": 1})
    with pytest.raises(SkopeoError, match='unsupported mediaType in index: "application/x-unknown"'):
        delete(f"oci:{sample}:hello")
    assert len(entries(sample)) == 2
