"""Flags as spf13/pflag (v1.0.10, the version upstream skopeo vendors) defines,
parses and prints them: the grammar (``--flag=value``, ``--flag value``,
``-abc``, ``-uNAME``, optional values of booleans, interspersed arguments, ``--``),
its error texts, and the ``Flags:`` block of help (``FlagUsages``).

Hand-written rather than through click or argparse: their grammar and words
differ from pflag's (users and scripts read these texts), and importing them costs
~12 ms on every run.  Values are kept per owner (:class:`FlagValues`): a global
flag parsed before or after the command name lands in the same place, as a
persistent cobra flag does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from ..errors import UsageError

# Kinds, named as pflag's Value.Type() names them (help shows "strings" for
# "stringSlice", as pflag does).  OPTBOOL is containers/common's OptionalBool:
# a boolean that remembers whether it was given (None when it was not).
BOOL, STR, INT, UINT, DURATION = "bool", "string", "int", "uint", "duration"
OPTBOOL, STRSLICE, INTSLICE = "optbool", "stringSlice", "intSlice"
_BOOLEANS = (BOOL, OPTBOOL)
_SLICES = (STRSLICE, INTSLICE)
_TYPE_NAMES = {OPTBOOL: "bool"}
# What UnquoteUsage shows for a type (an empty name shows nothing).
_PLACEHOLDERS = {BOOL: "", OPTBOOL: "", STRSLICE: "strings", INTSLICE: "ints"}


class Flag(NamedTuple):
    """One flag.  *help* is pflag's usage text: a word in backquotes names the
    value in help (``"use certificates at `PATH`"`` shows ``--cert-dir PATH``),
    as in upstream's source; *metavar* does the same without touching the text."""

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

    @property
    def takes_optional_value(self) -> bool:
        """pflag's ``NoOptDefVal != ""``: given alone, the flag needs no value."""
        return self.kind in _BOOLEANS

    def initial(self) -> Any:
        if self.kind == BOOL:
            return bool(self.default)
        if self.kind in _SLICES:
            return list(self.default or [])
        return self.default

    def def_value(self) -> str:
        """pflag's ``DefValue``: the default as help would print it."""
        if self.kind in _BOOLEANS:
            return "true" if self.default else "false"
        if self.kind in _SLICES:
            return "[" + ",".join(str(v) for v in self.default or []) + "]"
        return "" if self.default is None else str(self.default)


class HelpRequested(UsageError):
    """pflag's ErrHelp: ``-h``/``--help`` given where no help flag is defined."""

    def __init__(self) -> None:
        super().__init__("pflag: help requested")


class FlagValues(dict[str, Any]):
    """The parsed values of one owner's flags, by ``dest``; ``changed`` holds the
    names of the flags the command line set."""

    def __init__(self, flags: Iterable[Flag] = ()) -> None:
        super().__init__((f.dest, f.initial()) for f in flags)
        self.changed: set[str] = set()


