"""The blob-info cache API every transport and the copy engine use; this class
keeps what it learns in memory for the life of the process
(:class:`skopeo.blobinfocache.sqlite.SqliteCache` also keeps it in a file)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from . import prioritize
from .memory import MemoryFacts
from .prioritize import Candidate, CandidateOptions, CompressorData

if TYPE_CHECKING:
    from .prioritize import Facts

T = TypeVar("T")


class BlobInfoCache:
    """What is known about blobs: which compressed digest belongs to which
    uncompressed one, how a blob is compressed, and where it was seen.

    Record only what this process verified (digests it computed, blobs a
    registry confirmed): a wrong record could substitute an unexpected blob.
    Every method is thread-safe and never fails; :meth:`open` / :meth:`close`
    bracket a copy (the copy engine does it), which lets a persistent cache keep
    its file open and write what was learned once, at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._memory = MemoryFacts()
        self._uses = 0  # open() calls not yet closed

    def open(self) -> None:
        """Start a batch of uses (pair it with :meth:`close`)."""
        with self._lock:
            self._uses += 1

    def close(self) -> None:
        """End a batch of uses."""
        with self._lock:
            self._uses = max(0, self._uses - 1)

    @property
    def in_use(self) -> bool:
        """Whether a batch (a copy) is under way."""
        return self._uses > 0

    def write_ahead(self) -> None:
        """A hint within a batch: what was recorded so far may be written now,
        in the background (a copy does it before its last, slow request), so
        that :meth:`close` finds little left to do."""

    # --- lookups ---------------------------------------------------------------------------------
    def uncompressed_digest(self, digest: str) -> str | None:
        """The digest of *digest*'s uncompressed content (*digest* itself when it
        is known to be uncompressed), or None when not known."""
        with self._lock:
            return self._query(lambda facts: prioritize.uncompressed_digest(facts, digest))

    def candidate_locations(
        self, transport: str, scope: str, digest: str, options: CandidateOptions | None = None,
    ) -> list[Candidate]:
        """Blobs that may replace *digest* within (*transport*, *scope*), best
        first, at most five (upstream's ``CandidateLocations2``).  With
        *options*, only blobs of known compression that *options* accept, and,
        with ``can_substitute``, other compressions of the same content;
        without, only *digest* at known locations, whatever its compression."""
        can_substitute = options.can_substitute if options is not None else False
        with self._lock:
            return self._query(lambda facts: prioritize.collect(facts, transport, scope, digest, options, can_substitute))

    # --- records ---------------------------------------------------------------------------------
    def record_digest_uncompressed_pair(self, any_digest: str, uncompressed: str) -> None:
        """*any_digest*'s content decompresses to *uncompressed* (the same digest
        for an uncompressed blob)."""
        with self._lock:
            self._memory.record_pair(any_digest, uncompressed)
            self._recorded(("pair", any_digest, uncompressed))

    def record_digest_compressor(self, digest: str, data: CompressorData) -> None:
        """How *digest* is compressed (base ``unknown`` forgets it)."""
        with self._lock:
            self._memory.record_compressor(digest, data)
            self._recorded(("compressor", digest, data))

    def record_known_location(self, transport: str, scope: str, digest: str, location: str) -> None:
        """*digest* exists at *location* within (*transport*, *scope*), now (for
        docker: scope is the registry host, location the repository's full name)."""
        seen = time.time_ns()
        with self._lock:
            self._memory.record_location(transport, scope, digest, location, seen)
            self._recorded(("location", transport, scope, digest, location, seen))

    # --- what a persistent cache adds --------------------------------------------------------------
    def _query(self, fn: Callable[[Facts], T]) -> T:
        """*fn* applied to what lookups consult (called with the lock held)."""
        return fn(self._memory)

    def _recorded(self, record: tuple[object, ...]) -> None:
        """A record was made (called with the lock held)."""
