"""cobra's help and usage texts for :class:`~skopeo.cli.cobra.Command`: its
default help function, its default usage template and the one skopeo sets on
its sub-commands (adjustUsage: no indentation, no global flags)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .pflag import flag_usages

if TYPE_CHECKING:
    from .cobra import Command


def help_text(cmd: Command) -> str:
    """cobra's defaultHelpFunc: the long description (else the short one), then usage."""
    text = (cmd.long or cmd.short).rstrip()
    out = f"{text}\n\n" if text else ""
    if cmd.runnable() or cmd.child_names():
        out += usage_text(cmd)
    return out


def use_line(cmd: Command) -> str:
    line = f"{cmd.parent.command_path()} {cmd.use}" if cmd.parent else cmd.use
    if cmd.disable_flags_in_use_line:
        return line
    if any(not f.hidden for f, _ in cmd.flags().formal.values()) and "[flags]" not in line:
        line += " [flags]"
    return line


def _uses_skopeo_template(cmd: Command) -> bool:
    node: Command | None = cmd
    while node is not None:
        if node.skopeo_usage:
            return True
        node = node.parent
    return False


def usage_text(cmd: Command) -> str:
    """The usage template of *cmd* (skopeo's, or cobra's default) executed."""
    local = [f for f in cmd.local_flag_list() if not f.hidden]
    inherited = [f for f in cmd.inherited_flag_list() if not f.hidden]
    listed = [c for c in cmd.commands() if c.is_available() or c.name == "help"]
    has_subs = cmd.has_available_sub_commands()
    skopeo = _uses_skopeo_template(cmd)
    indent = "" if skopeo else "  "  # skopeo's template drops cobra's indentation
    out = "Usage:"
    if cmd.runnable():
        out += f"\n{indent}{use_line(cmd)}"
    if has_subs:
        out += ("\n\n" if skopeo else "\n  ") + f"{cmd.command_path()} [command]"
    if cmd.example:
        out += f"\n\nExamples:\n{cmd.example}"
    if has_subs:
        out += "\n\nAvailable Commands:" + "".join(
            f"\n{indent}{c.name.ljust(c.name_padding())} {c.short}" for c in listed)
    if local:
        out += "\n\nFlags:\n" + flag_usages(local).rstrip()
    if skopeo:
        return out + ("\n" if inherited else "") + "\n"
    if inherited:
        out += "\n\nGlobal Flags:\n" + flag_usages(inherited).rstrip()
    topics = [c for c in cmd.commands() if c.is_additional_help_topic()]
    if topics:
        pad = max(11, *(len(c.command_path()) for c in cmd.children))
        out += "\n\nAdditional help topics:" + "".join(f"\n  {c.command_path().ljust(pad)} {c.short}" for c in topics)
    if has_subs:
        out += f'\n\nUse "{cmd.command_path()} [command] --help" for more information about a command.'
    return out + "\n"
