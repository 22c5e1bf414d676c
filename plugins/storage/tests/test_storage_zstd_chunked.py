"""zstd:chunked layers (current format) stored in containers-storage: the
plugin pulls them whole (no partial pulls), records the same layers as for
the plain image, and podman reads what it stored."""

from __future__ import annotations

import json
from pathlib import Path

from storage_helpers import Store

from skopeo.testing.images import make_image, validate


def test_zstd_chunked_layers_are_stored_whole(tmp_path: Path, store: Store, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    make_image(str(tmp_path / "src"), "v1", seed=21, layers=2)
    run_skopeo("copy", "-q", "--dest-compress-format", "zstd:chunked", f"oci:{tmp_path / 'src'}:v1",
               f"oci:{tmp_path / 'chunked'}:v1", check=True)
    run_skopeo("copy", "-q", f"oci:{tmp_path / 'chunked'}:v1", store.ref("example.com/chunked:v1"), check=True)
    config = json.loads(run_skopeo("inspect", "--config", f"oci:{tmp_path / 'src'}:v1", check=True).stdout)
    inspected = json.loads(store.podman("image", "inspect", "example.com/chunked:v1").stdout)[0]
    assert inspected["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]
    run_skopeo("copy", "-q", store.ref("example.com/chunked:v1"), f"oci:{tmp_path / 'out'}:v1", check=True)
    assert validate(f"oci:{tmp_path / 'out'}:v1")
