"""``skopeo copy``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .. import manifest as mf
from ..errors import SkopeoError, UsageError
from .app import BOOL, INT, INTSLICE, STR, STRSLICE, UINT, Command, Flag, Options
from .options import (
    authfile_flag,
    deprecated_tls_verify_flag,
    image_flags,
    policy_context,
    registry_flags,
    retry_flags,
    retry_settings,
    system_context,
)

if TYPE_CHECKING:
    from ..context import SystemContext
    from ..copy import CopyOptions
    from ..ocicrypt.config import DecryptConfig, EncryptConfig
    from ..transport import ImageReference

FORMATS = {"oci": mf.OCI_MANIFEST, "v2s1": mf.DOCKER_V2S1_SIGNED, "v2s2": mf.DOCKER_V2S2}


def copy_behaviour_flags() -> list[Flag]:
    """Group C (upstream's sharedCopyFlags), shared with sync."""
    return [
        Flag("remove-signatures", BOOL, "Do not copy signatures from source"),
        Flag("sign-by", STR, "Sign the image using a GPG key with the specified `FINGERPRINT`"),
        Flag("sign-by-sq-fingerprint", STR, "Sign the image using a Sequoia-PGP key with the specified `FINGERPRINT`"),
        Flag("sign-by-sigstore", STR, "Sign the image using a sigstore parameter file at `PATH`"),
        Flag("sign-by-sigstore-private-key", STR, "Sign the image using a sigstore private key at `PATH`"),
        Flag("sign-passphrase-file", STR, "Read a passphrase for signing an image from `PATH`"),
        Flag("format", STR, "MANIFEST TYPE (oci, v2s1, or v2s2) to use in the destination (default is manifest type of source, with fallbacks)",
             short="f"),
        Flag("preserve-digests", BOOL, "Preserve digests of images and lists"),
    ]


def dest_image_flags() -> list[Flag]:
    """Upstream's imageDestFlags beyond the registry and image groups."""
    return [
        Flag("dest-compress", BOOL, "Compress tarball image layers when saving to directory using the 'dir' transport. (default is same compression type as source)"),
        Flag("dest-decompress", BOOL, "Decompress tarball image layers when saving to directory using the 'dir' transport. (default is same compression type as source)"),
        Flag("dest-oci-accept-uncompressed-layers", BOOL, "Allow uncompressed image layers when saving to an OCI image using the 'oci' transport. (default is to compress things that aren't compressed)"),
        Flag("dest-compress-format", STR, "`FORMAT` to use for the compression"),
        Flag("dest-compress-level", INT, "`LEVEL` to use for the compression"),
        Flag("dest-precompute-digests", BOOL, "Precompute digests to prevent uploading layers already on the registry using the 'docker' transport."),
        Flag("dest-force-compress-format", BOOL, "Force exclusive use of the compression algorithm set in --dest-compress-format"),
    ]


FLAGS = [
    authfile_flag(),
    deprecated_tls_verify_flag(),
    *registry_flags("src-", "screds"),
    *image_flags("src-"),
    *registry_flags("dest-", "dcreds"),
    *image_flags("dest-"),
    *dest_image_flags(),
    *retry_flags(),
    *copy_behaviour_flags(),
    Flag("additional-tag", STRSLICE, "additional tags (supports docker-archive)"),
    Flag("quiet", BOOL, "Suppress output information when copying images", short="q"),
    Flag("all", BOOL, "Copy all images if SOURCE-IMAGE is a list", short="a"),
    Flag("multi-arch", STR, "How to handle multi-architecture images (system, all, or index-only)"),
    Flag("sign-identity", STR, "Identity of signed image, must be a fully specified docker reference. Defaults to the target docker reference."),
    Flag("digestfile", STR, "Write the digest of the pushed image to the specified file"),
    Flag("encryption-key", STRSLICE, "*Experimental* key with the encryption protocol to use needed to encrypt the image (e.g. jwe:/path/to/key.pem)"),
    Flag("encrypt-layer", INTSLICE, "*Experimental* the 0-indexed layer indices, with support for negative indexing (e.g. 0 is the first layer, -1 is the last layer)"),
    Flag("decryption-key", STRSLICE, "*Experimental* key needed to decrypt the image"),
    Flag("image-parallel-copies", UINT, "Maximum number of image layers to be copied (pulled/pushed) simultaneously. Not setting this field will fall back to containers/image defaults."),
    # skopeo-py's own (hidden, so that help stays upstream's): see the README.
    Flag("dest-archive-append", BOOL, "Add the image to an existing archive instead of refusing it, so one archive holds several images (docker-archive only)", hidden=True),
]


def apply_deprecated_flags(opts: Options) -> None:
    """``--screds``/``--dcreds`` and the per-command ``--tls-verify`` (copy, sync)."""
    for old, new in (("screds", "src_creds"), ("dcreds", "dest_creds")):
        if opts.get(old) is not None:
            opts[new] = opts[old]
    if opts.get("tls_verify") is not None:
        for side in ("src_tls_verify", "dest_tls_verify"):
            if opts.get(side) is None:
                opts[side] = opts.tls_verify


def warn_deprecated_tls_verify(opts: Options) -> None:
    if opts.get("tls_verify") is not None:
        from .. import log

        log.warning("'--tls-verify' is deprecated, instead use: --src-tls-verify, --dest-tls-verify")


def manifest_type_flag(opts: Options) -> str | None:
    """The MIME type ``--format`` asks for (copy, sync)."""
    if opts.format is None:  # not given ("--format=" is an unknown format, as upstream)
        return None
    if opts.format not in FORMATS:
        raise UsageError(
            f'unknown format "{opts.format}". Choose one of the supported formats: \'oci\', \'v2s1\', or \'v2s2\''
        )
    return FORMATS[opts.format]


def _list_selection(opts: Options) -> str:
    from ..copy import MULTI_ARCH_ALL, MULTI_ARCH_INDEX_ONLY, MULTI_ARCH_SYSTEM

    if opts.all and opts.multi_arch is not None:
        raise UsageError("Cannot use --all and --multi-arch flags together")
    if opts.multi_arch is not None and opts.multi_arch not in (MULTI_ARCH_SYSTEM, MULTI_ARCH_ALL, MULTI_ARCH_INDEX_ONLY):
        raise UsageError(
            f'unknown multi-arch option "{opts.multi_arch}". '
            "Choose one of the supported options: 'system', 'all', or 'index-only'"
        )
    return MULTI_ARCH_ALL if opts.all else opts.multi_arch or MULTI_ARCH_SYSTEM


def build_options(opts: Options, dest_ref: ImageReference | None = None) -> tuple[CopyOptions, tuple[int, float]]:
    """(CopyOptions, (retry_times, retry_delay)) from parsed flags, checked in
    upstream's order: contexts, additional tags, list selection, encryption,
    sign identity, then the shared copy options (format, signing)."""
    from .. import compression
    from ..copy import CopyOptions
    from .signing import check_sign_identity

    apply_deprecated_flags(opts)
    src_ctx = system_context(opts, "src-")
    src_ctx.shared_blob_dir = opts.src_shared_blob_dir
    dest_ctx = system_context(opts, "dest-")
    if opts.dest_compress_format:
        compression.validate_algorithm(opts.dest_compress_format)
    dest_ctx.oci_accept_uncompressed_layers = bool(opts.dest_oci_accept_uncompressed_layers)
    check_additional_tags(opts.additional_tag)
    dest_ctx.docker_archive_additional_tags = list(opts.additional_tag)
    dest_ctx.docker_archive_append = bool(opts.dest_archive_append)
    dest_ctx.dir_force_compress = bool(opts.dest_compress)
    dest_ctx.dir_force_decompress = bool(opts.dest_decompress)
    multi_arch = _list_selection(opts)
    encryption = encryption_settings(opts)
    check_sign_identity(opts)
    if dest_ref is not None:
        warn_ineffective_settings(dest_ctx, dest_ref)
    manifest_type = manifest_type_flag(opts)
    options = CopyOptions(
        source_ctx=src_ctx,
        dest_ctx=dest_ctx,
        report=None if opts.quiet else sys.stdout,
        remove_signatures=bool(opts.remove_signatures),
        manifest_type=manifest_type,
        preserve_digests=bool(opts.preserve_digests),
        multi_arch=multi_arch,
        compression_format=opts.dest_compress_format or None,
        compression_level=opts.dest_compress_level,
        force_compression_format=bool(opts.dest_force_compress_format),
        precompute_digests=bool(opts.dest_precompute_digests),
    )
    options.encryption, options.encrypt_layers, options.decryption = encryption
    if opts.image_parallel_copies:
        options.parallel_copies = opts.image_parallel_copies
    return options, retry_settings(opts)


# Flags setting a destination setting that one transport reads: (setting,
# flag, the transport the flag's help names).
_TRANSPORT_SETTING_FLAGS = (
    ("dir_force_compress", "dest-compress", "dir"),
    ("dir_force_decompress", "dest-decompress", "dir"),
)


def warn_ineffective_settings(ctx: SystemContext, dest_ref: ImageReference) -> None:
    """As upstream: a flag setting what the destination's transport does not
    read has no effect, and the user is told."""
    from .. import log

    for setting, flag, owner in _TRANSPORT_SETTING_FLAGS:
        if getattr(ctx, setting) and setting not in dest_ref.transport.settings:
            log.warning(f"--{flag} can only be used if the destination transport is '{owner}'")


def encryption_settings(opts: Options) -> tuple[EncryptConfig | None, list[int] | None, DecryptConfig | None]:
    """``--encryption-key``, ``--encrypt-layer``, ``--decryption-key``: checked
    and their key files read before anything is copied, as upstream; the
    encryption, the layers to encrypt and the decryption settings."""
    if not (opts.encryption_key or opts.encrypt_layer or opts.decryption_key):
        return None, None, None
    from ..ocicrypt import config

    config.check_flags(opts.encryption_key, opts.encrypt_layer, opts.decryption_key)
    encryption = config.encrypt_config(opts.encryption_key) if opts.encryption_key else None
    layers = list(opts.encrypt_layer) if opts.encryption_key else None
    decryption = config.decrypt_config(opts.decryption_key) if opts.decryption_key else None
    return encryption, layers, decryption


def check_additional_tags(tags: list[str]) -> None:
    """As upstream, before anything is opened: each must be a tagged name."""
    from ..reference import parse_additional_tag

    for tag in tags:
        parse_additional_tag(tag)


def run(opts: Options) -> int:
    from .. import api
    from .signing import signers_from_flags

    source, dest = opts.args
    warn_deprecated_tls_verify(opts)
    policy = policy_context(opts)
    try:
        src_ref = api.parse(source)
    except SkopeoError as e:
        raise e.wrap(f"Invalid source name {source}") from None
    try:
        dest_ref = api.parse(dest)
    except SkopeoError as e:
        raise e.wrap(f"Invalid destination name {dest}") from None
    options, (times, delay) = build_options(opts, dest_ref)
    options.signers = signers_from_flags(opts, dest_ref)
    if opts.dest_force_compress_format and not opts.dest_compress_format:
        raise UsageError("cannot use ForceCompressionFormat with undefined default compression format")
    if dest.split(":", 1)[-1].split(":", 1)[0] in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1") and not opts.quiet:
        # The image itself goes to stdout: keep progress out of the data.
        options.report = sys.stderr
    api.copy(src_ref, dest_ref, options, policy, times, delay, opts.digestfile)
    return 0


COMMAND = Command(
    name="copy",
    short="Copy an IMAGE-NAME from one location to another",
    long=(
        'Container "IMAGE-NAME" uses a "transport":"details" format.\n\n'
        "Supported transports:\n{transports}\n\n"
        'See skopeo(1) section "IMAGE NAMES" for the expected format\n'
    ),
    usage="copy [command options] SOURCE-IMAGE DESTINATION-IMAGE",
    examples="skopeo copy docker://quay.io/skopeo/stable:latest docker://registry.example.com/skopeo:latest",
    flags=FLAGS,
    run=run,
    arg_counts=(2,),
    arg_error="Exactly two arguments expected",
    help_on_arg_error=True,
    complete_image_names=True,
)
