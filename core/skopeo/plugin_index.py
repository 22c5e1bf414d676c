"""The installed plugins (``skopeo.plugins`` entry points) and the plugin index
cache: which entry points exist and what each plugin provides (transports,
hooks, commands), so a command imports only the plugins it needs.

Entry points are read with the standard library's ``importlib.metadata``
(Python 3.11+, which the core requires: the ``importlib-metadata`` backport is
not needed), and only when the cache is stale: one file per interpreter and
sys.path, named after the state of the site directories."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from typing import Any, NamedTuple

ENTRY_POINT_GROUP = "skopeo.plugins"
# Comma-separated entry-point names to load; unset loads all, empty loads none.
ENV_PLUGINS = "SKOPEO_PLUGINS"


class EntryPoint(NamedTuple):
    name: str
    value: str  # "module" or "module:attribute"

    def load(self) -> Any:
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr else ():
            obj = getattr(obj, part)
        return obj


def _environment_key() -> str:
    """Identifies this interpreter and sys.path (one cache file per environment)."""
    return hashlib.sha256("\n".join([sys.executable, sys.version, *sys.path]).encode()).hexdigest()[:16]


def _path_fingerprint() -> str:
    """Changes whenever a distribution is installed or removed on sys.path (each
    adds or removes entries in its site directory, bumping its mtime).  An
    ``entry_points.txt`` edited in place is not noticed: reinstall instead."""
    parts = []
    for entry in sys.path:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "skopeo-py")


def _cache_file() -> str:
    return os.path.join(_cache_dir(), f"entry-points-{_environment_key()}-{_path_fingerprint()}.json")


MAX_CACHE_FILES = 16


def _drop_stale_cache_files(current: str) -> None:
    """Remove this environment's older cache files, and the oldest files of
    other environments beyond MAX_CACHE_FILES (throw-away venvs leave some)."""
    from .fsutil import remove_quietly

    prefix = f"entry-points-{_environment_key()}-"
    directory = _cache_dir()
    try:
        names = [n for n in os.listdir(directory) if n.startswith("entry-points-")]
    except OSError:
        return
    others = []
    for name in names:
        path = os.path.join(directory, name)
        if path == current:
            continue
        if name.startswith(prefix):
            remove_quietly(path)
        else:
            try:
                others.append((os.stat(path).st_mtime, path))
            except OSError:
                pass
    others.sort()
    for _, path in others[: max(0, len(others) - (MAX_CACHE_FILES - 1))]:
        remove_quietly(path)


def _scan_entry_points() -> list[EntryPoint]:
    from importlib.metadata import entry_points

    return [EntryPoint(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)]


def read_cache() -> tuple[list[EntryPoint], dict[str, Any]] | None:
    try:
        with open(_cache_file()) as f:
            data = json.load(f)
        if isinstance(data, list):  # older format: entry points only
            return [EntryPoint(n, v) for n, v in data], {}
        return [EntryPoint(n, v) for n, v in data["entry_points"]], dict(data.get("index") or {})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_cache(eps: list[EntryPoint], index: dict[str, Any]) -> None:
    path = _cache_file()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"entry_points": [[ep.name, ep.value] for ep in eps], "index": index}, f)
        os.replace(tmp, path)
        _drop_stale_cache_files(path)
    except OSError:
        pass  # a read-only home only costs the rescan


def installed_entry_points() -> list[EntryPoint]:
    """Entry points of the ``skopeo.plugins`` group.  Scanning every installed
    distribution costs about 10 ms, so the result is cached per sys.path state."""
    cached = read_cache()
    if cached is not None:
        return cached[0]
    found = _scan_entry_points()
    write_cache(found, {})
    return found


def selected_entry_points() -> list[EntryPoint]:
    eps = installed_entry_points()
    wanted = os.environ.get(ENV_PLUGINS)
    if wanted is not None:
        names = {n.strip() for n in wanted.split(",") if n.strip()}
        eps = [ep for ep in eps if ep.name in names]
    return eps
