"""Fixtures for the oci: tests; helpers live in oci_helpers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from oci_helpers import SAMPLE

from skopeo import plugins


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A private copy of samples/hello-oci (tag ``hello``)."""
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLE, dest)
    return dest


@pytest.fixture(autouse=True)
def _chdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths in references resolve inside the test's directory.
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True, scope="module")
def _only_needed_plugins() -> Iterator[None]:
    """Load just dir and oci (here and in child processes), so a broken or
    half-installed unrelated plugin cannot fail these tests."""
    mp = pytest.MonkeyPatch()
    mp.setenv(plugins.ENV_PLUGINS, "dir,oci")
    plugins.set_manager(None)
    yield
    mp.undo()
    plugins.set_manager(None)
