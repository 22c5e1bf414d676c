"""Fixtures for the oci: tests; helpers live in oci_helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from oci_helpers import SAMPLE


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
