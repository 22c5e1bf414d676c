"""Commands as spf13/cobra (v1.10, the version upstream skopeo vendors) finds,
runs and describes them, so that every text around them is upstream's: how a
command line is split between the root and a sub-command (``Traverse``, with its
quirks: ``skopeo --help inspect`` is the root's help), ``Find`` for ``help CMD``,
suggestions for a mistyped command, the ``help`` command, help and usage
templates, the hidden ``completion`` command and the ``__complete`` protocol its
scripts speak.

A port of cobra's decisions, kept close to its structure so that the two can be
compared function by function; only what skopeo's command tree uses is here
(no command groups, aliases only for ``__completeNoDesc``, no flag groups)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from ..errors import UsageError
from .pflag import BOOL, Flag, FlagSet, FlagValues, HelpRequested

# Positional-argument checks (cobra's Args): None means cobra's legacyArgs in
# Find and arbitrary arguments when run.
ArgsCheck = Callable[["Command", list[str]], None]
Completer = Callable[["Command", list[str], str], tuple[list[str], int]]


class Command:
    """One node of the command tree, with cobra's Command fields that skopeo sets."""

    def __init__(
        self,
        use: str,
        *,
        short: str = "",
        long: str | Callable[[], str] = "",
        example: str = "",
        run: Callable[[Command, list[str]], int | None] | None = None,
        args: ArgsCheck | None = None,
        flags: Sequence[Flag] = (),
        persistent_flags: Sequence[Flag] = (),
        hidden: bool = False,
        aliases: Sequence[str] = (),
        skopeo_usage: bool = False,
        disable_flags_in_use_line: bool = False,
        disable_flag_parsing: bool = False,
        valid_args_function: Completer | None = None,
        persistent_pre_run: Callable[[Command, list[str]], None] | None = None,
        version: str = "",
    ) -> None:
        self.use, self.short, self.example = use, short, example
        # A callable is asked only when help is shown (a transport list loads
        # every plugin: not on the path of a command that just runs).
        self._long = long
        self.run = run
        self.args = args
        self.hidden = hidden
        self.aliases = list(aliases)
        # skopeo's adjustUsage: its own usage template, no "[flags]" in the use line.
        self.skopeo_usage = skopeo_usage
        self.disable_flags_in_use_line = disable_flags_in_use_line or skopeo_usage
        self.disable_flag_parsing = disable_flag_parsing
        self.valid_args_function = valid_args_function
        self.persistent_pre_run = persistent_pre_run
        self.version = version
        self.local_flags = list(flags)
        self.persistent_flags = list(persistent_flags)
        self.values = FlagValues(flags)
        self.persistent_values = FlagValues(persistent_flags)
        # cobra adds -h/--help when the command is executed or its help shown,
        # not before: until then "--help" is an unknown flag (skopeo --help inspect).
        self.help_flag_ready = False
        self.parent: Command | None = None
        # Children in the order they were added; a (name, factory) pair is a
        # child not built yet (its module is imported when it is needed), a
        # LazyGroup stands for children whose names are not known yet.
        self._children: list[Command | tuple[str, Callable[[], Command]] | LazyGroup] = []
        self.help_command: Command | None = None
        self.called_as = ""

    # --- tree ------------------------------------------------------------------------
    @property
    def long(self) -> str:
        if callable(self._long):
            self._long = self._long()
        return self._long

    @property
    def name(self) -> str:
        return self.use.split(" ", 1)[0]

    def add(self, *cmds: Command) -> None:
        for cmd in cmds:
            cmd.parent = self
            self._children.append(cmd)

    def add_lazy(self, name: str, factory: Callable[[], Command]) -> None:
        self._children.append((name, factory))

    def add_lazy_group(self, names: Callable[[], list[tuple[str, Callable[[], Command]]]]) -> None:
        """Children found by calling *names* (plugin commands, from the plugin
        index), only when a name is not among the other children or every
        child is needed (help, suggestions, completion)."""
        self._children.append(LazyGroup(names))

    def _expand(self) -> bool:
        """Replace the lazy groups by their children; False if there were none."""
        if not any(isinstance(c, LazyGroup) for c in self._children):
            return False
        expanded: list[Command | tuple[str, Callable[[], Command]] | LazyGroup] = []
        for entry in self._children:
            expanded.extend(entry.names() if isinstance(entry, LazyGroup) else [entry])
        self._children = expanded
        return True

    def remove(self, cmd: Command) -> None:
        self._children = [c for c in self._children if c is not cmd]
        cmd.parent = None

    def _build(self, index: int) -> Command:
        entry = self._children[index]
        assert not isinstance(entry, LazyGroup)
        if isinstance(entry, tuple):
            entry = entry[1]()
            entry.parent = self
            self._children[index] = entry
        return entry

    @property
    def children(self) -> list[Command]:
        self._expand()
        return [self._build(i) for i in range(len(self._children))]

    def child_names(self) -> list[str]:
        self._expand()
        return [c[0] if isinstance(c, tuple) else c.name for c in self._children if not isinstance(c, LazyGroup)]

    def commands(self) -> list[Command]:
        """Children sorted by name (cobra's Commands())."""
        return sorted(self.children, key=lambda c: c.name)

    def root(self) -> Command:
        return self.parent.root() if self.parent else self

    def command_path(self) -> str:
        return f"{self.parent.command_path()} {self.name}" if self.parent else self.name

    def runnable(self) -> bool:
        return self.run is not None

    def is_available(self) -> bool:
        if self.hidden or (self.parent is not None and self.parent.help_command is self):
            return False
        return self.runnable() or self.has_available_sub_commands()

    def has_available_sub_commands(self) -> bool:
        return any(c.is_available() for c in self.children)

    def is_additional_help_topic(self) -> bool:
        if self.runnable() or self.hidden:
            return False
        return all(c.is_additional_help_topic() for c in self.children)

    def find_next(self, name: str) -> Command | None:
        for i, entry in enumerate(self._children):
            if isinstance(entry, LazyGroup) or (isinstance(entry, tuple) and entry[0] != name):
                continue
            cmd = self._build(i)
            if cmd.name == name or name in cmd.aliases:
                cmd.called_as = name
                return cmd
        if self._expand():
            return self.find_next(name)
        return None

    def name_padding(self) -> int:
        if self.parent is None:
            return 11
        return max(11, *(len(name) for name in self.parent.child_names()))

    # --- flags -----------------------------------------------------------------------
    def help_flag(self) -> Flag:
        return Flag("help", BOOL, f"help for {self.name}", short="h")

    def init_default_help_flag(self) -> None:
        self.help_flag_ready = True
        if "help" not in self.values:
            self.values["help"] = False

    def parents_persistent(self) -> list[tuple[Flag, FlagValues]]:
        out: list[tuple[Flag, FlagValues]] = []
        parent = self.parent
        while parent is not None:
            out.extend((f, parent.persistent_values) for f in parent.persistent_flags)
            parent = parent.parent
        return out

    def flags(self) -> FlagSet:
        """Everything this command parses: its flags, its persistent ones, its
        parents' persistent ones (cobra's Flags() after mergePersistentFlags)."""
        fs = FlagSet()
        for f in self.local_flags:
            fs.add(f, self.values)
        if self.help_flag_ready:
            fs.add(self.help_flag(), self.values)
        for f in self.persistent_flags:
            fs.add(f, self.persistent_values)
        for f, values in self.parents_persistent():
            fs.add(f, values)
        return fs

    def local_flag_list(self) -> list[Flag]:
        inherited = {id(f) for f, _ in self.parents_persistent()}
        return [f for f, _ in self.flags().formal.values() if id(f) not in inherited]

    def inherited_flag_list(self) -> list[Flag]:
        local = {f.name for f in self.local_flag_list()}
        seen: dict[str, Flag] = {}
        for f, _ in self.parents_persistent():
            if f.name not in local:
                seen.setdefault(f.name, f)
        return list(seen.values())

    def parse_flags(self, args: Sequence[str]) -> FlagSet:
        fs = self.flags()
        if not self.disable_flag_parsing:
            fs.parse(args)
        return fs

    # --- finding the command -------------------------------------------------------------
    def traverse(self, args: list[str]) -> tuple[Command, list[str]]:
        """cobra's Traverse: parse each parent's flags on the way down."""
        flags: list[str] = []
        in_flag = False
        fs = self.flags()
        for i, arg in enumerate(args):
            if arg.startswith("--") and "=" not in arg:
                in_flag = not fs.has_optional_value(arg[2:])
                flags.append(arg)
                continue
            if arg.startswith("-") and "=" not in arg and len(arg) == 2 and not fs.short_has_optional_value(arg[1:]):
                in_flag = True
                flags.append(arg)
                continue
            if in_flag:
                in_flag = False
                flags.append(arg)
                continue
            if _is_flag_arg(arg):
                flags.append(arg)
                continue
            cmd = self.find_next(arg)
            if cmd is None:
                return self, args
            self.parse_flags(flags)
            return cmd.traverse(args[i + 1 :])
        return self, args

    def find(self, args: list[str]) -> tuple[Command, list[str]]:
        """cobra's Find (used by ``help CMD`` and completion)."""
        cmd, rest = self, args
        while True:
            plain = strip_flags(rest, cmd)
            nxt = cmd.find_next(plain[0]) if plain else None
            if nxt is None:
                break
            rest = cmd.args_minus_first(rest, plain[0])
            cmd = nxt
        if cmd.args is None:
            legacy_args(cmd, strip_flags(rest, cmd))
        return cmd, rest

    def args_minus_first(self, args: list[str], x: str) -> list[str]:
        fs = self.flags()
        pos = 0
        while pos < len(args):
            s = args[pos]
            if s == "--":
                break
            if _takes_next(s, fs):
                pos += 2
                continue
            if not s.startswith("-") and s == x:
                return args[:pos] + args[pos + 1 :]
            pos += 1
        return args

    def suggestions_for(self, typed: str) -> list[str]:
        out = []
        for cmd in self.children:  # in the order they were added, as cobra
            if cmd.is_available() and (levenshtein(typed.lower(), cmd.name.lower()) <= SUGGESTIONS_MINIMUM_DISTANCE
                                       or cmd.name.lower().startswith(typed.lower())):
                out.append(cmd.name)
        return out

    def find_suggestions(self, arg: str) -> str:
        suggestions = self.suggestions_for(arg)
        if not suggestions:
            return ""
        return "\n\nDid you mean this?\n" + "".join(f"\t{s}\n" for s in suggestions)

    # --- running -----------------------------------------------------------------------
    def execute(self, a: list[str]) -> int:
        """cobra's execute: flags, help, version, argument check, hooks, run;
        the exit status of the command."""
        self.init_default_help_flag()
        fs = self.parse_flags(a)
        if self.values.get("help"):
            raise HelpRequested()
        if self.version and self.values.get("version"):
            sys.stdout.write(f"{self.root().name} version {self.version}\n")
            return 0
        if not self.runnable():
            raise HelpRequested()
        args = a if self.disable_flag_parsing else fs.args
        if self.args is not None:
            self.args(self, args)
        cmd: Command | None = self
        while cmd is not None:
            if cmd.persistent_pre_run is not None:
                cmd.persistent_pre_run(self, args)
                break
            cmd = cmd.parent
        assert self.run is not None
        return self.run(self, args) or 0

    # --- help (cli.cobra_help) ----------------------------------------------------------
    def help_text(self) -> str:
        """What cobra's default help function prints."""
        from .cobra_help import help_text

        return help_text(self)

    def usage_text(self) -> str:
        """What cobra's usage function prints (skopeo's template or cobra's)."""
        from .cobra_help import usage_text

        return usage_text(self)


