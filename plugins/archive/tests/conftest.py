"""Fixtures for the archive tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skopeo.testing.fixtures import plugins_restricted_to


@pytest.fixture(autouse=True)
def _chdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Spooled files go to the test's own directory, where leftovers are visible.
    monkeypatch.setenv("TMPDIR", str(tmp_path))


@pytest.fixture(autouse=True, scope="module")
def _only_needed_plugins() -> Iterator[None]:
    """Load only the plugins these tests use (here and in child processes)."""
    with plugins_restricted_to("dir,oci,archive"):
        yield
