"""Building SIF files in tests: a squashfs made with ``mksquashfs`` from a real
root filesystem, wrapped in the documented SIF layout (the layout SingularityCE
writes: 48 descriptors at 4096, objects 4096-aligned from 32768)."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from samples import HELLO_OCI as SAMPLE_LAYOUT
from skopeo_sif import siffile

DESCRIPTORS_OFFSET = 4096
DESCRIPTORS_TOTAL = 48
DATA_OFFSET = 32768
ALIGN = 4096
GROUP_1 = siffile.GROUP_MASK | 1
CREATED = 1_700_000_000


def sample_rootfs_tar() -> bytes:
    """The busybox layer of the bundled sample image, uncompressed."""
    blobs = SAMPLE_LAYOUT / "blobs" / "sha256"
    layer = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    return gzip.decompress(layer.read_bytes())


def make_squashfs(directory: Path, tar: bytes | None = None) -> Path:
    """A squashfs of *tar* (default: the sample busybox root filesystem),
    extracted and packed under fakeroot so owners survive for any user."""
    root = directory / "rootfs"
    root.mkdir()
    tar_path = directory / "rootfs.tar"
    tar_path.write_bytes(tar if tar is not None else sample_rootfs_tar())
    out = directory / "rootfs.squashfs"
    script = f"tar -xpf '{tar_path}' -C '{root}' && mksquashfs '{root}' '{out}' -noappend -quiet -no-progress"
    subprocess.run(["fakeroot", "sh", "-c", script], check=True, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    return out


def _descriptor(data_type: int, ident: int, offset: int, size: int, name: bytes, extra: bytes = b"",
                group: int = GROUP_1, linked: int = 0) -> bytes:
    return siffile.DESCRIPTOR.pack(data_type, True, ident, group, linked, offset, size, size, CREATED, CREATED,
                                   0, 0, name.ljust(128, b"\0"), extra.ljust(384, b"\0"))


def build_sif(path: Path, partition: bytes, deffile: bytes | None = None, arch: str = "amd64",
              fs_type: int = siffile.FS_SQUASH, part_type: int = siffile.PART_PRIMSYS,
              modified: int = CREATED, ident: uuid.UUID | None = None) -> Path:
    """Write a SIF with an optional definition file and one partition object."""
    objects: list[tuple[int, bytes, bytes, bytes]] = []  # (type, data, name, extra)
    if deffile is not None:
        objects.append((siffile.DATA_DEFFILE, deffile, b".", b""))
    extra = siffile.PARTITION.pack(fs_type, part_type, siffile.ARCH_CODES[arch])
    objects.append((siffile.DATA_PARTITION, partition, b"squashfs-1", extra))
    descriptors, data, offset = [], bytearray(), DATA_OFFSET
    for i, (dtype, payload, name, ext) in enumerate(objects, start=1):
        descriptors.append(_descriptor(dtype, i, offset, len(payload), name, ext))
        padded = payload + b"\0" * (-len(payload) % ALIGN)
        data += padded
        offset += len(padded)
    table = b"".join(descriptors).ljust(DESCRIPTORS_TOTAL * siffile.DESCRIPTOR.size, b"\0")
    header = siffile.HEADER.pack(
        siffile.LAUNCH_SCRIPT, siffile.MAGIC, siffile.VERSION, siffile.ARCH_CODES[arch],
        (ident or uuid.UUID("0b8f5fd8-3c1e-4d3e-9d7c-6a1f2e3d4c5b")).bytes, CREATED, modified,
        DESCRIPTORS_TOTAL - len(objects), DESCRIPTORS_TOTAL, DESCRIPTORS_OFFSET, len(table), DATA_OFFSET, len(data),
    )
    with open(path, "wb") as f:
        f.write(header.ljust(DESCRIPTORS_OFFSET, b"\0"))
        f.write(table.ljust(DATA_OFFSET - DESCRIPTORS_OFFSET, b"\0"))
        f.write(data)
    os.utime(path, (modified, modified))
    return path
