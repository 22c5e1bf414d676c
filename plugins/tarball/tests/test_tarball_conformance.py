"""tarball: (read-only) against the transport conformance suite
(skopeo.testing.conformance): images made of plain layer tar files."""

from __future__ import annotations

from pathlib import Path

import pytest

from skopeo.errors import InvalidReferenceError
from skopeo.testing import images
from skopeo.testing.conformance import TransportConformance


class TestTarballConformance(TransportConformance):
    transport = "tarball"
    writable = False
    # The files are opened when the name is parsed, as upstream.
    bad_names = ("", "missing.tar", "layer.tar::")
    missing_image_error = InvalidReferenceError

    @pytest.fixture
    def existing_image(self, tmp_path: Path) -> str:
        layers = []
        for seed in (1, 2):
            path = tmp_path / f"layer-{seed}.tar"
            path.write_bytes(images.random_layer_tar(seed, files=3, size=3000))
            layers.append(str(path))
        return "tarball:" + ":".join(layers)

    @pytest.fixture
    def missing_image(self, tmp_path: Path) -> str:
        return f"tarball:{tmp_path}/missing.tar"
