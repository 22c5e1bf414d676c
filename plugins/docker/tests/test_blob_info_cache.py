"""The persistent blob-info cache across processes, with two real registries:
a later process mounts what an earlier one pushed (or pulled), a docker-archive
pushed twice is not compressed and uploaded again, a failed mount falls back to
an upload, two processes share the file at once, and a corrupt file or a
read-only directory only costs a warning.  Requests are observed through a
recording proxy in front of the registry."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from skopeo.blobinfocache import FILENAME
from skopeo.testing.fixtures import skopeo_command
from skopeo.testing.registry import Fault, FaultyProxy, Registry
from skopeo.testing.require import require_tool, skip_or_fail

from .conftest import Runner

NOTLS = ("--src-tls-verify=false", "--dest-tls-verify=false")
Requests = list[tuple[str, str, list[tuple[str, str]]]]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "blob-info-cache"


@pytest.fixture
def run(skopeo: Runner, cache: Path) -> Runner:
    """Our CLI in a process of its own, with the cache in *cache* (docker-archive: too)."""

    def go(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return skopeo(*args, check=check, env={"SKOPEO_BLOB_INFO_CACHE_DIR": str(cache),
                                               "SKOPEO_PLUGINS": "docker,oci,dir,archive"})

    return go


@pytest.fixture
def source(registry_factory, skopeo: Runner, oci_image: str) -> Registry:  # type: ignore[no-untyped-def]
    """A registry holding ``team/app:v1`` (a two-layer image), pushed with no cache of these tests."""
    reg: Registry = registry_factory()
    skopeo("copy", "--dest-tls-verify=false", oci_image, f"docker://{reg.host}/team/app:v1", check=True)
    return reg


@pytest.fixture
def dest(registry_factory, faulty_proxy) -> FaultyProxy:  # type: ignore[no-untyped-def]
    """The destination registry, behind a proxy that records every request."""
    reg: Registry = registry_factory()
    proxy: FaultyProxy = faulty_proxy(reg.port, "none")
    return proxy


def _blobs(run: Runner, ref: str) -> list[str]:
    raw = json.loads(run("inspect", "--raw", "--tls-verify=false", ref).stdout)
    return [raw["config"]["digest"], *(layer["digest"] for layer in raw["layers"])]


def _mounts(requests: Requests, repo: str) -> list[str]:
    """Digests mounted into *repo*, from where: ``digest<-from``."""
    from urllib.parse import parse_qs, urlsplit

    out = []
    for method, target, _ in requests:
        parts = urlsplit(target)
        if method == "POST" and parts.path == f"/v2/{repo}/blobs/uploads/" and "mount=" in parts.query:
            q = parse_qs(parts.query)
            out.append(f"{q['mount'][0]}<-{q['from'][0]}")
    return out


def _uploads(requests: Requests) -> list[str]:
    """Upload requests that carry or finish data (not mount attempts)."""
    return [f"{m} {t}" for m, t, _ in requests
            if "/blobs/uploads/" in t and not (m == "POST" and "mount=" in t) and m != "DELETE"]


def _since(proxy: FaultyProxy, seen: int) -> Requests:
    return proxy.requests[seen:]


def test_later_process_mounts_what_an_earlier_process_pushed(run: Runner, source: Registry, dest: FaultyProxy,
                                                             faulty_proxy) -> None:  # type: ignore[no-untyped-def]
    src = faulty_proxy(source.port, "none")
    run("copy", *NOTLS, f"docker://{src.host}/team/app:v1", f"docker://{dest.host}/first/app:v1")
    blobs = _blobs(run, f"docker://{dest.host}/first/app:v1")
    seen_dest, seen_src = len(dest.requests), len(src.requests)
    proc = run("copy", *NOTLS, f"docker://{src.host}/team/app:v1", f"docker://{dest.host}/second/app:v1")
    assert "level=warning" not in proc.stderr
    assert sorted(_mounts(_since(dest, seen_dest), "second/app")) == sorted(f"{b}<-first/app" for b in blobs)
    assert _uploads(_since(dest, seen_dest)) == []
    # Nothing was read from the source but its manifest and config.
    assert [t for m, t, _ in _since(src, seen_src) if m == "GET" and "/blobs/" in t] == [
        f"/v2/team/app/blobs/{blobs[0]}"]
    assert _blobs(run, f"docker://{dest.host}/second/app:v1") == blobs


def test_knowledge_from_a_pull_is_used_by_a_later_push(run: Runner, source: Registry, faulty_proxy,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    """A pull records where its blobs are; the next process pushing the same
    image to another repository of that registry mounts them from there."""
    src = faulty_proxy(source.port, "none")
    run("copy", *NOTLS, f"docker://{src.host}/team/app:v1", f"oci:{tmp_path}/pulled:v1")
    seen = len(src.requests)
    run("copy", *NOTLS, f"oci:{tmp_path}/pulled:v1", f"docker://{src.host}/other/app:v1")
    blobs = _blobs(run, f"docker://{src.host}/team/app:v1")
    assert sorted(_mounts(_since(src, seen), "other/app")) == sorted(f"{b}<-team/app" for b in blobs)
    assert _uploads(_since(src, seen)) == []


def test_docker_archive_pushed_twice_is_not_compressed_again(run: Runner, dest: FaultyProxy, oci_image: str,
                                                             tmp_path: Path) -> None:
    archive = f"docker-archive:{tmp_path}/app.tar"
    run("copy", oci_image, f"{archive}:team/app:v1")
    run("copy", *NOTLS, archive, f"docker://{dest.host}/arch/app:v1")
    first = run("inspect", "--raw", "--tls-verify=false", f"docker://{dest.host}/arch/app:v1").stdout
    seen = len(dest.requests)
    proc = run("--debug", "copy", *NOTLS, archive, f"docker://{dest.host}/arch/app:v2")
    # The archive's layers are uncompressed: the second push knows their gzip
    # forms and finds them in the registry, so nothing is compressed or uploaded.
    assert _uploads(_since(dest, seen)) == []
    assert proc.stderr.count("compressed with gzip in destination repo") == 2, proc.stderr
    second = run("inspect", "--raw", "--tls-verify=false", f"docker://{dest.host}/arch/app:v2").stdout
    assert second == first


def test_failed_mount_falls_back_to_an_upload(run: Runner, source: Registry, dest: FaultyProxy) -> None:
    run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/first/app:v1")
    blobs = _blobs(run, f"docker://{dest.host}/first/app:v1")
    dest.faults.append(Fault(r"^POST \S*mount=", status=403, times=None))
    seen = len(dest.requests)
    run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/second/app:v1")
    assert len(_mounts(_since(dest, seen), "second/app")) == len(blobs)  # tried, refused
    assert len([u for u in _uploads(_since(dest, seen)) if u.startswith("PUT")]) == len(blobs)
    assert _blobs(run, f"docker://{dest.host}/second/app:v1") == blobs


def test_stale_location_falls_back_to_an_upload(run: Runner, source: Registry, dest: FaultyProxy) -> None:
    """A blob the cache remembers but the registry no longer has is uploaded."""
    run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/first/app:v1")
    blobs = _blobs(run, f"docker://{dest.host}/first/app:v1")
    run("delete", "--tls-verify=false", f"docker://{dest.host}/first/app:v1")
    import httpx

    for b in blobs:
        assert httpx.delete(f"http://{dest.host}/v2/first/app/blobs/{b}").status_code == 202
    seen = len(dest.requests)
    run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/second/app:v1")
    assert _mounts(_since(dest, seen), "second/app") == []  # the HEAD in first/app said no
    assert len([u for u in _uploads(_since(dest, seen)) if u.startswith("PUT")]) == len(blobs)


def test_candidates_are_asked_together(run: Runner, source: Registry, dest: FaultyProxy) -> None:
    """Each place a layer may already be (the destination repository, then the
    cache's locations, newest first) is asked at once: with a registry that
    takes 0.4 s per HEAD, the questions about one blob do not wait for each
    other's answers.  The answers are still taken in upstream's order: the two
    newest locations are stale, the oldest is mounted."""
    for repo in ("r1", "r2", "r3"):
        run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/{repo}/app:v1")
    blobs = _blobs(run, f"docker://{dest.host}/r1/app:v1")
    import httpx

    for repo in ("r2", "r3"):
        for b in blobs:
            assert httpx.delete(f"http://{dest.host}/v2/{repo}/app/blobs/{b}").status_code == 202
    dest.faults.append(Fault(r"^HEAD \S*/blobs/", action="delay", delay=0.4, times=None))
    seen = len(dest.requests)
    run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/r4/app:v1")
    requests = _since(dest, seen)
    times = dest.request_times[seen:]
    assert sorted(_mounts(requests, "r4/app")) == sorted(f"{b}<-r1/app" for b in blobs)
    assert _uploads(requests) == []
    for b in blobs:
        heads = sorted((t, target) for (m, target, _), t in zip(requests, times, strict=True)
                       if m == "HEAD" and target.endswith(f"/blobs/{b}"))
        assert {target.split("/")[2] for _, target in heads} == {"r1", "r2", "r3", "r4"}, heads
        assert heads[-1][0] - heads[0][0] < 0.3, heads  # asked one after the other: 0.4 s apart at least


def test_where_the_cache_saw_the_blob_it_is_asked_alone(run: Runner, source: Registry, dest: FaultyProxy) -> None:
    """A copy to where the image already is (the cache saw its blobs there)
    asks the destination repository first and alone, as upstream: one HEAD per
    blob, not one per candidate the cache also knows (here the same layers in
    another repository)."""
    for repo in ("r1", "r2"):
        run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/{repo}/app:v1")
    blobs = _blobs(run, f"docker://{dest.host}/r2/app:v1")
    seen = len(dest.requests)
    run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/r2/app:v1")
    heads = sorted(target for m, target, _ in _since(dest, seen) if m == "HEAD")
    assert heads == sorted(f"/v2/r2/app/blobs/{b}" for b in blobs), heads


def test_sync_mounts_from_an_earlier_push(run: Runner, source: Registry, dest: FaultyProxy) -> None:
    run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/first/app:v1")
    blobs = _blobs(run, f"docker://{dest.host}/first/app:v1")
    seen = len(dest.requests)
    run("sync", "--src", "docker", "--dest", "docker", *NOTLS, f"{source.host}/team/app", f"{dest.host}/mirror")
    assert sorted(_mounts(_since(dest, seen), "mirror/app")) == sorted(f"{b}<-first/app" for b in blobs)
    assert _uploads(_since(dest, seen)) == []


def test_two_processes_at_once(cache: Path, source: Registry, dest: FaultyProxy, isolated_home: Path) -> None:
    env = dict(os.environ, SKOPEO_BLOB_INFO_CACHE_DIR=str(cache))
    procs = [subprocess.Popen([*skopeo_command(), "--insecure-policy", "copy", *NOTLS,
                               f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/par{i}/app:v1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "level=warning" not in err, err
    conn = sqlite3.connect(cache / FILENAME)
    repos = {r[0] for r in conn.execute("SELECT location FROM KnownLocations WHERE scope = ?", (dest.host,))}
    conn.close()
    assert repos == {f"{dest.host}/par0/app", f"{dest.host}/par1/app"}


def test_corrupt_cache_file_costs_one_warning(run: Runner, cache: Path, source: Registry, dest: FaultyProxy) -> None:
    cache.mkdir()
    (cache / FILENAME).write_bytes(b"\x00garbage" * 512)
    proc = run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/first/app:v1")
    warnings = [line for line in proc.stderr.splitlines() if "level=warning" in line]
    assert len(warnings) == 1, proc.stderr
    assert "using a memory-only cache: file is not a database" in warnings[0]
    assert (cache / FILENAME).read_bytes() == b"\x00garbage" * 512
    assert len(_blobs(run, f"docker://{dest.host}/first/app:v1")) == 3


def _without_dac_override() -> list[str]:
    """A prefix that runs a command so that file permissions apply to it (root
    ignores them unless it lacks CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0:
        return []
    setpriv = require_tool("setpriv")  # util-linux: drops CAP_DAC_OVERRIDE as root
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--"]


def test_read_only_cache_directory(run: Runner, cache: Path, source: Registry, dest: FaultyProxy) -> None:
    """What is in the file is still used (the mount happens); what is learned
    cannot be written: one warning, the copy succeeds."""
    run("copy", *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/first/app:v1")
    before = (cache / FILENAME).read_bytes()
    cache.chmod(0o555)
    try:
        seen = len(dest.requests)
        proc = subprocess.run([*_without_dac_override(), *skopeo_command(), "--insecure-policy", "copy", *NOTLS,
                               f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/second/app:v1"],
                              capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, SKOPEO_BLOB_INFO_CACHE_DIR=str(cache)))
    finally:
        cache.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "level=warning" in line]
    assert len(warnings) == 1 and "using a memory-only cache" in warnings[0], proc.stderr
    assert len(_mounts(_since(dest, seen), "second/app")) == 3
    assert (cache / FILENAME).read_bytes() == before
    assert sorted(os.listdir(cache)) == [FILENAME]  # no journal left behind


def test_unwritable_new_cache_directory(cache: Path, source: Registry, dest: FaultyProxy) -> None:
    cache.mkdir(mode=0o555)
    proc = subprocess.run([*_without_dac_override(), sys.executable, "-m", "skopeo", "--insecure-policy", "copy",
                           *NOTLS, f"docker://{source.host}/team/app:v1", f"docker://{dest.host}/first/app:v1"],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, SKOPEO_BLOB_INFO_CACHE_DIR=str(cache)))
    cache.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "level=warning" in line]
    assert len(warnings) == 1 and "unable to open database file" in warnings[0], proc.stderr
    assert os.listdir(cache) == []


