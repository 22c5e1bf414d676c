"""Per-request retries of the registry client and restarted uploads, against a
real docker-registry behind a fault-injecting loopback proxy: 429 with
Retry-After, 5xx bursts, connections reset before a response, mid-download and
mid-upload, truncated bodies; with retries the copy is byte-correct, with a
persistent fault it fails cleanly and leaves no image presented as complete."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from skopeo import api, plugins
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions
from skopeo.copy import layers as copy_mod
from skopeo.errors import SkopeoError, UploadInterruptedError
from skopeo.policy import Policy, PolicyContext
from skopeo.reference import parse_normalized
from skopeo.testing.images import OCILayoutWriter, random_layer_tar, validate
from skopeo.testing.registry import Fault, FaultyProxy, Registry
from skopeo_docker import body_reader as body_reader_mod
from skopeo_docker import client as client_mod
from skopeo_docker import http_messages as http
from skopeo_docker import network as network_mod
from skopeo_docker import pools as pools_mod
from skopeo_docker import registry as registry_mod
from skopeo_docker import upload as upload_mod
from skopeo_docker.registry_errors import from_response

from .conftest import Runner, fatal_message

ACCEPT = PolicyContext(Policy.accept_anything())
BLOB_GET = r"^GET .*/blobs/sha256:"
MANIFEST_GET = r"^GET .*/manifests/"
# Requests that carry a blob: with a known digest the body goes with the final PUT
# (monolithic upload); otherwise with a PATCH.
PATCH = r"^(PATCH|PUT) .*/blobs/uploads/"
UPLOAD_POST = r"^POST .*/blobs/uploads/"
UPLOAD_PUT = r"^PUT .*/blobs/uploads/"
MANIFEST_PUT = r"^PUT .*/manifests/"


def ctx() -> SystemContext:
    return SystemContext(tls_verify=False)


def copy(src: str, dest: str) -> str:
    return api.copy(src, dest, options=CopyOptions(source_ctx=ctx(), dest_ctx=ctx()), policy=ACCEPT).digest


@pytest.fixture(autouse=True)
def fast_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process copies back off quickly (CLI runs use Retry-After: 0 faults)."""
    monkeypatch.setattr(client_mod, "RETRY_INITIAL", 0.05)
    monkeypatch.setattr(client_mod, "BACKOFF_INITIAL", 0.05)
    monkeypatch.setattr(upload_mod, "UPLOAD_RETRY_DELAY", 0.05)
    monkeypatch.setattr(body_reader_mod, "RESUME_DELAY", 0.05)
    monkeypatch.setattr(copy_mod, "BLOB_RESTART_DELAY", 0.05)


@pytest.fixture
def big_image(tmp_path: Path) -> str:
    """Two ~2 MiB incompressible layers: uploads and downloads take many chunks."""
    path = tmp_path / "big-oci"
    w = OCILayoutWriter(str(path))
    img = w.image([random_layer_tar(900 + i, files=2, size=1 << 20) for i in range(2)])
    w.tag(img, "v1")
    return f"oci:{path}:v1"


def proxied(registry: Registry, faulty_proxy, faults: list[Fault]) -> FaultyProxy:  # type: ignore[no-untyped-def]
    proxy: FaultyProxy = faulty_proxy(registry.port, "none", faults)
    return proxy


def count(proxy: FaultyProxy, pattern: str) -> int:
    import re

    return sum(1 for m, t, _ in proxy.requests if re.search(pattern, f"{m} {t}"))


def oracle_digest(name: str) -> str:
    from skopeo.testing.require import reference_skopeo

    out = subprocess.run([reference_skopeo(), "inspect", "--tls-verify=false", "--raw", name],
                         capture_output=True, check=True)
    import hashlib

    return "sha256:" + hashlib.sha256(out.stdout).hexdigest()


# --- pulls ---------------------------------------------------------------------------------
def test_429_with_retry_after_is_honoured(registry: Registry, oci_image: str, faulty_proxy, tmp_path: Path) -> None:
    digest = copy(oci_image, f"docker://{registry.host}/r/a:v1")
    proxy = proxied(registry, faulty_proxy, [Fault(MANIFEST_GET, status=429, retry_after="1", times=2)])
    started = time.monotonic()
    assert copy(f"docker://{proxy.host}/r/a:v1", f"oci:{tmp_path / 'out'}:v1") == digest
    assert time.monotonic() - started >= 2.0  # two Retry-After: 1 waits, not the 0.05 s back-off
    assert count(proxy, MANIFEST_GET) == 3
    validate(f"oci:{tmp_path / 'out'}:v1")


