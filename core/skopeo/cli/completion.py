"""``skopeo completion SHELL`` (hidden, as upstream's): shell completion of
commands, flags and image names, through typer.

The script it prints asks the program itself for candidates: the shell runs
``skopeo`` with ``_SKOPEO_COMPLETE`` set, which :func:`skopeo.cli.entry` hands
to :func:`complete`.  The typer application is built from the same flag data
as the parser and the help text, so the three cannot disagree; it is only
built here, never on a normal run (importing typer costs ~12 ms)."""

from __future__ import annotations

import inspect
import os
from typing import TYPE_CHECKING, Any, Optional

from ..errors import UsageError
from .app import BOOL, COMMAND_MODULES, GLOBAL_FLAGS, INT, INTSLICE, OPTBOOL, STRSLICE, UINT, Command, Flag, Options, load_command

if TYPE_CHECKING:
    import click

COMPLETE_VAR = "_SKOPEO_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


def _typer_parameter(flag: Flag) -> inspect.Parameter:
    import typer

    decls = [f"--{flag.name}"] + ([f"-{flag.short}"] if flag.short else [])
    annotation: Any
    if flag.kind in (BOOL, OPTBOOL):
        annotation, default = bool, bool(flag.default)
    elif flag.kind in (INT, UINT):
        annotation, default = Optional[int], flag.default  # noqa: UP045 - typer needs the typing form
    elif flag.kind in (STRSLICE, INTSLICE):
        annotation, default = Optional[list[str]], None  # noqa: UP045
    else:
        annotation, default = Optional[str], flag.default  # noqa: UP045
    option = typer.Option(default, *decls, help=flag.help, show_default=False, hidden=flag.hidden)
    return inspect.Parameter(flag.dest, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


def complete_image_name(incomplete: str) -> list[str]:
    """``TRANSPORT:`` prefixes, then paths for the local transports."""
    from .. import plugins

    transports = plugins.transports()
    for prefix in (f"{name}:" for name, t in transports.items() if t.path_references):
        if incomplete.startswith(prefix):
            path = incomplete[len(prefix):]
            directory, _, stem = path.rpartition("/")
            try:
                names = sorted(os.listdir(directory or "."))
            except OSError:
                return []
            base = f"{directory}/" if directory else ""
            return [f"{prefix}{base}{n}{'/' if os.path.isdir(os.path.join(directory or '.', n)) else ''}"
                    for n in names if n.startswith(stem)]
    names = sorted(f"{name}:{t.reference_prefix}" for name, t in transports.items() if t.listed)
    return [n for n in names if n.startswith(incomplete)]


def _command_function(flags: list[Flag], positional: bool) -> Any:
    import typer

    def accept(**kwargs: Any) -> None:  # completion never runs the command
        return None

    params = [_typer_parameter(f) for f in flags]
    if positional:
        params.insert(0, inspect.Parameter(
            "args", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[list[str]],  # noqa: UP045
            default=typer.Argument(None, autocompletion=complete_image_name),
        ))
    accept.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return accept


def click_group() -> click.Group:
    """Every visible command with its flags (global flags on the group)."""
    import typer
    from typer.main import get_group

    app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
    app.callback()(_command_function(GLOBAL_FLAGS, positional=False))
    for name in sorted(COMMAND_MODULES):
        cmd: Command = load_command(name)
        if cmd.hidden:
            continue
        app.command(name, help=cmd.short)(_command_function(cmd.flags, positional=True))
    return get_group(app)


def complete(instruction: str) -> int:
    """Answer the shell (``bash_complete``, ``zsh_source``, …) as click does."""
    from click.shell_completion import shell_complete

    return int(shell_complete(click_group(), {}, "skopeo", COMPLETE_VAR, instruction))


def run(opts: Options) -> int:
    shell = opts.args[0]
    if shell not in SHELLS:
        raise UsageError(f'unsupported shell "{shell}": choose one of {", ".join(SHELLS)}')
    return complete(f"{shell}_source")


COMMAND = Command(
    name="completion",
    short="Generate the autocompletion script for the specified shell",
    long=("Generate the autocompletion script for skopeo for the specified shell (bash, zsh or fish).\n"
          "For example, in bash: source <(skopeo completion bash)"),
    usage="completion SHELL",
    flags=[],
    run=run,
    hidden=True,
    arg_counts=(1,),
    arg_error="Exactly one argument expected: the shell (bash, zsh or fish)",
)
