"""The ``tarball:`` image source: every layer file read once when opened (its
digests, its compression, whether it is a tar), the manifest and config built
from what was found."""

from __future__ import annotations

import io
import os
import time
from typing import BinaryIO, NamedTuple, cast

from skopeo import compression as comp
from skopeo import manifest as mf
from skopeo.digest import VerifyingReader
from skopeo.errors import SkopeoError
from skopeo.golang import gojson
from skopeo.golang.oserror import path_error_text
from skopeo.transport import BlobInfo, ImageSource, SourceCapabilities

from .tarcheck import NOT_A_TAR, check_tar, check_tar_file
from .transport import STDIN, TarballReference, quote_name

COMMENT = "imported from tarball"


class _Layer(NamedTuple):
    filename: str
    digest: str
    size: int
    diff_id: str
    media_type: str
    mtime_ns: int


class TarballSource(ImageSource):
    reference: TarballReference
    capabilities = SourceCapabilities(thread_safe_get_blob=False)

    def __init__(self, reference: TarballReference) -> None:
        super().__init__(reference)
        self._layers = [self._scan(name) for name in reference.filenames]
        self.config = build_config([(la.diff_id, la.mtime_ns) for la in self._layers])
        self.config_digest = f"sha256:{_sha256(self.config)}"
        self.manifest = gojson.marshal({
            "schemaVersion": 2,
            "mediaType": mf.OCI_MANIFEST,
            "config": {"mediaType": mf.OCI_CONFIG, "digest": self.config_digest, "size": len(self.config)},
            "layers": [{"mediaType": la.media_type, "digest": la.digest, "size": la.size} for la in self._layers],
        })

    def _open(self, name: str) -> tuple[BinaryIO, int, int]:
        """(stream, size, modification time in ns) of one layer file."""
        if name == STDIN:
            assert self.reference.stdin is not None
            fd = self.reference.stdin.fileno()
            size = os.fstat(fd).st_size
            return cast(BinaryIO, _PositionalReader(fd, size)), size, time.time_ns()
        try:
            f = open(name, "rb")
        except IsADirectoryError as e:  # Go opens it, then the first read fails (upstream's text, unwrapped)
            raise SkopeoError(path_error_text("read", name, e)) from None
        except OSError as e:
            raise SkopeoError(path_error_text("open", name, e)) from None
        try:
            st = os.fstat(f.fileno())
        except OSError as e:
            f.close()
            raise SkopeoError(f"error reading size of {quote_name(name)}: {path_error_text('stat', name, e)}") from None
        return f, st.st_size, st.st_mtime_ns

    def _scan(self, name: str) -> _Layer:
        stream, size, mtime_ns = self._open(name)
        with stream:
            try:
                digest, diff_id, algo = scan_layer(stream)
            except (SkopeoError, OSError, EOFError, ValueError) as e:
                raise SkopeoError(f"error reading {quote_name(name)}: {read_error_text(e)}") from None
        return _Layer(name, digest, size, diff_id, layer_media_type(algo), mtime_ns)

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        if instance_digest is not None:
            raise SkopeoError('manifest lists are not supported by the "tarball" transport')
        return self.manifest, mf.OCI_MANIFEST

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        if info.digest == self.config_digest:
            return io.BytesIO(self.config), len(self.config)
        for layer in self._layers:
            if layer.digest == info.digest:
                stream, size, _ = self._open(layer.filename)
                return stream, size
        raise SkopeoError(f'no blob with digest "{info.digest}" found')


class _PositionalReader:
    """Reads a file descriptor from the start with ``pread``, leaving its offset
    alone (the spooled standard input may be read several times)."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._pos = 0
        self._size = size

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._size - self._pos
        data = os.pread(self._fd, min(n, self._size - self._pos), self._pos)
        self._pos += len(data)
        return data

    def close(self) -> None:
        self._pos = self._size

    def __enter__(self) -> _PositionalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def layer_media_type(algo: str | None) -> str:
    """Upstream's choice: zstd and gzip get their types, other compressions
    (bzip2, xz) are labelled gzip, "as this transport historically did"."""
    if algo is None:
        return mf.OCI_LAYER
    return mf.OCI_LAYER_ZSTD if algo == comp.ZSTD else mf.OCI_LAYER_GZIP


def scan_layer(stream: BinaryIO) -> tuple[str, str, str | None]:
    """(blob digest, diffID, compression) of a layer file read once to its end;
    its decompressed content must be a tar archive."""
    blob = VerifyingReader(stream, None)
    peek = comp.PeekReader(cast(BinaryIO, blob))
    algo = comp.detect(peek.peek())
    if algo is None and _seekable(stream):
        # A plain file: hash it in big reads, then walk its headers by seeking
        # (tarfile's stream mode would copy every byte three more times).
        while peek.read(comp.CHUNK):
            pass
        stream.seek(0)
        check_tar_file(stream)
        return blob.digest, blob.digest, None
    content = VerifyingReader(comp.decompressing_reader(cast(BinaryIO, peek), algo), None) if algo else None
    check_tar(cast(BinaryIO, content if content is not None else peek))
    while blob.read(comp.CHUNK):  # what the decompressor left unread still counts
        pass
    diff_id = content.digest if content is not None else blob.digest
    return blob.digest, diff_id, algo


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def read_error_text(err: BaseException) -> str:
    """The reason part of ``error reading "FILE": …``: Go's ``unexpected EOF`` for
    a cut-off compressed stream, else what went wrong."""
    if isinstance(err, ValueError) and str(err).startswith(NOT_A_TAR):
        return str(err)
    if isinstance(err, EOFError) or "unexpected EOF" in str(err) or "end-of-stream" in str(err):
        return "unexpected EOF"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err)


def build_config(layers: list[tuple[str, int]]) -> bytes:
    """The config upstream builds for (diffID, modification time in ns) layers."""
    from skopeo.manifest import runtime_platform

    os_name, arch, _ = runtime_platform()
    created = max(mtime for _, mtime in layers)
    history = [
        {"created": gojson.time_text(mtime), "created_by": f"/bin/sh -c #(nop) ADD file:{diff_id.split(':', 1)[1]} in /",
         "comment": COMMENT}
        for diff_id, mtime in layers
    ]
    return gojson.marshal({
        "created": gojson.time_text(created),
        "architecture": arch,
        "os": os_name,
        "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
        "history": history,
    })
