"""dir: against the transport conformance suite (skopeo.testing.conformance)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from skopeo.errors import SkopeoError
from skopeo.testing.conformance import TransportConformance


class TestDirConformance(TransportConformance):
    transport = "dir"
    # The parent directory must exist (upstream's ResolvePathToFullyExplicit).
    bad_names = ("/nonexistent-parent/image",)
    # Upstream reports the missing manifest.json as a plain error (exit 1).
    missing_image_error = SkopeoError

    @pytest.fixture
    def new_image_name(self, tmp_path: Path) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"dir:{tmp_path}/image-{next(names)}"