def test_retry_after_http_date() -> None:
    from email.utils import formatdate

    resp = http.Response(429, headers={"Retry-After": formatdate(time.time() + 3, usegmt=True)})
    assert 1.5 < client_mod._retry_after(resp, 7.0) <= 3.5
    assert client_mod._retry_after(http.Response(429, headers={"Retry-After": "4"}), 7.0) == 4.0
    assert client_mod._retry_after(http.Response(429, headers={"Retry-After": "soon"}), 7.0) == 7.0
    assert client_mod._retry_after(http.Response(429), 7.0) == 7.0


def test_5xx_bursts_and_resets_on_pull(registry: Registry, big_image: str, faulty_proxy, tmp_path: Path) -> None:
    digest = copy(big_image, f"docker://{registry.host}/r/b:v1")
    proxy = proxied(registry, faulty_proxy, [
        Fault(MANIFEST_GET, status=500, times=1),
        Fault(MANIFEST_GET, action="truncate", times=1),
        Fault(MANIFEST_GET, status=408, times=1),
        # At most RETRY_ATTEMPTS - 1 faults: they may all hit the same request.
        Fault(BLOB_GET, status=503, times=1),
        Fault(BLOB_GET, status=502, times=1),
        Fault(BLOB_GET, action="reset", times=1),
        Fault(BLOB_GET, status=504, times=1),
    ])
    out = f"oci:{tmp_path / 'out'}:v1"
    assert copy(f"docker://{proxy.host}/r/b:v1", out) == digest
    validate(out)
    assert count(proxy, BLOB_GET) == 3 + 4  # config + 2 layers, plus one per injected fault


def test_reset_mid_download_is_resumed(registry: Registry, big_image: str, faulty_proxy, tmp_path: Path) -> None:
    digest = copy(big_image, f"docker://{registry.host}/r/c:v1")
    layers = [layer["digest"] for layer in json.loads(api.inspect_raw(f"docker://{registry.host}/r/c:v1", ctx()))["layers"]]
    # Each layer is cut once mid-body (its ranged re-request goes through).
    proxy = proxied(registry, faulty_proxy, [Fault(f"^GET .*/blobs/{d}", action="truncate", times=1) for d in layers])
    out = tmp_path / "dir-out"
    assert copy(f"docker://{proxy.host}/r/c:v1", f"dir:{out}") == digest
    validate(f"dir:{out}")
    ranged = [h for m, t, h in proxy.requests if any(k.lower() == "range" for k, _ in h)]
    assert ranged


# --- pushes ---------------------------------------------------------------------------------
def test_upload_reset_mid_body_is_restarted(registry: Registry, big_image: str, faulty_proxy, tmp_path: Path) -> None:
    proxy = proxied(registry, faulty_proxy, [
        Fault(UPLOAD_POST, status=502, times=1),
        Fault(PATCH, action="reset_body", times=3),
        Fault(PATCH, status=503, times=1),
        Fault(MANIFEST_PUT, status=503, times=1),
    ])
    digest = copy(big_image, f"docker://{proxy.host}/r/up:v1")
    # Byte-correct, as the registry itself and the reference skopeo see it.
    assert oracle_digest(f"docker://{registry.host}/r/up:v1") == digest
    back = f"oci:{tmp_path / 'back'}:v1"
    copy(f"docker://{registry.host}/r/up:v1", back)
    validate(back)
    # 2 layers + config, plus one per interrupted body upload (3 resets and a 503).
    assert count(proxy, PATCH) == 3 + 4


def test_committed_upload_whose_answer_was_lost(registry: Registry, oci_image: str, faulty_proxy) -> None:
    """The final PUT reaches the registry, the answer does not: the retried PUT
    finds no session (404) and the blob is confirmed with a HEAD instead."""
    proxy = proxied(registry, faulty_proxy, [Fault(UPLOAD_PUT, action="reset", forward=True, times=1)])
    digest = copy(oci_image, f"docker://{proxy.host}/r/lost:v1")
    assert oracle_digest(f"docker://{registry.host}/r/lost:v1") == digest


