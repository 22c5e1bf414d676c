"""Plugin commands, declared with typer, run as skopeo's own commands.

A plugin's ``register_commands`` hook hands over a ``typer.Typer``.  Typer is
the public API (parameters as annotated function arguments, ``typer.Option`` /
``typer.Argument`` for names, help and metavars), but skopeo's users expect
every command to read its flags as pflag does (``--tls-verify``,
``--tls-verify=false``, ``-uNAME``, global flags after the command name) and
to print cobra's help and errors.  So the command is not run by typer: its
parameters are translated into the cobra/pflag model of :mod:`.cobra` and
:mod:`.pflag`, parsed there, and the function typer would call is called with
the converted values.  This module (and typer) is imported only when a plugin
command is built: to run it, or for help and completion.

What is translated (see docs/plugin-authoring.md):

* the command: its name (typer's), ``short_help`` (cobra's Short; else the
  first line of the help), ``help`` or the docstring (Long), ``epilog``
  (Example), ``hidden``, ``options_metavar`` (in the use line; typer's default
  ``[OPTIONS]`` reads ``[command options]`` as skopeo's commands do);
* options: ``str``, ``int``, ``bool`` (``bool | None`` remembers whether it
  was given, as containers/common's OptionalBool), ``pathlib.Path``, ``Enum``
  (by value), ``datetime.timedelta`` (Go durations), ``list[str]`` /
  ``list[int]`` / ``list[Path]`` (pflag's comma-separated slices); their
  ``--long`` and ``-s`` names, help, metavar, hidden, default (``...``:
  required, as cobra's MarkFlagRequired), ``show_default=False``, ``envvar``;
* arguments: ``str`` and ``Path``, one each, or a list taking the rest; their
  count is checked with cobra's texts;
* ``typer.Context``: a context whose ``obj`` is an :class:`.invocation.Invocation`;
* ``typer.Exit(code)`` ends the command with *code*; ``typer.Abort`` and
  typer's usage errors become one ``level=fatal`` line.

Typer features that need its own parser (callbacks, prompts, counting
options, custom click types, ``--flag/--no-flag`` secondary names) are refused
when the command is built, with a PluginError naming the parameter."""

from __future__ import annotations

import datetime
import enum
import inspect
import os
import pathlib
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import PluginError, SkopeoError, UsageError
from .app import global_options, start_deadline
from .pflag import BOOL, DURATION, INT, INTSLICE, OPTBOOL, STR, STRSLICE, Flag, invalid_argument

if TYPE_CHECKING:
    from ..plugins import PluginCommand
    from .cobra import ArgsCheck
    from .cobra import Command as CobraCommand

_SCALARS = {str: STR, int: INT, pathlib.Path: STR, datetime.timedelta: DURATION}
_LISTS = {str: STRSLICE, int: INTSLICE, pathlib.Path: STRSLICE}
# Typer parameter settings that need typer's own parser.
_REFUSED = ("callback", "prompt", "confirmation_prompt", "count", "parser", "click_type", "is_eager",
            "autocompletion", "shell_complete")


class Option(NamedTuple):
    param: str  # the function's parameter
    flag: Flag
    convert: Callable[[Any], Any]
    default: Any
    required: bool
    envvar: tuple[str, ...]


class Argument(NamedTuple):
    param: str
    metavar: str
    required: bool
    variadic: bool
    convert: Callable[[Any], Any]
    default: Any


class Translated(NamedTuple):
    options: list[Option]
    arguments: list[Argument]
    context_param: str | None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of ``X | None`` / ``Optional[X]``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0], True
    return annotation, False


def _is_context(annotation: Any) -> bool:
    import typer

    return isinstance(annotation, type) and issubclass(annotation, typer.Context)


def _scalar_converter(kind: type, where: str) -> Callable[[Any], Any]:
    """The function's value from pflag's (None, an unset default, stays None;
    a default of the function's own type is kept)."""
    if kind is pathlib.Path:
        return lambda value: value if value is None or isinstance(value, pathlib.Path) else pathlib.Path(value)
    if kind is datetime.timedelta:
        return lambda value: value if value is None or isinstance(value, datetime.timedelta) \
            else datetime.timedelta(seconds=value)
    if kind in (str, int, bool):
        return lambda value: value
    raise PluginError(f"{where}: type {kind!r} is not supported")


def _enum_converter(kind: type[enum.Enum], flag: Flag) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None or isinstance(value, kind):
            return value
        for member in kind:
            if member.value == value:
                return member
        choices = ", ".join(str(m.value) for m in kind)
        raise invalid_argument(flag, value, f"must be one of {choices}")

    return convert