# --- the same file as upstream's SQLite cache, live ----------------------------------------------
# Upstream skopeo built with cgo and SQLite (the usual /tmp/skopeo-main is cgo-free and keeps its
# cache in memory), e.g. from the build-upstream-skopeo tool's source tree:
#   CGO_ENABLED=1 GOFLAGS=-mod=vendor go build -tags "libsqlite3 exclude_graphdriver_btrfs \
#     exclude_graphdriver_devicemapper containers_image_openpgp" -o /tmp/skopeo-main-sqlite ./cmd/skopeo
# (libsqlite3-dev).  CI has none: tests/test_blobinfocache.py checks the schema and statements.
UPSTREAM_SQLITE = os.environ.get("SKOPEO_UPSTREAM_SQLITE", "/tmp/skopeo-main-sqlite")


@pytest.fixture
def shared_env(tmp_path: Path, isolated_home: Path) -> dict[str, str]:
    """Both programs find the cache by the rootless rule ($XDG_DATA_HOME), not by our variable."""
    if not os.access(UPSTREAM_SQLITE, os.X_OK):
        skip_or_fail("upstream-main", f"no upstream skopeo with a SQLite blob-info cache at {UPSTREAM_SQLITE}")
    env = {k: v for k, v in os.environ.items() if k != "SKOPEO_BLOB_INFO_CACHE_DIR"}
    env.update(_CONTAINERS_ROOTLESS_UID="1000", XDG_DATA_HOME=str(tmp_path / "data"))
    return env


