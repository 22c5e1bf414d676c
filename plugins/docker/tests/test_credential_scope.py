"""Registry credentials go to the registry only (the class of CVE-2020-15157).

A real registry with Bearer-token auth, a loopback proxy in front of it that
redirects blob downloads, and a second origin (another loopback server, the
"CDN" or foreign-layer host) that records the ``Authorization`` headers it
receives: a redirect to another origin and a foreign layer's ``urls`` are
followed without credentials; a redirect to the same origin keeps them (the
registry refuses the download otherwise)."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from skopeo.testing.images import OCILayoutWriter, random_layer_tar
from skopeo.testing.origin import OriginServer
from skopeo.testing.registry import Fault, Registry

from .conftest import Runner

CREDS = "testuser:testpassword"
BLOB_GET = r"^GET /v2/ns/app/blobs/sha256:[0-9a-f]{64}$"
NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"


@pytest.fixture
def origins(tmp_path: Path) -> Iterator[list[OriginServer]]:
    started: list[OriginServer] = []
    yield started
    for o in started:
        o.stop()


def start_origin(origins: list[OriginServer], blobs: Path, host: str) -> OriginServer:
    origin = OriginServer(blobs, host).start()
    origins.append(origin)
    return origin


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_digests(oci_image: str) -> set[str]:
    layout = Path(oci_image.split(":")[1])
    index = json.loads((layout / "index.json").read_bytes())
    manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    return {manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}


def authorizations(proxy, pattern: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [v for m, t, h in proxy.requests if pattern in f"{m} {t}" for k, v in h if k.lower() == "authorization"]


@pytest.mark.parametrize("other_host", ["127.0.0.2", "127.0.0.1"], ids=["other-host", "other-port"])
def test_cross_origin_blob_redirect_gets_no_credentials(token_registry: Registry, oci_image: str, faulty_proxy,
                                                       origins: list[OriginServer], skopeo: Runner, tmp_path: Path,
                                                       other_host: str) -> None:
    skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds", CREDS, oci_image,
           f"docker://{token_registry.host}/ns/app:v1", check=True)
    origin = start_origin(origins, Path(oci_image.split(":")[1]) / "blobs", other_host)
    proxy = faulty_proxy(token_registry.port, "none",
                         [Fault(BLOB_GET, action="redirect", location=origin.url + "{target}", times=None)])
    proc = skopeo("copy", "-q", "--src-tls-verify=false", "--src-creds", CREDS, f"docker://{proxy.host}/ns/app:v1",
                  f"dir:{tmp_path / 'out'}")
    assert proc.returncode == 0, proc.stderr
    # Every blob came from the other origin, which saw no credentials at all.
    assert {path.rsplit("/", 1)[1] for _, path, _ in origin.requests} == blob_digests(oci_image)
    assert origin.authorization_headers() == []
    # Credentials were in play: the registry's own requests carried a token.
    assert authorizations(proxy, "/manifests/v1") and all(a.startswith("Bearer ") for a in authorizations(proxy, "/manifests/"))
    for digest in blob_digests(oci_image):
        data = (tmp_path / "out" / digest[7:]).read_bytes()
        assert sha256(data) == digest


def test_same_origin_blob_redirect_keeps_credentials(token_registry: Registry, oci_image: str, faulty_proxy,
                                                     skopeo: Runner, tmp_path: Path) -> None:
    """The other half of the rule: the registry itself needs the token after its own redirect."""
    skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds", CREDS, oci_image,
           f"docker://{token_registry.host}/ns/app:v1", check=True)
    proxy = faulty_proxy(token_registry.port, "none", [Fault(BLOB_GET, action="redirect", location="{target}?r=1", times=None)])
    proc = skopeo("copy", "-q", "--src-tls-verify=false", "--src-creds", CREDS, f"docker://{proxy.host}/ns/app:v1",
                  f"dir:{tmp_path / 'out'}")
    assert proc.returncode == 0, proc.stderr
    redirected = [(t, h) for m, t, h in proxy.requests if m == "GET" and t.endswith("?r=1")]
    assert len(redirected) == len(blob_digests(oci_image))
    assert all(any(k.lower() == "authorization" and v.startswith("Bearer ") for k, v in h) for _, h in redirected)


def foreign_layer_image(layout: Path, url_base: str) -> tuple[str, bytes]:
    """``oci:layout:v1`` with one ordinary layer and one non-distributable layer
    whose ``urls`` point at *url_base*; (image name, the foreign layer's bytes)."""
    writer = OCILayoutWriter(str(layout))
    plain_tar, foreign_tar = random_layer_tar(501), random_layer_tar(502)
    plain = writer.blob(gzip.compress(plain_tar, mtime=0))
    foreign_data = gzip.compress(foreign_tar, mtime=0)
    foreign = writer.blob(foreign_data)
    config = writer.blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [sha256(plain_tar), sha256(foreign_tar)]}}).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest,
                           "size": config.size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": plain.digest,
                            "size": plain.size},
                           {"mediaType": NONDISTRIBUTABLE, "digest": foreign.digest, "size": foreign.size,
                            "urls": [f"{url_base}/layers/{foreign.digest}"]}]}
    written = writer.blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    writer.tag(written, "v1")
    return f"oci:{layout}:v1", foreign_data


