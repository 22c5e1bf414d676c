"""Shell completion as cobra provides it to upstream skopeo: the hidden
``completion bash|zsh|fish|powershell`` commands print cobra's scripts, and the
scripts ask the program itself through the hidden ``__complete`` /
``__completeNoDesc`` command (one candidate per line, then ``:<directive>``).

The four scripts are cobra's own output for a program named ``skopeo``
(Apache-2.0, as this project), stored under ``scripts/`` as upstream prints them
(``dev/record-cli-table`` refreshes them from the real binary): they are the
client side of the ``__complete`` protocol ported here, so they must be cobra's.
``getCompletions`` below follows cobra's function of that name."""

from __future__ import annotations

import os
import sys

from ..errors import SkopeoError, UsageError
from ..golang.strconv import parse_bool
from .cobra import NO_FILE_COMP, NO_SPACE, Command, minimum_args, no_args
from .pflag import BOOL, STRSLICE, Flag

_DIRECTIVE_NAMES = ("ShellCompDirectiveError", "ShellCompDirectiveNoSpace", "ShellCompDirectiveNoFileComp",
                    "ShellCompDirectiveFilterFileExt", "ShellCompDirectiveFilterDirs", "ShellCompDirectiveKeepOrder")
_SHELLS = ("bash", "zsh", "fish", "powershell")
_LONG = {
    "bash": """Generate the autocompletion script for the bash shell.

This script depends on the 'bash-completion' package.
If it is not installed already, you can install it via your OS's package manager.

To load completions in your current shell session:

\tsource <(skopeo completion bash)

To load completions for every new session, execute once:

#### Linux:

\tskopeo completion bash > /etc/bash_completion.d/skopeo

#### macOS:

\tskopeo completion bash > $(brew --prefix)/etc/bash_completion.d/skopeo

You will need to start a new shell for this setup to take effect.
""",
    "zsh": """Generate the autocompletion script for the zsh shell.

If shell completion is not already enabled in your environment you will need
to enable it.  You can execute the following once:

\techo "autoload -U compinit; compinit" >> ~/.zshrc

To load completions in your current shell session:

\tsource <(skopeo completion zsh)

To load completions for every new session, execute once:

#### Linux:

\tskopeo completion zsh > "${fpath[1]}/_skopeo"

#### macOS:

\tskopeo completion zsh > $(brew --prefix)/share/zsh/site-functions/_skopeo

You will need to start a new shell for this setup to take effect.
""",
    "fish": """Generate the autocompletion script for the fish shell.

To load completions in your current shell session:

\tskopeo completion fish | source

To load completions for every new session, execute once:

\tskopeo completion fish > ~/.config/fish/completions/skopeo.fish

You will need to start a new shell for this setup to take effect.
""",
    "powershell": """Generate the autocompletion script for powershell.

To load completions in your current shell session:

\tskopeo completion powershell | Out-String | Invoke-Expression

To load completions for every new session, add the output of the above command
to your powershell profile.
""",
}


def env_flag(name: str) -> bool | None:
    """A boolean environment setting (strconv.ParseBool), None when unset or bad."""
    try:
        return parse_bool(os.environ.get(name, ""))
    except ValueError:
        return None


def directive_text(directive: int) -> str:
    names = [name for bit, name in enumerate(_DIRECTIVE_NAMES) if directive & (1 << bit)]
    return ", ".join(names) or "ShellCompDirectiveDefault"


def script(shell: str, descriptions: bool) -> str:
    from importlib import resources  # with pathlib and tempfile: only when a script is printed

    text = resources.files("skopeo.cli").joinpath("scripts", f"completion.{shell}").read_text()
    if not descriptions:  # the only difference: the request command the script runs
        text = text.replace(" __complete ", " __completeNoDesc ", 1)
    return text


def _no_file_completions(cmd: Command, args: list[str], to_complete: str) -> tuple[list[str], int]:
    return [], NO_FILE_COMP


