"""Command-line plumbing: flags declared once as data, parsed with pflag's
grammar (optional booleans, ``--flag=false``, ``-uNAME``, global flags after the
sub-command) and printed as cobra-style help text.

Each command lives in its own module with a ``COMMAND`` object; only the module
of the command being run is imported, which keeps start-up short."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..errors import UsageError
from ..golang.strconv import NumError, atoi, parse_bool, parse_int

BOOL, STR, INT, UINT, OPTBOOL, STRSLICE, INTSLICE = "bool", "string", "int", "uint", "optbool", "stringSlice", "intSlice"


# NamedTuples rather than dataclasses: these classes are built at every start-up
# and a NamedTuple costs a fifth of a frozen dataclass to define.
class Flag(NamedTuple):
    name: str  # long name without dashes
    kind: str = STR
    help: str = ""
    short: str = ""
    metavar: str = ""
    default: Any = None
    hidden: bool = False

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_").replace(".", "_")

    def usage(self) -> str:
        short = f"-{self.short}, " if self.short else "    "
        meta = "" if self.kind in (BOOL, OPTBOOL) else " " + (self.metavar or self.kind)
        return f"  {short}--{self.name}{meta}"


class Command(NamedTuple):
    name: str
    short: str
    long: str
    usage: str
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


class Options(dict[str, Any]):
    """Parsed flag values by ``dest`` name, plus ``args`` and the globals."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# Global flags (cobra "persistent" flags of the root command).
GLOBAL_FLAGS = [
    Flag("command-timeout", STR, "timeout for the command execution", metavar="duration"),
    Flag("debug", BOOL, "enable debug output"),
    Flag("insecure-policy", BOOL, "run the tool without any policy check"),
    Flag("override-arch", STR, "use ARCH instead of the architecture of the machine for choosing images", metavar="ARCH"),
    Flag("override-os", STR, "use OS instead of the running OS for choosing images", metavar="OS"),
    Flag("override-variant", STR, "use VARIANT instead of the running architecture variant for choosing images", metavar="VARIANT"),
    Flag("policy", STR, "Path to a trust policy file"),
    Flag("registries.d", STR, "use registry configuration files in DIR (e.g. for container signature storage)", metavar="DIR"),
    Flag("registries-conf", STR, "path to the registries.conf file", metavar="PATH", hidden=True),
    Flag("require-signed", BOOL, "require any pulled image to be signed"),
    Flag("tls-details", STR, "path to a containers-tls-details.yaml(5) file"),
    Flag("tmpdir", STR, "directory used to store temporary files"),
    Flag("user-agent-prefix", STR, "prefix to add to the user agent string"),
    Flag("tls-verify", OPTBOOL, "require HTTPS and verify certificates when accessing the registry", hidden=True),
    Flag("version", BOOL, "Version for Skopeo", short="v"),
]

COMMAND_MODULES = {
    "copy": "skopeo.cli.copy",
    "inspect": "skopeo.cli.inspect",
    "manifest-digest": "skopeo.cli.manifest_digest",
    "sync": "skopeo.cli.sync",
    # Registry commands (the docker transport plugin does the work).
    "delete": "skopeo.cli.delete",
    "list-tags": "skopeo.cli.list_tags",
    "login": "skopeo.cli.login",
    "logout": "skopeo.cli.logout",
    # Signing commands (the skopeo-gpg / skopeo-sigstore plugins do the work).
    "standalone-sign": "skopeo.cli.standalone_sign",
    "standalone-verify": "skopeo.cli.standalone_verify",
    "untrusted-signature-dump-without-verification": "skopeo.cli.untrusted_signature_dump",
    "generate-sigstore-key": "skopeo.cli.generate_sigstore_key",
    "completion": "skopeo.cli.completion",
    # Hidden, as upstream.
    "experimental-image-proxy": "skopeo.cli.experimental_image_proxy",
    "layers": "skopeo.cli.layers",
}

ROOT_LONG = "Various operations with container images and container image registries"


def register_command_module(name: str, module: str) -> None:
    """Commands implemented elsewhere add themselves here (one line each)."""
    COMMAND_MODULES[name] = module


def load_command(name: str) -> Command:
    mod = importlib.import_module(COMMAND_MODULES[name])
    cmd: Command = mod.COMMAND
    return cmd


# --- argv rewriting --------------------------------------------------------------

def _flag_table(flags: Sequence[Flag]) -> dict[str, Flag]:
    table: dict[str, Flag] = {}
    for f in flags:
        table["--" + f.name] = f
        if f.short:
            table["-" + f.short] = f
    return table


def split_global(argv: list[str], command_flags: Sequence[Flag]) -> tuple[list[str], list[str]]:
    """Separate global flags (wherever they appear) from the command's own
    arguments; a flag defined by both belongs to the command."""
    gtable = _flag_table(GLOBAL_FLAGS)
    ctable = _flag_table(command_flags)
    globals_: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            rest.extend(argv[i:])
            break
        key = tok.split("=", 1)[0]
        flag = gtable.get(key)
        if flag is not None and key not in ctable:
            globals_.append(tok)
            if flag.kind not in (BOOL, OPTBOOL) and "=" not in tok and i + 1 < len(argv):
                globals_.append(argv[i + 1])
                i += 1
        else:
            rest.append(tok)
        i += 1
    return globals_, rest


# Every command's -h/--help (cobra adds it to each command).
HELP_FLAG = Flag("help", BOOL, "help", short="h", hidden=True)


# --- help -------------------------------------------------------------------------
def _flag_lines(flags: Sequence[Flag], help_name: str) -> str:
    visible = [f for f in flags if not f.hidden] + [Flag("help", BOOL, f"help for {help_name}", short="h")]
    visible.sort(key=lambda f: f.name)
    width = max(len(f.usage()) for f in visible) + 3
    return "\n".join(f"{f.usage().ljust(width)}{f.help}" for f in visible)