def test_foreign_layer_url_gets_no_credentials(registry_factory, origins: list[OriginServer], skopeo: Runner,
                                               tmp_path: Path) -> None:
    token_registry = registry_factory(auth="token", allow_urls=(r"^http://127\.0\.0\.2:",))
    layout = tmp_path / "foreign"
    origin = start_origin(origins, layout / "blobs", "127.0.0.2")
    image, foreign_data = foreign_layer_image(layout, origin.url)
    foreign_digest = sha256(foreign_data)
    proc = skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds", CREDS, image,
                  f"docker://{token_registry.host}/ns/app:v1")
    assert proc.returncode == 0, proc.stderr
    # The foreign layer stayed where its URL points: the registry does not have it.
    token = httpx.get(f"{token_registry.token_server.realm}?service=test-registry&scope=repository:ns/app:pull",  # type: ignore[union-attr]
                      auth=("testuser", "testpassword")).json()["token"]
    head = httpx.head(f"{token_registry.url}/v2/ns/app/blobs/{foreign_digest}", headers={"Authorization": f"Bearer {token}"})
    assert head.status_code == 404
    origin.requests.clear()

    proc = skopeo("copy", "-q", "--src-tls-verify=false", "--src-creds", CREDS,
                  f"docker://{token_registry.host}/ns/app:v1", f"dir:{tmp_path / 'out'}")
    assert proc.returncode == 0, proc.stderr
    assert [path for _, path, _ in origin.requests] == [f"/layers/{foreign_digest}"]
    assert origin.authorization_headers() == []
    assert (tmp_path / "out" / foreign_digest[7:]).read_bytes() == foreign_data


def test_foreign_urls_that_do_not_parse_are_skipped() -> None:
    """As upstream's getExternalBlob: a URL that does not parse, or is not
    http(s), is skipped; with none left the layer comes from the registry
    (None here), rather than the copy failing."""
    import types

    from skopeo_docker.source import DockerImageSource

    nothing_to_fetch = types.SimpleNamespace()  # no request may be sent: it has no client
    assert DockerImageSource._get_external_blob(  # type: ignore[arg-type]
        nothing_to_fetch, ("http://h:abc/x", "https://[::1/y", "ftp://h/z", "file:///etc/passwd")) is None


def test_command_line_credentials_stay_off_mirrors(registry_factory, oci_image: str, skopeo: Runner, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``--src-creds`` are for the registry named on the command line; a mirror on
    another host (here with its own token server, which records who asks) is
    asked anonymously, as upstream does."""
    primary = registry_factory(auth="token")
    mirror = registry_factory(auth="token")
    skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds", CREDS, oci_image, f"docker://{mirror.host}/ns/app:v1",
           check=True)
    conf = tmp_path / "mirrors.conf"
    conf.write_text(f'[[registry]]\nlocation = "{primary.host}"\ninsecure = true\n\n'
                    f'[[registry.mirror]]\nlocation = "{mirror.host}"\ninsecure = true\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    assert mirror.token_server is not None and primary.token_server is not None
    mirror.token_server.requests.clear()
    proc = skopeo("copy", "-q", "--src-creds", CREDS, f"docker://{primary.host}/ns/app:v1", f"dir:{tmp_path / 'out'}")
    assert proc.returncode == 0, proc.stderr
    asked = mirror.token_server.requests
    assert asked and [r["user"] for r in asked] == [None] * len(asked)
    assert primary.token_server.requests == []  # the mirror had the image: the primary was never asked
