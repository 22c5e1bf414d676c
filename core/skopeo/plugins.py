"""Loading plugins: the built-in ones, then every ``skopeo.plugins`` entry point
(optionally restricted by ``$SKOPEO_PLUGINS``).  A plugin implementing a hook we
do not define fails loudly here, at start-up."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, NamedTuple

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

# First-party transports and the distribution that provides each: a catalogue
# for install hints about transports that are not loaded (and so cannot say
# anything about themselves), and for list-tags to tell them from a host name.
FIRST_PARTY_TRANSPORTS = {
    "dir": "skopeo-dir",
    "oci": "skopeo-oci",
    "docker": "skopeo-docker",
    "docker-archive": "skopeo-archive",
    "oci-archive": "skopeo-archive",
    "docker-daemon": "skopeo-daemon",
    "containers-storage": "skopeo-storage",
    "ostree": "skopeo-ostree",
    "sif": "skopeo-sif",
    "tarball": "skopeo-tarball",
}

_signature_handlers: dict[str, SignatureHandler] | None = None


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


def _read_cache() -> tuple[list[EntryPoint], dict[str, Any]] | None:
    try:
        with open(_cache_file()) as f:
            data = json.load(f)
        if isinstance(data, list):  # older format: entry points only
            return [EntryPoint(n, v) for n, v in data], {}
        return [EntryPoint(n, v) for n, v in data["entry_points"]], dict(data.get("index") or {})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _write_cache(eps: list[EntryPoint], index: dict[str, Any]) -> None:
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
    cached = _read_cache()
    if cached is not None:
        return cached[0]
    found = _scan_entry_points()
    _write_cache(found, {})
    return found


def _entry_points() -> list[EntryPoint]:
    eps = installed_entry_points()
    wanted = os.environ.get(ENV_PLUGINS)
    if wanted is not None:
        names = {n.strip() for n in wanted.split(",") if n.strip()}
        eps = [ep for ep in eps if ep.name in names]
    return eps


def _base_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for modname in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(modname), name=modname)
    return pm


def _load_into(pm: pluggy.PluginManager, ep: EntryPoint) -> Any:
    if pm.has_plugin(ep.name):
        return pm.get_plugin(ep.name)
    try:
        plugin = ep.load()
    except Exception as e:  # a broken plugin must not look like a missing one
        raise PluginError(f"loading plugin {ep.name!r} ({ep.value}): {e}") from e
    pm.register(plugin, name=ep.name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginError(f"plugin {e.plugin!r} implements an unknown hook: {e}") from None
    return plugin


def new_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the built-ins and (optionally) every
    installed plugin.  Tests use ``load_entry_points=False`` and register their own."""
    pm = _base_manager()
    if load_entry_points:
        for ep in _entry_points():
            _load_into(pm, ep)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginError(f"plugin {e.plugin!r} implements an unknown hook: {e}") from None
    return pm


