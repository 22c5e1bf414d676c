"""``skopeo inspect``."""

from __future__ import annotations

from ..errors import UsageError
from .app import BOOL, STR, Command, Flag, Options, print_stdout, write_stdout
from .options import authfile_flag, image_flags, registry_flags, retry_flags, retry_settings, system_context

FLAGS = [
    authfile_flag(),
    *registry_flags(""),
    *image_flags(""),
    *retry_flags(),
    Flag("raw", BOOL, "output raw manifest or configuration"),
    Flag("config", BOOL, "output configuration"),
    Flag("format", STR, "Format the output to a Go template", short="f"),
    Flag("no-tags", BOOL, "Do not list the available tags from the repository in the output", short="n"),
    Flag("manifest-digest", STR, "Algorithm to use for computing manifest digest (sha256, sha512); defaults to algorithm used in config digest",
         metavar="algorithm"),
]


def run(opts: Options) -> int:
    from .. import api, retry
    from ..golang import gojson

    name = opts.args[0]
    if opts.raw and opts.format:
        raise UsageError("raw output does not support format option")
    if opts.format:
        from ..report import is_json

        if is_json(opts.format):
            opts["format"] = ""  # containers/common's IsJSON: "json" or "{{json}}" is the plain JSON output
    ctx = system_context(opts)
    times, delay = retry_settings(opts)
    if opts.raw:
        data = retry.if_necessary(lambda: api.inspect_raw(name, ctx, config=bool(opts.config)), times, delay)
        write_stdout(data)
        return 0
    if opts.config:
        cfg = retry.if_necessary(lambda: api.inspect_config(name, ctx), times, delay)
        if opts.format:
            from ..inspect import config_template_data

            _print_template(opts.format, config_template_data(cfg),
                            "Error writing OCI-formatted configuration data to standard output")
        else:
            print_stdout(gojson.marshal_indent(cfg))
        return 0
    algorithm = opts.manifest_digest
    if algorithm == "":
        algorithm = "sha256"  # upstream's algorithmValue: an empty value is the canonical algorithm
    out = retry.if_necessary(lambda: api.inspect(name, ctx, no_tags=bool(opts.no_tags), digest_algorithm=algorithm),
                             times, delay)
    if opts.format:
        _print_template(opts.format, out.template_data(), "")
    else:
        write_stdout(out.to_json())
    return 0


def _print_template(fmt: str, data: object, context: str) -> None:
    """Print ``--format`` output; on an execution error, what Go had already
    written reaches stdout before the error is reported."""
    from ..golang.gotemplate import TemplateError
    from ..report import render

    try:
        text = render(fmt, data)
    except TemplateError as e:
        if e.partial:
            print_stdout(e.partial)
        raise e.wrap(context) if context else e from None
    print_stdout(text)


COMMAND = Command(
    name="inspect",
    short="Inspect image IMAGE-NAME",
    long=(
        'Return low-level information about "IMAGE-NAME" in a registry/transport\n'
        "Supported transports:\n{transports}\n\n"
        'See skopeo(1) section "IMAGE NAMES" for the expected format\n'
    ),
    usage="inspect [command options] IMAGE-NAME",
    examples=(
        "skopeo inspect docker://registry.fedoraproject.org/fedora\n"
        "skopeo inspect --config docker://docker.io/alpine\n"
        'skopeo inspect --format "Name: {{.Name}} Digest: {{.Digest}}" docker://registry.access.redhat.com/ubi8'
    ),
    flags=FLAGS,
    run=run,
    arg_counts=(1,),
    arg_error="Exactly one argument expected",
    complete_image_names=True,
)