class FlagSet:
    """The flags one command parses (its own and the inherited ones), each
    bound to the :class:`FlagValues` that receives it."""

    def __init__(self) -> None:
        self.formal: dict[str, tuple[Flag, FlagValues]] = {}
        self.shorthands: dict[str, Flag] = {}
        self.args: list[str] = []
        self.args_len_at_dash = -1

    def add(self, flag: Flag, values: FlagValues) -> None:
        """AddFlag; a name already present keeps its first definition (AddFlagSet)."""
        if flag.name in self.formal:
            return
        self.formal[flag.name] = (flag, values)
        if flag.short:
            self.shorthands[flag.short] = flag

    def lookup(self, name: str) -> Flag | None:
        entry = self.formal.get(name)
        return entry[0] if entry else None

    def changed(self, name: str) -> bool:
        entry = self.formal.get(name)
        return entry is not None and name in entry[1].changed

    def has_optional_value(self, name: str) -> bool:
        """cobra's hasNoOptDefVal."""
        flag = self.lookup(name)
        return flag is not None and flag.takes_optional_value

    def short_has_optional_value(self, name: str) -> bool:
        """cobra's shortHasNoOptDefVal."""
        flag = self.shorthands.get(name[:1]) if name else None
        return flag is not None and flag.takes_optional_value

    # --- parsing (FlagSet.Parse) ---------------------------------------------------
    def parse(self, arguments: Sequence[str]) -> None:
        self.args = []
        self.args_len_at_dash = -1
        args = list(arguments)
        while args:
            s = args.pop(0)
            if len(s) < 2 or s[0] != "-":
                self.args.append(s)
                continue
            if s[1] == "-":
                if len(s) == 2:  # "--" ends the flags
                    self.args_len_at_dash = len(self.args)
                    self.args.extend(args)
                    break
                args = self._parse_long(s, args)
            else:
                args = self._parse_short(s, args)

    def _parse_long(self, s: str, args: list[str]) -> list[str]:
        name = s[2:]
        if not name or name[0] in "-=":
            raise UsageError(f"bad flag syntax: {s}")
        name, eq, value = name.partition("=")
        flag = self.lookup(name)
        if flag is None:
            if name == "help":
                raise HelpRequested()
            raise UsageError(f"unknown flag: --{name}")
        if eq:
            self._set(flag, value)
        elif flag.takes_optional_value:
            self._set(flag, "true")
        elif args:
            self._set(flag, args.pop(0))
        else:
            raise UsageError(f"flag needs an argument: --{name}")
        return args

    def _parse_short(self, s: str, args: list[str]) -> list[str]:
        shorthands = s[1:]
        while shorthands:
            c = shorthands[0]
            flag = self.shorthands.get(c)
            if flag is None:
                if c == "h":
                    raise HelpRequested()
                raise UsageError(f"unknown shorthand flag: {_quote_rune(c)} in -{shorthands}")
            if len(shorthands) > 2 and shorthands[1] == "=":  # -f=value
                self._set(flag, shorthands[2:])
                shorthands = ""
            elif flag.takes_optional_value:
                self._set(flag, "true")
                shorthands = shorthands[1:]
            elif len(shorthands) > 1:  # -fvalue
                self._set(flag, shorthands[1:])
                shorthands = ""
            elif args:
                self._set(flag, args.pop(0))
                shorthands = ""
            else:
                raise UsageError(f"flag needs an argument: {_quote_rune(c)} in -{shorthands}")
        return args

    def _set(self, flag: Flag, value: str) -> None:
        values = self.formal[flag.name][1]
        try:
            parsed = convert(flag, value)
        except ValueError as e:
            raise invalid_argument(flag, value, str(e)) from None
        if flag.kind in _SLICES and flag.name in values.changed:
            values[flag.dest] = values[flag.dest] + parsed
        else:
            values[flag.dest] = parsed
        values.changed.add(flag.name)


def invalid_argument(flag: Flag, value: str, reason: str) -> UsageError:
    """pflag's error for a value its flag's type refuses."""
    name = f"-{flag.short}, --{flag.name}" if flag.short else f"--{flag.name}"
    return UsageError(f"invalid argument {go_quote(value)} for {go_quote(name)} flag: {reason}")


def parse(flags: Sequence[Flag], argv: Sequence[str]) -> tuple[FlagValues, list[str]]:
    """The values of *flags* and the positional arguments of *argv*."""
    values = FlagValues(flags)
    fs = FlagSet()
    for flag in flags:
        fs.add(flag, values)
    fs.parse(argv)
    return values, fs.args


# --- values (each pflag Value's Set) ---------------------------------------------------
def convert(flag: Flag, value: str) -> Any:
    """The value of *flag* given as *value*; ValueError carries Go's reason."""
    from ..golang.strconv import atoi, parse_bool, parse_int

    kind = flag.kind
    if kind in _BOOLEANS:
        return parse_bool(value)
    if kind in (INT, UINT):
        return parse_int(value, unsigned=kind == UINT)
    if kind == DURATION:
        from ..golang.duration import parse_duration

        return parse_duration(value)
    if kind == STRSLICE:
        return read_csv_record(value)
    if kind == INTSLICE:
        return [atoi(part) for part in value.split(",")]
    return value


