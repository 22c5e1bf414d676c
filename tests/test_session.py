"""skopeo.session.Session and the typed results through local transports:
each call, results whose to_json() is the command's output byte for byte,
the errors each call raises, the policy, threads, closing.  (Registries:
plugins/docker/tests/test_api_session.py.)"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from skopeo import api
from skopeo import events as ev
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions, CopyResult
from skopeo.errors import ImageNotFoundError, InvalidReferenceError, PolicyError, SkopeoError, UnsupportedError
from skopeo.policy import Policy, PolicyContext
from skopeo.results import ImageInfo, LayerInfo, TagList
from skopeo.session import Session
from skopeo.testing import images


def test_every_call_on_local_transports(sample_layout: Path, tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    src = f"oci:{sample_layout}:hello"
    archive = tmp_path / "a.tar"
    with Session(insecure_policy=True) as s:
        copied = s.copy(src, f"dir:{tmp_path}/d")
        assert isinstance(copied, CopyResult) and not copied.skipped and copied.bytes_copied > 0
        assert (tmp_path / "d" / "manifest.json").read_bytes() == copied.manifest
        s.copy(src, f"docker-archive:{archive}:app:v1")
        s.copy(src, f"oci:{tmp_path}/o:one")

        info = s.inspect(f"dir:{tmp_path}/d")
        assert isinstance(info, ImageInfo) and info.digest == copied.digest
        assert info.layers == [d.digest for d in info.layers_data] and isinstance(info.layers_data[0], LayerInfo)
        assert info.to_json() == run_skopeo("inspect", f"dir:{tmp_path}/d", check=True).stdout.encode()
        assert s.inspect_raw(f"dir:{tmp_path}/d") == copied.manifest
        config = s.inspect_config(f"dir:{tmp_path}/d")
        assert config == json.loads(run_skopeo("inspect", "--config", f"dir:{tmp_path}/d", check=True).stdout)
        assert s.inspect_raw(f"dir:{tmp_path}/d", config=True) == (
            tmp_path / "d" / json.loads(copied.manifest)["config"]["digest"].split(":")[1]).read_bytes()

        tags = s.list_tags(f"docker-archive:{archive}")
        assert tags == TagList(None, ["docker.io/library/app:v1"])
        assert tags.to_json() == run_skopeo("list-tags", f"docker-archive:{archive}", check=True).stdout.encode()

        s.delete(f"oci:{tmp_path}/o:one")
        with pytest.raises(ImageNotFoundError) as missing:
            s.inspect(f"oci:{tmp_path}/o:one")
        assert missing.value.exit_code == 2
        assert s.manifest_digest(copied.manifest) == copied.digest
        assert str(s.parse(src)) == src


def test_errors_of_each_call(sample_layout: Path, tmp_path: Path) -> None:
    """The exception types docs/api.md promises."""
    with Session(insecure_policy=True) as s:
        with pytest.raises(InvalidReferenceError, match=r'Invalid source name bogus:x: .*unknown transport "bogus"'):
            s.copy("bogus:x", f"dir:{tmp_path}/d")
        with pytest.raises(ImageNotFoundError, match=r"^initializing source oci:.*: no descriptor found"):
            s.copy(f"oci:{sample_layout}:nope", f"dir:{tmp_path}/d")
        with pytest.raises(InvalidReferenceError, match=r'^Error parsing image name "bogus:x"'):
            s.inspect("bogus:x")
        with pytest.raises(SkopeoError, match=r"^Error retrieving manifest for image: open .*: no such file"):
            s.inspect(f"dir:{tmp_path}/none")
        with pytest.raises(UnsupportedError, match=r"^Unsupported transport 'oci' for tag listing"):
            s.list_tags(f"oci:{sample_layout}")
        with pytest.raises(SkopeoError, match=r"does not specify a transport"):
            s.list_tags("nothing")
        with pytest.raises(ImageNotFoundError):
            s.delete(f"oci:{sample_layout}:nope")


def test_policy(sample_layout: Path, tmp_path: Path) -> None:
    reject = tmp_path / "reject.json"
    reject.write_text('{"default":[{"type":"reject"}]}')
    with Session(policy=str(reject)) as s:
        with pytest.raises(PolicyError, match=r"^Source image rejected: Running image .* is rejected by policy."):
            s.copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d")
        assert s.inspect(f"oci:{sample_layout}:hello").digest  # reading needs no policy
    with Session(policy=Policy.accept_anything()) as s:
        s.copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d")
    pc = PolicyContext(Policy.accept_anything())
    with Session(policy=pc) as s:
        assert s.policy is pc


def test_options_contexts_and_keywords(tmp_path: Path) -> None:
    idx = images.make_multiarch(str(tmp_path / "m"), "m")
    with Session(SystemContext(override_arch="arm64"), insecure_policy=True) as s:
        # The session's context is both ends' by default: the arm64 instance.
        one = s.copy(f"oci:{tmp_path}/m:m", f"dir:{tmp_path}/arm")
        assert s.inspect(f"dir:{tmp_path}/arm").architecture == "arm64"
        assert one.digest != idx.digest
        # Keywords set CopyOptions fields.
        whole = s.copy(f"oci:{tmp_path}/m:m", f"oci:{tmp_path}/all:m", multi_arch="all")
        assert whole.digest == idx.digest
        # Options given are used, bound to the session, the caller's left alone.
        ctx = SystemContext(override_arch="ppc64le")
        s.copy(f"oci:{tmp_path}/m:m", f"dir:{tmp_path}/ppc", CopyOptions(source_ctx=ctx))
        assert ctx.resources is None
        assert s.inspect(f"dir:{tmp_path}/ppc").architecture == "ppc64le"
        assert s.inspect(f"oci:{tmp_path}/m:m", context=SystemContext(override_arch="amd64")).architecture == "amd64"


def test_threads_share_a_session(sample_layout: Path, tmp_path: Path) -> None:
    seen: list[ev.Event] = []
    busy = threading.Lock()
    overlaps = []

    def consumer(event: ev.Event) -> None:
        if not busy.acquire(blocking=False):
            overlaps.append(event)
            busy.acquire()
        seen.append(event)
        busy.release()

    results: dict[int, str] = {}
    errors: list[BaseException] = []
    with Session(insecure_policy=True, events=consumer) as s:
        def work(n: int) -> None:
            try:
                results[n] = s.copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d{n}").digest
                assert s.inspect(f"dir:{tmp_path}/d{n}").digest == results[n]
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and len(set(results.values())) == 1 and len(results) == 8
    assert not overlaps
    assert len({e.copy_id for e in seen if isinstance(e, ev.CopyDone)}) == 8


def test_events_of_the_session_and_of_a_call(sample_layout: Path, tmp_path: Path) -> None:
    session_events: list[ev.Event] = []
    call_events: list[ev.Event] = []
    with Session(insecure_policy=True, events=session_events.append) as s:
        s.copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/a")
        s.copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/b", events=call_events.append)
    assert len([e for e in session_events if isinstance(e, ev.CopyDone)]) == 2
    assert [type(e) for e in call_events] == [type(e) for e in session_events if e.copy_id == call_events[0].copy_id]


def test_closed_session(sample_layout: Path, tmp_path: Path) -> None:
    s = Session(insecure_policy=True)
    with s:
        s.inspect(f"oci:{sample_layout}:hello")
    assert s.closed
    s.close()  # again: nothing happens
    for call in (lambda: s.inspect(f"oci:{sample_layout}:hello"),
                 lambda: s.copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d")):
        with pytest.raises(RuntimeError, match="the session is closed"):
            call()


def test_results_read_as_the_dicts_they_replace(sample_layout: Path, tmp_path: Path) -> None:
    info = api.inspect(f"oci:{sample_layout}:hello")
    assert info["Digest"] == info.digest and info["Layers"] == info.layers and info.get("Nope", 1) == 1
    assert info["LayersData"][0]["MIMEType"] == info.layers_data[0].mime_type
    assert info["Created"].json == info.created  # a Go time, as templates see it
    assert ImageInfo.from_output(info.to_dict()) == info
    api.copy(f"oci:{sample_layout}:hello", f"docker-archive:{tmp_path}/a.tar:x/y:z",
             policy=PolicyContext(Policy.accept_anything()))
    tags = api.list_tags(f"docker-archive:{tmp_path}/a.tar")
    assert tags["Tags"] == tags.tags == ["docker.io/x/y:z"] and "Repository" not in tags.to_dict()
    assert TagList("r", ["a"]).to_dict() == {"Repository": "r", "Tags": ["a"]}


@pytest.mark.parametrize("created", [
    "2026-01-02T03:04:05.123456789Z", "2026-01-02T03:04:05Z", "2026-01-02T05:04:05+02:00", "2026-01-02T03:04:05.1Z",
])
def test_created_time_as_the_command_prints_it(tmp_path: Path, created: str, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    """The creation time survives the typed result: its JSON and its template form are the command's."""
    from skopeo.golang import gojson

    w = images.OCILayoutWriter(str(tmp_path / "l"))
    img = w.image([images.random_layer_tar(1)])
    # Rewrite the config's creation time.
    manifest = json.loads((tmp_path / "l" / "blobs" / "sha256" / img.digest.split(":")[1]).read_bytes())
    config = json.loads((tmp_path / "l" / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    config["created"] = created
    cfg = w.blob(gojson.marshal(config))
    manifest["config"].update(digest=cfg.digest, size=cfg.size)
    w.tag(w.blob(gojson.marshal(manifest), manifest["mediaType"]), "t")
    info = api.inspect(f"oci:{tmp_path}/l:t")
    assert info.to_json() == run_skopeo("inspect", f"oci:{tmp_path}/l:t", check=True).stdout.encode()
    assert run_skopeo("inspect", "--format", "{{.Created}}", f"oci:{tmp_path}/l:t", check=True).stdout == (
        f"{info.to_dict()['Created']}\n")


def test_sync_of_a_directory_tree(sample_layout: Path, tmp_path: Path) -> None:
    from skopeo.sync import COPIED, PLANNED

    tree = tmp_path / "tree"
    with Session(insecure_policy=True) as s:
        for name in ("one", "two/three"):
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            s.copy(f"oci:{sample_layout}:hello", f"dir:{tree / name}")
        seen: list[ev.Event] = []
        dry = s.sync(str(tree), str(tmp_path / "layout"), source_kind="dir", dest_kind="oci", dry_run=True)
        assert [(r.source, r.status) for r in dry.results] == [(f"dir:{tree}/one", PLANNED),
                                                              (f"dir:{tree}/two/three", PLANNED)]
        result = s.sync(str(tree), str(tmp_path / "layout"), source_kind="dir", dest_kind="oci", events=seen.append)
        assert [(r.destination, r.status) for r in result.results] == [
            (f"oci:{tmp_path}/layout:one", COPIED), (f"oci:{tmp_path}/layout:three", COPIED)]
        assert {r.digest for r in result.results} == {s.inspect(f"oci:{tmp_path}/layout:one").digest}
        for index in (0, 1):  # the images are copied at once: their events interleave
            assert [type(e) for e in seen if isinstance(e, (ev.SyncImageStarted, ev.SyncImageDone))
                    and e.index == index] == [ev.SyncImageStarted, ev.SyncImageDone]
        assert json.loads(result.to_json())["Copied"] == 2