def _run_in(env: dict[str, str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "level=warning" not in proc.stderr and "level=error" not in proc.stderr, proc.stderr
    return proc


def test_upstream_and_we_share_the_cache_file(shared_env: dict[str, str], dest: FaultyProxy, oci_image: str,
                                              tmp_path: Path) -> None:
    ours = [*skopeo_command(), "--insecure-policy", "copy", "--dest-tls-verify=false"]
    theirs = [UPSTREAM_SQLITE, "--insecure-policy", "copy", "--dest-tls-verify=false"]
    _run_in(shared_env, [*theirs, oci_image, f"docker://{dest.host}/first/app:v1"])
    assert os.listdir(tmp_path / "data" / "containers" / "cache") == [FILENAME]
    seen = len(dest.requests)
    _run_in(shared_env, [*ours, oci_image, f"docker://{dest.host}/second/app:v1"])
    assert len([m for m in _mounts(_since(dest, seen), "second/app") if m.endswith("<-first/app")]) == 3
    assert _uploads(_since(dest, seen)) == []
    seen = len(dest.requests)
    _run_in(shared_env, [*theirs, oci_image, f"docker://{dest.host}/third/app:v1"])
    # Upstream mounts the layers from where we recorded them (it uploads configs).
    assert len([m for m in _mounts(_since(dest, seen), "third/app") if m.endswith("<-second/app")]) == 2


def test_we_reuse_what_upstream_compressed(shared_env: dict[str, str], dest: FaultyProxy, oci_image: str,
                                           tmp_path: Path) -> None:
    """Upstream pushes a docker-archive (compressing its layers and recording
    the pairs); we push the same archive without compressing or uploading."""
    archive = f"docker-archive:{tmp_path}/app.tar"
    env = dict(shared_env, SKOPEO_PLUGINS="docker,oci,dir,archive")
    _run_in(env, [*skopeo_command(), "--insecure-policy", "copy", oci_image, f"{archive}:team/app:v1"])
    _run_in(env, [UPSTREAM_SQLITE, "--insecure-policy", "copy", "--dest-tls-verify=false", archive,
                  f"docker://{dest.host}/arch/app:v1"])
    seen = len(dest.requests)
    _run_in(env, [*skopeo_command(), "--insecure-policy", "copy", "--dest-tls-verify=false", archive,
                  f"docker://{dest.host}/arch/app:v2"])
    assert _uploads(_since(dest, seen)) == []
    first = _run_in(env, [UPSTREAM_SQLITE, "inspect", "--raw", "--tls-verify=false", f"docker://{dest.host}/arch/app:v1"])
    second = _run_in(env, [UPSTREAM_SQLITE, "inspect", "--raw", "--tls-verify=false",
                           f"docker://{dest.host}/arch/app:v2"])
    assert json.loads(first.stdout)["layers"] == json.loads(second.stdout)["layers"]
