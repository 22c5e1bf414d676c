"""The ``skopeo`` command line: a thin layer over :mod:`skopeo.api`.

Errors are reported exactly once, here, as a logrus ``fatal`` line with the
error's exit status."""

from __future__ import annotations

import atexit
import os
import sys
import threading

from .. import log
from ..errors import SkopeoError


def _run(argv: list[str]) -> int:
    from .app import build_root
    from .cobra import execute

    return execute(build_root(), argv)


def last_resort() -> None:
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
    # installed (other packages bring it along).  This process never runs httpx's
    # CLI, so that import is made to fail (httpx then defines a stub ``main``).
    # Only the console script does this: programs that import the API keep
    # httpx exactly as installed.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    _pause_gc_during_start_up()
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
