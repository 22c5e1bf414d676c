"""Reading and writing ``zip:`` images.

An image is one .zip file holding, like a ``dir:`` image:

* ``version`` — ``Zip Transport Version: 1.0``, always the first member;
* every blob (layers and config) named by its digest's hex part (``algo-hex``
  for algorithms other than sha256), stored uncompressed (``ZIP_STORED``):
  layers are already compressed and stored members can be streamed as they are;
* ``signature-N`` (N from 1) and, for manifest lists, ``<hex>.manifest.json`` and
  ``<hex>.signature-N`` for each instance;
* ``manifest.json`` — always the last member.

The destination writes into a temporary file next to PATH and renames it over
PATH in ``commit``, so PATH always holds either the previous image or the
complete new one.  The source reads members straight out of the archive,
nothing is extracted.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import zipfile
import zlib
from typing import IO

from skopeo import digest as digest_mod
from skopeo.context import SystemContext
from skopeo.errors import ImageNotFoundError, SkopeoError
from skopeo.fsutil import CHUNK, remove_quietly
from skopeo.golang.oserror import os_error_text
from skopeo.manifest import MAX_MANIFEST_SIZE
from skopeo.transport import (
    PRESERVE,
    BlobInfo,
    BlobStream,
    DestinationCapabilities,
    ImageDestination,
    ImageSource,
    SourceCapabilities,
)

from .transport import ZipReference

VERSION_MEMBER = "version"
VERSION = b"Zip Transport Version: 1.0\n"
_VERSION_RE = re.compile(rb"^Zip Transport Version: 1\.\d+\n$")
MANIFEST_MEMBER = "manifest.json"
MAX_SIGNATURE_SIZE = 4 * 1024 * 1024
# Fixed member timestamps: the same image always gives the same archive bytes.
_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644
# What zipfile raises on damaged archives (CRC mismatch, truncation, bad deflate data).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error)


def blob_member(digest: str) -> str:
    """``sha256:abc`` → ``abc``; other algorithms keep a prefix: ``sha512-abc``."""
    algo, hexpart = digest_mod.split(digest)
    return hexpart if algo == "sha256" else f"{algo}-{hexpart}"


def manifest_member(instance_digest: str | None) -> str:
    if instance_digest is None:
        return MANIFEST_MEMBER
    return f"{blob_member(instance_digest)}.{MANIFEST_MEMBER}"


def signature_member(index: int, instance_digest: str | None) -> str:
    name = f"signature-{index + 1}"
    return name if instance_digest is None else f"{blob_member(instance_digest)}.{name}"


def _member_info(name: str, compress_type: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE_TIME)
    info.compress_type = compress_type
    info.external_attr = _FILE_MODE << 16
    return info


def is_zip_image(path: str) -> bool:
    """Whether *path* is an archive this transport wrote (so it may be replaced)."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(VERSION_MEMBER) as f:
            return bool(_VERSION_RE.match(f.read(len(VERSION) + 16)))
    except (KeyError, *_ZIP_ERRORS):
        return False


class _MemberStream:
    """A member being read; zipfile's errors become SkopeoErrors with context.
    The CRC is checked by zipfile, the digest by the copy engine's verifier."""

    def __init__(self, member: IO[bytes], what: str) -> None:
        self._member = member
        self._what = what

    def read(self, n: int = -1) -> bytes:
        try:
            return self._member.read(n)
        except _ZIP_ERRORS as e:
            raise SkopeoError(f"reading {self._what}: {e}") from None

    def close(self) -> None:
        self._member.close()


class ZipSource(ImageSource):
    reference: ZipReference
    # Each open member keeps its own position; zipfile serialises the seeks.
    capabilities = SourceCapabilities(thread_safe_get_blob=True)

    def __init__(self, reference: ZipReference) -> None:
        super().__init__(reference)
        path = reference.path
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise ImageNotFoundError(f"open {path}: no such file or directory") from None
        except IsADirectoryError:
            raise SkopeoError(f"open {path}: is a directory, not a zip file") from None
        except OSError as e:
            raise SkopeoError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
        except zipfile.BadZipFile:
            raise SkopeoError(f"{path} is not a zip file") from None
        self._lock = threading.Lock()
        try:
            version = self._read_member(VERSION_MEMBER, 1024)
            if version is None:
                raise SkopeoError(f"{path} is not a zip image: it has no {VERSION_MEMBER!r} member")
            if not _VERSION_RE.match(version):
                found = version.decode(errors="replace").strip()
                raise SkopeoError(f"unsupported zip transport version {found!r} in {path}")
        except BaseException:
            self._zip.close()
            raise

    def _open(self, info: zipfile.ZipInfo) -> _MemberStream:
        what = f"{info.filename} from {self.reference.path}"
        try:
            with self._lock:
                member = self._zip.open(info)
        except _ZIP_ERRORS as e:
            raise SkopeoError(f"reading {what}: {e}") from None
        return _MemberStream(member, what)

    def _read_member(self, name: str, limit: int) -> bytes | None:
        """A small member's bytes (None if absent), refusing more than *limit* bytes."""
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            return None
        if info.file_size > limit:
            raise SkopeoError(f"{name} in {self.reference.path} is larger than {limit} bytes")
        stream = self._open(info)
        try:
            return stream.read()
        finally:
            stream.close()

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        name = manifest_member(instance_digest)
        data = self._read_member(name, MAX_MANIFEST_SIZE)
        if data is None:
            raise ImageNotFoundError(f"{self.reference.path}: no {name} in the archive")
        return data, ""

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        if info.digest is None:
            raise SkopeoError("zip: blobs can only be read by digest")
        name = blob_member(info.digest)
        try:
            member = self._zip.getinfo(name)
        except KeyError:
            raise SkopeoError(f"blob {info.digest} is not in {self.reference.path}") from None
        return self._open(member), member.file_size

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        sigs: list[bytes] = []
        while True:
            data = self._read_member(signature_member(len(sigs), instance_digest), MAX_SIGNATURE_SIZE)
            if data is None:
                return sigs
            sigs.append(data)

    def close(self) -> None:
        self._zip.close()


