"""skopeo's command tree: the root command with its global flags, and the
sub-commands, each declared as data (:class:`Command`) in its own module.

Only the module of the command being run is imported (start-up time); help,
suggestions and completion, which need every command, import them all.  Parsing,
help texts and errors are cobra's and pflag's (:mod:`.cobra`, :mod:`.pflag`)."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import __version__
from ..errors import UsageError
from .pflag import BOOL, DURATION, INT, INTSLICE, OPTBOOL, STR, STRSLICE, UINT, Flag

if TYPE_CHECKING:
    from .cobra import Command as CobraCommand
    from .cobra import Completer

__all__ = ["BOOL", "DURATION", "INT", "INTSLICE", "OPTBOOL", "STR", "STRSLICE", "UINT", "Command", "Flag", "Options"]


class Command(NamedTuple):
    """A sub-command as its module declares it."""

    name: str
    short: str
    long: str  # "" shows *short* in help, as cobra; "{transports}" lists the registered transports,
    # "{tag_transports}" those that list tags
    usage: str  # cobra's Use: the name, then what help shows after it
    flags: list[Flag]
    run: Callable[[Options], int | None]
    examples: str = ""
    hidden: bool = False
    # Upstream checks the argument count itself and prints this on a mismatch.
    arg_counts: tuple[int, ...] | None = None
    arg_error: str = ""
    # Upstream prints the command's help before a wrong-argument-count error
    # only for the commands whose handler asks for it (copy, sync, list-tags).
    help_on_arg_error: bool = False
    # Upstream's completion of positional arguments (image names for copy, delete, inspect).
    complete_image_names: bool = False
    # cobra.ExactArgs(n), checked before the global checks (experimental-image-proxy).
    exact_args: int | None = None


class Options(dict[str, Any]):
    """Parsed flag values by ``dest`` name, plus ``args`` and the globals."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# The root command's persistent flags: global flags, valid before or after the command.
GLOBAL_FLAGS = [
    Flag("debug", BOOL, "enable debug output"),
    Flag("tls-details", STR, "path to a containers-tls-details.yaml(5) file"),
    Flag("policy", STR, "Path to a trust policy file"),
    Flag("insecure-policy", BOOL, "run the tool without any policy check"),
    Flag("require-signed", BOOL, "require any pulled image to be signed"),
    Flag("registries.d", STR, "use registry configuration files in `DIR` (e.g. for container signature storage)"),
    Flag("override-arch", STR, "use `ARCH` instead of the architecture of the machine for choosing images"),
    Flag("override-os", STR, "use `OS` instead of the running OS for choosing images"),
    Flag("override-variant", STR, "use `VARIANT` instead of the running architecture variant for choosing images"),
    Flag("command-timeout", DURATION, "timeout for the command execution"),
    Flag("registries-conf", STR, "path to the registries.conf file", hidden=True),
    Flag("tmpdir", STR, "directory used to store temporary files"),
    Flag("user-agent-prefix", STR, "prefix to add to the user agent string"),
]
# The root command's own flags (before the command name only).
ROOT_FLAGS = [
    Flag("version", BOOL, "Version for Skopeo", short="v"),
    Flag("tls-verify", OPTBOOL, "Require HTTPS and verify certificates when accessing the registry", hidden=True),
]

# Upstream's order of AddCommand (suggestions for a mistyped command follow it):
# the core's commands and those of first-party plugins (plugins.FIRST_PARTY_COMMANDS).
# Commands of other plugins follow, in the order their plugins register them.
COMMAND_ORDER = (
    "copy", "delete", "generate-sigstore-key", "inspect", "layers", "login", "logout", "manifest-digest",
    "experimental-image-proxy", "sync", "standalone-sign", "standalone-verify", "list-tags",
    "untrusted-signature-dump-without-verification",
)
# The core's commands and their modules; every other command comes from a plugin.
COMMAND_MODULES = {
    "copy": "skopeo.cli.copy",
    "delete": "skopeo.cli.delete",
    "inspect": "skopeo.cli.inspect",
    "layers": "skopeo.cli.layers",  # hidden, deprecated
    "manifest-digest": "skopeo.cli.manifest_digest",
    "experimental-image-proxy": "skopeo.cli.experimental_image_proxy",  # hidden
    "sync": "skopeo.cli.sync",
    "list-tags": "skopeo.cli.list_tags",
}

ROOT_LONG = "Various operations with container images and container image registries"

# The commands upstream runs under --command-timeout's context (the others
# accept the flag and ignore it; the image proxy serves without a deadline):
# one deadline for the whole command (skopeo.deadline).
TIMED_COMMANDS = frozenset({"copy", "delete", "inspect", "layers", "list-tags", "login", "sync"})


def load_command(name: str) -> Command:
    mod = importlib.import_module(COMMAND_MODULES[name])
    cmd: Command = mod.COMMAND
    return cmd


def transport_list(separator: str = ", ", tag_listing: bool = False) -> str:
    """The registered transports, as upstream's transports.ListNames() lists them
    (with *tag_listing*, those that list tags, as list-tags names them)."""
    from .. import plugins

    try:
        names = [name for name, t in plugins.transports().items() if t.listed and (t.lists_tags or not tag_listing)]
    except Exception:  # help must work even with a broken plugin installed
        names = []
    return separator.join(sorted(names))


