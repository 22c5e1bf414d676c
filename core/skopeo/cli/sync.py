"""``skopeo sync``."""

from __future__ import annotations

import sys

from ..errors import UsageError
from .app import BOOL, INT, STR, Command, Flag, Options
from .copy import apply_deprecated_flags, copy_behaviour_flags, manifest_type_flag, warn_deprecated_tls_verify
from .options import (
    authfile_flag,
    deprecated_tls_verify_flag,
    policy_context,
    registry_flags,
    retry_flags,
    retry_settings,
    system_context,
)

FLAGS = [
    authfile_flag(),
    deprecated_tls_verify_flag(),
    *registry_flags("src-", "screds"),
    *registry_flags("dest-", "dcreds"),
    *retry_flags(),
    *copy_behaviour_flags(),
    Flag("src", STR, "SOURCE transport type", short="s"),
    Flag("dest", STR, "DESTINATION transport type", short="d"),
    Flag("scoped", BOOL, "Images at DESTINATION are prefix using the full source image path as scope"),
    Flag("append-suffix", STR, "String to append to DESTINATION tags"),
    Flag("digestfile", STR, "Write the digests and Image References of the resulting images to the specified file, separated by newlines"),
    Flag("all", BOOL, "Copy all images if SOURCE-IMAGE is a list", short="a"),
    Flag("dry-run", BOOL, "Run without actually copying data"),
    Flag("keep-going", BOOL, "Do not abort the sync if any image copy fails"),
    # skopeo-py's own (hidden, so that help stays upstream's): see the README.
    Flag("parallel-images", INT, "Copy up to N images at once (default 8)", hidden=True),
    Flag("shard", STR, "Copy only the images of shard `INDEX/COUNT` (0-based index); default from $JOB_COMPLETION_INDEX",
         hidden=True),
    Flag("shard-count", INT, "Number of shards when the index comes from $JOB_COMPLETION_INDEX "
         "(default $SKOPEO_SYNC_SHARD_COUNT)", hidden=True),
    Flag("sign-identity", STR, "Identity of signed image, must be a fully specified docker reference", hidden=True),
]


def run(opts: Options) -> int:
    """Upstream's order: policy, transports, the source's context, the source
    listing, then the destination and copy options (format, signing)."""
    import time

    from ..copy import MULTI_ARCH_ALL, MULTI_ARCH_SYSTEM, CopyOptions
    from ..shard import select_shard
    from ..sync import DEFAULT_PARALLEL_IMAGES, SyncOptions, check_kinds, enumerate_sources, sync_sources
    from .signing import check_sign_identity, signers_from_flags

    warn_deprecated_tls_verify(opts)
    policy = policy_context(opts)
    if not opts.src:
        raise UsageError("A source transport must be specified")
    if opts.src not in ("docker", "dir", "yaml"):
        raise UsageError(f'"{opts.src}" is not a valid source transport')
    if not opts.dest:
        raise UsageError("A destination transport must be specified")
    parallel = opts.parallel_images if opts.parallel_images is not None else DEFAULT_PARALLEL_IMAGES
    times, delay = retry_settings(opts)
    options = SyncOptions(
        source_kind=opts.src,
        dest_kind=opts.dest,  # "oci" is skopeo-py's addition (see the README)
        scoped=bool(opts.scoped),
        append_suffix=opts.append_suffix or "",
        dry_run=bool(opts.dry_run),
        keep_going=bool(opts.keep_going),
        digestfile=opts.digestfile,
        retry_times=times,
        retry_delay=delay,
        parallel_images=parallel,
    )
    check_kinds(options)
    options.shard = select_shard(opts.shard, opts.shard_count)  # skopeo-py's --shard (hidden)
    apply_deprecated_flags(opts)
    options.copy.source_ctx = system_context(opts, "src-")
    started = time.monotonic()
    sources = enumerate_sources(opts.args[0], options)
    options.copy = CopyOptions(
        source_ctx=options.copy.source_ctx,
        dest_ctx=system_context(opts, "dest-"),
        report=sys.stdout,
        remove_signatures=bool(opts.remove_signatures),
        manifest_type=manifest_type_flag(opts),
        preserve_digests=bool(opts.preserve_digests),
        multi_arch=MULTI_ARCH_ALL if opts.all else MULTI_ARCH_SYSTEM,
    )
    if (opts.sign_by or opts.sign_by_sigstore_private_key or opts.sign_by_sigstore) and not opts.sign_identity \
            and opts.dest != "docker":
        raise UsageError(f"Cannot determine canonical Docker reference for destination {opts.dest}:{opts.args[1]}")
    # Also when not signing: --sign-identity and --sign-passphrase-file are checked whenever given.
    check_sign_identity(opts)
    options.copy.signers = signers_from_flags(opts, None)
    if parallel < 1:
        raise UsageError("--parallel-images must be at least 1")
    sync_sources(sources, opts.args[1], options, policy, started)
    return 0


COMMAND = Command(
    name="sync",
    short="Synchronize one or more images from one location to another",
    long=(
        "Copy all the images from a SOURCE to a DESTINATION.\n\n"
        "Allowed SOURCE transports (specified with --src): docker, dir, yaml.\n"
        "Allowed DESTINATION transports (specified with --dest): docker, dir.\n\n"
        "See skopeo-sync(1) for details.\n"
    ),
    usage="sync [command options] --src TRANSPORT --dest TRANSPORT SOURCE DESTINATION",
    examples="skopeo sync --src docker --dest dir --scoped registry.example.com/busybox /media/usb",
    flags=FLAGS,
    run=run,
    arg_counts=(2,),
    arg_error="Exactly two arguments expected",
    help_on_arg_error=True,
)
