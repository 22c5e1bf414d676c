"""``--command-timeout 3s`` against a listener that accepts connections and
never answers, and against a real registry behind a proxy that stalls in the
middle of a blob: every timed command ends within a second or two of the
limit, exits 1 with one fatal line worded as upstream's (``context deadline
exceeded``, with each command's context), and leaves no destination that
looks complete and no temporary file.

Expected texts: upstream main's (recorded), except where noted: upstream main
puts ``fetching manifest TAG in REPO: `` before a ping failure while opening a
source, 1.9.3 and we do not."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import make_multiarch, random_layer_tar
from skopeo.testing.registry import Fault, Registry, SilentListener

from .conftest import Runner

pytestmark = pytest.mark.slow

LIMIT = 3.0
# Start-up, the deadline's last resort (1 s) and a loaded machine.
SLACK = 2.5


def _timed(skopeo: Runner, *args: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = skopeo("--command-timeout", f"{LIMIT:g}s", *args, cwd=cwd)
    return proc, time.monotonic() - start


def _ends_on_time(proc: subprocess.CompletedProcess[str], elapsed: float, expected: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert fatal_message(proc.stderr) == expected
    assert LIMIT - 0.2 <= elapsed <= LIMIT + SLACK, elapsed


def _no_temporary_files(*roots: Path) -> None:
    for root in roots:
        left = [str(p) for p in root.rglob("*") if p.name.startswith((".put-blob-", ".tmp-", ".oci-archive-"))]
        assert left == []


def _first_layer(oci_name: str) -> str:
    _, path, tag = oci_name.split(":")
    index = json.loads((Path(path) / "index.json").read_text())
    digest = next(m["digest"] for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    manifest = json.loads((Path(path) / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    return str(manifest["layers"][0]["digest"])


def test_listener_that_never_answers(silent_listener: SilentListener, skopeo: Runner, oci_image: str,
                                     tmp_path: Path) -> None:
    host = silent_listener.host
    ref = f"docker://{host}/repo:t"
    https = f'pinging container registry {host}: Get "https://{host}/v2/": context deadline exceeded'
    http = f'pinging container registry {host}: Get "http://{host}/v2/": context deadline exceeded'
    work = tmp_path / "work"
    work.mkdir()
    cases: list[tuple[tuple[str, ...], str, Path | None]] = [
        (("inspect", ref), f'Error parsing image name "{ref}": {https}', None),
        (("inspect", "--tls-verify=false", ref), f'Error parsing image name "{ref}": {http}', None),
        (("inspect", "--raw", ref), f'Error parsing image name "{ref}": {https}', None),
        (("list-tags", f"docker://{host}/repo"), f"Error listing repository tags: {https}", None),
        (("delete", ref), https, None),
        (("layers", ref), https, work),
        (("login", "-u", "u", "-p", "p", host), f'authenticating creds for "{host}": {https}', None),
        (("copy", ref, f"dir:{tmp_path}/d"), f"initializing source {ref}: {https}", None),
        # The destination connects when it is first used, as upstream's.
        (("copy", oci_image, ref), f"trying to reuse blob {_first_layer(oci_image)} at destination: {https}", None),
        (("sync", "--src", "docker", "--dest", "dir", f"{host}/repo:t", str(tmp_path / "s")),
         f'Error copying ref "{ref}": initializing source {ref}: {https}', None),
    ]
    for args, expected, cwd in cases:
        proc, elapsed = _timed(skopeo, *args, cwd=cwd)
        _ends_on_time(proc, elapsed, expected)
    assert not (tmp_path / "d" / "manifest.json").exists()
    assert list(work.iterdir()) == []


@pytest.fixture
def big_in_registry(registry: Registry, skopeo: Runner, tmp_path: Path) -> str:
    """``repo:big`` with a 24 MiB layer, and ``repo:multi``, an index."""
    from skopeo.testing.images import OCILayoutWriter

    w = OCILayoutWriter(str(tmp_path / "src"))
    w.tag(w.image([random_layer_tar(5, files=3, size=8 << 20)]), "big")
    make_multiarch(str(tmp_path / "src"), "multi")
    for tag in ("big", "multi"):
        skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{tmp_path / 'src'}:{tag}",
               f"docker://{registry.host}/repo:{tag}", check=True)
    manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false",
                                 f"docker://{registry.host}/repo:big", check=True).stdout)
    return str(manifest["layers"][0]["digest"])


def test_registry_that_stalls_mid_blob(registry_factory: Any, registry: Registry, faulty_proxy: Any,
                                       big_in_registry: str, skopeo: Runner, tmp_path: Path) -> None:
    proxy = faulty_proxy(registry.port, faults=[Fault(f"GET .*/blobs/{big_in_registry}", "stall", times=None)])
    other = registry_factory()
    ref = f"docker://{proxy.host}/repo:big"
    during_read = "writing blob: happened during read: context deadline exceeded"
    work = tmp_path / "work"
    work.mkdir()
    tls = ("--src-tls-verify=false", "--dest-tls-verify=false")
    cases: list[tuple[tuple[str, ...], str, Path | None]] = [
        (("copy", *tls, ref, f"dir:{tmp_path}/d"), during_read, None),
        (("copy", *tls, ref, f"oci:{tmp_path}/o:t"), during_read, None),
        (("copy", *tls, ref, f"oci-archive:{tmp_path}/a.tar"), during_read, None),
        (("copy", *tls, ref, f"docker-archive:{tmp_path}/da.tar"),
         "writing blob: writing to temporary on-disk layer: happened during read: context deadline exceeded", None),
        (("sync", *tls, "--src", "docker", "--dest", "dir", f"{proxy.host}/repo:big", str(tmp_path / "s")),
         f'Error copying ref "{ref}": {during_read}', None),
        (("layers", "--tls-verify=false", ref), "context deadline exceeded", work),
    ]
    env = {"SKOPEO_PLUGINS": "docker,oci,dir,archive"}
    for args, expected, cwd in cases:
        start = time.monotonic()
        proc = skopeo("--command-timeout", f"{LIMIT:g}s", *args, cwd=cwd, env=env)
        _ends_on_time(proc, time.monotonic() - start, expected)
    # To another registry: the upload's request is what fails (upstream: its PATCH; ours: a monolithic PUT).
    proc, elapsed = _timed(skopeo, "copy", *tls, ref, f"docker://{other.host}/copied:t")
    assert proc.returncode == 1 and LIMIT - 0.2 <= elapsed <= LIMIT + SLACK
    message = fatal_message(proc.stderr)
    assert message.startswith(f'writing blob: Put "http://{other.host}/v2/copied/blobs/uploads/')
    assert message.endswith('": context deadline exceeded')
    assert skopeo("inspect", "--tls-verify=false", f"docker://{other.host}/copied:t").returncode != 0
    # Nothing that looks complete, no temporary file.
    assert not (tmp_path / "d" / "manifest.json").exists()
    assert not (tmp_path / "o" / "index.json").exists()
    assert not (tmp_path / "a.tar").exists() and not (tmp_path / "da.tar").exists()
    assert not list((tmp_path / "s").rglob("manifest.json"))
    assert not list(work.rglob("manifest.json"))
    _no_temporary_files(tmp_path)
    # The stalled connections were the proxy's only trouble: without the fault it copies.
    proxy.faults.clear()
    assert skopeo("copy", *tls, ref, f"dir:{tmp_path}/ok").returncode == 0


def test_instances_copied_in_parallel_stop_too(registry: Registry, faulty_proxy: Any, big_in_registry: str,
                                                skopeo: Runner, tmp_path: Path) -> None:
    """--all with every instance's layer stalled: all threads of all instances end."""
    proxy = faulty_proxy(registry.port, faults=[Fault("GET .*/blobs/sha256:", "stall", times=None)])
    ref = f"docker://{proxy.host}/repo:multi"
    proc, elapsed = _timed(skopeo, "copy", "--all", "--src-tls-verify=false", ref, f"oci:{tmp_path}/o:t")
    assert proc.returncode == 1 and LIMIT - 0.2 <= elapsed <= LIMIT + SLACK, (elapsed, proc.stderr)
    message = fatal_message(proc.stderr)
    assert message.startswith("copying image 1/3 from manifest list: ") and message.endswith(
        "context deadline exceeded"), message
    assert not (tmp_path / "o" / "index.json").exists()
    _no_temporary_files(tmp_path)


