"""Layer compression: detection by content, and pull-based streams that compress
or decompress while being read (bounded memory, no threads of our own).

gzip uses python-isal when it is installed (several times faster than zlib here),
zstd uses the ``zstandard`` package with its own worker threads."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, cast

from .errors import SkopeoError

if TYPE_CHECKING:
    from .transport import BlobStream

GZIP = "gzip"
ZSTD = "zstd"
ZSTD_CHUNKED = "zstd:chunked"
BZIP2 = "bzip2"
XZ = "xz"

_MAGIC = (
    (b"\x1f\x8b\x08", GZIP),
    (b"\x28\xb5\x2f\xfd", ZSTD),
    (b"\x42\x5a\x68", BZIP2),
    (b"\xfd\x37\x7a\x58\x5a\x00", XZ),
)
SNIFF_SIZE = 6
CHUNK = 1 << 20


def detect(prefix: bytes) -> str | None:
    """Compression algorithm from the first bytes of a stream (None = uncompressed)."""
    for magic, name in _MAGIC:
        if prefix.startswith(magic):
            return name
    return None


class PeekReader:
    """A stream whose first bytes can be inspected without consuming them."""

    def __init__(self, stream: BlobStream) -> None:
        self._stream = stream
        self._buf = b""

    def peek(self, n: int = SNIFF_SIZE) -> bytes:
        while len(self._buf) < n:
            more = self._stream.read(n - len(self._buf))
            if not more:
                break
            self._buf += more
        return self._buf[:n]

    def read(self, n: int = -1) -> bytes:
        if self._buf:
            if n is None or n < 0:
                data, self._buf = self._buf + self._stream.read(), b""
                return data
            data, self._buf = self._buf[:n], self._buf[n:]
            return data
        return self._stream.read(n)

    def close(self) -> None:
        self._stream.close()


def _gzip_module() -> Any:
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:  # pragma: no cover - isal is a dependency, zlib is the fallback
        return zlib


def _isal_level(level: int) -> int:
    # python-isal offers levels 0-3; spread gzip's 1-9 over them.
    return 0 if level <= 1 else 1 if level <= 3 else 2 if level <= 6 else 3


class _GzipCompressor:
    """gzip at Go's levels: -1 (or none) the default, 0 stored (no compression),
    -2 Huffman coding only, 1-9; anything else is an error, as upstream's."""

    def __init__(self, level: int | None) -> None:
        if level is None:
            level = -1
        if not -2 <= level <= 9:
            raise SkopeoError(f"gzip: invalid compression level: {level}")
        mod = _gzip_module()
        if level == 0 or level == -2 or mod is zlib:
            # isal has no stored or Huffman-only mode: zlib does what was asked.
            strategy = zlib.Z_HUFFMAN_ONLY if level == -2 else zlib.Z_DEFAULT_STRATEGY
            self._obj = zlib.compressobj(max(level, -1), zlib.DEFLATED, 31, 8, strategy)
        else:
            self._obj = mod.compressobj(_isal_level(6 if level == -1 else level), mod.DEFLATED, 31)

    def compress(self, data: bytes) -> bytes:
        return bytes(self._obj.compress(data))

    def flush(self) -> bytes:
        return bytes(self._obj.flush())


class _GzipDecompressor:
    """Handles multi-member gzip streams, as ``gzip -d`` does."""

    def __init__(self) -> None:
        self._mod = _gzip_module()
        self._obj = self._mod.decompressobj(31)

    def decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._obj.decompress(data))
            if self._obj.eof:
                data = self._obj.unused_data
                if data and data[:2] == b"\x1f\x8b":
                    self._obj = self._mod.decompressobj(31)
                    continue
                break
            data = b""
        return b"".join(out)

    def flush(self) -> bytes:
        if not self._obj.eof:
            raise SkopeoError("gzip: unexpected EOF in compressed layer")
        return b""