def read_csv_record(value: str) -> list[str]:
    """pflag's readAsCSV: the first record of *value* as Go's encoding/csv reads it
    (``a,"b,c"`` is two values, ``""`` in quotes is one quote); an empty value is no
    values.  Only the first line is read (a quoted field does not continue on the
    next line as Go's would: no flag value of skopeo spans lines)."""
    if value == "":
        return []
    line = value.encode("utf-8", "surrogateescape").split(b"\n", 1)[0].removesuffix(b"\r")
    fields: list[str] = []
    pos = 0
    while True:
        if line[pos : pos + 1] == b'"':
            field, pos = _quoted_csv_field(line, pos)
        else:
            end = line.find(b",", pos)
            end = len(line) if end < 0 else end
            quote_at = line.find(b'"', pos, end)
            if quote_at >= 0:
                raise ValueError(f'parse error on line 1, column {quote_at + 1}: bare " in non-quoted-field')
            field, pos = line[pos:end], end
        fields.append(field.decode("utf-8", "surrogateescape"))
        if pos >= len(line):
            return fields
        pos += 1  # the comma


def _quoted_csv_field(line: bytes, pos: int) -> tuple[bytes, int]:
    """A quoted field starting at *pos*: its value and the position after it."""
    out = []
    i = pos + 1
    while True:
        end = line.find(b'"', i)
        if end < 0:  # Go reports the column after the line
            raise ValueError(f'parse error on line 1, column {len(line) + 1}: extraneous or missing " in quoted-field')
        out.append(line[i:end])
        after = line[end + 1 : end + 2]
        if after == b'"':
            out.append(b'"')
            i = end + 2
        elif after in (b"", b","):
            return b"".join(out), end + 1
        else:
            raise ValueError(f'parse error on line 1, column {end + 1}: extraneous or missing " in quoted-field')


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string."""
    from ..golang.gojson import quote

    return quote(text.encode("utf-8", "surrogateescape"))


def _quote_rune(c: str) -> str:
    """Go's ``%q`` of one byte of a shorthand group (pflag takes bytes, not runes)."""
    from ..golang.gojson import quote_char

    return quote_char(c.encode("utf-8", "surrogateescape")[0])


# --- help (FlagUsages) ------------------------------------------------------------------
def unquote_usage(flag: Flag) -> tuple[str, str]:
    """pflag's UnquoteUsage: the value's name in help, and the usage text."""
    usage = flag.help
    if flag.metavar:
        return flag.metavar, usage
    first = usage.find("`")
    if first >= 0:
        second = usage.find("`", first + 1)
        if second >= 0:
            name = usage[first + 1 : second]
            return name, usage[:first] + name + usage[second + 1 :]
    return _PLACEHOLDERS.get(flag.kind, flag.kind), usage


def _is_zero_default(flag: Flag) -> bool:
    value = flag.def_value()
    if flag.kind in _BOOLEANS:
        return value in ("false", "")
    if flag.kind in (INT, UINT):
        return value in ("0", "")
    if flag.kind == DURATION:
        return value in ("0", "0s", "")
    if flag.kind in _SLICES:
        return value == "[]"
    return value == ""


def flag_usages(flags: Iterable[Flag]) -> str:
    """FlagUsages of *flags*, sorted by name, hidden ones left out."""
    lines = []
    maxlen = 0
    for flag in sorted(flags, key=lambda f: f.name):
        if flag.hidden:
            continue
        line = f"  -{flag.short}, --{flag.name}" if flag.short else f"      --{flag.name}"
        varname, usage = unquote_usage(flag)
        if varname:
            line += " " + varname
        maxlen = max(maxlen, len(line))
        if not _is_zero_default(flag):
            shown = go_quote(flag.def_value()) if flag.kind == STR else flag.def_value()
            usage += f" (default {shown})"
        lines.append((line, usage))
    # pflag pads every name column to the longest one, then adds three spaces;
    # a usage of several lines is indented to the same column.
    indent = "\n" + " " * (maxlen + 3)
    return "".join(f"{line}{' ' * (maxlen - len(line) + 3)}{usage.replace(chr(10), indent)}\n" for line, usage in lines)
