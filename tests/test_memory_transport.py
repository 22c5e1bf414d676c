"""The in-memory transport (skopeo.testing.memory): the conformance suite runs
against it, and it never shows in the command line."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from skopeo.testing.conformance import TransportConformance


class TestMemoryConformance(TransportConformance):
    transport = "memory"
    bad_names = ("", "UPPER", "/leading-slash", "spaces in it")

    @pytest.fixture
    def new_image_name(self) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"memory:conformance/new-{next(names)}"
