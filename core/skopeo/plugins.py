"""Loading plugins: the built-in ones, then every ``skopeo.plugins`` entry point
(optionally restricted by ``$SKOPEO_PLUGINS``).  A plugin implementing a hook we
do not define fails loudly here, at start-up."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import InvalidReferenceError, PluginError

if TYPE_CHECKING:
    from .signature import SignatureHandler
    from .transport import ImageReference, Transport

ENTRY_POINT_GROUP = "skopeo.plugins"
# Comma-separated entry-point names to load; unset loads all, empty loads none.
ENV_PLUGINS = "SKOPEO_PLUGINS"
# Built-in features, registered exactly as an installed plugin would be.
DEFAULT_PLUGINS = ("skopeo.authfile",)

# First-party transports and the distribution that provides each.
FIRST_PARTY_TRANSPORTS = {
    "dir": "skopeo-dir",
    "oci": "skopeo-oci",
    "docker": "skopeo-docker",
    "docker-archive": "skopeo-archive",
    "oci-archive": "skopeo-archive",
    "docker-daemon": "skopeo-daemon",
    "containers-storage": "skopeo-storage",
    "ostree": "skopeo-ostree",
}

_manager: pluggy.PluginManager | None = None
_transports: dict[str, Transport] | None = None
_signature_handlers: dict[str, SignatureHandler] | None = None


@dataclass(frozen=True)
class EntryPoint:
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
            _remove(path)
        else:
            try:
                others.append((os.stat(path).st_mtime, path))
            except OSError:
                pass
    others.sort()
    for _, path in others[: max(0, len(others) - (MAX_CACHE_FILES - 1))]:
        _remove(path)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _scan_entry_points() -> list[EntryPoint]:
    from importlib.metadata import entry_points

    return [EntryPoint(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)]


def installed_entry_points() -> list[EntryPoint]:
    """Entry points of the ``skopeo.plugins`` group.  Scanning every installed
    distribution costs about 10 ms, so the result is cached per sys.path state."""
    path = _cache_file()
    try:
        with open(path) as f:
            return [EntryPoint(n, v) for n, v in json.load(f)]
    except (OSError, ValueError, TypeError):
        pass
    found = _scan_entry_points()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump([[ep.name, ep.value] for ep in found], f)
        os.replace(tmp, path)
        _drop_stale_cache_files(path)
    except OSError:
        pass  # a read-only home only costs the rescan
    return found


def _entry_points() -> list[EntryPoint]:
    eps = installed_entry_points()
    wanted = os.environ.get(ENV_PLUGINS)
    if wanted is not None:
        names = {n.strip() for n in wanted.split(",") if n.strip()}
        eps = [ep for ep in eps if ep.name in names]
    return eps


def new_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the built-ins and (optionally) every
    installed plugin.  Tests use ``load_entry_points=False`` and register their own."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for modname in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(modname), name=modname)
    if load_entry_points:
        for ep in _entry_points():
            if pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as e:  # a broken plugin must not look like a missing one
                raise PluginError(f"loading plugin {ep.name!r} ({ep.value}): {e}") from e
            pm.register(plugin, name=ep.name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginError(f"plugin {e.plugin!r} implements an unknown hook: {e}") from None
    return pm


def manager() -> pluggy.PluginManager:
    global _manager
    if _manager is None:
        _manager = new_manager()
    return _manager


def set_manager(pm: pluggy.PluginManager | None) -> None:
    """Replace the process-wide manager (tests); None reloads on next use."""
    global _manager, _transports, _signature_handlers
    _manager = pm
    _transports = None
    _signature_handlers = None


def transports() -> dict[str, Transport]:
    global _transports
    if _transports is None:
        found: dict[str, Transport] = {}

        def register(transport: Transport) -> None:
            if transport.name in found:
                raise PluginError(f"transport {transport.name!r} is registered twice")
            found[transport.name] = transport

        manager().hook.register_transports(register=register)
        _transports = found
    return _transports


def signature_handlers() -> dict[str, SignatureHandler]:
    global _signature_handlers
    if _signature_handlers is None:
        found: dict[str, SignatureHandler] = {}

        def register(handler: SignatureHandler) -> None:
            if handler.kind in found:
                raise PluginError(f"signature kind {handler.kind!r} is registered twice")
            found[handler.kind] = handler

        manager().hook.register_signature_handlers(register=register)
        _signature_handlers = found
    return _signature_handlers


def get_transport(name: str) -> Transport:
    found = transports().get(name)
    if found is not None:
        return found
    package = FIRST_PARTY_TRANSPORTS.get(name)
    if package:
        if _distribution_installed(package):
            why = f": ${ENV_PLUGINS} excludes it" if os.environ.get(ENV_PLUGINS) is not None else ""
            raise InvalidReferenceError(f'unknown transport "{name}" (the {package} plugin is installed but not loaded{why})')
        raise InvalidReferenceError(
            f'unknown transport "{name}" (the {package} plugin is not installed: pip install {package})'
        )
    raise InvalidReferenceError(f'unknown transport "{name}"')


def _distribution_installed(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True


def parse_image_name(text: str) -> ImageReference:
    """``transport:details`` → a reference, with upstream's error wording."""
    name, sep, rest = text.partition(":")
    if not sep:
        raise InvalidReferenceError(
            f'Invalid image name "{text}", expected colon-separated transport:reference'
        )
    try:
        transport = get_transport(name)
    except InvalidReferenceError as e:
        raise InvalidReferenceError(f'Invalid image name "{text}", {e.message}') from None
    return transport.parse_reference(rest)
