"""Command-line plumbing: flags declared once as data, turned into typer
parameters for parsing and into cobra-style help text, plus the argv rewrites
that give us cobra/pflag semantics (optional booleans, ``--flag=false``, global
flags after the sub-command).

Each command lives in its own module with a ``COMMAND`` object; only the module
of the command being run is imported, which keeps start-up short."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Optional

from ..errors import UsageError

BOOL, STR, INT, OPTBOOL, STRSLICE, INTSLICE = "bool", "string", "int", "optbool", "stringSlice", "intSlice"


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
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def parse_go_bool(flag: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f'invalid argument "{value}" for "--{flag}" flag: strconv.ParseBool: parsing "{value}": invalid syntax')


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


def normalize_bools(argv: list[str], flags: Sequence[Flag]) -> list[str]:
    """pflag semantics: ``--b=false`` for booleans, bare ``--tls-verify`` = true."""
    table = _flag_table(flags)
    out: list[str] = []
    skip_value = False
    for tok in argv:
        if skip_value:
            out.append(tok)
            skip_value = False
            continue
        if tok == "--":
            out.append(tok)
            skip_value = False
            continue
        key, eq, value = tok.partition("=")
        flag = table.get(key)
        if flag is None:
            out.append(tok)
            continue
        if flag.kind == BOOL:
            if eq:
                if parse_go_bool(flag.name, value):
                    out.append(key)
            else:
                out.append(tok)
        elif flag.kind == OPTBOOL:
            out.append(f"--{flag.name}={'true' if not eq or parse_go_bool(flag.name, value) else 'false'}")
        else:
            out.append(tok)
            skip_value = not eq and not (key.startswith("-") and not key.startswith("--") and len(key) > 2)
    return out


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


# --- parsing with typer -----------------------------------------------------------
def _typer_param(flag: Flag) -> inspect.Parameter:
    import typer

    decls = [f"--{flag.name}"] + ([f"-{flag.short}"] if flag.short else [])
    ann: Any
    if flag.kind == BOOL:
        ann, default = bool, bool(flag.default)
    elif flag.kind == INT:
        ann, default = Optional[int], flag.default  # noqa: UP045 - typer needs the typing form
    elif flag.kind in (STRSLICE, INTSLICE):
        ann, default = Optional[list[str]], None  # noqa: UP045
    else:
        ann, default = Optional[str], flag.default  # noqa: UP045
    option = typer.Option(default, *decls, help=flag.help, show_default=False, hidden=flag.hidden)
    return inspect.Parameter(flag.dest, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=ann)


# click's wording differs between versions: "No such option: --x" / "No such option '--x'."
_NO_SUCH_OPTION = re.compile(r"No such option:? '?(-[^'\s]+?)'?\.?(?:\s|$)")


def default_options(flags: Sequence[Flag]) -> Options:
    """What :func:`parse_flags` returns for an empty command line, without
    building a parser (the common case for the global flags)."""
    opts = Options({f.dest: (bool(f.default) if f.kind == BOOL else [] if f.kind in (STRSLICE, INTSLICE) else f.default)
                    for f in flags})
    opts["args"] = []
    return opts


def parse_flags(flags: Sequence[Flag], argv: list[str], prog: str) -> Options:
    """Parse *argv* against *flags* with typer; positional arguments go to ``args``."""
    import typer
    from typer.main import get_command

    result: dict[str, Any] = {}

    def collect(**kwargs: Any) -> None:
        result.update(kwargs)

    params = [
        inspect.Parameter(
            "args", inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=typer.Argument(None), annotation=Optional[list[str]],  # noqa: UP045
        )
    ] + [_typer_param(f) for f in flags]
    collect.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": []})
    app.command()(collect)
    click_cmd = get_command(app)
    try:
        click_cmd.main(argv, prog_name=prog, standalone_mode=False)
    except Exception as e:
        msg = getattr(e, "format_message", None)
        text = msg() if callable(msg) else str(e)
        unknown = _NO_SUCH_OPTION.match(text)
        if unknown:
            opt = unknown.group(1)
            text = f"unknown flag: {opt}" if opt.startswith("--") else f"unknown shorthand flag: '{opt[1:2]}' in {opt}"
        elif text.startswith("Option '") and "requires an argument" in text:
            text = f"flag needs an argument: {text.split(chr(39))[1]}"
        raise UsageError(text) from None
    opts = Options(result)
    opts["args"] = list(result.get("args") or [])
    for f in flags:
        value = opts.get(f.dest)
        if f.kind == OPTBOOL and value is not None:
            opts[f.dest] = value == "true"
        elif f.kind in (STRSLICE, INTSLICE):
            items = [part for v in (value or []) for part in v.split(",") if part != ""]
            opts[f.dest] = [int(x) for x in items] if f.kind == INTSLICE else items
    return opts


def print_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
