"""What the docker transport knows about where blobs live.

* The blob-info cache (:mod:`skopeo.blobinfocache`, shared with podman and
  skopeo through its file) holds what a registry confirmed: blobs read,
  written, found or mounted, under transport ``docker``, the registry host as
  scope and the repository's full name as location, as upstream records them.
* In this process only, the blobs named by manifests read or written
  (:data:`manifest_locations`): not confirmed by the registry, so never
  written to the shared file, but worth a mount attempt within one run.
* Claims that let concurrent copies upload a shared blob once."""

from __future__ import annotations

import threading

from skopeo import blobinfocache
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.reference import DockerReference

TRANSPORT = "docker"


def record_location(ctx: SystemContext, digest: str, ref: DockerReference) -> None:
    """A registry confirmed that *ref*'s repository holds *digest* (recorded
    during copies only)."""
    cache = blobinfocache.cache_in_use(ctx)
    if cache is not None:
        cache.record_known_location(TRANSPORT, ref.domain, digest, ref.name)


class _ManifestLocations:
    """digest → {(registry, repository path)} named by manifests seen in this process."""

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


manifest_locations = _ManifestLocations()


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
            manifest_locations.record(d.digest, ref.domain, ref.path)


def forget() -> None:
    """Drop the locations and presence this process knows outside the
    blob-info cache (tests: a later registry may reuse a port)."""
    manifest_locations.clear()
    blob_claims.clear()