def completion_command() -> Command:
    """cobra's default ``completion`` command, hidden as skopeo asks."""
    completion = Command("completion", short="Generate the autocompletion script for the specified shell",
                         long="Generate the autocompletion script for skopeo for the specified shell.\n"
                              "See each sub-command's help for details on how to use the generated script.\n",
                         args=no_args, valid_args_function=_no_file_completions, hidden=True)
    for shell in _SHELLS:
        no_desc = Flag("no-descriptions", BOOL, "disable completion descriptions")

        def run(c: Command, args: list[str], shell: str = shell) -> None:
            sys.stdout.write(script(shell, descriptions=not c.values["no_descriptions"]))

        completion.add(Command(shell, short=f"Generate the autocompletion script for {shell}", long=_LONG[shell],
                               args=no_args, run=run, flags=[no_desc], valid_args_function=_no_file_completions,
                               disable_flags_in_use_line=shell == "bash"))
    return completion


def add_complete_command(root: Command, args: list[str]) -> None:
    """cobra's ``__complete``, present only when it is the command being run."""
    cmd = Command("__complete [command-line]", aliases=["__completeNoDesc"], hidden=True, disable_flag_parsing=True,
                  disable_flags_in_use_line=True, args=minimum_args(1),
                  short="Request shell completion choices for the specified command-line",
                  long="__complete is a special command that is used by the shell completion logic\n"
                       "to request completion choices for the specified command-line.",
                  run=_run_complete)
    root.add(cmd)
    try:
        found, _ = root.find(args)
    except SkopeoError:
        found = None
    if found is not cmd:
        root.remove(cmd)


def _run_complete(cmd: Command, args: list[str]) -> None:
    _, completions, directive, error = get_completions(cmd, args)
    if error:
        sys.stderr.write(f"[Debug] [Error] {error}\n")
    descriptions = cmd.called_as != "__completeNoDesc"
    if descriptions:  # <PROGRAM>_COMPLETION_DESCRIPTIONS, else COBRA_…, if it is a boolean
        name = "SKOPEO_COMPLETION_DESCRIPTIONS" if os.environ.get("SKOPEO_COMPLETION_DESCRIPTIONS") else \
            "COBRA_COMPLETION_DESCRIPTIONS"
        descriptions = env_flag(name) is not False
    out = []
    for comp in completions:
        if not descriptions:
            comp = comp.split("\t", 1)[0]
        out.append(comp.split("\n", 1)[0].strip() + "\n")
    sys.stdout.write("".join(out) + f":{directive}\n")
    sys.stdout.flush()
    sys.stderr.write(f"Completion ended with directive: {directive_text(directive)}\n")


def _go_list(args: list[str]) -> str:
    return "[" + " ".join(args) + "]"


def get_completions(c: Command, args: list[str]) -> tuple[Command, list[str], int, str]:
    """cobra's getCompletions: (command, candidates, directive, error text)."""
    to_complete, trimmed = args[-1], args[:-1]
    try:
        final, final_args = c.root().traverse(trimmed)
    except UsageError:
        return c, [], 0, f"unable to find a command for arguments: {_go_list(trimmed)}"
    if not final.disable_flag_parsing:
        final.init_default_help_flag()
    flag, final_args, to_complete, flag_error = _check_flag_completion(final, final_args, to_complete)
    flag_completion = True
    try:
        fs = final.parse_flags([*final_args, "--"])
        new_count = len(fs.args)
    except UsageError:
        new_count = 0
    try:
        fs = final.parse_flags(final_args)
    except UsageError as e:
        return final, [], 0, f"Error while parsing flags from args {_go_list(final_args)}: {e.message}"
    if new_count > len(fs.args):
        flag_completion = False
    if flag_error and (not flag_error.startswith("Subcommand ") or flag_completion):
        return final, [], 0, flag_error
    if fs.changed("help"):
        return final, [], NO_FILE_COMP, ""
    if not final.disable_flag_parsing:
        final_args = fs.args
    completions: list[str] = []
    if flag is None and to_complete.startswith("-") and "=" not in to_complete and flag_completion:
        for f in sorted(final.inherited_flag_list(), key=lambda f: f.name) + sorted(final.local_flag_list(),
                                                                                    key=lambda f: f.name):
            if not fs.changed(f.name) or f.kind == STRSLICE or "Slice" in f.kind:
                completions += _flag_name_completions(f, to_complete)
        directive = NO_FILE_COMP
        if len(completions) == 1 and completions[0].endswith("="):
            directive = NO_SPACE
        if not final.disable_flag_parsing:
            return final, completions, directive, ""
    else:
        directive = 0
        if flag is None and not final_args:
            for sub in final.commands():
                if sub.is_available() or sub is final.help_command:
                    if sub.name.startswith(to_complete):
                        completions.append(f"{sub.name}\t{sub.short}")
                    directive = NO_FILE_COMP
    complete_fn = None if flag is not None and flag_completion else final.valid_args_function
    if flag is None and complete_fn is not None:
        more, directive = complete_fn(final, final_args, to_complete)
        completions += more
    return final, completions, directive, ""


