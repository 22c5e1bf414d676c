"""ostree: against the transport conformance suite (skopeo.testing.conformance),
in a fresh bare-user repository made with the ostree command."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from skopeo.errors import SkopeoError
from skopeo.testing.conformance import TransportConformance


class TestOstreeConformance(TransportConformance):
    transport = "ostree"
    bad_names = ("UPPER/case@/repo", "image@relative/repo", "image:bad tag@/repo")
    missing_image_error = SkopeoError
    # As upstream, only a layer's files and tar-split are kept: the source
    # names the uncompressed tars it rebuilds, keeping the stored media types.
    manifests_read_as_written = False
    layer_media_types_match_content = False

    @pytest.fixture
    def new_image_name(self, repo: Path) -> Callable[[], str]:
        names = itertools.count()
        return lambda: f"ostree:conformance/image-{next(names)}:tag@{repo}"
