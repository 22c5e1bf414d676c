"""The SIF container format (Sylabs' ``pkg/sif``, format version 01): the
global header and the descriptor table, read the way upstream's SIF library
reads them, with its error texts (users see them in skopeo's messages).

Hand-written because no Python library reads SIF; the format is a fixed
little-endian layout (``binary.Read`` of Go structs, no padding):

* header, 128 bytes: launch script [32], magic ``SIF_MAGIC\\0`` [10], version
  ``01\\0`` [3], architecture code [3], UUID [16], then int64 created, modified,
  descriptors free, total, offset, size, data offset, data size;
* descriptor, 585 bytes: int32 data type, bool used, uint32 ID, group ID,
  linked ID, int64 offset, size, size with padding, created, modified, UID, GID,
  name [128], type-specific extra [384] (for a partition: int32 file-system type,
  int32 partition type, architecture code [3]).
"""

from __future__ import annotations

import os
import struct
import uuid
from typing import BinaryIO, NamedTuple

from skopeo.errors import SkopeoError

HEADER = struct.Struct("<32s10s3s3s16s8q")
DESCRIPTOR = struct.Struct("<i?III3q4q128s384s")
PARTITION = struct.Struct("<ii3s")
MAGIC = b"SIF_MAGIC\x00"
VERSION = b"01\x00"
LAUNCH_SCRIPT = b"#!/usr/bin/env run-singularity\n"

DATA_DEFFILE = 0x4001
DATA_ENVVAR = 0x4002
DATA_LABELS = 0x4003
DATA_PARTITION = 0x4004
DATA_SIGNATURE = 0x4005
DATA_GENERIC_JSON = 0x4006

FS_SQUASH = 1
FS_EXT3 = 2
FS_RAW = 4

PART_SYSTEM = 1
PART_PRIMSYS = 2
PART_DATA = 3

GROUP_MASK = 0xF0000000

# Architecture codes of the header and of partitions, with Go's names.
ARCHES = {
    b"01\x00": "386", b"02\x00": "amd64", b"03\x00": "arm", b"04\x00": "arm64", b"05\x00": "ppc64",
    b"06\x00": "ppc64le", b"07\x00": "mips", b"08\x00": "mipsle", b"09\x00": "mips64", b"10\x00": "mips64le",
    b"11\x00": "s390x", b"12\x00": "riscv64", b"13\x00": "loong64",
}
ARCH_CODES = {name: code for code, name in ARCHES.items()}

# Go's io errors, as binary.Read returns them.
EOF = "EOF"
UNEXPECTED_EOF = "unexpected EOF"


class SIFError(SkopeoError):
    """A file that is not a (readable) SIF image."""


class Descriptor(NamedTuple):
    data_type: int
    used: bool
    id: int
    group_id: int
    linked_id: int
    offset: int
    size: int
    size_with_padding: int
    created_at: int
    modified_at: int
    uid: int
    gid: int
    name: bytes
    extra: bytes

    def partition_type(self) -> int | None:
        """The partition type of a partition object, else None."""
        if self.data_type != DATA_PARTITION:
            return None
        return int(PARTITION.unpack_from(self.extra)[1])

    def fs_type(self) -> int | None:
        if self.data_type != DATA_PARTITION:
            return None
        return int(PARTITION.unpack_from(self.extra)[0])


class SIFImage(NamedTuple):
    arch: str
    id: str
    created_at: int
    modified_at: int
    descriptors_free: int
    descriptors_total: int
    descriptors: list[Descriptor]

    def get_descriptor(self, data_type: int | None = None, partition_type: int | None = None) -> Descriptor:
        """The single used object matching the selectors, as ``GetDescriptor``."""
        if self.descriptors_free == self.descriptors_total:
            raise SIFError("no objects in image")
        found = [
            d for d in self.descriptors
            if d.used and (data_type is None or d.data_type == data_type)
            and (partition_type is None or d.partition_type() == partition_type)
        ]
        if len(found) > 1:
            raise SIFError("multiple objects found")
        if not found:
            raise SIFError("object not found")
        return found[0]


def _read_full(fd: int, offset: int, size: int) -> bytes:
    """``size`` bytes at *offset* (fewer at the end of the file)."""
    parts = []
    while size > 0:
        data = os.pread(fd, min(size, 1 << 20), offset)
        if not data:
            break
        parts.append(data)
        offset += len(data)
        size -= len(data)
    return b"".join(parts)


def _short_read_error(what: str, got: int) -> SIFError:
    return SIFError(f"{what}: {EOF if got == 0 else UNEXPECTED_EOF}")


def load(fd: int, path: str) -> SIFImage:
    """Parse the header and descriptors of the SIF file *path*, open at *fd*."""
    try:
        raw = _read_full(fd, 0, HEADER.size)
    except OSError as e:  # a directory: Go opens it, then its read fails
        from skopeo.golang.oserror import path_error_text

        raise SIFError(f"reading global header: {path_error_text('read', path, e)}") from None
    if len(raw) < HEADER.size:
        raise _short_read_error("reading global header", len(raw))
    (_launch, magic, version, arch, ident, created, modified, free, total,
     desc_offset, desc_size, _data_offset, _data_size) = HEADER.unpack(raw)
    if magic != MAGIC:
        raise SIFError("invalid SIF magic")
    if version != VERSION:
        raise SIFError("incompatible SIF version")
    file_size = os.fstat(fd).st_size
    if total < 0 or total * DESCRIPTOR.size > max(file_size, 0):
        # Go would try to allocate the table (and panic for a negative count);
        # no file that small holds it.
        raise SIFError(f"reading descriptors: {UNEXPECTED_EOF}")
    need = total * DESCRIPTOR.size
    table = _read_full(fd, desc_offset, min(need, max(desc_size, 0))) if desc_offset >= 0 else b""
    if len(table) < need:
        raise _short_read_error("reading descriptors", len(table))
    descriptors = [Descriptor(*DESCRIPTOR.unpack_from(table, i * DESCRIPTOR.size)) for i in range(total)]
    return SIFImage(ARCHES.get(arch, "unknown"), str(uuid.UUID(bytes=ident)), created, modified, free, total, descriptors)


def copy_object(fd: int, desc: Descriptor, out: BinaryIO) -> None:
    """Copy an object's data into *out*; a file cut short inside the object
    fails with Go's ``EOF`` (what ``io.CopyN`` reports)."""
    offset, remaining = desc.offset, desc.size
    while remaining > 0:
        data = os.pread(fd, min(remaining, 1 << 20), offset)
        if not data:
            raise SIFError(EOF)
        out.write(data)
        offset += len(data)
        remaining -= len(data)


def read_object(fd: int, desc: Descriptor) -> bytes:
    """An object's data (what there is of it: a section reader stops at EOF)."""
    return _read_full(fd, desc.offset, max(desc.size, 0))