def _flag_name_completions(flag: Flag, to_complete: str) -> list[str]:
    if flag.hidden:
        return []
    out = []
    if f"--{flag.name}".startswith(to_complete):
        out.append(f"--{flag.name}\t{flag.help}")
    if flag.short and f"-{flag.short}".startswith(to_complete):
        out.append(f"-{flag.short}\t{flag.help}")
    return out


def _is_flag_arg(arg: str) -> bool:
    return (len(arg) >= 3 and arg.startswith("--")) or (len(arg) >= 2 and arg[0] == "-" and arg[1] != "-")


def _check_flag_completion(final: Command, args: list[str], last: str) -> tuple[Flag | None, list[str], str, str]:
    """cobra's checkIfFlagCompletion: is *last* the value of a flag?"""
    if final.disable_flag_parsing:
        return None, args, last, ""
    name = ""
    trimmed = args
    with_equal = False
    original = last
    if last.startswith("-"):
        index = last.find("=")
        if index < 0:
            return None, args, last, ""
        name = last[2:index] if last[:index].startswith("--") else last[index - 1 : index]
        last = last[index + 1 :]
        with_equal = True
    if not name and args and _is_flag_arg(args[-1]) and "=" not in args[-1]:
        prev = args[-1]
        name = prev[2:] if prev.startswith("--") else prev[-1:]
        trimmed = args[:-1]
    if not name:
        return None, trimmed, last, ""
    flag = _find_flag(final, name)
    if flag is None:
        return None, args, original, f"Subcommand '{final.name}' does not support flag '{name}'"
    if not with_equal and flag.takes_optional_value:
        return None, args, last, ""
    return flag, trimmed, last, ""


def _find_flag(cmd: Command, name: str) -> Flag | None:
    fs = cmd.flags()
    if len(name) == 1:
        short = fs.shorthands.get(name)
        if short is None:
            return None
        name = short.name
    return fs.lookup(name)


# --- skopeo's own completion of image names (upstream's autocompleteImageNames) ----------------
# What the shell may add after "TRANSPORT:" for the transports upstream knows;
# any other transport gets no space and no file names.
_AFTER_TRANSPORT = {"oci-archive": NO_SPACE, "docker-archive": NO_SPACE, "sif": 0, "oci": NO_SPACE, "dir": 0}
# Listed, but only usable from code (upstream does not offer it either).
_NOT_OFFERED = ("tarball",)


def complete_image_names(cmd: Command, args: list[str], to_complete: str) -> tuple[list[str], int]:
    from .. import plugins

    transport, sep, details = to_complete.partition(":")
    if not sep:
        names = sorted(name for name, t in plugins.transports().items() if t.listed and name not in _NOT_OFFERED)
        return [f"{name}:" for name in names], NO_SPACE | NO_FILE_COMP
    if transport in _AFTER_TRANSPORT:
        return [], _AFTER_TRANSPORT[transport]
    if transport == "docker" and not details:
        return ["docker://"], NO_SPACE | NO_FILE_COMP
    return [], NO_SPACE | NO_FILE_COMP