def _option(name: str, annotation: Any, info: Any, default: Any, where: str) -> Option:
    kind, optional = _unwrap(annotation)
    required = default is ... or default is inspect.Parameter.empty
    if required:
        default = None
    long = short = ""
    for decl in getattr(info, "param_decls", None) or ():
        if "/" in decl:
            raise PluginError(f"{where}: secondary names ({decl}) are not supported: booleans take =false")
        if decl.startswith("--"):
            long = long or decl[2:]
        elif decl.startswith("-") and len(decl) == 2:
            short = short or decl[1:]
        elif decl.startswith("-"):
            raise PluginError(f"{where}: {decl!r} is neither --long nor a one-letter -s name")
    long = long or name.replace("_", "-")
    element = typing.get_args(kind)[0] if typing.get_origin(kind) is list else None
    help_text = getattr(info, "help", None) or ""
    metavar = getattr(info, "metavar", None) or ""
    hidden = bool(getattr(info, "hidden", False))
    shown = default if getattr(info, "show_default", True) is not False else None
    if isinstance(shown, enum.Enum):
        shown = shown.value
    if isinstance(shown, pathlib.Path | datetime.timedelta):
        shown = str(shown)
    convert: Callable[[Any], Any]
    if kind is bool:
        flag_kind = OPTBOOL if default is None and optional else BOOL
        convert = _scalar_converter(bool, where)
    elif element is not None:
        if element not in _LISTS:
            raise PluginError(f"{where}: type {kind!r} is not supported")
        flag_kind = _LISTS[element]
        item = _scalar_converter(element, where)
        convert = lambda values: None if values is None else [item(v) for v in values]  # noqa: E731
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        flag_kind = STR
        convert = _enum_converter(kind, Flag(long, STR, short=short))
    elif kind in _SCALARS:
        flag_kind = _SCALARS[kind]
        convert = _scalar_converter(kind, where)
    else:
        raise PluginError(f"{where}: type {kind!r} is not supported")
    flag = Flag(long, flag_kind, help_text, short=short, metavar=metavar, default=shown, hidden=hidden)
    envvar = getattr(info, "envvar", None) or ()
    return Option(name, flag, convert, default, required, (envvar,) if isinstance(envvar, str) else tuple(envvar))


def _argument(name: str, annotation: Any, info: Any, default: Any, where: str) -> Argument:
    kind, _ = _unwrap(annotation)
    variadic = typing.get_origin(kind) is list
    element = typing.get_args(kind)[0] if variadic else kind
    if element not in (str, pathlib.Path):
        raise PluginError(f"{where}: arguments of type {element!r} are not supported (str, Path or a list of them)")
    required = default is ... or default is inspect.Parameter.empty
    metavar = getattr(info, "metavar", None)
    metavar = name.upper() if metavar is None else metavar  # "" shows nothing in the use line
    item = _scalar_converter(element, where)
    convert = (lambda values: [item(v) for v in values]) if variadic else item
    return Argument(name, metavar, required, variadic, convert, None if required else default)


def translate(command: PluginCommand) -> Translated:
    """The options and arguments of a typer command, as skopeo parses them."""
    import typer
    from typer.utils import get_params_from_function

    options: list[Option] = []
    arguments: list[Argument] = []
    context_param = None
    for name, meta in get_params_from_function(command.info.callback).items():
        where = f"command {command.name!r} of plugin {command.plugin!r}, parameter {name!r}"
        info = meta.default
        if _is_context(meta.annotation):
            context_param = name
            continue
        if isinstance(info, typer.models.ParameterInfo):
            for setting in _REFUSED:
                if getattr(info, setting, None) not in (None, False):
                    raise PluginError(f"{where}: typer's {setting}= is not supported by skopeo's command line")
            factory = getattr(info, "default_factory", None)
            default = factory() if factory is not None else info.default
        else:
            default, info = info, None
        if isinstance(info, typer.models.ArgumentInfo) or (info is None and default is inspect.Parameter.empty):
            arguments.append(_argument(name, meta.annotation, info, default, where))
        else:
            options.append(_option(name, meta.annotation, info, default, where))
    if sum(a.variadic for a in arguments) > 1:
        raise PluginError(f"command {command.name!r} of plugin {command.plugin!r}: more than one list argument")
    return Translated(options, arguments, context_param)


def args_check(arguments: list[Argument]) -> ArgsCheck | None:
    """cobra's positional-argument check for these arguments (its texts)."""
    low = sum(1 for a in arguments if a.required)  # a required list takes at least one
    high = None if any(a.variadic for a in arguments) else len(arguments)

    def check(cmd: CobraCommand, args: list[str]) -> None:
        n = len(args)
        if high is None:
            if n < low:
                raise UsageError(f"requires at least {low} arg(s), only received {n}")
        elif low == high and n != low:
            raise UsageError(f"accepts {low} arg(s), received {n}")
        elif low == 0 and n > high:
            raise UsageError(f"accepts at most {high} arg(s), received {n}")
        elif not low <= n <= high:
            raise UsageError(f"accepts between {low} and {high} arg(s), received {n}")

    return None if low == 0 and high is None else check


