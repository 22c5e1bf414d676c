"""Shared fixtures for the docker transport tests: an isolated home (no user
auth files, certs.d or registries.conf leak in), a source image, and helpers to
run our CLI and the reference skopeo against real registries."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skopeo import plugins
from skopeo.testing.fixtures import fatal_message  # noqa: F401  (re-exported for the tests)
from skopeo.testing.images import make_image
from skopeo.testing.require import reference_skopeo as find_reference


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    # Only the plugins these tests use: another plugin's state must not break them.
    monkeypatch.setenv("SKOPEO_PLUGINS", "docker,oci,dir")
    for var in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "CONTAINERS_REGISTRIES_CONF",
                "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    # An empty registries.conf: the machine's own must not change results.
    conf = tmp_path / "registries.conf"
    conf.write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    plugins.set_manager(None)
    yield home
    plugins.set_manager(None)


@pytest.fixture
def oci_image(tmp_path: Path) -> str:
    """``oci:<path>:v1``: a two-layer synthetic image."""
    path = tmp_path / "src-oci"
    make_image(str(path), "v1", seed=7)
    return f"oci:{path}:v1"


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def skopeo(run_skopeo: Runner) -> Runner:
    """Our CLI with ``--insecure-policy`` (the policy is not what these tests check)."""

    def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_skopeo("--insecure-policy", *args, policy=False, **kwargs)  # type: ignore[arg-type]

    return run


@pytest.fixture
def reference_skopeo() -> Runner:
    """The reference skopeo (Debian's 1.9.3 by default), sharing the isolated environment."""
    exe = find_reference()

    def run(*args: str, check: bool = False, input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([exe, "--insecure-policy", *args], capture_output=True, text=True, timeout=300,
                              input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"reference skopeo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run

