"""docker:// against the transport conformance suite (skopeo.testing.conformance),
on a real docker-registry (deletes enabled) with signatures in a file://
lookaside named by a registries.d."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skopeo.context import SystemContext
from skopeo.testing.conformance import TransportConformance


class TestDockerConformance(TransportConformance):
    transport = "docker"
    bad_names = ("no-slashes", "//UPPER/case", "//host/repo:bad tag", "//host/repo@sha256:short")

    @pytest.fixture
    def new_image_name(self, registry: Any) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"docker://{registry.host}/conformance/image-{next(names)}:tag"

    def tag_listing_name(self, image: str) -> str:
        return image.rsplit(":", 1)[0]

    @pytest.fixture
    def context(self, registry: Any, tmp_path: Path) -> SystemContext:
        regd = tmp_path / "registries.d"
        regd.mkdir()
        (regd / "lookaside.yaml").write_text(f"docker:\n  {registry.host}:\n    lookaside: file://{tmp_path}/lookaside\n")
        return SystemContext(tls_verify=False, registries_d=str(regd))
