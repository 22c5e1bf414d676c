"""Fixtures for the skopeo-zip tests.  The core's pytest plugin (``skopeo.testing``,
loaded automatically once skopeo is installed) provides ``sample_layout``,
``run_skopeo``, ``oracle`` and ``policy_file``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest

from skopeo import plugins
from skopeo.testing.require import reference_skopeo

RunSkopeo = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _only_the_plugins_we_need(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Load just dir, oci and zip (in-process and in the CLI subprocesses), so
    other plugins installed in the same environment cannot affect these tests."""
    monkeypatch.setenv(plugins.ENV_PLUGINS, "dir,oci,zip")
    plugins.set_manager(None)
    yield
    plugins.set_manager(None)


@pytest.fixture
def zip_image(tmp_path: Path, sample_layout: Path, run_skopeo: RunSkopeo) -> Path:
    """samples/hello-oci (tag ``hello``) copied into a zip: image by our CLI."""
    archive = tmp_path / "hello.zip"
    run_skopeo("copy", f"oci:{sample_layout}:hello", f"zip:{archive}", check=True)
    return archive


@pytest.fixture
def raw_oracle() -> Callable[..., bytes]:
    """The reference skopeo's ``inspect --raw`` as bytes."""
    exe = reference_skopeo()

    def run(name: str) -> bytes:
        return subprocess.run([exe, "inspect", "--raw", name], capture_output=True, check=True, timeout=600).stdout

    return run


@pytest.fixture
def manager() -> Iterator[Callable[..., pluggy.PluginManager]]:
    """Install a plugin manager holding the built-ins plus the given plugins (and
    no entry points) as the process-wide one; restored afterwards."""

    def install(*modules: object) -> pluggy.PluginManager:
        pm = plugins.new_manager(load_entry_points=False)
        for module in modules:
            pm.register(module)
        plugins.set_manager(pm)
        return pm

    yield install
    plugins.set_manager(None)
