"""Loading plugins: the built-in ones, then every ``skopeo.plugins`` entry point
(optionally restricted by ``$SKOPEO_PLUGINS``).  A plugin implementing a hook we
do not define fails loudly here, at start-up.

Entry points, and the index of what each plugin provides, come from
:mod:`skopeo.plugin_index`.  Every hook is called through pluggy, so
``tryfirst``/``trylast`` and wrappers apply."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy

from . import hookspecs
from .errors import InvalidReferenceError, PluginError

# ENV_PLUGINS stays importable from here: plugins and their tests use it.
from .plugin_index import ENV_PLUGINS as ENV_PLUGINS
from .plugin_index import EntryPoint, installed_entry_points, read_cache, selected_entry_points, write_cache

if TYPE_CHECKING:
    from .auth import AuthProvider
    from .signature import SignatureHandler
    from .transport import ImageReference, Transport

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

# First-party commands and the distribution that provides each (install hints;
# the command line also keeps upstream's order of commands with them).
FIRST_PARTY_COMMANDS = {
    "generate-sigstore-key": "skopeo-sigstore",
    "login": "skopeo-docker",
    "logout": "skopeo-docker",
    "standalone-sign": "skopeo-gpg",
    "standalone-verify": "skopeo-gpg",
    "untrusted-signature-dump-without-verification": "skopeo-gpg",
}

# skopeo.api calls implemented by first-party plugins (register_api_calls).
FIRST_PARTY_API_CALLS = {
    "generate_sigstore_key": "skopeo-sigstore",
    "get_login": "skopeo-docker",
    "login": "skopeo-docker",
    "logout": "skopeo-docker",
    "standalone_sign": "skopeo-gpg",
    "standalone_verify": "skopeo-gpg",
    "untrusted_signature_dump": "skopeo-gpg",
}

_signature_handlers: dict[str, SignatureHandler] | None = None
_auth_providers: list[AuthProvider] | None = None
_api_calls: dict[str, Callable[..., Any]] | None = None


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
        pm.unregister(plugin)
        raise PluginError(f"plugin {e.plugin!r} implements an unknown hook: {e}") from None
    return plugin


def new_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the built-ins and (optionally) every
    installed plugin.  Tests use ``load_entry_points=False`` and register their own."""
    pm = _base_manager()
    if load_entry_points:
        for ep in selected_entry_points():
            _load_into(pm, ep)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginError(f"plugin {e.plugin!r} implements an unknown hook: {e}") from None
    return pm


def _call_for(pm: pluggy.PluginManager, hook: str, plugin: Any, **kwargs: Any) -> list[Any]:
    """Call *hook* for one *plugin* through pluggy (``subset_hook_caller``): its
    implementation as it was marked, inside every loaded wrapper of the hook."""
    caller = getattr(pm.hook, hook)
    wrappers = {id(impl.plugin) for impl in caller.get_hookimpls() if impl.hookwrapper or impl.wrapper}
    others = [p for p in pm.get_plugins() if p is not plugin and id(p) not in wrappers]
    result: list[Any] = pm.subset_hook_caller(hook, others)(**kwargs)
    return result


def _implementations(pm: pluggy.PluginManager, hook: str) -> list[Any]:
    """The plugins implementing *hook* (not merely wrapping it), in the order
    pluggy calls them: tryfirst ones first, trylast ones last, else the most
    recently registered first."""
    caller = getattr(pm.hook, hook)
    return [impl.plugin for impl in reversed(caller.get_hookimpls()) if not (impl.wrapper or impl.hookwrapper)]


