"""Real daemons on private roots: ``podman system service`` and Debian's
``dockerd``, each with vfs storage and data in a temporary directory, listening
on a unix socket inside it (and dockerd also on a loopback TLS port).  Started
and stopped by PID.  When the binary is missing or cannot run here the tests
are skipped with the reason, or fail under ``SKOPEO_TESTS_REQUIRE`` (CI)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from skopeo import plugins
from skopeo.testing.registry import CA, free_port
from skopeo.testing.require import require_tool, skip_or_fail


@dataclass
class Daemon:
    kind: str  # "podman" or "docker"
    socket: Path
    cli: list[str]  # the matching command-line client, pointed at this daemon
    tls_host: str | None = None  # tcp://127.0.0.1:PORT (docker only)
    client_certs: Path | None = None  # ca.pem, cert.pem, key.pem

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"


def _ping(socket: Path) -> bool:
    import httpx

    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), timeout=2) as c:
            return c.get("http://d/_ping").status_code == 200
    except httpx.HTTPError:
        return False


def _start(argv: list[str], socket: Path, log: Path, name: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            skip_or_fail(name, f"{name} cannot run here (exit {proc.returncode}): {tail}")
        if socket.exists() and _ping(socket):
            return proc
        time.sleep(0.2)
    _stop(proc)
    skip_or_fail(name, f"{name} did not answer on {socket} within 60 s: {log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        # The daemon's own children share its session; kill that group, by its id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def podman_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    exe = require_tool("podman")
    root = tmp_path_factory.mktemp("podman")
    socket = root / "podman.sock"
    common = [exe, "--root", str(root / "storage"), "--runroot", str(root / "run"), "--storage-driver", "vfs",
              "--cgroup-manager", "cgroupfs", "--events-backend", "none", "--tmpdir", str(root / "tmp")]
    proc = _start([*common, "system", "service", "--time=0", f"unix://{socket}"], socket, root / "log", "podman")
    try:
        yield Daemon("podman", socket, common)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def docker_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    exe = require_tool("dockerd")
    # Debian's docker client (/usr/bin) before any other on PATH.
    client = shutil.which("docker", path="/usr/bin") or require_tool("docker", component="dockerd")
    root = tmp_path_factory.mktemp("docker")
    socket = root / "docker.sock"
    ca = CA.create(root / "ca")
    server = ca.issue(root / "server", "server")
    clientpair = ca.issue(root / "client", "client", client=True)
    certs = root / "client-certs"
    certs.mkdir()
    shutil.copy(ca.cert, certs / "ca.pem")
    shutil.copy(clientpair.cert, certs / "cert.pem")
    shutil.copy(clientpair.key, certs / "key.pem")
    port = free_port()
    argv = [exe, "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
            "--data-root", str(root / "data"), "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"),
            "-H", f"unix://{socket}", "-H", f"tcp://127.0.0.1:{port}",
            "--tlsverify", "--tlscacert", str(ca.cert), "--tlscert", str(server.cert), "--tlskey", str(server.key)]
    proc = _start(argv, socket, root / "log", "dockerd")
    try:
        yield Daemon("docker", socket, [client, "-H", f"unix://{socket}"], f"tcp://127.0.0.1:{port}", certs)
    finally:
        _stop(proc)


@pytest.fixture(params=["podman", "docker"])
def daemon(request: pytest.FixtureRequest) -> Daemon:
    return request.getfixturevalue(f"{request.param}_daemon")  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _chdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)


@pytest.fixture(autouse=True, scope="module")
def _only_needed_plugins() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv(plugins.ENV_PLUGINS, "dir,oci,archive,daemon")
    plugins.set_manager(None)
    yield
    mp.undo()
    plugins.set_manager(None)
