"""Fixtures for the sigstore tests (the workshop is in sigstore_workshop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sigstore_workshop import Workshop


@pytest.fixture
def shop(tmp_path: Path, run_skopeo: Any, sample_layout: Path) -> Workshop:
    return Workshop(tmp_path, run_skopeo, sample_layout)