class _ZstdCompressor:
    def __init__(self, level: int | None, threads: int) -> None:
        import zstandard

        if threads:
            # zstd's default job size at level 3 buffers ~200 MiB with 2 workers;
            # 1 MiB jobs keep it near 40 MiB at the same speed and ratio.
            params = zstandard.ZstdCompressionParameters.from_level(level or 3, threads=threads, job_size=1 << 20)
            self._obj = zstandard.ZstdCompressor(compression_params=params).compressobj()
        else:
            self._obj = zstandard.ZstdCompressor(level=level or 3).compressobj()

    def compress(self, data: bytes) -> bytes:
        return bytes(self._obj.compress(data))

    def flush(self) -> bytes:
        return bytes(self._obj.flush())


class _ZstdDecompressor:
    def __init__(self) -> None:
        import zstandard

        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()

    def decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._obj.decompress(data))
            if self._obj.eof:
                data = self._obj.unused_data
                if data:
                    self._obj = self._dctx.decompressobj()
                    continue
                break
            data = b""
        return b"".join(out)

    def flush(self) -> bytes:
        if not self._obj.eof:
            raise SkopeoError("zstd: unexpected EOF in compressed layer")
        return b""


class _StdlibDecompressor:
    def __init__(self, algo: str) -> None:
        self.name = algo
        if algo == BZIP2:
            import bz2

            self._obj: Any = bz2.BZ2Decompressor()
        else:
            import lzma

            self._obj = lzma.LZMADecompressor()

    def decompress(self, data: bytes) -> bytes:
        return bytes(self._obj.decompress(data))

    def flush(self) -> bytes:
        if not self._obj.eof:
            raise SkopeoError("unexpected EOF in compressed layer")
        return b""


def corrupt_input(algo: str, err: Exception) -> SkopeoError:
    """A codec's complaint about its input as one error line: Go's compress/gzip
    texts for gzip; libzstd's own for zstd (upstream's decoder, klauspost's,
    words each corruption its own way); the codec's reason for the others."""
    if algo == GZIP:
        return SkopeoError(_go_gzip_error(err))
    if algo == ZSTD:
        return SkopeoError(str(err))
    return SkopeoError(f"{algo}: corrupt input ({err})")


class TransformReader:
    """Reads *source* in chunks and returns what the codec made by *make_codec*
    makes of them.  The codec is made on the first read, so that its errors (an
    invalid level) are, like every other, errors of reading the stream."""

    def __init__(self, source: BlobStream, make_codec: Callable[[], Any]) -> None:
        self._source = source
        self._make_codec = make_codec
        self._codec: Any = None
        self._process: Callable[[bytes], bytes] = bytes
        self._buf = bytearray()
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        if self._codec is None:
            self._codec = self._make_codec()
            # Compressors and decompressors both take bytes and return bytes.
            self._process = getattr(self._codec, "compress", None) or self._codec.decompress
        while not self._eof and (n is None or n < 0 or len(self._buf) < n):
            chunk = self._source.read(CHUNK)
            try:
                if chunk:
                    self._buf += self._process(chunk)
                else:
                    self._buf += self._codec.flush()
                    self._eof = True
            except (SkopeoError, MemoryError):
                raise
            except Exception as e:  # the codec's own error type: corrupt input
                raise corrupt_input(getattr(self._codec, "name", "data"), e) from None
        if n is None or n < 0 or n >= len(self._buf):
            data = bytes(self._buf)
            self._buf.clear()
            return data
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def close(self) -> None:
        self._source.close()


def compressor(algo: str, level: int | None = None, threads: int = 2) -> Any:
    if algo == GZIP:
        return _GzipCompressor(level)
    if algo in (ZSTD, ZSTD_CHUNKED):
        return _ZstdCompressor(level, threads)
    raise SkopeoError(f'cannot find compressor for "{algo}"')


def decompressor(algo: str) -> Any:
    if algo == GZIP:
        return _GzipDecompressor()
    if algo == ZSTD:
        return _ZstdDecompressor()
    if algo in (BZIP2, XZ):
        return _StdlibDecompressor(algo)
    raise SkopeoError(f"unsupported compression {algo!r}")


def compressing_reader(source: BlobStream, algo: str, level: int | None = None, threads: int = 2) -> TransformReader:
    """*threads*: zstd worker threads (0 = compress in the calling thread).  Each
    zstd worker buffers several MiB, so callers compressing many layers at once
    use 0 and get their parallelism from the layers instead."""
    return TransformReader(source, lambda: compressor(algo, level, threads))