# --- the tree ----------------------------------------------------------------------------
def _require_subcommand(cmd: CobraCommand, args: list[str]) -> int:
    """The root's own run (upstream's requireSubcommand)."""
    path = cmd.command_path()
    if not args:
        raise UsageError(f"Missing command '{path} COMMAND'\nTry '{path} --help' for more information")
    suggestions = cmd.suggestions_for(args[0])
    if not suggestions:
        raise UsageError(f"Unrecognized command `{path} {args[0]}`\nTry '{path} --help' for more information")
    raise UsageError(f"Unrecognized command `{path} {args[0]}`\n\nDid you mean this?\n\t" + "\n\t".join(suggestions)
                     + f"\n\nTry '{path} --help' for more information")


def _before(cmd: CobraCommand, args: list[str]) -> None:
    """Upstream's PersistentPreRunE, run before any command."""
    from .. import log

    root = cmd.root()
    g = root.persistent_values
    if g["debug"]:
        log.level = log.DEBUG
    if "tls-verify" in root.values.changed:
        log.warning("'--tls-verify' is deprecated, please set this on the specific subcommand")
    if g["insecure_policy"] and g["require_signed"]:
        raise UsageError("--insecure-policy and --require-signed are mutually exclusive")


def start_deadline(name: str, globals_: Options) -> None:
    """--command-timeout, for the commands upstream runs under it."""
    timeout = globals_.command_timeout
    if timeout and timeout > 0 and name in TIMED_COMMANDS:
        from .. import deadline
        from . import last_resort

        deadline.start(timeout, last_resort)


def global_options(cmd: CobraCommand) -> Options:
    root = cmd.root()
    return Options({**root.persistent_values, **root.values})


def _sub_command(decl: Command) -> CobraCommand:
    from .cobra import Command as CobraCommand
    from .cobra import exact_args

    def run(c: CobraCommand, args: list[str]) -> int:
        opts = Options({k: v for k, v in c.values.items() if k != "help"})
        opts["args"] = args
        opts["globals"] = global_options(c)
        if decl.arg_counts is not None and len(args) not in decl.arg_counts:
            if decl.help_on_arg_error:  # upstream's errorShouldDisplayUsage
                sys.stderr.write(c.help_text())
            raise UsageError(decl.arg_error)
        start_deadline(decl.name, opts.globals)
        return int(decl.run(opts) or 0)

    def long() -> str:
        text = decl.long
        if "{transports}" in text:
            text = text.replace("{transports}", transport_list())
        if "{tag_transports}" in text:
            text = text.replace("{tag_transports}", transport_list(" ", tag_listing=True))
        return text

    complete: Completer | None = None
    if decl.complete_image_names:
        from .complete import complete_image_names

        complete = complete_image_names
    return CobraCommand(decl.usage, short=decl.short, long=long, example=decl.examples, run=run, flags=decl.flags,
                        hidden=decl.hidden, skopeo_usage=True, valid_args_function=complete,
                        args=None if decl.exact_args is None else exact_args(decl.exact_args))


def build_root() -> CobraCommand:
    from .cobra import Command as CobraCommand

    root = CobraCommand("skopeo", long=ROOT_LONG, run=_require_subcommand, flags=ROOT_FLAGS,
                        persistent_flags=GLOBAL_FLAGS, persistent_pre_run=_before, version=__version__)
    for name in COMMAND_ORDER:
        root.add_lazy(name, functools.partial(_load_sub_command, name))
    root.add_lazy_group(_other_plugin_commands)
    return root


def _load_sub_command(name: str) -> CobraCommand:
    if name in COMMAND_MODULES:
        return _sub_command(load_command(name))
    from .. import plugins

    found = plugins.plugin_command(name)
    if found is None:
        return _missing_command(name)
    from .typer_bridge import cobra_command

    return cobra_command(found)


def _other_plugin_commands() -> list[tuple[str, Callable[[], CobraCommand]]]:
    """The commands of plugins other than those upstream's tree has (names from
    the plugin index: nothing is imported until one is needed)."""
    from .. import plugins
    from ..errors import PluginError

    names = [name for name in plugins.command_names() if name not in COMMAND_ORDER]
    for name in names:
        if name in ("help", "completion", "__complete", "__completeNoDesc"):
            raise PluginError(f"a plugin registers the command {name!r}, which cobra reserves")
    taken = [name for name in plugins.command_names() if name in COMMAND_MODULES]
    if taken:
        raise PluginError(f"a plugin registers the command {taken[0]!r}, which skopeo already has")
    return [(name, functools.partial(_load_sub_command, name)) for name in names]


def _missing_command(name: str) -> CobraCommand:
    """A first-party plugin's command when the plugin is not loaded: hidden from
    help, and running it says which package provides it."""
    from .. import plugins
    from .cobra import Command as CobraCommand

    message = plugins.missing_command(name)

    def run(c: CobraCommand, args: list[str]) -> int:
        raise UsageError(message)

    return CobraCommand(name, long=message, run=run, hidden=True, skopeo_usage=True, disable_flag_parsing=True)


def write_stdout(data: bytes) -> None:
    """Write *data* to stdout as it is (raw manifests, an API result's ``to_json()``)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(data.decode("utf-8", "surrogateescape"))
    else:
        sys.stdout.flush()
        buffer.write(data)
    sys.stdout.flush()


def print_stdout(text: str) -> None:
    """Write *text* to stdout; characters standing for bytes that were not UTF-8
    (argv's surrogateescape) go out as those bytes, as Go writes them."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
    else:
        sys.stdout.flush()
        buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.flush()
