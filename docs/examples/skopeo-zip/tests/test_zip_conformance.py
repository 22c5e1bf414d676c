"""zip: against the transport conformance suite that ships with skopeo's test
kit: subclass it, say which names must be refused, and give fresh names."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from skopeo.errors import SkopeoError
from skopeo.testing.conformance import TransportConformance


class TestZipConformance(TransportConformance):
    transport = "zip"
    bad_names = ("",)
    missing_image_error = SkopeoError

    @pytest.fixture
    def new_image_name(self, tmp_path: Path) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"zip:{tmp_path}/image-{next(names)}.zip"
