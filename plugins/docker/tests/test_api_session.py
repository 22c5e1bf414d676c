"""skopeo.session.Session against a real docker-registry: every call, one
connection for many calls (TCP connects counted by a loopback proxy), bearer
tokens and credentials kept by the session, typed results whose to_json()
is the CLI's output, and the errors each call raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skopeo import api
from skopeo import events as ev
from skopeo.context import SystemContext
from skopeo.errors import ImageNotFoundError, SkopeoError
from skopeo.results import TagList
from skopeo.session import Session
from skopeo.testing.images import make_image, validate
from skopeo.testing.registry import FaultyProxy, Registry

from .conftest import Runner


def insecure(**kw: object) -> SystemContext:
    return SystemContext(tls_verify=False, **kw)  # type: ignore[arg-type]


def test_a_session_reuses_its_connections(registry: Registry, faulty_proxy, oci_image: str) -> None:  # type: ignore[no-untyped-def]
    proxy: FaultyProxy = faulty_proxy(registry.port, keep_alive=True)
    name = f"docker://{proxy.host}/keep/alive:v1"
    with Session(insecure(), insecure_policy=True) as s:
        s.copy(oci_image, name)
    before, requests = proxy.connections, len(proxy.requests)
    with Session(insecure()) as s:
        digests = {s.inspect(name).digest for _ in range(20)}
    assert len(digests) == 1
    # 61 requests (a ping, then manifest, config and tags 20 times) over one
    # connection, plus the HTTPS attempt the client makes first.
    assert len(proxy.requests) - requests == 61
    assert proxy.connections - before <= 2
    # A session per call connects every time: its connections close with it.
    before = proxy.connections
    for _ in range(5):
        with Session(insecure()) as s:
            s.inspect(name)
    assert proxy.connections - before >= 10


def test_a_session_keeps_bearer_tokens(token_registry: Registry, oci_image: str) -> None:
    ts = token_registry.token_server
    assert ts is not None
    ctx = insecure(username="testuser", password="testpassword")
    name = f"docker://{token_registry.host}/tok/kept:v1"
    with Session(ctx, insecure_policy=True) as s:
        s.copy(oci_image, name)
        ts.requests.clear()
        for _ in range(10):
            assert s.inspect(name).repo_tags == ["v1"]
        assert len(ts.requests) == 1  # the pull scope's token, kept for the session
    ts.requests.clear()
    for _ in range(3):
        api.inspect(name, ctx)
    assert len(ts.requests) == 6  # outside a session each client fetches its own, as upstream


def test_session_tokens_are_per_registry_and_credentials(token_registry: Registry, registry_factory,  # type: ignore[no-untyped-def]
                                                         oci_image: str) -> None:
    """A token kept by the session serves only the registry, credentials and
    scope it was fetched for: another user (here anonymous) gets its own."""
    other = registry_factory(auth="token")
    user = insecure(username="testuser", password="testpassword")
    names = [f"docker://{reg.host}/tok/iso:v1" for reg in (token_registry, other)]
    with Session(user, insecure_policy=True) as s:
        for name in names:
            s.copy(oci_image, name)
        for reg in (token_registry, other):
            assert reg.token_server is not None
            reg.token_server.requests.clear()
        for name in names:
            s.inspect(name)
        assert [len(reg.token_server.requests) for reg in (token_registry, other)] == [1, 1]  # type: ignore[union-attr]
        s.inspect(names[0], context=insecure())  # anonymous: a token of its own
        anonymous = token_registry.token_server.requests[-1]  # type: ignore[union-attr]
        assert len(token_registry.token_server.requests) == 2 and anonymous["user"] is None  # type: ignore[union-attr]
        s.inspect(names[0], context=insecure())
        assert len(token_registry.token_server.requests) == 2  # type: ignore[union-attr]


def test_a_session_remembers_credentials(basic_auth_registry: Registry, oci_image: str, tmp_path: Path) -> None:
    assert basic_auth_registry.ca is not None
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(basic_auth_registry.ca.cert.read_bytes())
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {basic_auth_registry.host: {"auth": "dGVzdHVzZXI6dGVzdHBhc3N3b3Jk"}}}))
    ctx = SystemContext(cert_dir=str(certs), auth_file=str(authfile))
    name = f"docker://{basic_auth_registry.host}/basic/kept:v1"
    with Session(ctx, insecure_policy=True) as s:
        s.copy(oci_image, name)
        authfile.write_text('{"auths": {}}')
        assert s.inspect(name).digest  # what the auth file said is remembered
    with pytest.raises(SkopeoError, match="authentication required"):
        api.inspect(name, ctx)


def test_every_call_against_a_registry(registry: Registry, oci_image: str, tmp_path: Path, skopeo: Runner) -> None:
    host = registry.host
    with Session(insecure(), insecure_policy=True) as s:
        pushed = s.copy(oci_image, f"docker://{host}/api/app:v1")
        s.copy(f"docker://{host}/api/app:v1", f"docker://{host}/api/app:v2")
        info = s.inspect(f"docker://{host}/api/app:v1")
        assert (info.name, info.tag, info.digest, info.repo_tags) == (f"{host}/api/app", "", pushed.digest, ["v1", "v2"])
        assert info.to_json() == skopeo("inspect", "--tls-verify=false", f"docker://{host}/api/app:v1",
                                        check=True).stdout.encode()
        assert s.inspect(f"docker://{host}/api/app:v1", no_tags=True).repo_tags == []
        assert s.inspect_raw(f"docker://{host}/api/app:v1") == pushed.manifest
        assert s.inspect_config(f"docker://{host}/api/app:v1")["architecture"] == info.architecture
        tags = s.list_tags(f"docker://{host}/api/app")
        assert tags == TagList(f"{host}/api/app", ["v1", "v2"])
        assert tags.to_json() == skopeo("list-tags", "--tls-verify=false", f"docker://{host}/api/app",
                                        check=True).stdout.encode()
        pulled = s.copy(f"docker://{host}/api/app:v1", f"oci:{tmp_path}/back:v1")
        assert pulled.digest == pushed.digest
        s.delete(f"docker://{host}/api/app:v2")  # the manifest, so both tags
        for tag in ("v1", "v2"):
            with pytest.raises(ImageNotFoundError) as missing:
                s.inspect(f"docker://{host}/api/app:{tag}")
            assert missing.value.exit_code == 2 and missing.value.message.endswith("manifest unknown")
    assert validate(f"oci:{tmp_path}/back:v1") == [d["digest"] for d in json.loads(pushed.manifest)["layers"]]


def test_a_copy_loop_through_one_session(registry: Registry, tmp_path: Path) -> None:
    """Many images through one session: each lands, the events say what
    moved, and the second round finds every blob already there."""
    src = tmp_path / "src"
    for n in range(6):
        make_image(str(src), f"t{n}", seed=n + 1)
    seen: list[ev.Event] = []
    with Session(insecure(), insecure_policy=True, events=seen.append) as s:
        digests = [s.copy(f"oci:{src}:t{n}", f"docker://{registry.host}/loop/app:t{n}").digest for n in range(6)]
        for n, digest in enumerate(digests):
            assert s.inspect(f"docker://{registry.host}/loop/app:t{n}", no_tags=True).digest == digest
        first = len(seen)
        for n in range(6):
            s.copy(f"oci:{src}:t{n}", f"docker://{registry.host}/loop/copy:t{n}")
    done = [e for e in seen if isinstance(e, ev.CopyDone)]
    assert [e.digest for e in done[:6]] == digests and len({e.copy_id for e in done}) == 12
    again = seen[first:]
    assert not [e for e in again if isinstance(e, ev.BlobStarted)]  # mounted from the first repository
    assert len([e for e in again if isinstance(e, ev.BlobSkipped)]) == 12


def test_sync_results_per_image(registry: Registry, registry_factory, faulty_proxy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What became of each image: copied, skipped on a second run, failed
    (with keep_going the sync goes on; SyncError carries the result), not
    started (without keep_going, after the first failure)."""
    from skopeo.errors import SyncError
    from skopeo.sync import COPIED, FAILED, NOT_STARTED, SKIPPED
    from skopeo.testing.registry import Fault

    layout = tmp_path / "images"
    with Session(insecure(), insecure_policy=True) as s:
        for i, tag in enumerate(("a", "b", "c")):
            make_image(str(layout), tag, seed=60 + i, layers=1)
            s.copy(f"oci:{layout}:{tag}", f"docker://{registry.host}/sy/app:{tag}")
        tags = s.list_tags(f"docker://{registry.host}/sy/app").tags  # the registry's order, the sync's
        dst = registry_factory()
        seen: list[ev.Event] = []
        first = s.sync(f"{registry.host}/sy/app", f"{dst.host}/mirror", events=seen.append)
        assert [(r.source, r.destination, r.status) for r in first.results] == [
            (f"docker://{registry.host}/sy/app:{t}", f"docker://{dst.host}/mirror/app:{t}", COPIED) for t in tags]
        assert (first.copied, first.skipped, first.failed) == (3, 0, 0)
        for r in first.results:
            assert r.digest == s.inspect(r.destination, no_tags=True).digest and r.bytes_copied > 0
        assert sorted(e.index for e in seen if isinstance(e, ev.SyncImageStarted)) == [0, 1, 2]
        assert sorted((e.index, e.status) for e in seen if isinstance(e, ev.SyncImageDone)) == [
            (0, COPIED), (1, COPIED), (2, COPIED)]
        assert len({e.copy_id for e in seen if isinstance(e, ev.CopyDone)}) == 3
        again = s.sync(f"{registry.host}/sy/app", f"{dst.host}/mirror")
        assert [r.status for r in again.results] == [SKIPPED] * 3 and again.with_status(SKIPPED) == again.results
        assert json.loads(again.to_json())["Results"][0]["Status"] == SKIPPED

        bad = s.inspect(f"docker://{registry.host}/sy/app:{tags[1]}", no_tags=True).layers[0]
        proxy = faulty_proxy(registry.port, "none", [Fault(rf"^GET .*/blobs/{bad}", status=404, times=None)])
        with pytest.raises(SyncError) as failed:  # fresh destinations: nothing to mount from
            s.sync(f"{proxy.host}/sy/app", f"{registry_factory().host}/kept", keep_going=True)
        result = failed.value.result
        assert [r.status for r in result.results] == [COPIED, FAILED, COPIED]
        assert result.results[1].error.startswith("reading blob sha256:")
        assert failed.value.message == "Sync failed due to previous reported error(s) for one or more images"
        with pytest.raises(SyncError) as stopped:
            s.sync(f"{proxy.host}/sy/app", f"{registry_factory().host}/stopped", parallel_images=1)
        assert stopped.value.message.startswith(f'Error copying ref "docker://{proxy.host}/sy/app:{tags[1]}": reading blob')
        assert isinstance(stopped.value.__cause__, SkopeoError) and stopped.value.exit_code == 1
        assert [r.status for r in stopped.value.result.results] == [COPIED, FAILED, NOT_STARTED]
