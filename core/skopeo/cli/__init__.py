"""The ``skopeo`` command line: a thin layer over :mod:`skopeo.api`.

Errors are reported exactly once, here, as a logrus ``fatal`` line with the
error's exit status."""

from __future__ import annotations

import atexit
import os
import sys
import threading

from .. import __version__, log
from ..errors import SkopeoError, UsageError


def _find_command(argv: list[str]) -> int:
    """Index of the sub-command name in *argv* (-1 if none)."""
    from .app import BOOL, GLOBAL_FLAGS, OPTBOOL, _flag_table

    table = _flag_table(GLOBAL_FLAGS)
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            return i + 1 if i + 1 < len(argv) else -1
        if tok.startswith("-"):
            # As cobra's stripFlags: "--name" or "-x" without "=" takes the next
            # word as its value unless it is a known boolean, even when the flag
            # is unknown (parsing reports that one later).
            flag = table.get(tok)
            takes_value = "=" not in tok and (tok.startswith("--") or len(tok) == 2) and (
                flag is None or flag.kind not in (BOOL, OPTBOOL)
            )
            if takes_value:
                if i + 2 >= len(argv):
                    return -1
                i += 1
            i += 1
            continue
        return i
    return -1


def _run(argv: list[str]) -> int:
    from . import app

    idx = _find_command(argv)
    head = argv[: idx if idx >= 0 else len(argv)]
    if any(t in ("-h", "--help") for t in head):
        app.print_stdout(app.root_help())
        return 0
    if idx < 0:
        opts = app.parse_flags(app.GLOBAL_FLAGS, head)
        if opts.version:
            app.print_stdout(f"skopeo version {__version__}\n")
            return 0
        raise UsageError("Missing command 'skopeo COMMAND'\nTry 'skopeo --help' for more information")
    name = argv[idx]
    rest = argv[:idx] + argv[idx + 1 :]
    if name == "help":
        target = [a for a in argv[idx + 1 :] if not a.startswith("-")]
        if target and target[0] in app.COMMAND_MODULES:
            app.print_stdout(app.command_help(app.load_command(target[0])))
        else:
            app.print_stdout(app.root_help())
        return 0
    after = argv[idx + 1 :]
    after = after[: after.index("--")] if "--" in after else after
    if name not in app.COMMAND_MODULES:
        if any(t in ("-h", "--help") for t in after):  # cobra shows the root's help then
            app.print_stdout(app.root_help())
            return 0
        raise UsageError(f"Unrecognized command `skopeo {name}`\nTry 'skopeo --help' for more information")
    cmd = app.load_command(name)
    # --version belongs to the root command alone: after a command it is unknown
    # (before one, cobra parses it for the root and runs the command anyway).
    own = {f.name for f in cmd.flags} | {f.short for f in cmd.flags if f.short}
    for tok in after:
        if (tok == "--version" or tok.startswith("--version=")) and "version" not in own:
            raise UsageError("unknown flag: --version")
        if tok == "-v" and "v" not in own:  # login's -v is its --verbose
            raise UsageError("unknown shorthand flag: 'v' in -v")
    global_argv, cmd_argv = app.split_global(rest, cmd.flags)
    gopts = app.parse_flags(app.GLOBAL_FLAGS, global_argv)
    if gopts.debug:
        log.level = log.DEBUG
    # The help flag as pflag defines it: "-qh" or "--help=true" ask for help, an
    # unknown flag anywhere is still an error first.
    opts = app.parse_flags([*cmd.flags, app.HELP_FLAG], cmd_argv)
    if opts.pop("help", False):
        app.print_stdout(app.command_help(cmd))
        return 0
    opts["globals"] = gopts
    if cmd.arg_counts is not None and len(opts.args) not in cmd.arg_counts:
        if cmd.help_on_arg_error:
            sys.stderr.write(app.command_help(cmd))
        raise UsageError(cmd.arg_error)
    if gopts.command_timeout is not None:
        from .options import parse_duration

        seconds = parse_duration(gopts.command_timeout, "command-timeout")
        if seconds > 0 and name in TIMED_COMMANDS:
            from .. import deadline

            deadline.start(seconds, _last_resort)
    result = cmd.run(opts)
    return int(result or 0)


# The commands upstream runs under --command-timeout's context (the others
# accept the flag and ignore it; the image proxy serves without a deadline).
TIMED_COMMANDS = frozenset({"copy", "delete", "inspect", "layers", "list-tags", "login", "sync"})


def _last_resort() -> None:
    """--command-timeout passed and the command did not end by itself (see
    skopeo.deadline): report it as upstream does, run the exit handlers
    (temporary directories), leave."""
    from .. import deadline

    log.fatal(deadline.MESSAGE)
    exit_now(1, wait_for_threads=False)


def _command_over() -> None:
    """No last resort from now on; if it already runs, it ends the process."""
    if "skopeo.deadline" in sys.modules:
        from .. import deadline

        if not deadline.finish():
            threading.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _run(args)
        _command_over()
    except SkopeoError as e:
        _command_over()
        log.fatal(e.message)
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return code


def entry() -> None:
    """The console script: run, then leave without tearing the interpreter down."""
    # httpx imports its own command line (click, ~10 ms) whenever click is
    # installed, and typer brings click along.  This process never runs httpx's
    # CLI, so that import is made to fail (httpx then defines a stub ``main``).
    # Only the console script does this: programs that import the API keep
    # httpx exactly as installed.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    _pause_gc_during_start_up()
    instruction = os.environ.get("_SKOPEO_COMPLETE")
    if instruction:  # the shell asking for completions (see cli.completion)
        from .completion import complete

        exit_now(complete(instruction))
    exit_now(main())


GC_START_UP_PAUSE = 0.5  # seconds


def _pause_gc_during_start_up() -> None:
    """Start-up creates ~100k objects that live as long as the process (modules,
    classes, functions), and every cyclic collection meanwhile walks them all
    again: ~5 ms of a 60 ms start-up.  Collection is off for the first half
    second, then those objects are frozen out of its way and it runs as usual,
    so a long ``sync`` still frees its reference cycles."""
    import gc

    def resume() -> None:
        gc.freeze()
        gc.enable()

    gc.disable()
    timer = threading.Timer(GC_START_UP_PAUSE, resume)
    timer.daemon = True
    timer.start()


def exit_now(code: int, wait_for_threads: bool = True) -> None:
    """Exit like ``sys.exit`` but skip the interpreter's teardown (freeing every
    module and object one by one: ~15 ms, as long as a registry round trip).

    What teardown would do that matters still happens: ``atexit`` handlers run
    (temporary directories registered with ``weakref.finalize`` among them) and
    the standard streams are flushed.  Everything we write to files is closed
    explicitly before this point.  If a non-daemon thread is still running, the
    normal exit waits for it instead."""
    timed_out = sys.modules.get("skopeo.deadline")
    if timed_out is not None and timed_out.expired():
        # --command-timeout passed: a thread still blocked is not waited for
        # (what it wrote is cleaned up by the exit handlers below).
        wait_for_threads = False
    if wait_for_threads and any(
        t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()
    ):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            if code == 0:
                code = 1  # output could not be written (a closed pipe): as a failed write
    os._exit(code)
