"""``skopeo list-tags``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .app import Command, Options, write_stdout
from .options import authfile_flag, registry_flags, retry_flags, retry_settings, system_context

if TYPE_CHECKING:
    from ..transport import Transport

FLAGS = [authfile_flag(), *registry_flags(""), *retry_flags()]


def run(opts: Options) -> int:
    from .. import api, retry
    from ..errors import InvalidReferenceError, SkopeoError

    name = opts.args[0]
    transport = _tag_listing_transport(name)
    prefix = transport.reference_prefix if transport is not None else ""
    rest = name.partition(":")[2]
    if transport is not None and prefix and not rest.startswith(prefix):
        raise SkopeoError(f"{transport.name}: image reference {name} does not start with {transport.name}:{prefix}")
    ctx = system_context(opts)
    times, delay = retry_settings(opts)
    try:
        out = retry.if_necessary(lambda: api.list_tags(name, ctx), times, delay)
    except InvalidReferenceError:
        raise
    except SkopeoError as e:
        if transport is not None and transport.list_tags_context:
            raise e.wrap(transport.list_tags_context) from None
        raise
    write_stdout(out.to_json())
    return 0


def _tag_listing_transport(name: str) -> Transport | None:
    """The transport *name* starts with, if it lists tags.  As upstream, a
    prefix that names no transport at all (``host:port/…``) is "does not
    specify a transport", one that cannot list tags (or a first-party one
    that is not installed) is "Unsupported".  None: a first-party plugin is
    installed but not loaded, which parsing the name reports."""
    from .. import plugins
    from ..errors import SkopeoError

    transport_name, sep, _ = name.partition(":")
    found = plugins.find_transport(transport_name) if sep else None
    if not sep or (found is None and transport_name not in plugins.FIRST_PARTY_TRANSPORTS):
        raise SkopeoError(f'Invalid "{name}": does not specify a transport')
    if found is None and plugins.first_party_installed(transport_name):
        return None
    if found is None or not found.lists_tags:
        raise SkopeoError(plugins.unsupported_tag_listing(transport_name))
    return found


COMMAND = Command(
    name="list-tags",
    short="List tags in the transport/repository specified by the SOURCE-IMAGE",
    long=(
        'Return the list of tags from the transport/repository "SOURCE-IMAGE"\n\n'
        "Supported transports:\n{tag_transports}\n\n"
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
