"""``skopeo layers`` (hidden, deprecated in favour of ``copy``, as upstream)."""

from __future__ import annotations

import sys

from ..errors import UsageError
from .app import Command, Options
from .options import authfile_flag, image_flags, registry_flags, retry_flags, retry_settings, system_context

FLAGS = [authfile_flag(), *registry_flags(""), *image_flags(""), *retry_flags()]


def run(opts: Options) -> int:
    from ..layers import save_layers

    sys.stderr.write("DEPRECATED: skopeo layers is deprecated in favor of skopeo copy\n")
    sys.stderr.flush()
    if not opts.args:
        raise UsageError("Usage: layers imageReference [layer...]")
    ctx = system_context(opts)
    times, delay = retry_settings(opts)
    save_layers(opts.args[0], opts.args[1:], ctx, times, delay)
    return 0


COMMAND = Command(
    name="layers",
    short="Get layers of IMAGE-NAME",
    long="",
    usage="layers [command options] IMAGE-NAME [LAYER...]",
    flags=FLAGS,
    run=run,
    hidden=True,
)
