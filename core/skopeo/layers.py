"""``skopeo layers`` (hidden and deprecated upstream): an image's blobs and
manifest saved, as they are, into a new ``layers-NNNN`` ``dir:`` directory in
the current directory.

As upstream: a list is resolved to the instance for this platform, the blobs
are the given ones (``sha256:`` assumed when no algorithm is named) or else
every distinct layer plus the config, and the directory, once created, is left
behind if a later step fails.  Unlike upstream, a blob whose digest does not
match is not left in the directory under that digest."""

from __future__ import annotations

import os
import random

from . import digest as digest_mod
from . import plugins
from .context import SystemContext
from .errors import DigestMismatchError, SkopeoError
from .golang.oserror import path_error_text
from .image import SourcedImage, from_source
from .retry import if_necessary
from .transport import BlobInfo, ImageDestination, ImageSource


def blob_digests(args: list[str]) -> list[str]:
    """The digests named on the command line (``sha256:`` added to a bare one),
    checked as go-digest's Parse checks them."""
    return [digest_mod.parse(text if text.startswith("sha256:") else "sha256:" + text) for text in args]


def default_blobs(image: SourcedImage) -> list[tuple[str, bool]]:
    """Every distinct layer in order, then the config: (digest, is_config)."""
    blobs: list[tuple[str, bool]] = []
    for d in image.manifest.layers:
        if (d.digest, False) not in blobs:
            blobs.append((d.digest, False))
    if image.manifest.config is not None and image.manifest.config.digest:
        blobs.append((image.manifest.config.digest, True))
    return blobs


def make_directory(parent: str = ".") -> str:
    """Go's ``os.MkdirTemp(parent, "layers-")``: a fresh directory, mode 0700."""
    while True:
        path = os.path.join(parent, f"layers-{random.randrange(2**32)}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        except OSError as e:
            raise SkopeoError(path_error_text("mkdir", path, e)) from None
        return path


def save_layers(name: str, layer_args: list[str], ctx: SystemContext, times: int = 0, delay: float = 0.0) -> str:
    """Run ``skopeo layers NAME [LAYER...]``; returns the directory written.
    *times*/*delay* are ``--retry-times``/``--retry-delay``."""
    src = if_necessary(lambda: plugins.parse_image_name(name).new_image_source(ctx), times, delay)
    try:
        image = if_necessary(lambda: from_source(src, ctx.override_os, ctx.override_arch, ctx.override_variant),
                             times, delay)
        blobs = [(d, False) for d in blob_digests(layer_args)] or default_blobs(image)
        directory = make_directory()
        dest = plugins.parse_image_name("dir:" + directory).new_image_destination(SystemContext())
        try:
            for digest, is_config in blobs:
                _copy_blob(src, dest, digest, is_config, times, delay)
            dest.put_manifest(image.raw, image.mime)
            dest.commit(image.raw, image.mime)
        finally:
            dest.close()
        return directory
    finally:
        src.close()


def _copy_blob(src: ImageSource, dest: ImageDestination, digest: str, is_config: bool, times: int,
               delay: float) -> None:
    stream, size = if_necessary(lambda: src.get_blob(BlobInfo(digest, -1)), times, delay)
    try:
        verified = digest_mod.VerifyingReader(stream, digest)
        dest.put_blob(verified, BlobInfo(digest, size), is_config)
    except DigestMismatchError:
        raise SkopeoError(f'corrupt blob "{digest}"') from None
    finally:
        stream.close()
