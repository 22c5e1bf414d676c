"""The copy pipeline: the one place that reads a source, evaluates the trust
policy, decides compression, conversion, reuse and parallelism, verifies every
digest while streaming, and writes the manifest last.

Transports never make these decisions; they declare capabilities and move bytes.

The package, by role: :mod:`.options` (what callers ask, what they get),
:mod:`.decisions` (the pure decisions), :mod:`.session` (what one copy
shares), :mod:`.layers` (the layer pipeline, its restarts), :mod:`.manifests`
(conversion, config blobs), :mod:`.schema1` (schema1 both ways),
:mod:`.single` (one image) and :mod:`.lists` (manifest lists).
"""

from __future__ import annotations

from .. import events
from .. import manifest as mf
from ..errors import SkopeoError
from ..events import Emitter
from ..policy import PolicyContext
from ..progress import Progress
from ..transport import ImageReference
from .layers import LayerPipeline
from .lists import copy_list
from .manifests import ManifestBuilder
from .options import (
    DEFAULT_PARALLEL_COPIES,
    MULTI_ARCH_ALL,
    MULTI_ARCH_INDEX_ONLY,
    MULTI_ARCH_SYSTEM,
    CopyOptions,
    CopyResult,
)
from .session import CopySession
from .single import ImageCopier

__all__ = [
    "DEFAULT_PARALLEL_COPIES", "MULTI_ARCH_ALL", "MULTI_ARCH_INDEX_ONLY", "MULTI_ARCH_SYSTEM",
    "CopyOptions", "CopyResult", "copy_image",
]


def copy_image(
    policy: PolicyContext,
    dest_ref: ImageReference,
    src_ref: ImageReference,
    options: CopyOptions | None = None,
) -> CopyResult:
    """Copy the image *src_ref* to *dest_ref*; return the manifest written.
    Progress goes to ``options.events`` (events) and ``options.report`` (text)."""
    options = options or CopyOptions()
    if options.multi_arch not in (MULTI_ARCH_SYSTEM, MULTI_ARCH_ALL, MULTI_ARCH_INDEX_ONLY):
        raise SkopeoError(f"unknown multi-arch option {options.multi_arch!r}")
    text = Progress(options.report) if options.report is not None else None
    emit = Emitter(events.fan_out(text, options.events), events.new_copy_id())
    try:
        emit(events.CopyStarted(str(src_ref), str(dest_ref)))
        result = _open_and_copy(policy, dest_ref, src_ref, options, emit)
    except Exception as e:
        emit(events.CopyFailed(str(e)))
        raise
    finally:
        if text is not None:
            text.close()
    emit(events.CopyDone(result.digest, result.mime, result.skipped, result.bytes_copied))
    return result


def _open_and_copy(policy: PolicyContext, dest_ref: ImageReference, src_ref: ImageReference, options: CopyOptions,
                   emit: Emitter) -> CopyResult:
    # Destination first, then source, each error with its context: upstream's
    # order and wording ("initializing source docker://…: pinging …").
    try:
        dest = dest_ref.new_image_destination(options.dest_ctx)
    except SkopeoError as e:
        raise e.wrap(f"initializing destination {dest_ref}") from None
    try:
        try:
            src = src_ref.new_image_source(options.source_ctx)
        except SkopeoError as e:
            raise e.wrap(f"initializing source {src_ref}") from None
        try:
            session = CopySession(policy, src, dest, options, emit)
            manifests = ManifestBuilder(session)
            session.cache.open()
            try:
                result = _copy(session, ImageCopier(session, LayerPipeline(session), manifests))
                result.bytes_copied = session.bytes_copied
                return result
            finally:
                manifests.close()
                session.cache.close()  # writes what was learned
        finally:
            src.close()
    finally:
        dest.close()


def _copy(s: CopySession, images: ImageCopier) -> CopyResult:
    """The top-level manifest decides: one image, the instance of a list for
    this platform, or the list itself."""
    raw, mime = s.read_manifest(None)
    system = s.options.multi_arch == MULTI_ARCH_SYSTEM
    if s.dest_digest is not None and not mf.matches_digest(raw, s.dest_digest):
        if mime not in mf.LISTS or not system:
            raise SkopeoError("Digest of source image's manifest would not match destination reference")
    if mime in mf.LISTS:
        parsed = mf.parse(raw, mime)
        assert isinstance(parsed, mf.ManifestList)
        if system:
            result = _copy_system_instance(s, images, parsed)
            if result.skipped:
                return result
            # The destination commits with the source's top-level manifest, as
            # upstream (a store keeps the list, so its digest finds the image).
            s.commit(CopyResult(raw, mime))
            return result
        elif s.already_present(mf.manifest_digest(raw), raw, None):
            return CopyResult(raw, mime, skipped=True)
        else:
            result = copy_list(s, images, parsed)
    elif s.already_present(mf.manifest_digest(raw), raw, None):
        return CopyResult(raw, mime, skipped=True)
    else:
        result = images.copy(raw, mime, None, toplevel=True)
    s.commit(result)
    return result


def _copy_system_instance(s: CopySession, images: ImageCopier, parsed: mf.ManifestList) -> CopyResult:
    """The instance of the list *parsed* for this platform, copied as the
    top-level image (errors worded as upstream's)."""
    ctx = s.options.source_ctx
    try:
        instance = parsed.choose_instance(ctx.override_os, ctx.override_arch, ctx.override_variant)
    except SkopeoError as e:
        raise e.wrap(f"choosing an image from manifest list {s.src.reference}") from None
    try:
        inst_raw, inst_mime = s.read_manifest(instance)
        if s.already_present(instance, inst_raw, instance):
            return CopyResult(inst_raw, inst_mime, skipped=True)
        return images.copy(inst_raw, inst_mime, instance, toplevel=True)
    except SkopeoError as e:
        raise e.wrap("copying system image from manifest list") from None