def test_retries_end_at_the_deadline_with_the_last_error(registry: Registry, faulty_proxy: Any, skopeo: Runner,
                                                         big_in_registry: str, tmp_path: Path) -> None:
    """A registry failing every manifest GET with 503, --retry-times 10: the
    retries (ours per request, and --retry-times') stop at the deadline and the
    last error is reported, as containers/common's retry loop does."""
    proxy = faulty_proxy(registry.port, faults=[Fault("GET .*/manifests/", status=503, times=None)])
    ref = f"docker://{proxy.host}/repo:big"
    proc, elapsed = _timed(skopeo, "copy", "--retry-times", "10", "--src-tls-verify=false", ref,
                           f"dir:{tmp_path}/d")
    assert proc.returncode == 1 and elapsed <= LIMIT + SLACK, (elapsed, proc.stderr)
    last = fatal_message(proc.stderr)
    assert last == f"initializing source {ref}: reading manifest big in {proxy.host}/repo: " \
        "received unexpected HTTP status: 503 Service Unavailable"
    assert "level=info" not in proc.stderr  # our per-request retries are debug lines
    # containers/common's announcement, its delay printed before the jitter.
    assert f'msg="Failed, retrying in 1s ... (1/10). Error: {last}"' in proc.stderr.replace('\\"', '"')


