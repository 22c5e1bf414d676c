"""Reuse as upstream does it: every layer is first offered to the destination,
so a blob it already holds is kept even when ``--dest-compress-format``
asks for another compression (only ``--dest-force-compress-format`` insists),
compared with the reference skopeo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skopeo import manifest as mf
from skopeo.testing.images import make_image


def _layer_types(run, ref: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [layer["mediaType"] for layer in json.loads(run("inspect", "--raw", ref, check=True).stdout)["layers"]]


@pytest.mark.oracle
def test_blob_already_there_is_kept_in_its_compression(tmp_path: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    make_image(str(tmp_path / "src"), "v1", seed=7)
    src = f"oci:{tmp_path}/src:v1"
    for name, run in (("ours", run_skopeo), ("theirs", oracle)):
        dest = f"oci:{tmp_path}/{name}"
        run("copy", src, f"{dest}:gzip", check=True)
        run("copy", "--dest-compress-format", "zstd", src, f"{dest}:zstd", check=True)
        assert _layer_types(run, f"{dest}:zstd") == [mf.OCI_LAYER_GZIP] * 2, name
    # Forced: the layers are recompressed (upstream main; 1.9.3 has no such flag).
    run_skopeo("copy", "--dest-compress-format", "zstd", "--dest-force-compress-format", src,
               f"oci:{tmp_path}/ours:forced", check=True)
    assert _layer_types(run_skopeo, f"oci:{tmp_path}/ours:forced") == [mf.OCI_LAYER_ZSTD] * 2
