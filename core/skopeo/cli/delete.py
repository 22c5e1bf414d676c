"""``skopeo delete``."""

from __future__ import annotations

from .app import Command, Options
from .options import authfile_flag, image_flags, registry_flags, retry_flags, retry_settings, system_context

FLAGS = [authfile_flag(), *registry_flags(""), *image_flags(""), *retry_flags()]


def run(opts: Options) -> int:
    from .. import api, retry

    name = opts.args[0]
    ctx = system_context(opts)
    times, delay = retry_settings(opts)
    retry.if_necessary(lambda: api.delete(name, ctx), times, delay)
    return 0


COMMAND = Command(
    name="delete",
    short="Delete image IMAGE-NAME",
    long=(
        'Delete an "IMAGE_NAME" from a transport\n'
        "Supported transports:\n{transports}\n"
        'See skopeo(1) section "IMAGE NAMES" for the expected format\n'
    ),
    usage="delete [command options] IMAGE-NAME",
    examples="skopeo delete docker://registry.example.com/example/pause:latest",
    flags=FLAGS,
    run=run,
    arg_counts=(1,),
    arg_error="Usage: delete imageReference",
    complete_image_names=True,
)