class LazyGroup:
    """Children not known until *names* is called (see Command.add_lazy_group)."""

    def __init__(self, names: Callable[[], list[tuple[str, Callable[[], Command]]]]) -> None:
        self.names = names


SUGGESTIONS_MINIMUM_DISTANCE = 2


def _is_flag_arg(arg: str) -> bool:
    return (len(arg) >= 3 and arg.startswith("--")) or (len(arg) >= 2 and arg[0] == "-" and arg[1] != "-")


def _takes_next(s: str, fs: FlagSet) -> bool:
    """A flag written without ``=`` whose value is the next argument."""
    if "=" in s:
        return False
    if s.startswith("--"):
        return not fs.has_optional_value(s[2:])
    return s.startswith("-") and len(s) == 2 and not fs.short_has_optional_value(s[1:])


def strip_flags(args: list[str], c: Command) -> list[str]:
    """cobra's stripFlags: the words of *args* that may name sub-commands."""
    fs = c.flags()
    commands = []
    rest = list(args)
    while rest:
        s = rest.pop(0)
        if s == "--":
            break
        if _takes_next(s, fs):
            if len(rest) <= 1:  # cobra stops here, even before a last word
                break
            rest = rest[1:]
            continue
        if s and not s.startswith("-"):
            commands.append(s)
    return commands


