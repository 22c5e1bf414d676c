"""Images made by the core's test helpers, copied through oci: and checked end to
end with ``skopeo.testing.images.validate`` (digests, sizes, diff_ids)."""

from __future__ import annotations

from pathlib import Path

import pytest
from oci_helpers import OCI_INDEX, copy, entries, index_of

from skopeo.testing import images


@pytest.mark.parametrize("docker", [False, True])
def test_multiarch_all_round_trip(tmp_path: Path, docker: bool) -> None:
    src = images.make_multiarch(str(tmp_path / "src"), "m", docker=docker)
    result = copy("oci:src:m", "oci:out:m", multi_arch="all")
    # A Docker list is converted to an OCI index (the only list type oci: takes).
    assert result.mime == OCI_INDEX
    assert (result.digest == src.digest) is (not docker)
    assert entries(tmp_path / "out") == [(result.digest, "m")]
    assert index_of(tmp_path / "out")["manifests"][0]["mediaType"] == OCI_INDEX
    assert len(images.validate("oci:out:m")) == 3


def test_single_image_round_trip(tmp_path: Path) -> None:
    src = images.make_image(str(tmp_path / "src"), "t", layers=3)
    assert copy("oci:src:t", "oci:out:t").digest == src.digest
    assert len(images.validate("oci:out:t")) == 3
    copy("oci:out:t", "dir:d")
    assert copy("dir:d", "oci:back:t").digest == src.digest
