"""Reading oci: layouts: choosing the entry, manifests and blobs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from oci_helpers import (
    OCI_MANIFEST,
    REF_NAME,
    SAMPLE_DIGEST,
    add_entry,
    blob_size,
    copy,
    make_image,
    make_multiarch,
)

from skopeo import plugins
from skopeo.context import SystemContext
from skopeo.errors import ImageNotFoundError, SkopeoError
from skopeo.transport import BlobInfo


def manifest_of(text: str) -> tuple[bytes, str]:
    with plugins.parse_image_name(text).new_image_source(SystemContext()) as src:
        return src.get_manifest()


def test_read_by_tag_and_only_entry(sample: Path) -> None:
    raw, mime = manifest_of(f"oci:{sample}:hello")
    assert mime == OCI_MANIFEST
    assert raw == (sample / "blobs" / "sha256" / SAMPLE_DIGEST.split(":")[1]).read_bytes()
    assert manifest_of(f"oci:{sample}") == (raw, mime)
    assert manifest_of(f"oci:{sample}:@0") == (raw, mime)


def test_read_blob(sample: Path) -> None:
    raw, _ = manifest_of(f"oci:{sample}")
    config = json.loads(raw)["config"]
    with plugins.parse_image_name(f"oci:{sample}").new_image_source(SystemContext()) as src:
        stream, size = src.get_blob(BlobInfo(config["digest"], config["size"]))
        with stream:
            assert len(stream.read()) == size == config["size"]


def test_more_than_one_image(sample: Path, tmp_path: Path) -> None:
    make_image(sample, "second", payload=b"2")
    with pytest.raises(SkopeoError) as info:
        manifest_of(f"oci:{sample}")
    assert info.value.message == "more than one image in oci, choose an image"
    assert not isinstance(info.value, ImageNotFoundError)


def test_empty_index(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    with pytest.raises(SkopeoError, match="more than one image in oci, choose an image"):
        manifest_of("oci:e")


def test_missing_reference_is_image_not_found(sample: Path) -> None:
    with pytest.raises(ImageNotFoundError) as info:
        manifest_of(f"oci:{sample}:nosuch")
    assert info.value.message == 'no descriptor found for reference "nosuch"'
    assert info.value.exit_code == 2


def test_missing_layout(tmp_path: Path) -> None:
    with pytest.raises(SkopeoError) as info:
        manifest_of("oci:nonexist:foo")
    assert info.value.message == "open nonexist/index.json: no such file or directory"
    assert info.value.exit_code == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkopeoError, match=r"open empty/index\.json: no such file or directory"):
        manifest_of("oci:empty")


def test_corrupt_index(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "index.json").write_text("{not json")
    # Upstream's json.Decoder text, without naming the file.
    expected = "^invalid character 'n' looking for beginning of object key string$"
    with pytest.raises(SkopeoError, match=expected):
        manifest_of("oci:c")
    with pytest.raises(SkopeoError, match=expected):
        plugins.parse_image_name("oci:c:x").new_image_destination(SystemContext())


def test_source_index(sample: Path, tmp_path: Path) -> None:
    second = make_image(sample, "second", payload=b"2")
    raw, _ = manifest_of(f"oci:{sample}:@1")
    assert raw == (sample / "blobs" / "sha256" / second.split(":")[1]).read_bytes()
    with pytest.raises(SkopeoError) as info:
        manifest_of(f"oci:{sample}:@2")
    assert info.value.message == "index 2 is too large, only 2 entries available"


def test_first_matching_reference_wins(tmp_path: Path) -> None:
    first = make_image(tmp_path / "l", "dup", payload=b"1")
    make_image(tmp_path / "l", "dup", payload=b"2")
    raw, _ = manifest_of("oci:l:dup")
    assert raw == (tmp_path / "l" / "blobs" / "sha256" / first.split(":")[1]).read_bytes()


def test_reference_with_unsupported_media_type(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    digest = make_image(layout, None)
    add_entry(
        layout,
        {"mediaType": "application/vnd.example+json", "digest": digest, "size": blob_size(layout, digest),
         "annotations": {REF_NAME: "art"}},
    )
    with pytest.raises(SkopeoError) as info:
        manifest_of("oci:l:art")
    assert (
        info.value.message == 'reference "art" matches unsupported manifest MIME types ["application/vnd.example+json"]'
    )
    # An earlier unsupported entry does not hide a later supported one.
    add_entry(layout, {"mediaType": OCI_MANIFEST, "digest": digest, "size": blob_size(layout, digest),
                       "annotations": {REF_NAME: "art"}})
    assert manifest_of("oci:l:art")[1] == OCI_MANIFEST


def test_docker_media_types_accepted_for_reference(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    digest = make_image(layout, None)
    add_entry(
        layout,
        {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": digest,
            "size": blob_size(layout, digest),
            "annotations": {REF_NAME: "dock"},
        },
    )
    assert manifest_of("oci:l:dock")[1] == "application/vnd.docker.distribution.manifest.v2+json"


def test_missing_media_type_is_guessed(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    layout.mkdir()
    digest = make_image(tmp_path / "tmp", None)
    index = json.loads((tmp_path / "tmp" / "index.json").read_text())
    del index["manifests"][0]["mediaType"]
    (tmp_path / "tmp" / "index.json").write_text(json.dumps(index))
    assert manifest_of("oci:tmp")[1] == OCI_MANIFEST
    assert copy("oci:tmp", "oci:out:x").digest == digest


def test_list_instances(tmp_path: Path) -> None:
    _, instances = make_multiarch(tmp_path / "l", "m")
    with plugins.parse_image_name("oci:l:m").new_image_source(SystemContext()) as src:
        raw, mime = src.get_manifest()
        assert mime == "application/vnd.oci.image.index.v1+json"
        inst, inst_mime = src.get_manifest(instances[0])
        assert inst_mime == OCI_MANIFEST
        assert json.loads(raw)["manifests"][0]["digest"] == instances[0]
        assert inst == (tmp_path / "l" / "blobs" / "sha256" / instances[0].split(":")[1]).read_bytes()


def test_bad_digest_in_index(tmp_path: Path) -> None:
    (tmp_path / "l").mkdir()
    add_entry(tmp_path / "l", {"mediaType": OCI_MANIFEST, "digest": "sha256:../../etc/passwd", "size": 1})
    with pytest.raises(SkopeoError, match="unexpected digest reference"):
        manifest_of("oci:l")
