"""What this process knows about where blobs live on registries: the
in-memory form of upstream's blob-info cache (locations to mount blobs from)
and the claims that let concurrent copies upload a shared blob once."""

from __future__ import annotations

import threading

from skopeo import manifest as mf
from skopeo.errors import SkopeoError
from skopeo.reference import DockerReference


class _KnownLocations:
    """digest → {(registry, repository path)} seen in this process.  A small,
    in-memory form of upstream's blob-info cache: enough to mount a blob that was
    just read from (or written to) another repository of the same registry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._map: dict[str, list[tuple[str, str]]] = {}

    def record(self, digest: str, registry: str, path: str) -> None:
        with self._lock:
            where = self._map.setdefault(digest, [])
            if (registry, path) not in where:
                where.append((registry, path))

    def candidates(self, digest: str, registry: str, exclude_path: str) -> list[str]:
        with self._lock:
            return [p for r, p in self._map.get(digest, []) if r == registry and p != exclude_path]

    def clear(self) -> None:
        with self._lock:
            self._map.clear()


known_locations = _KnownLocations()


class _BlobClaims:
    """Blobs this process knows a repository holds, and uploads in flight.

    Many images copied at once (``sync``, ``--all``) often share layers: the
    first copy to need a blob claims it and uploads it; the others wait for
    that upload instead of sending the same bytes again, and nobody asks the
    registry again about a blob this process itself stored there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._present: dict[tuple[str, str, str], int] = {}
        self._inflight: dict[tuple[str, str, str], threading.Event] = {}

    def present(self, key: tuple[str, str, str]) -> int | None:
        with self._lock:
            return self._present.get(key)

    def claim_or_wait(self, key: tuple[str, str, str]) -> int | bool | None:
        """True: the caller now owns the upload of *key*.  Otherwise the size
        once another owner finished (None if that owner failed)."""
        while True:
            with self._lock:
                if key in self._present:
                    return self._present[key]
                event = self._inflight.get(key)
                if event is None:
                    self._inflight[key] = threading.Event()
                    return True
            event.wait()
            with self._lock:
                if key in self._present:
                    return self._present[key]
                if key not in self._inflight:
                    return None  # the owner failed; the caller uploads itself

    def done(self, key: tuple[str, str, str], size: int | None) -> None:
        with self._lock:
            if size is not None:
                self._present[key] = size
            event = self._inflight.pop(key, None)
        if event is not None:
            event.set()

    def clear(self) -> None:
        with self._lock:
            self._present.clear()


blob_claims = _BlobClaims()


def record_manifest_blobs(data: bytes, mime: str, ref: DockerReference) -> None:
    try:
        parsed = mf.parse(data, mime)
    except SkopeoError:
        return
    if isinstance(parsed, mf.ImageManifest):
        descs = list(parsed.layers)
        if parsed.config is not None:
            descs.append(parsed.config)
        for d in descs:
            known_locations.record(d.digest, ref.domain, ref.path)


def forget() -> None:
    """Drop every known location and presence (tests: a later registry may
    reuse a port)."""
    known_locations.clear()
    blob_claims.clear()