def _in_call_order(pm: pluggy.PluginManager, hook: str, named: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Those of the (name, plugin) pairs that implement *hook*, in pluggy's order."""
    order = {id(plugin): i for i, plugin in enumerate(_implementations(pm, hook))}
    return sorted((pair for pair in named if id(pair[1]) in order), key=lambda pair: order[id(pair[1])])


class PluginCommand(NamedTuple):
    """A command a plugin registered: its name, the plugin's name, the
    ``typer.Typer`` holding it and typer's ``CommandInfo`` for it."""

    name: str
    plugin: str
    app: Any
    info: Any


def typer_command_name(info: Any) -> str:
    """The name typer gives a registered command (its own, else the function's)."""
    return str(info.name or info.callback.__name__.lower().replace("_", "-"))


class _Lazy:
    """The process-wide manager, loading entry points on demand.

    Importing every plugin costs start-up time a command that uses one
    transport should not pay.  After one full load the cache records, per
    plugin, the hooks it implements (and wraps), the transports it registers
    and, once they were asked for, its commands; later processes then load only
    the plugins a lookup or hook call needs.  A new or changed installation
    invalidates the cache, so the first run after it loads everything and an
    unknown hook still fails at start-up."""

    def __init__(self, pm: pluggy.PluginManager, pending: list[EntryPoint], index: dict[str, Any]) -> None:
        self.pm = pm
        self.pending = {ep.name: ep for ep in pending}
        self.index = index
        self.all_loaded = not self.pending
        self._transports: dict[str, Transport] | None = None
        self._commands: dict[str, PluginCommand] = {}
        self._commands_collected: set[int] = set()  # ids of plugins whose register_commands ran
        # Threads of one copy or sync may look transports up concurrently.
        self.lock = threading.RLock()
        # The error of a plugin that failed to load: every later use raises it
        # (a broken installation stays loud; help catches it to still print).
        self.failed: PluginError | None = None

    @property
    def transports(self) -> dict[str, Transport]:
        # Transports of the plugins registered before we took over (built-ins,
        # or a test's manager), collected on first use.
        if self._transports is None:
            self._transports = {}
            for _, plugin in _in_call_order(self.pm, "register_transports", self.pm.list_name_plugin()):
                self._register_transports_of(plugin)
        return self._transports

    def _register_transports_of(self, plugin: Any) -> list[str]:
        names: list[str] = []

        def register(transport: Transport) -> None:
            if transport.name in self.transports:
                raise PluginError(f"transport {transport.name!r} is registered twice")
            self.transports[transport.name] = transport
            names.append(transport.name)

        _call_for(self.pm, "register_transports", plugin, register=register)
        return names

    def load(self, names: list[str]) -> None:
        with self.lock:
            self._load(names)

    def _load(self, names: list[str]) -> None:
        _ = self.transports  # collect the already-registered plugins' transports first
        loaded = []
        failed: PluginError | None = None
        for name in names:
            ep = self.pending.get(name)
            if ep is None:
                continue
            try:
                loaded.append((name, _load_into(self.pm, ep)))
            except PluginError as e:  # raised below, once the others are registered
                failed = failed or e
                continue
            del self.pending[name]
        transports_ = {name: self._register_transports_of(plugin)
                       for name, plugin in _in_call_order(self.pm, "register_transports", loaded)}
        changed = False
        for name, plugin in loaded:
            callers = self.pm.get_hookcallers(plugin) or []
            entry: dict[str, Any] = {
                "hooks": sorted(c.name for c in callers),
                "wrappers": sorted(c.name for c in callers
                                   if any(i.plugin is plugin and (i.wrapper or i.hookwrapper) for i in c.get_hookimpls())),
                "transports": transports_.get(name, []),
            }
            if "commands" in self.index.get(name, {}):
                entry["commands"] = self.index[name]["commands"]
            if self.index.get(name) != entry:
                self.index[name] = entry
                changed = True
        self.all_loaded = not self.pending
        if changed:
            self._save()
        if failed is not None:
            # Raised once the plugins that did load are registered in full.
            self.failed = failed
            raise failed

    def _check(self) -> None:
        if self.failed is not None:
            raise self.failed

    def _save(self) -> None:
        if os.environ.get(ENV_PLUGINS) is None:
            write_cache(installed_entry_points(), self.index)

    def load_all(self) -> None:
        with self.lock:
            self._check()
            if not self.all_loaded:
                self._load(list(self.pending))

    def _known(self, what: str = "hooks") -> bool:
        """Whether the index says *what* of every pending plugin (commands are
        known only for the plugins implementing register_commands)."""
        if what == "commands":
            return all("commands" in self.index[n] for n in self.pending
                       if n in self.index and "register_commands" in self.index[n].get("hooks", []))
        return all(name in self.index for name in self.pending)

    def _wrapping(self, hook: str) -> list[str]:
        return [n for n in self.pending if hook in self.index[n].get("wrappers", [])]

    def for_hook(self, hook: str) -> pluggy.PluginManager:
        with self.lock:
            self._check()
            if not self.all_loaded:
                if self._known():
                    self._load([n for n in list(self.pending) if hook in self.index[n].get("hooks", [])])
                else:
                    self._load(list(self.pending))
        return self.pm

    def transport(self, name: str) -> Transport | None:
        with self.lock:
            self._check()
            if name not in self.transports and not self.all_loaded:
                if self._known():
                    self._load([n for n in list(self.pending) if name in self.index[n].get("transports", [])]
                               + self._wrapping("register_transports"))
                else:
                    self._load(list(self.pending))
            return self.transports.get(name)

    # --- commands ------------------------------------------------------------------------
    def command_names(self) -> list[str]:
        """Names of every plugin command, without importing any plugin when the
        index knows them."""
        with self.lock:
            self._check()
            names = dict.fromkeys(self._commands)
            for plugin_name, plugin in _in_call_order(self.pm, "register_commands", self.pm.list_name_plugin()):
                if id(plugin) in self._commands_collected:
                    continue
                if "commands" not in self.index.get(plugin_name, {}):
                    return list(self.commands(None))
                names.update(dict.fromkeys(self.index[plugin_name]["commands"]))
            if not (self._known() and self._known("commands")):
                return list(self.commands(None))
            for n in self.pending:
                names.update(dict.fromkeys(self.index[n].get("commands", [])))
            return list(names)

    def commands(self, name: str | None) -> dict[str, PluginCommand]:
        """The plugin commands, with at least the plugin providing *name* (every
        plugin with commands when None) loaded and its commands collected."""
        with self.lock:
            self._check()
            if not self.all_loaded and (name is None or name not in self._commands):
                if not self._known():
                    self._load(list(self.pending))
                else:
                    with_commands = [n for n in self.pending if "register_commands" in self.index[n].get("hooks", [])]
                    if name is not None and self._known("commands"):
                        with_commands = [n for n in with_commands if name in self.index[n].get("commands", [])]
                    self._load(with_commands + self._wrapping("register_commands"))
            self._collect_commands()
            return self._commands

    def _collect_commands(self) -> None:
        changed = False
        for plugin_name, plugin in _in_call_order(self.pm, "register_commands", self.pm.list_name_plugin()):
            if id(plugin) in self._commands_collected:
                continue
            self._commands_collected.add(id(plugin))
            names: list[str] = []

            def register(app: Any, plugin_name: str = plugin_name, names: list[str] = names) -> None:
                infos = getattr(app, "registered_commands", None)
                if infos is None:
                    raise PluginError(f"plugin {plugin_name!r}: register_commands expects a typer.Typer, not {app!r}")
                for info in infos:
                    command = PluginCommand(typer_command_name(info), plugin_name, app, info)
                    if command.name in self._commands:
                        raise PluginError(f"command {command.name!r} is registered twice")
                    self._commands[command.name] = command
                    names.append(command.name)

            _call_for(self.pm, "register_commands", plugin, register=register)
            if plugin_name in self.index and self.index[plugin_name].get("commands") != names:
                self.index[plugin_name]["commands"] = names
                changed = True
        if changed:
            self._save()


_lazy: _Lazy | None = None


_state_lock = threading.Lock()


def _state() -> _Lazy:
    global _lazy
    if _lazy is None:
        with _state_lock:
            if _lazy is None:
                cached = read_cache()
                index = cached[1] if cached is not None else {}
                _lazy = _Lazy(_base_manager(), selected_entry_points(), index)
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
    global _lazy, _signature_handlers, _auth_providers, _api_calls
    _lazy = None if pm is None else _Lazy(pm, [], {})
    _signature_handlers = None
    _auth_providers = None
    _api_calls = None


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


def auth_providers() -> list[AuthProvider]:
    """The credential providers in the order they are asked (pluggy's order of
    ``register_auth_providers``: tryfirst, then the newest plugin first, trylast)."""
    global _auth_providers
    if _auth_providers is None:
        found: list[AuthProvider] = []
        hook_manager("register_auth_providers").hook.register_auth_providers(register=found.append)
        _auth_providers = found
    return _auth_providers


def deferred(module: str, function: str) -> Callable[..., Any]:
    """*function* of *module*, imported when first called: what a plugin
    registers for an API call, so that registering loads nothing heavy
    (``register("login", deferred(__name__ + ".login", "login"))``)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), function)(*args, **kwargs)

    call.__name__ = call.__qualname__ = function
    call.__doc__ = f"{module}.{function}, imported when first called."
    return call


def api_call(name: str) -> Callable[..., Any]:
    """The plugin function behind ``skopeo.api.<name>`` (loads the plugins
    implementing ``register_api_calls``); PluginError naming the package to
    install when none provides it."""
    global _api_calls
    if _api_calls is None:
        found: dict[str, Callable[..., Any]] = {}

        def register(call: str, function: Callable[..., Any]) -> None:
            if call in found:
                raise PluginError(f"the API call {call!r} is registered twice")
            found[call] = function

        hook_manager("register_api_calls").hook.register_api_calls(register=register)
        _api_calls = found
    function = _api_calls.get(name)
    if function is None:
        package = FIRST_PARTY_API_CALLS.get(name)
        raise PluginError(f"{name} needs a plugin that provides it" + (f" ({_not_loaded(package)})" if package else ""))
    return function


def command_names() -> list[str]:
    """The names of every plugin command (from the plugin index when it knows
    them: no plugin is imported)."""
    return _state().command_names()


def plugin_command(name: str) -> PluginCommand | None:
    """The plugin command *name* (loads only the plugin providing it when the
    index knows it), or None."""
    return _state().commands(name).get(name)


def plugin_commands() -> dict[str, PluginCommand]:
    """Every plugin command (loads every plugin that has commands)."""
    return _state().commands(None)


def _not_loaded(package: str) -> str:
    """Why a first-party plugin's feature is missing, and what to do."""
    if _distribution_installed(package):
        why = f": ${ENV_PLUGINS} excludes it" if os.environ.get(ENV_PLUGINS) is not None else ""
        return f"the {package} plugin is installed but not loaded{why}"
    return f"the {package} plugin is not installed: pip install {package}"


def missing_command(name: str) -> str:
    """The error for a command no loaded plugin provides."""
    package = FIRST_PARTY_COMMANDS.get(name)
    return f'unknown command "{name}" ({_not_loaded(package)})' if package else f'unknown command "{name}"'


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
        raise InvalidReferenceError(f'unknown transport "{name}" ({_not_loaded(package)})')
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