def legacy_args(cmd: Command, args: list[str]) -> None:
    if not cmd.child_names():
        return
    if cmd.parent is None and args:
        raise UsageError(f"unknown command {_go_quote(args[0])} for {_go_quote(cmd.command_path())}"
                         f"{cmd.find_suggestions(args[0])}")


def no_args(cmd: Command, args: list[str]) -> None:
    if args:
        raise UsageError(f"unknown command {_go_quote(args[0])} for {_go_quote(cmd.command_path())}")


def minimum_args(n: int) -> ArgsCheck:
    def check(cmd: Command, args: list[str]) -> None:
        if len(args) < n:
            raise UsageError(f"requires at least {n} arg(s), only received {len(args)}")

    return check


def exact_args(n: int) -> ArgsCheck:
    def check(cmd: Command, args: list[str]) -> None:
        if len(args) != n:
            raise UsageError(f"accepts {n} arg(s), received {len(args)}")

    return check


def levenshtein(s: str, t: str) -> int:
    """cobra's ld on bytes (after lower-casing by the caller)."""
    a, b = s.encode(), t.encode()
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            cur = row[j]
            row[j] = prev if a[i - 1] == b[j - 1] else min(row[j - 1], row[j], prev) + 1
            prev = cur
    return row[len(b)]


