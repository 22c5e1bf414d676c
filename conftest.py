"""For this repository's tests only: the kit's ``sample_layout`` fixture gives
a generated image; here it is the checked-in busybox sample instead, whose
digests the recorded outputs name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from samples import HELLO_OCI


@pytest.fixture
def sample_layout(tmp_path: Path) -> Path:
    """A private copy of samples/hello-oci (tag ``hello``)."""
    dest = tmp_path / "sample-oci"
    shutil.copytree(HELLO_OCI, dest)
    return dest

# Packages the tests build into wheels and test in their own venvs (tests/test_wheels.py).
collect_ignore = ["tests/packages"]