def _go_gzip_error(err: Exception) -> str:
    """Go's compress/gzip (or flate) text for a decompression failure."""
    text = str(err).lower()
    if "check" in text or "checksum" in text:  # zlib "incorrect data check", isal "Incorrect checksum found"
        return "gzip: invalid checksum"
    if "header" in text:
        return "gzip: invalid header"
    return "flate: corrupt input"


class _BoundedGzipReader:
    """gzip decompression whose output per read is bounded by the caller's *n*
    (a small, highly compressed layer cannot balloon memory), handling
    multi-member streams and reporting truncation."""

    def __init__(self, source: BlobStream) -> None:
        self._source = source
        self._mod = _gzip_module()
        self._obj = self._mod.decompressobj(31)
        self._pending = b""  # compressed input not yet given to the decompressor
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        limit = CHUNK if n is None or n < 0 else max(n, 1)
        out = bytearray()
        while len(out) < limit and not self._eof:
            data = self._obj.unconsumed_tail or self._pending
            self._pending = b""
            if not data:
                data = self._source.read(CHUNK)
                if not data:
                    if not self._obj.eof:
                        raise SkopeoError("gzip: unexpected EOF in compressed layer")
                    self._eof = True
                    break
            try:
                out += self._obj.decompress(data, limit - len(out))
            except Exception as e:  # zlib.error / isal's IsalError: corrupt input
                raise corrupt_input(GZIP, e) from None
            if self._obj.eof:
                rest = self._obj.unused_data
                if rest[:2] == b"\x1f\x8b" or (not rest and self._peek_next_member()):
                    self._pending = rest
                    self._obj = self._mod.decompressobj(31)
                elif rest.strip(b"\x00"):
                    raise SkopeoError("gzip: trailing garbage after compressed data")
        if n is None or n < 0:
            return bytes(out) + (self.read(-1) if out and not self._eof else b"")
        return bytes(out)

    def _peek_next_member(self) -> bool:
        head = self._source.read(2)
        if not head:
            self._eof = True
            return False
        self._pending = head
        return True

    def close(self) -> None:
        self._source.close()


class _ZstdReader:
    """zstd through zstandard's pull reader (bounded output).  A truncated frame
    is not reported here; the caller's digest check of the compressed bytes is."""

    def __init__(self, source: BlobStream) -> None:
        import zstandard

        self._source = source
        # zstandard's stubs ask for a file; it only ever calls read().
        readable = cast("IO[bytes]", source)
        self._reader = zstandard.ZstdDecompressor().stream_reader(readable, read_across_frames=True, closefd=False)

    def read(self, n: int = -1) -> bytes:
        try:
            return bytes(self._reader.read(n if n is not None and n >= 0 else -1))
        except Exception as e:  # zstandard.ZstdError: corrupt input
            if isinstance(e, SkopeoError | OSError):
                raise
            raise corrupt_input(ZSTD, e) from None

    def close(self) -> None:
        self._source.close()


def decompressing_reader(source: BlobStream, algo: str) -> BlobStream:
    """A stream of the decompressed content of *source*."""
    if algo == GZIP:
        return _BoundedGzipReader(source)
    if algo == ZSTD:
        return _ZstdReader(source)
    return TransformReader(source, lambda: decompressor(algo))


def validate_algorithm(name: str) -> str:
    if name not in (GZIP, ZSTD, ZSTD_CHUNKED):
        raise SkopeoError(f'cannot find compressor for "{name}"')
    return name


class DiffIDReader:
    """Passes a (possibly compressed) layer through unchanged while hashing its
    uncompressed content: the layer's diffID, needed when a config must be
    built (schema1 conversion) without reading the blob twice."""

    def __init__(self, source: BlobStream, algo: str | None) -> None:
        import hashlib

        self._source = source
        self._codec = decompressor(algo) if algo else None
        self._hash = hashlib.sha256()
        self.done = False

    @property
    def diff_id(self) -> str:
        return f"sha256:{self._hash.hexdigest()}"

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        if data:
            self._hash.update(self._codec.decompress(data) if self._codec is not None else data)
        elif not self.done:
            if self._codec is not None:
                self._hash.update(self._codec.flush())
            self.done = True
        return data

    def close(self) -> None:
        self._source.close()