def test_upload_from_registry_source_is_reread(registry_factory, big_image: str, faulty_proxy) -> None:
    """docker→docker: a non-seekable source stream; the engine re-opens the
    source blob (a new GET) when the upload must start again."""
    src, dst = registry_factory(), registry_factory()
    digest = copy(big_image, f"docker://{src.host}/r/s:v1")
    # The first layer's upload (the config, stored alongside, restarts by itself).
    layer = json.loads(api.inspect_raw(big_image))["layers"][0]["digest"].split(":")[1]
    proxy = proxied(dst, faulty_proxy, [Fault(rf"^PUT .*/blobs/uploads/.*digest=sha256%3A{layer}", action="reset_body", times=1)])
    src_proxy = proxied(src, faulty_proxy, [])
    assert copy(f"docker://{src_proxy.host}/r/s:v1", f"docker://{proxy.host}/r/d:v1") == digest
    assert count(src_proxy, BLOB_GET) == 3 + 1  # the interrupted layer was downloaded twice
    assert oracle_digest(f"docker://{dst.host}/r/d:v1") == digest


def test_seekable_stream_restarts_inside_the_destination(registry: Registry, faulty_proxy) -> None:
    import io

    from skopeo.transport import BlobInfo

    proxy = proxied(registry, faulty_proxy, [Fault(PATCH, action="reset_body", times=2)])
    dest = plugins.parse_image_name(f"docker://{proxy.host}/r/seek:v1").new_image_destination(ctx())
    data = b"x" * 300_000
    stored = dest.put_blob(io.BytesIO(data), BlobInfo(None, -1))
    import hashlib

    assert stored.digest == "sha256:" + hashlib.sha256(data).hexdigest() and stored.size == len(data)
    # Not seekable: the destination hands the problem to its caller.
    proxy.faults.append(Fault(PATCH, action="reset_body", times=1))

    class OneWay(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(b"y" * 300_000)

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            return self.inner.read(n)

    with pytest.raises(UploadInterruptedError):
        dest.put_blob(OneWay(), BlobInfo(None, -1))  # type: ignore[arg-type]


# --- persistent faults: clean failures, nothing half-written presented as complete ------------
def test_persistent_upload_fault_fails_cleanly(registry: Registry, oci_image: str, faulty_proxy,
                                               skopeo: Runner, reference_skopeo: Runner) -> None:
    proxy = proxied(registry, faulty_proxy, [Fault(PATCH, action="reset_body", times=None)])
    proc = skopeo("copy", "--dest-tls-verify=false", oci_image, f"docker://{proxy.host}/r/p:v1")
    assert proc.returncode == 1
    msg = fatal_message(proc.stderr)
    assert msg.startswith("trying to reuse blob") or "uploading layer" in msg, msg
    assert "connection reset by peer" in msg or "EOF" in msg, msg
    missing = reference_skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/r/p:v1")
    assert missing.returncode != 0 and "manifest unknown" in missing.stderr


@pytest.mark.parametrize("dest_kind", ["oci", "dir"])
def test_persistent_download_fault_leaves_no_image(registry: Registry, oci_image: str, faulty_proxy, tmp_path: Path,
                                                   skopeo: Runner, dest_kind: str) -> None:
    copy(oci_image, f"docker://{registry.host}/r/q:v1")
    # An existing image in the layout must survive untouched.
    layout = tmp_path / "layout"
    copy(oci_image, f"oci:{layout}:old")
    proxy = proxied(registry, faulty_proxy, [Fault(BLOB_GET, status=503, retry_after="0", times=None)])
    dest = f"oci:{layout}:new" if dest_kind == "oci" else f"dir:{tmp_path / 'd'}"
    proc = skopeo("copy", "--src-tls-verify=false", f"docker://{proxy.host}/r/q:v1", dest)
    assert proc.returncode == 1
    msg = fatal_message(proc.stderr)
    assert "503 Service Unavailable" in msg, msg
    assert count(proxy, BLOB_GET) >= client_mod.RETRY_ATTEMPTS  # retried before giving up
    if dest_kind == "oci":
        index = json.loads((layout / "index.json").read_text())
        names = [m.get("annotations", {}).get("org.opencontainers.image.ref.name") for m in index["manifests"]]
        assert names == ["old"]
        validate(f"oci:{layout}:old")
    else:
        assert not (tmp_path / "d" / "manifest.json").exists()


def test_retry_times_repeats_the_whole_copy(registry: Registry, oci_image: str, faulty_proxy, tmp_path: Path,
                                           skopeo: Runner) -> None:
    digest = copy(oci_image, f"docker://{registry.host}/r/w:v1")
    # More failures than one request retries: only --retry-times gets through.
    proxy = proxied(registry, faulty_proxy, [Fault(MANIFEST_GET, status=503, retry_after="0",
                                                   times=client_mod.RETRY_ATTEMPTS + 1)])
    out = tmp_path / "w"
    proc = skopeo("copy", "--retry-times", "2", "--retry-delay", "0.1s", "--src-tls-verify=false",
                  f"docker://{proxy.host}/r/w:v1", f"dir:{out}")
    assert proc.returncode == 0, proc.stderr
    assert "Failed, retrying in" in proc.stderr and "(1/2)" in proc.stderr
    validate(f"dir:{out}")
    assert api.inspect(f"dir:{out}")["Digest"] == digest


def test_retry_times_does_not_repeat_manifest_unknown(registry: Registry, skopeo: Runner, tmp_path: Path) -> None:
    proc = skopeo("copy", "--retry-times", "3", "--src-tls-verify=false", f"docker://{registry.host}/r/none:v1",
                  f"dir:{tmp_path / 'x'}")
    assert proc.returncode != 0
    assert "retrying" not in proc.stderr
    assert fatal_message(proc.stderr).endswith("manifest unknown")


# --- retryable flags and the shared 429 cool-down ---------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}', False),
        (403, b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', False),
        (404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}', False),
        (404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', False),
        (429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"too many requests"}]}', True),
        (400, b'{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}', True),
        (404, b"not json", False),
        (500, b"", False),
        (502, b"", True),
        (503, b"", True),
        (504, b"", True),
    ],
)
def test_registry_errors_are_flagged_retryable(status: int, body: bytes, retryable: bool) -> None:
    err = network_mod.mark_retryable(from_response(status, "", body, []))
    assert err.retryable is retryable
    assert err.wrap("context").retryable is retryable


