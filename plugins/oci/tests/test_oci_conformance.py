"""oci: against the transport conformance suite (skopeo.testing.conformance):
each image in a layout of its own, and several tags in one layout."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from skopeo.errors import SkopeoError
from skopeo.testing.conformance import TransportConformance


class TestOCIConformance(TransportConformance):
    transport = "oci"
    bad_names = ("/nonexistent-parent/layout:tag", "layout:bad tag", "layout:-leading-dash")
    # A missing layout is a plain error (open …/index.json), as upstream.
    missing_image_error = SkopeoError

    @pytest.fixture
    def new_image_name(self, tmp_path: Path) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"oci:{tmp_path}/layout-{next(names)}:tag"


class TestOCISharedLayoutConformance(TestOCIConformance):
    @pytest.fixture
    def new_image_name(self, tmp_path: Path) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"oci:{tmp_path}/shared:tag-{next(names)}"