class ZipDestination(ImageDestination):
    reference: ZipReference
    capabilities = DestinationCapabilities(
        supported_manifest_types=None,  # any manifest is stored as it is
        desired_layer_compression=PRESERVE,
        # zipfile allows one member being written at a time.
        thread_safe_put_blob=False,
    )

    def __init__(self, reference: ZipReference, ctx: SystemContext) -> None:
        super().__init__(reference)
        path = reference.path
        if os.path.isdir(path):
            raise SkopeoError(f"initializing destination zip:{path}: is a directory")
        if os.path.exists(path) and os.path.getsize(path) > 0 and not is_zip_image(path):
            raise SkopeoError(
                f"initializing destination zip:{path}: not a zip image written by skopeo, "
                "don't want to overwrite important data"
            )
        directory = os.path.dirname(os.path.abspath(path))
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=".skopeo-zip-", suffix=".tmp", dir=directory)
        except OSError as e:
            raise SkopeoError(f"initializing destination zip:{path}: {e.strerror or e}") from None
        self._spool_dir = ctx.tmp_directory()
        self._file = os.fdopen(fd, "w+b")
        self._zip = zipfile.ZipFile(self._file, "w", allowZip64=True)
        self._blobs: dict[str, int] = {}  # member name → size
        self._manifests: dict[str, bytes] = {}
        self._signatures: dict[str | None, list[bytes]] = {}
        self._committed = False
        try:
            self._write_small(VERSION_MEMBER, VERSION)
        except BaseException:
            self.close()  # nobody else will: the engine never got this destination
            raise

    def _write_small(self, name: str, data: bytes) -> None:
        self._zip.writestr(_member_info(name, zipfile.ZIP_DEFLATED), data)

    def _write_blob(self, name: str, stream: BlobStream, size: int) -> int:
        info = _member_info(name, zipfile.ZIP_STORED)
        if size >= 0:
            info.file_size = size  # lets zipfile decide whether Zip64 is needed
        written = 0
        with self._zip.open(info, "w", force_zip64=size < 0) as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
        self._blobs[name] = written
        return written

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        # Every copy writes a fresh archive: only blobs already written by it count.
        if info.digest is None:
            return None
        size = self._blobs.get(blob_member(info.digest))
        return None if size is None else BlobInfo(info.digest, size, info.media_type)

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        if info.digest is not None:
            # The caller's verifying reader raises at EOF on a mismatch (and reads
            # whatever we leave unread); the temporary archive is then thrown away.
            name = blob_member(info.digest)
            if name in self._blobs:  # a member name may appear only once
                size = self._blobs[name]
            else:
                size = self._write_blob(name, stream, info.size)
            return BlobInfo(info.digest, size, info.media_type, info.urls, info.annotations)
        # Content produced on the fly (recompressed): the member name is its
        # digest, known only at the end, so spool it first.
        hasher = digest_mod.hasher(digest_mod.CANONICAL)
        size = 0
        try:
            spool = tempfile.TemporaryFile(dir=self._spool_dir)
        except OSError as e:
            raise SkopeoError(f"creating a temporary file in {self._spool_dir}: {os_error_text(e)}") from None
        with spool:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                hasher.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            digest = f"{hasher.name}:{hasher.hexdigest()}"
            name = blob_member(digest)
            if name not in self._blobs:
                spool.seek(0)
                self._write_blob(name, spool, size)
        return BlobInfo(digest, size, info.media_type, info.urls, info.annotations)

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        # Kept until commit, so that manifest.json is the archive's last member.
        self._manifests[manifest_member(instance_digest)] = data

    def put_signatures(self, signatures: list[bytes], instance_digest: str | None = None) -> None:
        super().put_signatures(signatures, instance_digest)
        self._signatures[instance_digest] = list(signatures)

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        for instance, sigs in self._signatures.items():
            for i, sig in enumerate(sigs):
                self._write_small(signature_member(i, instance), sig)
        top = self._manifests.pop(MANIFEST_MEMBER, toplevel_manifest)
        for name, data in self._manifests.items():
            self._write_small(name, data)
        self._write_small(MANIFEST_MEMBER, top)
        self._zip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.reference.path)
        self._committed = True

    def close(self) -> None:
        if self._committed:
            return
        try:
            self._zip.close()
        except (ValueError, *_ZIP_ERRORS):
            pass  # the archive is being thrown away
        finally:
            self._file.close()
            remove_quietly(self._tmp)
