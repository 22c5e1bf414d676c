"""Builders for hand-made (and malicious) docker-archive tars."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from skopeo.testing.fixtures import fatal_message  # noqa: F401  (re-exported for the tests)
from skopeo.testing.images import gzip_bytes, random_layer_tar


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_for(layers: list[bytes]) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-01-02T03:04:05Z",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(x) for x in layers]},
    }).encode()


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_link(tar: tarfile.TarFile, name: str, target: str, hard: bool = False) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def write_archive(path: Path, images: list[tuple[list[str], list[bytes]]], legacy: bool = False,
                  compress_layers: bool = False) -> list[bytes]:
    """A docker-save style archive; returns the config bytes of each image.
    *legacy* stores layers as ``<id>/layer.tar`` like docker < 25."""
    configs = []
    with tarfile.open(path, "w") as tar:
        items = []
        for tags, layers in images:
            names = []
            for i, layer in enumerate(layers):
                data = gzip_bytes(layer) if compress_layers else layer
                name = f"{hashlib.sha256(layer).hexdigest()[:12]}{i}/layer.tar" if legacy else sha(layer)[7:] + ".tar"
                if name not in tar.getnames():
                    if legacy:
                        add_file(tar, name.split("/")[0] + "/VERSION", b"1.0")
                    add_file(tar, name, data)
                names.append(name)
            cfg = config_for(layers)
            add_file(tar, sha(cfg)[7:] + ".json", cfg)
            configs.append(cfg)
            items.append({"Config": sha(cfg)[7:] + ".json", "RepoTags": tags, "Layers": names})
        add_file(tar, "manifest.json", json.dumps(items).encode())
    return configs


def layers(seed: int, n: int = 2) -> list[bytes]:
    return [random_layer_tar(seed * 10 + i) for i in range(n)]

