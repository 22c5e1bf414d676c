"""pytest fixtures for the core's and plugins' tests (the ``skopeo`` pytest plugin)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .require import pytest_configure as _require_configure
from .require import (  # noqa: F401  (pytest hooks of this plugin)
    pytest_runtest_setup,
    pytest_terminal_summary,
    reference_skopeo,
)


def fatal_message(stderr: str) -> str:
    """The msg of the single ``level=fatal`` line of a failed run (unescaped),
    checking there is exactly one and no Python traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "level=fatal" in line or line.startswith("FATA")]
    assert len(lines) == 1, stderr
    line = lines[0]
    if 'msg="' in line:
        return line.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return line.split("] ", 1)[1]


def skopeo_command() -> list[str]:
    """Our CLI, run through the interpreter of this test session."""
    return [sys.executable, "-m", "skopeo"]


# Forks and execs argv[2:], then writes "<exit code> <peak RSS in KiB>" of that child to argv[1].
_RSS_WRAPPER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def peak_rss(argv: list[str]) -> tuple[int, int, bytes]:
    """Run *argv*; (exit code, its peak resident set size in bytes as the kernel
    counted it (``wait4``), stderr).  Nothing inside the process is trusted.

    The kernel's peak includes the memory of the process that forked the child,
    up to its exec; so the child is forked by a small wrapper interpreter (a few
    MiB), not by this test process (often 100+ MiB after a long session)."""
    import tempfile

    with tempfile.NamedTemporaryFile("r", prefix="peak-rss-") as result, open(os.devnull, "wb") as devnull:
        proc = subprocess.run([sys.executable, "-S", "-c", _RSS_WRAPPER, result.name, *argv], stdout=devnull,
                              stderr=subprocess.PIPE, timeout=600)
        code, kib = (int(x) for x in result.read().split())
    return code, kib * 1024, proc.stderr  # ru_maxrss is in KiB on Linux


# --- the blob-info cache ---------------------------------------------------------------------
# Tests never use the machine's blob-info cache (/var/lib/containers/cache for
# root): our CLI and API use one file per test session, forgotten whenever a
# registry stops (a later one may reuse its port).  Tests of the cache itself
# point $SKOPEO_BLOB_INFO_CACHE_DIR (or the context) elsewhere.
_session_cache_dir: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _session_cache_dir
    import tempfile

    _require_configure(config)

    from ..blobinfocache import ENV_DIR

    if ENV_DIR not in os.environ:
        _session_cache_dir = tempfile.mkdtemp(prefix="skopeo-test-blob-info-cache-")
        os.environ[ENV_DIR] = _session_cache_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    if _session_cache_dir is not None:
        shutil.rmtree(_session_cache_dir, ignore_errors=True)


def forget_blob_info_cache() -> None:
    """Forget the test session's blob-info cache: in this process and its file."""
    from .. import blobinfocache

    blobinfocache.forget()
    if _session_cache_dir is not None:
        for name in os.listdir(_session_cache_dir):
            os.unlink(os.path.join(_session_cache_dir, name))


@pytest.fixture
def sample_layout(tmp_path: Path) -> Path:
    """A private sample OCI layout with one image, tag ``hello``
    (:func:`skopeo.testing.images.write_sample_layout`).  This repository's
    own tests get its busybox sample instead (the root ``conftest.py``)."""
    from .images import write_sample_layout

    dest = tmp_path / "sample-oci"
    write_sample_layout(str(dest))
    return dest


@pytest.fixture
def memory_transport() -> Iterator[None]:
    """``memory:`` images usable in this test, in-process, beside the installed
    plugins (:mod:`skopeo.testing.memory`); the store is emptied afterwards."""
    from .memory import enabled

    with enabled():
        yield


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    path.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    return path


@pytest.fixture
def run_skopeo(policy_file: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run our ``skopeo`` with a permissive policy; returns the CompletedProcess."""

    def run(*args: str, check: bool = False, input: str | None = None, env: dict[str, str] | None = None,
            policy: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        argv = skopeo_command() + (["--policy", str(policy_file)] if policy else []) + list(args)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        proc = subprocess.run(argv, capture_output=True, text=True, input=input, env=full_env, timeout=600, cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError(f"skopeo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def oracle(policy_file: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the reference skopeo (Debian's 1.9.3 by default; see :mod:`skopeo.testing.require`)."""
    exe = reference_skopeo()

    def run(*args: str, check: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([exe, "--policy", str(policy_file), *args], capture_output=True, text=True, timeout=600,
                              cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError(f"reference skopeo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run


@contextmanager
def plugins_restricted_to(names: str) -> Iterator[None]:
    """Load only the comma-separated plugins *names*, here and in the CLI
    processes the tests start (``$SKOPEO_PLUGINS``); for a plugin's conftest:
    ``with plugins_restricted_to("dir,oci"): yield`` in a module-scoped fixture."""
    from .. import plugins

    mp = pytest.MonkeyPatch()
    mp.setenv(plugins.ENV_PLUGINS, names)
    plugins.set_manager(None)
    try:
        yield
    finally:
        mp.undo()
        plugins.set_manager(None)


# Real-registry fixtures (docker-registry on loopback, TLS, Basic and Bearer auth).
from .registry import (  # noqa: E402,F401
    basic_auth_registry,
    faulty_proxy,
    registry,
    registry_factory,
    silent_listener,
    tls_registry,
    token_registry,
)
