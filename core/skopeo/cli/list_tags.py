"""``skopeo list-tags``."""

from __future__ import annotations

from .app import Command, Options, print_stdout
from .options import authfile_flag, registry_flags, retry_flags, retry_settings, system_context

FLAGS = [authfile_flag(), *registry_flags(""), *retry_flags()]

SUPPORTED = ("docker", "docker-archive")


def run(opts: Options) -> int:
    from .. import api, gojson, retry
    from ..errors import InvalidReferenceError, SkopeoError

    name = opts.args[0]
    transport, sep, rest = name.partition(":")
    if not sep or not _is_known_transport(transport):
        raise SkopeoError(f'Invalid "{name}": does not specify a transport')
    if transport not in SUPPORTED:
        raise SkopeoError(
            f"Unsupported transport '{transport}' for tag listing. Only supported: {', '.join(SUPPORTED)}"
        )
    if transport == "docker" and not rest.startswith("//"):
        raise SkopeoError(f"docker: image reference {name} does not start with docker://")
    ctx = system_context(opts)
    times, delay = retry_settings(opts)
    try:
        out = retry.if_necessary(lambda: api.list_tags(name, ctx), times, delay)
    except InvalidReferenceError:
        raise
    except SkopeoError as e:
        if transport == "docker":  # upstream's context for listing a registry's tags
            raise e.wrap("Error listing repository tags") from None
        raise
    print_stdout(gojson.marshal_indent(out))
    return 0


def _is_known_transport(name: str) -> bool:
    """As upstream: a prefix that names no transport at all (``host:port/…``)
    is "no transport", one that exists but lists no tags is "unsupported"."""
    from .. import plugins
    from ..errors import SkopeoError

    if name in SUPPORTED or name in plugins.FIRST_PARTY_TRANSPORTS:
        return True
    try:
        plugins.get_transport(name)
    except SkopeoError:
        return False
    return True


COMMAND = Command(
    name="list-tags",
    short="List tags in the transport/repository specified by the SOURCE-IMAGE",
    long=(
        'Return the list of tags from the transport/repository "SOURCE-IMAGE"\n\n'
        "Supported transports:\n" + " ".join(SUPPORTED) + "\n\n"
        'See skopeo-list-tags(1) section "REPOSITORY NAMES" for the expected format\n'
    ),
    usage="list-tags [command options] SOURCE-IMAGE",
    examples="skopeo list-tags docker://docker.io/fedora",
    flags=FLAGS,
    run=run,
    arg_counts=(1,),
    arg_error="Exactly one non-option argument expected",
    help_on_arg_error=True,
)
