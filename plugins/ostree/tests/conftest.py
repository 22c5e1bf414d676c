"""Fixtures for the ostree: tests: a fresh repository per test (made with the
``ostree`` command), and the plugins these tests load."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from skopeo.testing.fixtures import plugins_restricted_to
from skopeo.testing.require import skip_or_fail
from skopeo_ostree.reference import libostree_missing


@pytest.fixture(autouse=True, scope="module")
def _only_needed_plugins() -> Iterator[None]:
    """Load only the plugins these tests use (here and in child processes)."""
    with plugins_restricted_to("dir,oci,ostree"):
        yield


@pytest.fixture(autouse=True)
def _tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))


def _require_ostree() -> None:
    missing = libostree_missing() or (None if shutil.which("ostree") else "the ostree command is not installed")
    if missing:
        skip_or_fail("libostree", f"ostree tests need libostree: {missing}")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty bare-user repository (what a non-root user can write)."""
    _require_ostree()
    path = tmp_path / "repo"
    subprocess.run(["ostree", "init", f"--repo={path}", "--mode=bare-user"], check=True, capture_output=True)
    return path