def test_hung_credential_helper(registry: Registry, skopeo: Runner, tmp_path: Path, isolated_home: Path) -> None:
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-hang"
    helper.write_text("#!/bin/sh\nexec sleep 60\n")
    helper.chmod(0o755)
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"credHelpers": {registry.host: "hang"}}))
    env = {"PATH": f"{helper_dir}:{os.environ['PATH']}", "REGISTRY_AUTH_FILE": str(auth)}
    start = time.monotonic()
    proc = skopeo("--command-timeout", f"{LIMIT:g}s", "inspect", "--tls-verify=false",
                  f"docker://{registry.host}/repo:t", env=env)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1 and LIMIT - 0.2 <= elapsed <= LIMIT + SLACK, (elapsed, proc.stderr)
    assert fatal_message(proc.stderr).endswith("context deadline exceeded"), proc.stderr


def test_daemon_that_never_answers(silent_listener: SilentListener, skopeo: Runner, tmp_path: Path) -> None:
    host = silent_listener.host
    env = {"SKOPEO_PLUGINS": "daemon,dir,oci"}
    start = time.monotonic()
    proc = skopeo("--command-timeout", f"{LIMIT:g}s", "copy", "--src-daemon-host", f"tcp://{host}",
                  "docker-daemon:busybox:latest", f"dir:{tmp_path}/d", env=env)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1 and LIMIT - 0.2 <= elapsed <= LIMIT + SLACK, (elapsed, proc.stderr)
    # Upstream main's words (its newer client asks /v1.54/images/get?names=…).
    assert fatal_message(proc.stderr) == (
        "initializing source docker-daemon:busybox:latest: loading image from docker engine: "
        f'Get "https://{host}/v1.24/images/busybox:latest/get": context deadline exceeded')
    assert not (tmp_path / "d" / "manifest.json").exists()


def test_without_the_flag_nothing_changes(registry: Registry, faulty_proxy: Any, big_in_registry: str,
                                          skopeo: Runner, tmp_path: Path) -> None:
    """A slow registry (each blob delayed 1 s) and a generous limit: the copy completes."""
    proxy = faulty_proxy(registry.port, faults=[Fault("GET .*/blobs/", "delay", delay=1.0, times=None)])
    ref = f"docker://{proxy.host}/repo:big"
    proc = skopeo("--command-timeout", "60s", "copy", "--src-tls-verify=false", ref, f"dir:{tmp_path}/d")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "d" / "manifest.json").exists()
