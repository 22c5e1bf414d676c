"""Which known copies of a blob are worth trying, best first: containers/image's
``pkg/blobinfocache/internal/prioritize`` and ``CandidateLocations2``, as pure
functions over the facts a cache holds (so the memory and SQLite caches share
one implementation, and tables test it without any store).

Compression names are the blob-info cache's: ``uncompressed``, an algorithm
(``gzip``, ``zstd``, ``zstd:chunked``, ``bzip2``, ``xz``) or ``unknown``."""

from __future__ import annotations

from functools import cmp_to_key
from typing import TYPE_CHECKING, NamedTuple, Protocol

from . import UNCOMPRESSED, UNKNOWN_COMPRESSION

# At most this many candidates are returned, of which at most
# UNKNOWN_LOCATION_ATTEMPTS have no known location (upstream's heuristics).
REPLACEMENT_ATTEMPTS = 5
UNKNOWN_LOCATION_ATTEMPTS = 2

_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# Algorithms a compressor name may be; "zstd:chunked" is a variant of "zstd".
_BASE_VARIANT = {"gzip": "gzip", "zstd": "zstd", "zstd:chunked": "zstd", "bzip2": "bzip2", "xz": "xz"}


class CompressorData(NamedTuple):
    """How a blob is compressed: the base variant (an algorithm, ``uncompressed``
    or ``unknown``) and, for a compressed blob, a more specific variant
    (``zstd:chunked``) with the annotations it needs, or ``unknown``."""

    base: str = UNKNOWN_COMPRESSION
    specific: str = UNKNOWN_COMPRESSION
    annotations: dict[str, str] | None = None


class CandidateOptions(NamedTuple):
    """What a destination can accept in place of the blob it was asked for."""

    # Variants of the blob with the same uncompressed content may be used.
    can_substitute: bool = False
    # The manifest types the image may be written as (one must describe the
    # candidate's compression); None: any.
    possible_manifest_formats: tuple[str, ...] | None = None
    # Only this compression (``--force-compression``); None: any.
    required_compression: str | None = None


class Candidate(NamedTuple):
    """A blob that may replace the one asked for, and where it was seen."""

    digest: str
    # ``uncompressed``, an algorithm name, or ``unknown`` (lookups without options).
    compression: str
    annotations: dict[str, str] | None
    # Transport-specific (docker: a repository name); None: not known, look
    # where the blob is wanted.
    location: str | None


if TYPE_CHECKING:  # a Protocol class costs start-up time; only the type checker needs it

    class Facts(Protocol):
        """What a cache knows; every digest is a string ``algorithm:hex``."""

        def uncompressed(self, digest: str) -> str | None:
            """The recorded uncompressed digest of *digest*."""

        def is_uncompressed(self, digest: str) -> bool:
            """Whether *digest* was recorded as some blob's uncompressed digest."""

        def variants(self, uncompressed: str) -> list[str]:
            """Every digest recorded with *uncompressed* as its uncompressed digest."""

        def compressor(self, digest: str) -> CompressorData: ...

        def locations(self, transport: str, scope: str, digest: str) -> list[tuple[str, int]]:
            """(location, last seen in ns since the epoch) of *digest*."""


def base_variant(algorithm: str) -> str:
    return _BASE_VARIANT.get(algorithm, algorithm)


def mime_supports_compression(mime: str, algorithm: str) -> bool:
    """Whether a manifest of type *mime* can describe a layer compressed with
    *algorithm*: gzip everywhere, zstd (and zstd:chunked) only in OCI."""
    if algorithm == "gzip":
        return True
    return algorithm in ("zstd", "zstd:chunked") and mime == _OCI_MANIFEST


def compression_matches(required: str | None, formats: tuple[str, ...] | None, compression: str | None) -> bool:
    """Whether a blob compressed with *compression* (None: uncompressed or not
    known) may be used when *required* (``--force-compression``'s algorithm, or
    None) and one of the manifest types *formats* (None: any) must describe it
    (upstream's ``CandidateCompressionMatchesReuseConditions``)."""
    if required is not None and (compression is None or required not in (compression, base_variant(compression))):
        return False
    if formats is not None and compression is not None:
        return any(mime_supports_compression(m, compression) for m in formats)
    return True