class _Lazy:
    """The process-wide manager, loading entry points on demand.

    Importing every plugin costs start-up time a command that uses one
    transport should not pay.  After one full load the cache records, per
    plugin, the hooks it implements and the transports it registers; later
    processes then load only the plugins a lookup or hook call needs.  A new
    or changed installation invalidates the cache, so the first run after it
    loads everything and an unknown hook still fails at start-up."""

    def __init__(self, pm: pluggy.PluginManager, pending: list[EntryPoint], index: dict[str, Any]) -> None:
        self.pm = pm
        self.pending = {ep.name: ep for ep in pending}
        self.index = index
        self.all_loaded = not self.pending
        self._transports: dict[str, Transport] | None = None
        # Threads of one copy or sync may look transports up concurrently.
        self.lock = threading.RLock()

    @property
    def transports(self) -> dict[str, Transport]:
        # Transports of the plugins registered before we took over (built-ins,
        # or a test's manager), collected on first use.
        if self._transports is None:
            self._transports = {}
            self._register_transports_of([p for _, p in self.pm.list_name_plugin()])
        return self._transports

    def _register_transports_of(self, plugins_: list[Any]) -> list[str]:
        names: list[str] = []

        def register(transport: Transport) -> None:
            if transport.name in self.transports:
                raise PluginError(f"transport {transport.name!r} is registered twice")
            self.transports[transport.name] = transport
            names.append(transport.name)

        for plugin in plugins_:
            impl = getattr(plugin, "register_transports", None)
            if impl is not None and callable(impl):
                impl(register=register)
        return names

    def load(self, names: list[str]) -> None:
        with self.lock:
            self._load(names)

    def _load(self, names: list[str]) -> None:
        _ = self.transports  # collect the already-registered plugins' transports first
        changed = False
        for name in names:
            ep = self.pending.pop(name, None)
            if ep is None:
                continue
            plugin = _load_into(self.pm, ep)
            transports_ = self._register_transports_of([plugin])
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            entry = {"hooks": hooks, "transports": transports_}
            if self.index.get(name) != entry:
                self.index[name] = entry
                changed = True
        self.all_loaded = not self.pending
        if changed and os.environ.get(ENV_PLUGINS) is None:
            _write_cache(installed_entry_points(), self.index)

    def load_all(self) -> None:
        with self.lock:
            if not self.all_loaded:
                self._load(list(self.pending))

    def _known(self) -> bool:
        return all(name in self.index for name in self.pending)

    def for_hook(self, hook: str) -> pluggy.PluginManager:
        with self.lock:
            if not self.all_loaded:
                if self._known():
                    self._load([n for n in list(self.pending) if hook in self.index[n].get("hooks", [])])
                else:
                    self._load(list(self.pending))
        return self.pm

    def transport(self, name: str) -> Transport | None:
        with self.lock:
            if name not in self.transports and not self.all_loaded:
                if self._known():
                    self._load([n for n in list(self.pending) if name in self.index[n].get("transports", [])])
                else:
                    self._load(list(self.pending))
            return self.transports.get(name)


_lazy: _Lazy | None = None


_state_lock = threading.Lock()


def _state() -> _Lazy:
    global _lazy
    if _lazy is None:
        with _state_lock:
            if _lazy is None:
                cached = _read_cache()
                index = cached[1] if cached is not None else {}
                _lazy = _Lazy(_base_manager(), _entry_points(), index)
    return _lazy


def manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every plugin loaded."""
    state = _state()
    state.load_all()
    return state.pm


def hook_manager(hook: str) -> pluggy.PluginManager:
    """The manager with at least the plugins implementing *hook* loaded."""
    return _state().for_hook(hook)


def set_manager(pm: pluggy.PluginManager | None) -> None:
    """Replace the process-wide manager (tests); None reloads on next use."""
    global _lazy, _signature_handlers
    _lazy = None if pm is None else _Lazy(pm, [], {})
    _signature_handlers = None


def transports() -> dict[str, Transport]:
    """Every transport of every loaded plugin (loads them all)."""
    state = _state()
    state.load_all()
    return state.transports


def signature_handlers() -> dict[str, SignatureHandler]:
    global _signature_handlers
    if _signature_handlers is None:
        found: dict[str, SignatureHandler] = {}

        def register(handler: SignatureHandler) -> None:
            if handler.kind in found:
                raise PluginError(f"signature kind {handler.kind!r} is registered twice")
            found[handler.kind] = handler

        hook_manager("register_signature_handlers").hook.register_signature_handlers(register=register)
        _signature_handlers = found
    return _signature_handlers


def find_transport(name: str) -> Transport | None:
    """The transport called *name*, or None (loads only the plugin providing it
    when the plugin index is known)."""
    return _state().transport(name)


def get_transport(name: str) -> Transport:
    found = _state().transport(name)
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


def first_party_installed(name: str) -> bool:
    """Whether the first-party distribution providing transport *name* is
    installed (loaded or not)."""
    package = FIRST_PARTY_TRANSPORTS.get(name)
    return package is not None and _distribution_installed(package)


def unsupported_tag_listing(name: str) -> str:
    """Upstream's message for a transport that cannot list tags; it names the
    transports that can (upstream lists its handlers the same way)."""
    listers = sorted(n for n, t in transports().items() if t.lists_tags)
    return f"Unsupported transport '{name}' for tag listing. Only supported: {', '.join(listers)}"


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