def _go_quote(text: str) -> str:
    from .pflag import go_quote

    return go_quote(text)


def _go_backquote(text: str) -> str:
    """Go's ``%#q``: backquotes when strconv.CanBackquote, else ``%q``."""
    if all(ch == "\t" or (ch >= " " and ch not in "`\x7f\ufeff") for ch in text):
        return f"`{text}`"
    return _go_quote(text)


# --- the help command (cobra's InitDefaultHelpCmd) -----------------------------------------
def help_command() -> Command:
    def run(c: Command, args: list[str]) -> int:
        root = c.root()
        try:
            cmd, _ = root.find(args)
        except UsageError:
            sys.stderr.write(f"Unknown help topic [{' '.join(_go_backquote(a) for a in args)}]\n")
            sys.stderr.write(root.usage_text())
            return 0
        cmd.init_default_help_flag()
        sys.stdout.write(cmd.help_text())
        return 0

    def complete(c: Command, args: list[str], to_complete: str) -> tuple[list[str], int]:
        try:
            cmd, _ = c.root().find(args)
        except UsageError:
            return [], NO_FILE_COMP
        return [f"{sub.name}\t{sub.short}" for sub in cmd.commands()
                if (sub.is_available() or sub is cmd.help_command) and sub.name.startswith(to_complete)], NO_FILE_COMP

    return Command("help [command]", short="Help about any command",
                   long="Help provides help for any command in the application.\n"
                        "Simply type skopeo help [path to command] for full details.",
                   run=run, valid_args_function=complete)


# --- execution (cobra's ExecuteC) ------------------------------------------------------------
def execute(root: Command, args: list[str]) -> int:
    """Run the command *args* name and return its exit status; errors propagate
    (skopeo silences cobra's own printing and reports them as a fatal log line),
    help goes to stdout."""
    root.help_command = help_command()
    root.add(root.help_command)
    if "__complete" in args or "__completeNoDesc" in args:  # only then can it be the command run
        from . import complete

        complete.add_complete_command(root, args)
    root.add_lazy("completion", _completion_command)
    cmd, flags = root.traverse(args)
    try:
        return cmd.execute(flags)
    except HelpRequested:
        sys.stdout.write(cmd.help_text())
        return 0


def _completion_command() -> Command:
    from .complete import completion_command

    return completion_command()


NO_SPACE, NO_FILE_COMP = 2, 4  # cobra's ShellCompDirective bits used here