def _transport_list() -> str:
    from .. import plugins

    try:
        names = [name for name, t in plugins.transports().items() if t.listed]
    except Exception:  # help must work even with a broken plugin installed
        names = []
    return ", ".join(sorted(names))


def command_help(cmd: Command) -> str:
    long = cmd.long.replace("{transports}", _transport_list()) if "{transports}" in cmd.long else cmd.long
    parts = [long or cmd.short, "", "Usage:", f"  skopeo {cmd.usage}", ""]
    if cmd.examples:
        parts += ["Examples:", cmd.examples, ""]
    parts += ["Flags:", _flag_lines(cmd.flags, cmd.name), ""]
    return "\n".join(parts)


def root_help() -> str:
    names = sorted([*COMMAND_MODULES, "help"])
    # cobra pads to the longest command name, hidden ones included.
    pad = max(11, *(len(n) for n in names)) + 1
    lines = []
    for name in names:
        if name == "help":
            short = "Help about any command"
        else:
            cmd = load_command(name)
            if cmd.hidden:
                continue
            short = cmd.short
        lines.append(f"  {name.ljust(pad)}{short}")
    return "\n".join(
        [ROOT_LONG, "", "Usage:", "  skopeo [flags]", "  skopeo [command]", "", "Available Commands:", *lines, "",
         "Flags:", _flag_lines(GLOBAL_FLAGS, "skopeo"), "",
         'Use "skopeo [command] --help" for more information about a command.', ""]
    )


# --- parsing ----------------------------------------------------------------------
# pflag's grammar, implemented here rather than through typer/click: their
# semantics differ (optional-value booleans, ``--flag=false``, ``-uVALUE``,
# error wording), and importing them would cost ~12 ms on every run.
def default_options(flags: Sequence[Flag]) -> Options:
    """What :func:`parse_flags` returns for an empty command line."""
    opts = Options({f.dest: (bool(f.default) if f.kind == BOOL else [] if f.kind in (STRSLICE, INTSLICE) else f.default)
                    for f in flags})
    opts["args"] = []
    return opts


def _display_name(flag: Flag) -> str:
    return f"-{flag.short}, --{flag.name}" if flag.short else f"--{flag.name}"


def _parse_go_int(flag: Flag, value: str, unsigned: bool) -> int:
    try:
        return parse_int(value, unsigned)
    except NumError as e:
        raise UsageError(f'invalid argument "{value}" for "{_display_name(flag)}" flag: {e}') from None


def _set(opts: Options, flag: Flag, value: str | None) -> None:
    """Store one occurrence of *flag* (``None``: a boolean given without a value)."""
    kind = flag.kind
    if kind in (BOOL, OPTBOOL):
        try:
            opts[flag.dest] = True if value is None else parse_bool(value)
        except NumError as e:
            raise UsageError(f'invalid argument "{value}" for "{_display_name(flag)}" flag: {e}') from None
    elif kind in (INT, UINT):
        opts[flag.dest] = _parse_go_int(flag, value or "", kind == UINT)
    elif kind == STRSLICE:
        opts[flag.dest].extend(part for part in (value or "").split(",") if part != "")
    elif kind == INTSLICE:  # pflag's intSlice: strconv.Atoi on every comma-separated part
        for part in (value or "").split(","):
            try:
                opts[flag.dest].append(atoi(part))
            except NumError as e:
                raise UsageError(f'invalid argument "{value}" for "{_display_name(flag)}" flag: {e}') from None
    else:
        opts[flag.dest] = value


def parse_flags(flags: Sequence[Flag], argv: list[str]) -> Options:
    """Parse *argv* against *flags* as pflag does (interspersed flags and
    arguments, ``--`` ends flags); positional arguments go to ``args``."""
    table = _flag_table(flags)
    opts = default_options(flags)
    for f in flags:
        if f.kind in (STRSLICE, INTSLICE):
            opts[f.dest] = []  # a fresh list: _set extends it
    args: list[str] = opts["args"]
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok == "--":
            args.extend(argv[i:])
            break
        if not tok.startswith("-") or tok == "-":
            args.append(tok)
            continue
        if tok.startswith("--"):
            name, eq, value = tok.partition("=")
            flag = table.get(name)
            if flag is None:
                raise UsageError(f"unknown flag: {name}")
            if eq:
                _set(opts, flag, value)
            elif flag.kind in (BOOL, OPTBOOL):
                _set(opts, flag, None)
            elif i < len(argv):
                _set(opts, flag, argv[i])
                i += 1
            else:
                raise UsageError(f"flag needs an argument: {name}")
            continue
        # Shorthands: "-abc" is "-a -b -c"; a flag taking a value takes the rest
        # of the token ("-uNAME", "-u=NAME") or else the next argument.
        rest = tok[1:]
        while rest:
            # pflag names the unparsed tail in its errors: "'x' in -x" for "-qx".
            tail = "-" + rest
            char, rest = rest[0], rest[1:]
            flag = table.get("-" + char)
            if flag is None:
                raise UsageError(f"unknown shorthand flag: '{char}' in {tail}")
            if rest.startswith("="):
                _set(opts, flag, rest[1:])
                break
            if flag.kind in (BOOL, OPTBOOL):
                _set(opts, flag, None)
            elif rest:
                _set(opts, flag, rest)
                break
            elif i < len(argv):
                _set(opts, flag, argv[i])
                i += 1
            else:
                raise UsageError(f"flag needs an argument: '{char}' in {tail}")
    return opts


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
