"""What this process learned about blobs, in memory (containers/image's
``pkg/blobinfocache/memory``): the cache when no file can be used, and the
SQLite cache's view of what this process recorded and has not written yet."""

from __future__ import annotations

from .. import log
from . import UNKNOWN_COMPRESSION
from .prioritize import CompressorData


class MemoryFacts:
    """The records, with the queries :class:`prioritize.Facts` asks.  Not
    locked: :class:`MemoryCache` holds its lock around every use."""

    def __init__(self, warn: bool = True) -> None:
        # Conflicting records are reported (a SQLite cache reports them when it
        # writes them, against what the file holds).
        self.warn = warn
        self.uncompressed_of: dict[str, str] = {}
        self.by_uncompressed: dict[str, dict[str, None]] = {}  # ordered sets
        self.compressors: dict[str, CompressorData] = {}
        # (transport, scope, digest) → {location: last seen, ns}
        self.known: dict[tuple[str, str, str], dict[str, int]] = {}

    # --- queries -----------------------------------------------------------------------------
    def uncompressed(self, digest: str) -> str | None:
        return self.uncompressed_of.get(digest)

    def is_uncompressed(self, digest: str) -> bool:
        return digest in self.by_uncompressed

    def variants(self, uncompressed: str) -> list[str]:
        return list(self.by_uncompressed.get(uncompressed, ()))

    def compressor(self, digest: str) -> CompressorData:
        return self.compressors.get(digest, CompressorData())

    def locations(self, transport: str, scope: str, digest: str) -> list[tuple[str, int]]:
        return list(self.known.get((transport, scope, digest), {}).items())

    # --- records -----------------------------------------------------------------------------
    def record_pair(self, any_digest: str, uncompressed: str) -> None:
        previous = self.uncompressed_of.get(any_digest)
        if previous is not None and previous != uncompressed:
            if self.warn:
                log.warning(f"Uncompressed digest for blob {any_digest} previously recorded as {previous}, now {uncompressed}")
            self.by_uncompressed.get(previous, {}).pop(any_digest, None)
        self.uncompressed_of[any_digest] = uncompressed
        self.by_uncompressed.setdefault(uncompressed, {})[any_digest] = None

    def record_compressor(self, digest: str, data: CompressorData) -> None:
        previous = self.compressors.get(digest)
        if previous is not None and self.warn:
            if previous.base != data.base:
                log.warning(f"Base compressor for blob with digest {digest} previously recorded as {previous.base}, "
                            f"now {data.base}")
            elif UNKNOWN_COMPRESSION not in (previous.specific, data.specific) and previous.specific != data.specific:
                log.warning(f"Specific compressor for blob with digest {digest} previously recorded as "
                            f"{previous.specific}, now {data.specific}")
        if previous is not None:
            # A record without a specific variant keeps the one already known.
            if (data.base != UNKNOWN_COMPRESSION and data.specific == UNKNOWN_COMPRESSION
                    and previous.specific != UNKNOWN_COMPRESSION):
                data = data._replace(specific=previous.specific, annotations=previous.annotations)
        if data.base == UNKNOWN_COMPRESSION:
            self.compressors.pop(digest, None)
        else:
            self.compressors[digest] = data

    def record_location(self, transport: str, scope: str, digest: str, location: str, seen: int) -> None:
        self.known.setdefault((transport, scope, digest), {})[location] = seen