def _positional_values(arguments: list[Argument], args: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    rest = list(args)
    for i, argument in enumerate(arguments):
        if argument.variadic:
            after = sum(1 for a in arguments[i + 1 :] if a.required)
            taken, rest = rest[: max(0, len(rest) - after)], rest[max(0, len(rest) - after) :]
            values[argument.param] = argument.convert(taken) if taken or argument.default is None else argument.default
        elif rest:
            values[argument.param] = argument.convert(rest.pop(0))
        else:
            values[argument.param] = argument.default
    return values


def _option_values(options: list[Option], c: CobraCommand) -> dict[str, Any]:
    from .pflag import convert as pflag_convert

    missing = [o.flag.name for o in options if o.required and o.flag.name not in c.values.changed
               and not any(e in os.environ for e in o.envvar)]
    if missing:  # cobra's ValidateRequiredFlags
        raise UsageError('required flag(s) "' + '", "'.join(missing) + '" not set')
    values: dict[str, Any] = {}
    for option in options:
        value = c.values[option.flag.dest] if option.flag.name in c.values.changed else option.default
        if option.flag.name not in c.values.changed:
            for name in option.envvar:
                if name in os.environ:
                    try:
                        value = pflag_convert(option.flag, os.environ[name])
                    except ValueError as e:
                        raise UsageError(f"${name}: {invalid_argument(option.flag, os.environ[name], str(e))}") from None
                    break
        values[option.param] = option.convert(value)
    return values


def cobra_command(command: PluginCommand) -> CobraCommand:
    """The command as a :class:`.cobra.Command` of skopeo's tree."""
    from .cobra import Command as CobraCommand

    info = command.info
    translated = translate(command)
    long = info.help if info.help is not None else inspect.getdoc(info.callback) or ""
    short = info.short_help if info.short_help is not None else long.strip().split("\n", 1)[0]
    options_metavar = _options_metavar(command)
    if options_metavar == "[OPTIONS]":  # typer's default: as skopeo's own commands say it
        options_metavar = "[command options]" if any(not o.flag.hidden for o in translated.options) else ""
    use = " ".join(part for part in (command.name, options_metavar, *(a.metavar for a in translated.arguments)) if part)

    def run(c: CobraCommand, args: list[str]) -> int:
        kwargs = _option_values(translated.options, c)
        kwargs.update(_positional_values(translated.arguments, args))
        globals_ = global_options(c)
        start_deadline(command.name, globals_)
        if translated.context_param is None:
            return _call(info.callback, kwargs)
        return _call_with_context(command, c, globals_, translated.context_param, kwargs)

    return CobraCommand(use, short=short, long=long, example=info.epilog or "", run=run,
                        flags=[o.flag for o in translated.options], hidden=bool(info.hidden), skopeo_usage=True,
                        args=args_check(translated.arguments))


def _options_metavar(command: PluginCommand) -> str:
    """The command's ``options_metavar``, else its app's (typer keeps unset
    values as placeholders, and takes an empty one only from the app)."""
    for value in (command.info.options_metavar, getattr(getattr(command.app, "info", None), "options_metavar", None)):
        if isinstance(value, str) and value != "[OPTIONS]":
            return value
    return "[OPTIONS]"


def _call_with_context(command: PluginCommand, c: CobraCommand, globals_: Any, param: str,
                       kwargs: dict[str, Any]) -> int:
    import typer
    import typer.main

    from .invocation import Invocation

    click_command = typer.main.get_command(command.app)
    click_command = getattr(click_command, "commands", {}).get(command.name, click_command)
    ctx = typer.Context(click_command, info_name=command.name, obj=Invocation(c.command_path(), globals_))
    ctx.params.update(kwargs)
    with ctx:
        return _call(command.info.callback, {param: ctx, **kwargs})


def _call(callback: Callable[..., Any], kwargs: dict[str, Any]) -> int:
    """Run the command's function; typer's ways of ending it become exit
    statuses and skopeo errors."""
    import typer

    try:
        callback(**kwargs)
    except typer.Exit as e:
        return int(getattr(e, "exit_code", 0) or 0)
    except typer.Abort as e:
        raise SkopeoError(str(e) or "Aborted!") from None
    except SkopeoError:
        raise
    except Exception as e:
        format_message = getattr(e, "format_message", None)
        if format_message is None:  # not one of typer's (click's) errors: a bug of the command
            raise
        raise UsageError(str(format_message())) from None
    return 0
