"""Run by tests/test_wheels.py inside a fresh virtual environment where skopeo,
its plugins and this package are installed from wheels: the test kit
(skopeo.testing) as a third party uses it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skopeo.testing.conformance import TransportConformance


class TestFlatConformance(TransportConformance):
    transport = "flat"
    bad_names = ("relative/path", "")

    @pytest.fixture
    def new_image_name(self, tmp_path: Path) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"flat:{tmp_path}/image-{next(names)}"


def test_cli_copy_from_the_kit_sample(run_skopeo: Any, sample_layout: Path, tmp_path: Path) -> None:
    """The kit's own sample image (generated, no repository paths), copied
    through the installed CLI into the plugin's transport and inspected."""
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", f"flat:{tmp_path}/copy", check=True)
    ours = json.loads(run_skopeo("inspect", f"flat:{tmp_path}/copy", check=True).stdout)
    theirs = json.loads(run_skopeo("inspect", f"oci:{sample_layout}:hello", check=True).stdout)
    assert ours["Digest"] == theirs["Digest"] and ours["Labels"] == {"org.example.sample": "hello"}
