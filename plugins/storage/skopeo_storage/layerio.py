"""Turning a layer blob into store content, in one streaming pass: the blob is
hashed (its digest) and decompressed, the tar is hashed (the diffID), parsed,
recorded as tar-split and extracted, with bounded memory.

Staging follows containers/storage's ``internal/tempdir`` protocol: everything is
prepared in ``<driver home>/tempdirs/temp-dir-XXX`` while ``lock-XXX`` beside it
is held, outside the store's locks, so layers are unpacked in parallel and a
crash leaves only a directory that the next user of the store (ours or a recent
containers/storage) removes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from skopeo import compression as comp
from skopeo.transport import BlobStream

from . import tarstream as ts
from .tarsplit import TarSplitWriter, crc64, crc_payload
from .unpack import Extractor, UnpackError

_CHUNK = 1 << 20
TEMP_DIR_PREFIX = "temp-dir-"
TEMP_LOCK_PREFIX = "lock-"


class LayerFormatError(Exception):
    """The layer's tar cannot be used; the message says why."""


@dataclass
class LayerData:
    """What staging learned about a layer, and where its staged parts are."""

    compressed_digest: str
    compressed_size: int
    diff_id: str
    diff_size: int
    compression: str | None
    uids: list[int] = field(default_factory=list)
    gids: list[int] = field(default_factory=list)
    diff_dir: str = ""  # overlay: the extracted layer, to become overlay/<id>/diff
    tar_split: str = ""  # its tar-split record
    blob: str = ""  # vfs: the blob itself, applied at commit


class TempDir:
    """One ``temp-dir-XXX`` with its held ``lock-XXX`` (removed by :meth:`cleanup`)."""

    def __init__(self, root: str) -> None:
        os.makedirs(root, 0o700, exist_ok=True)
        while True:
            suffix = secrets.token_hex(8)
            self.lock_path = os.path.join(root, TEMP_LOCK_PREFIX + suffix)
            try:
                self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                continue
            break
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        self.path = os.path.join(root, TEMP_DIR_PREFIX + suffix)
        os.mkdir(self.path, 0o700)
        self._counter = 0

    def new_path(self) -> str:
        self._counter += 1
        return os.path.join(self.path, f"{self._counter}-addition")

    def cleanup(self) -> None:
        from .drivers import _remove_tree

        if self._fd < 0:
            return
        _remove_tree(self.path)
        try:
            os.remove(self.lock_path)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = -1


class Staging:
    """The two temp dirs a write uses, beside what they stage (a rename cannot
    cross a mount point, and the overlay driver's directory may be one): one in
    the driver's directory for layer contents, one in the layer metadata
    directory for tar-split records."""

    def __init__(self, content_root: str, meta_root: str) -> None:
        for root in (content_root, meta_root):
            recover_stale_temp_dirs(root)
        self.content = TempDir(content_root)
        self.meta = TempDir(meta_root)

    def cleanup(self) -> None:
        self.content.cleanup()
        self.meta.cleanup()


def recover_stale_temp_dirs(root: str) -> None:
    """``tempdir.RecoverStaleDirs``: remove temp dirs whose lock nobody holds."""
    from .drivers import _remove_tree

    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return
    ids = {n[len(TEMP_DIR_PREFIX):] for n in names if n.startswith(TEMP_DIR_PREFIX)}
    ids |= {n[len(TEMP_LOCK_PREFIX):] for n in names if n.startswith(TEMP_LOCK_PREFIX)}
    for suffix in ids:
        lock_path = os.path.join(root, TEMP_LOCK_PREFIX + suffix)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            _remove_tree(os.path.join(root, TEMP_DIR_PREFIX + suffix))
            os.remove(lock_path)
        except OSError:
            pass
        finally:
            os.close(fd)