@pytest.mark.parametrize(
    ("exc", "retryable", "transient"),
    [
        (http.ConnectError("[Errno 111] Connection refused"), True, False),
        (http.ReadError("[Errno 104] Connection reset by peer"), True, True),
        (http.RemoteProtocolError("Server disconnected without sending a response."), True, True),
        (http.ConnectError("[Errno -2] Name or service not known"), False, False),
        (http.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number"), False, False),
        (http.ReadTimeout("timed out"), True, False),
    ],
)
def test_network_errors_are_flagged(exc: Exception, retryable: bool, transient: bool) -> None:
    err = network_mod.url_error("GET", http.URL("https://h.test/v2/"), exc)
    assert (err.retryable, err.transient) == (retryable, transient)


def test_429_cooldown_is_shared_by_all_threads(registry: Registry, oci_image: str, faulty_proxy) -> None:
    copy(oci_image, f"docker://{registry.host}/r/cool:v1")
    proxy = proxied(registry, faulty_proxy, [Fault(r"^GET .*/r/cool/manifests/", status=429, retry_after="1",
                                                   times=1)])
    ref = parse_normalized(f"{proxy.host}/r/cool")
    first = client_mod.new_client(ctx(), ref, "pull")
    other = client_mod.new_client(ctx(), parse_normalized(f"{proxy.host}/r/other"), "pull")
    first.ping()
    results: list[int] = []
    t = threading.Thread(target=lambda: results.append(
        first.request("GET", "/v2/r/cool/manifests/v1", headers=registry_mod.ACCEPT_MANIFESTS).status_code))
    t.start()
    while not proxy.requests or "/r/cool/manifests" not in proxy.requests[-1][1]:
        time.sleep(0.01)
    limited_at = proxy.request_times[-1]
    # Until the 429 has reached the client, nobody is meant to wait.
    cooldown, deadline = pools_mod.cooldown(first.host), time.monotonic() + 5
    while cooldown._until <= time.monotonic() < deadline:
        time.sleep(0.005)
    # Another client (another repository, another thread) of the same registry waits too.
    resp = other.request("GET", "/v2/r/other/tags/list")
    resp.close()
    t.join()
    assert results == [200]
    tags_at = next(ts for (m, tgt, _), ts in zip(proxy.requests, proxy.request_times, strict=True)
                   if "/r/other/tags/list" in tgt)
    assert tags_at - limited_at >= 0.9


def test_bodiless_requests_retry_but_streams_do_not(registry: Registry, faulty_proxy) -> None:
    proxy = proxied(registry, faulty_proxy, [Fault(r"^GET /v2/_catalog", status=503, times=2)])
    c = client_mod.new_client(ctx(), parse_normalized(f"{proxy.host}/r/x"), "pull")
    assert c.request("GET", "/v2/_catalog").status_code == 200
    proxy.faults.append(Fault(r"^POST /v2/_catalog", status=503, times=1))
    # A streamed body cannot be sent twice: the 503 is returned to the caller.
    resp = c.request("POST", "/v2/_catalog", content=iter([b"abc"]))
    assert resp.status_code == 503


def test_attempts_are_bounded(registry: Registry, faulty_proxy) -> None:
    proxy = proxied(registry, faulty_proxy, [Fault(r"^GET /v2/_catalog", status=500, times=None)])
    c = client_mod.new_client(ctx(), parse_normalized(f"{proxy.host}/r/x"), "pull")
    assert c.request("GET", "/v2/_catalog").status_code == 500
    assert count(proxy, r"^GET /v2/_catalog") == client_mod.RETRY_ATTEMPTS


def test_error_is_skopeo_error() -> None:
    assert issubclass(UploadInterruptedError, SkopeoError) and UploadInterruptedError("x").retryable


def test_source_failure_during_upload_is_reported_as_such(registry_factory, oci_image: str, faulty_proxy,
                                                          skopeo: Runner) -> None:
    """docker→docker with a source that keeps cutting downloads: the error is the
    source's, not an upload problem, and the upload is not restarted for it."""
    src, dst = registry_factory(), registry_factory()
    copy(oci_image, f"docker://{src.host}/r/src:v1")
    proxy = faulty_proxy(src.port, "truncate_all")
    proc = skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{proxy.host}/r/src:v1",
                  f"docker://{dst.host}/r/dst:v1")
    assert proc.returncode == 1
    msg = fatal_message(proc.stderr)
    # A layer's failure, as upstream (an unreadable config is not fatal before the layers).
    # Upstream's bodyReader texts: one reconnection (logged at info level), then its tuning data.
    assert msg.startswith("writing blob: happened during read: (heuristic tuning data: total "), msg
    assert msg.endswith(": unexpected EOF"), msg
    reconnections = [line for line in proc.stderr.splitlines() if "level=info" in line]
    # One reconnection per blob being read when the copy failed (the config and
    # the layers are read side by side).
    assert reconnections and all("failed (unexpected EOF), reconnecting (first reconnection)…" in line
                                 for line in reconnections), proc.stderr
    blobs = [re.search(r"blobs/(sha256:[0-9a-f]{64})", line) for line in reconnections]
    assert all(blobs) and len({m.group(1) for m in blobs if m}) == len(reconnections), proc.stderr
    assert "restarting the upload" not in proc.stderr and "again in" not in proc.stderr


