"""sif: (read-only) against the transport conformance suite
(skopeo.testing.conformance), on a SIF file wrapping a squashfs made with
mksquashfs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sif_build import build_sif, make_squashfs

from skopeo.errors import SkopeoError
from skopeo.testing import images
from skopeo.testing.conformance import TransportConformance
from skopeo.testing.require import require_tool


class TestSifConformance(TransportConformance):
    transport = "sif"
    writable = False
    bad_names = ("/nonexistent-parent/image.sif",)
    # A missing file is a plain error (loading SIF file: open …), as upstream.
    missing_image_error = SkopeoError
    # Each source makes its layer tar anew (unsquashfs, tar), with the times
    # of that extraction, as upstream does.
    stable_manifests = False

    @pytest.fixture
    def existing_image(self, tmp_path: Path) -> str:
        require_tool("mksquashfs", component="squashfs-tools")
        require_tool("fakeroot")
        squashfs = make_squashfs(tmp_path, images.random_layer_tar(3, files=3, size=3000))
        return f"sif:{build_sif(tmp_path / 'image.sif', squashfs.read_bytes())}"

    @pytest.fixture
    def missing_image(self, tmp_path: Path) -> str:
        return f"sif:{tmp_path}/missing.sif"