class _Hashing:
    """Reads through, hashing and counting (and optionally spooling) the bytes."""

    def __init__(self, source: BlobStream, hashed: bool, spool_fd: int = -1) -> None:
        self._source = source
        self._hash = hashlib.sha256() if hashed else None
        self._spool = spool_fd
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        if data:
            self.size += len(data)
            if self._hash is not None:
                self._hash.update(data)
            if self._spool >= 0:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._spool, view):]
        return data

    @property
    def digest(self) -> str:
        assert self._hash is not None
        return "sha256:" + self._hash.hexdigest()

    def close(self) -> None:
        pass


def _decompressed(stream: BlobStream) -> tuple[BlobStream, str | None]:
    peek = comp.PeekReader(stream)
    algo = comp.detect(peek.peek())
    if algo is None:
        return peek, None
    return comp.decompressing_reader(peek, algo), algo


def ingest_tar(tar: BinaryIO, extractor: Extractor | None, tar_split_fd: int) -> None:
    """Parse *tar*, extract each entry (unless *extractor* is None) and write the
    tar-split record, as ``applyDiff`` with ``asm.NewInputTarStream`` does."""
    writer = TarSplitWriter(tar_split_fd)
    reader = ts.TarReader(tar)
    try:
        while (hdr := reader.next()) is not None:
            writer.segment(reader.take_raw())
            writer.check_name(hdr.name)
            crc = [0]

            def content(crc: list[int] = crc) -> Iterator[bytes]:
                while chunk := reader.read_payload():
                    crc[0] = crc64(chunk, crc[0])
                    yield chunk

            payload = content()
            if extractor is not None:
                extractor.add(hdr, payload)
            for _ in payload:
                pass  # what the extractor did not read (not a regular file): still checksummed
            writer.file(hdr.name, hdr.size, crc_payload(crc[0]) if hdr.size > 0 else None)
            writer.segment(reader.take_raw())
        writer.segment(reader.take_raw())
        for chunk in reader.trailing():
            writer.segment(chunk)
        if extractor is not None:
            extractor.finish()
    except ts.TarError as e:
        raise LayerFormatError(str(e)) from None
    except (UnpackError, ValueError) as e:
        raise LayerFormatError(str(e)) from None
    finally:
        writer.close()


def stage_layer(stream: BlobStream, known_digest: str | None, staging: Staging, *, unpack_mode: str | None,
                rootless: bool, ignore_chown_errors: bool, opaque_xattr: str) -> LayerData:
    """Consume one layer blob.  With *unpack_mode* (overlay), extract it into a
    staged directory; without (vfs), keep the blob for the commit, computing only
    its digests."""
    spool_fd = -1
    blob_path = ""
    if unpack_mode is None:
        blob_path = staging.content.new_path()
        spool_fd = os.open(blob_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        compressed = _Hashing(stream, known_digest is None, spool_fd)
        tar_stream, algo = _decompressed(compressed)
        uncompressed = _Hashing(tar_stream, True)
        data = LayerData("", 0, "", 0, algo)
        if unpack_mode is None:
            while uncompressed.read(_CHUNK):
                pass
        else:
            data.diff_dir = staging.content.new_path()
            os.mkdir(data.diff_dir, 0o755)
            data.tar_split = staging.meta.new_path()
            extractor = Extractor(data.diff_dir, unpack_mode, rootless=rootless,
                                  ignore_chown_errors=ignore_chown_errors, opaque_xattr=opaque_xattr)
            fd = os.open(data.tar_split, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                ingest_tar(uncompressed, extractor, fd)  # type: ignore[arg-type]
                # Whatever follows the archive (tar-split kept it) must be read too.
                while uncompressed.read(_CHUNK):
                    pass
            finally:
                os.close(fd)
                extractor.close()
            data.uids, data.gids = sorted(extractor.uids), sorted(extractor.gids)
        # Drain the compressed stream: the caller verifies its digest at its end.
        while compressed.read(_CHUNK):
            pass
    finally:
        if spool_fd >= 0:
            os.close(spool_fd)
    data.compressed_digest = known_digest or compressed.digest
    data.compressed_size = compressed.size
    data.diff_id = uncompressed.digest
    data.diff_size = uncompressed.size
    data.blob = blob_path
    return data
