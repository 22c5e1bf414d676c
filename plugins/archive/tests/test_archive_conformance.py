"""docker-archive: and oci-archive: against the transport conformance suite
(skopeo.testing.conformance)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from skopeo.errors import SkopeoError
from skopeo.testing.conformance import TransportConformance


class TestDockerArchiveConformance(TransportConformance):
    transport = "docker-archive"
    bad_names = ("a.tar:UPPER/case:tag", "a.tar:@0:x", "a.tar:bad tag")
    # A missing archive is a plain error (open …: no such file), as upstream.
    missing_image_error = SkopeoError
    # Upstream's source describes every layer as tar.gzip although the archive
    # holds them uncompressed (docker/internal/tarfile); so do we.
    layer_media_types_match_content = False

    @pytest.fixture
    def new_image_name(self, tmp_path: Path) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"docker-archive:{tmp_path}/image-{next(names)}.tar"


class TestOCIArchiveConformance(TransportConformance):
    transport = "oci-archive"
    bad_names = ("/nonexistent-parent/a.tar:tag", "a.tar:bad tag")
    missing_image_error = SkopeoError

    @pytest.fixture
    def new_image_name(self, tmp_path: Path) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"oci-archive:{tmp_path}/image-{next(names)}.tar:tag"