def test_ping_is_retried(registry: Registry, oci_image: str, faulty_proxy) -> None:
    proxy = proxied(registry, faulty_proxy, [Fault(r"^GET /v2/$", status=503, times=2)])
    copy(oci_image, f"docker://{proxy.host}/r/ping:v1")
    assert count(proxy, r"^GET /v2/$") == 3


def test_config_stored_alongside_layers_fails_the_copy_cleanly(registry: Registry, big_image: str, faulty_proxy) -> None:
    """The config blob is stored while the layers copy; its failure still fails
    the copy at the usual point, before any manifest is written, and nothing is
    left running."""
    config = json.loads(api.inspect_raw(big_image))["config"]["digest"].split(":")[1]
    proxy = proxied(registry, faulty_proxy, [Fault(rf"^PUT .*/blobs/uploads/.*digest=sha256%3A{config}", status=400, times=None)])
    before = threading.active_count()
    with pytest.raises(SkopeoError, match=rf"uploading layer to .*digest=sha256%3A{config}: unknown: bad request"):
        copy(big_image, f"docker://{proxy.host}/r/cfg:v1")
    assert count(proxy, MANIFEST_PUT) == 0
    assert count(proxy, rf"^PUT .*/blobs/uploads/.*digest=sha256%3A(?!{config})") == 2  # both layers went up
    assert threading.active_count() <= before + 1  # the registry warm-up thread may linger briefly
