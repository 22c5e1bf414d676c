import base64
import json

import pytest

from skopeo import manifest as mf
from skopeo.errors import ManifestError


def test_guess_mime() -> None:
    assert mf.guess_mime(b'{"schemaVersion":2,"mediaType":"x"}') == "x"
    assert mf.guess_mime(b'{"schemaVersion":1}') == mf.DOCKER_V2S1
    assert mf.guess_mime(b'{"schemaVersion":1,"signatures":[]}') == mf.DOCKER_V2S1_SIGNED
    assert mf.guess_mime(b'{"schemaVersion":2,"config":{"mediaType":"' + mf.DOCKER_CONFIG.encode() + b'"}}') == mf.DOCKER_V2S2
    assert mf.guess_mime(b'{"schemaVersion":2,"config":{"mediaType":"x"}}') == mf.OCI_MANIFEST
    assert mf.guess_mime(b'{"schemaVersion":2,"manifests":[{}]}') == mf.OCI_INDEX
    assert mf.guess_mime(b"not json") == ""


def test_normalize_mime() -> None:
    assert mf.normalize_mime(mf.OCI_MANIFEST + "; charset=utf-8") == mf.OCI_MANIFEST
    assert mf.normalize_mime("application/json") == mf.DOCKER_V2S1_SIGNED


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_schema1_signed_digest_is_over_payload() -> None:
    payload = b'{\n   "schemaVersion": 1,\n   "name": "x",\n   "fsLayers": []\n}'
    format_length = payload.rindex(b"\n}")
    tail = payload[format_length:]
    protected = _b64(json.dumps({"formatLength": format_length, "formatTail": _b64(tail)}).encode())
    signed = payload[:format_length] + b',\n   "signatures": [{"protected": "' + protected.encode() + b'"}]' + tail
    assert mf.manifest_digest(signed) == mf.manifest_digest(payload)
    assert mf.manifest_digest(signed) != "sha256:" + __import__("hashlib").sha256(signed).hexdigest()


def _index(*platforms: tuple[str, str, str]) -> mf.ManifestList:
    mans = [
        {"mediaType": mf.OCI_MANIFEST, "digest": "sha256:" + str(i) * 64, "size": 1,
         "platform": {"architecture": a, "os": o, **({"variant": v} if v else {})}}
        for i, (o, a, v) in enumerate(platforms)
    ]
    raw = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": mans}).encode()
    parsed = mf.parse(raw)
    assert isinstance(parsed, mf.ManifestList)
    return parsed


def test_choose_instance() -> None:
    idx = _index(("linux", "amd64", ""), ("linux", "arm64", "v8"), ("linux", "arm", "v6"))
    assert idx.choose_instance("linux", "amd64", None) == "sha256:" + "0" * 64
    assert idx.choose_instance("linux", "arm64", None) == "sha256:" + "1" * 64
    # An arm v7 machine can run v6 images.
    assert idx.choose_instance("linux", "arm", "v7") == "sha256:" + "2" * 64
    with pytest.raises(ManifestError, match='no image found in image index for architecture "s390x", variant "", OS "linux"'):
        idx.choose_instance("linux", "s390x", None)


def test_serialization_orders() -> None:
    d = mf.Descriptor(mf.OCI_LAYER_GZIP, "sha256:" + "a" * 64, 3, annotations={"z": "1", "a": "2"})
    assert list(d.to_oci_json()) == ["mediaType", "digest", "size", "annotations"]
    assert list(d.to_oci_json()["annotations"]) == ["a", "z"]
    assert list(d.to_docker_json()) == ["mediaType", "size", "digest"]


def test_parse_rejects_bad_digests() -> None:
    bad = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
                      "config": {"mediaType": mf.OCI_CONFIG, "digest": "sha256:../../etc", "size": 1},
                      "layers": []}).encode()
    with pytest.raises(ManifestError, match=r"^invalid config descriptor: invalid checksum digest length$"):
        mf.parse(bad)


def test_layer_type_conversion() -> None:
    assert mf.convert_layer_type(mf.OCI_LAYER_GZIP, "docker") == mf.DOCKER_LAYER_GZIP
    assert mf.convert_layer_type(mf.DOCKER_FOREIGN_LAYER_GZIP, "oci") == mf.OCI_ND_LAYER_GZIP
    with pytest.raises(ManifestError, match="zstd"):
        mf.convert_layer_type(mf.OCI_LAYER_ZSTD, "docker")