def uncompressed_digest(facts: Facts, digest: str) -> str | None:
    """The uncompressed digest of *digest*: recorded, or *digest* itself when it
    was recorded as the uncompressed form of something."""
    found = facts.uncompressed(digest)
    if found:
        return found
    return digest if facts.is_uncompressed(digest) else None


def template(options: CandidateOptions | None, digest: str, data: CompressorData) -> Candidate | None:
    """A candidate without location for *digest* compressed as *data*, or None
    when *options* exclude it (without options, anything goes)."""
    if options is None:
        return Candidate(digest, UNKNOWN_COMPRESSION, None, None)

    def acceptable(compression: str | None) -> bool:
        assert options is not None
        return compression_matches(options.required_compression, options.possible_manifest_formats, compression)

    if data.base == UNCOMPRESSED:
        return Candidate(digest, UNCOMPRESSED, None, None) if acceptable(None) else None
    if data.base == UNKNOWN_COMPRESSION or data.base not in _BASE_VARIANT:
        return None  # the compression must be known (and one this program knows)
    if data.specific != UNKNOWN_COMPRESSION and data.specific in _BASE_VARIANT and acceptable(data.specific):
        return Candidate(digest, data.specific, data.annotations, None)
    if not acceptable(data.base):
        return None
    return Candidate(digest, data.base, None, None)


def collect(
    facts: Facts, transport: str, scope: str, primary: str, options: CandidateOptions | None, can_substitute: bool,
) -> list[Candidate]:
    """The candidates for *primary* within (*transport*, *scope*), prioritized
    and limited: *primary* itself first, then other compressions of the same
    content, then its uncompressed form."""
    found: list[tuple[Candidate, int]] = []
    _append(found, facts, transport, scope, primary, options)
    uncompressed = None
    if can_substitute:
        uncompressed = uncompressed_digest(facts, primary)
        if uncompressed is not None:
            for other in facts.variants(uncompressed):
                if other not in (primary, uncompressed):
                    _append(found, facts, transport, scope, other, options)
            if uncompressed != primary:
                _append(found, facts, transport, scope, uncompressed, options)
    return prioritized(found, primary, uncompressed)


def _append(
    found: list[tuple[Candidate, int]], facts: Facts, transport: str, scope: str, digest: str,
    options: CandidateOptions | None,
) -> None:
    t = template(options, digest, facts.compressor(digest) if options is not None else CompressorData())
    if t is None:
        return
    locations = facts.locations(transport, scope, digest)
    for location, seen in locations:
        found.append((t._replace(location=location), seen))
    if not locations and options is not None:
        found.append((t, 0))


def prioritized(
    found: list[tuple[Candidate, int]], primary: str, uncompressed: str | None,
    total_limit: int = REPLACEMENT_ATTEMPTS, unknown_limit: int = UNKNOWN_LOCATION_ATTEMPTS,
) -> list[Candidate]:
    """*found* ((candidate, last seen ns)) in upstream's order: *primary* first,
    most recently seen first; *uncompressed* last; the others by time, then
    digest.  At most *total_limit* in all, those with an unknown location
    after the known ones and at most *unknown_limit* of them."""

    def compare(a: tuple[Candidate, int], b: tuple[Candidate, int]) -> int:
        (ca, ta), (cb, tb) = a, b
        if ca.digest != cb.digest:
            if ca.digest == primary:
                return -1
            if cb.digest == primary:
                return 1
            if uncompressed is not None:
                if ca.digest == uncompressed:
                    return 1
                if cb.digest == uncompressed:
                    return -1
        elif ca.digest == primary or ca.digest == uncompressed:
            return (tb > ta) - (tb < ta)
        if ta != tb:
            return (tb > ta) - (tb < ta)
        return (ca.digest > cb.digest) - (ca.digest < cb.digest)

    ordered = sorted(found, key=cmp_to_key(compare))
    known = [c for c, _ in ordered if c.location is not None][:total_limit]
    unknown = [c for c, _ in ordered if c.location is None][:min(unknown_limit, total_limit - len(known))]
    return known + unknown
