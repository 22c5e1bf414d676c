"""The blob-info cache: what containers/image remembers about blobs across
runs, shared with podman, buildah and skopeo through the same SQLite file.

* which compressed digest belongs to which uncompressed one;
* how a blob is compressed;
* where a blob was seen (transport, scope such as a registry, location such
  as a repository).

With it a registry destination mounts a blob from another repository instead
of uploading it, and the copy engine reuses a compressed form it already
produced instead of compressing a layer again.

Transport plugins get the cache of their context with :func:`cache_for` and
use :class:`BlobInfoCache`'s record and lookup methods.  The copy engine opens
the destination context's cache for the duration of a copy (records are
written to the file at its end).

Where it lives, as upstream: ``SystemContext.blob_info_cache_dir`` (upstream's
``BlobInfoCacheDir``), else ``/var/lib/containers/cache`` for root, else
``$XDG_DATA_HOME/containers/cache`` or ``~/.local/share/containers/cache``;
with neither variable set, memory only.  ``$SKOPEO_BLOB_INFO_CACHE_DIR``
(a skopeo-py extension: the CLI has no flag for ``BlobInfoCacheDir``) comes
right after the context's setting; the test fixtures use it to keep tests
away from the machine's cache."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import log

if TYPE_CHECKING:
    from ..context import SystemContext
    from .cache import BlobInfoCache as BlobInfoCache
    from .prioritize import Candidate as Candidate
    from .prioritize import CandidateOptions as CandidateOptions
    from .prioritize import CompressorData as CompressorData
    from .prioritize import compression_matches as compression_matches

__all__ = [
    "ENV_DIR", "FILENAME", "SYSTEM_DIR", "UNCOMPRESSED", "UNKNOWN_COMPRESSION", "BlobInfoCache", "Candidate",
    "CandidateOptions", "CompressorData", "cache_dir", "cache_for", "cache_in_use", "compression_matches", "forget",
]

FILENAME = "blob-info-cache-v1.sqlite"
SYSTEM_DIR = "/var/lib/containers/cache"
ENV_DIR = "SKOPEO_BLOB_INFO_CACHE_DIR"
# Compression names beside the algorithms' own.
UNCOMPRESSED = "uncompressed"
UNKNOWN_COMPRESSION = "unknown"

# The classes load with the first cache: commands that never copy (inspect)
# import only this module.
_LAZY = {"BlobInfoCache": ".cache", "Candidate": ".prioritize", "CandidateOptions": ".prioritize",
         "CompressorData": ".prioritize", "compression_matches": ".prioritize"}

_lock = threading.Lock()
_caches: dict[str, BlobInfoCache] = {}
_memory_only: BlobInfoCache | None = None


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)


def cache_dir(override: str | None, euid: int, env: Mapping[str, str]) -> str | None:
    """The directory of the cache file (None: memory only), by upstream's rule;
    *euid* as :func:`rootless_euid` gives it."""
    if override:
        return override
    if env.get(ENV_DIR):
        return env[ENV_DIR]
    if euid == 0:
        return SYSTEM_DIR
    data = env.get("XDG_DATA_HOME", "")
    if not data:
        home = env.get("HOME", "")
        if not home:
            return None
        data = os.path.join(home, ".local", "share")
    return os.path.join(data, "containers", "cache")


def rootless_euid() -> int:
    """The user we act for: podman's rootless user namespace records the real
    one in ``$_CONTAINERS_ROOTLESS_UID`` (a bad value counts as 0, as Go's Atoi
    failing does upstream)."""
    value = os.environ.get("_CONTAINERS_ROOTLESS_UID", "")
    if value:
        try:
            return int(value)
        except ValueError:
            return 0
    return os.geteuid()


def _path(ctx: SystemContext | None) -> str | None:
    directory = cache_dir(ctx.blob_info_cache_dir if ctx is not None else None, rootless_euid(), os.environ)
    return None if directory is None else os.path.join(directory, FILENAME)


def cache_for(ctx: SystemContext | None) -> BlobInfoCache:
    """The process-wide cache *ctx* names (created on first use; the file is
    opened only when a copy uses it)."""
    global _memory_only
    path = _path(ctx)
    with _lock:
        if path is None:
            if _memory_only is None:
                from .cache import BlobInfoCache

                log.debug(f"Error determining a location for {FILENAME}, using a memory-only cache")
                _memory_only = BlobInfoCache()
            return _memory_only
        found = _caches.get(path)
        if found is None:
            from .sqlite import SqliteCache

            found = _caches[path] = SqliteCache(path)
        return found


def cache_in_use(ctx: SystemContext | None) -> BlobInfoCache | None:
    """The cache *ctx* names if a copy is using it now, else None: what a
    source sees outside a copy (``inspect`` reading a config) is not worth
    recording, as upstream's callers then pass no cache."""
    path = _path(ctx)
    with _lock:
        found = _memory_only if path is None else _caches.get(path)
    return found if found is not None and found.in_use else None


def forget() -> None:
    """Drop every cache object of this process and what they remember in memory
    (tests: a later registry may reuse a port)."""
    global _memory_only
    with _lock:
        _caches.clear()
        _memory_only = None
