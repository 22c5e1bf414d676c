"""What every part of one copy shares: both ends, the options, the trust
policy, its events, the cancel event, the parallelism decided once, and the
checks and writes that single images and lists both make."""

from __future__ import annotations

import copy
import threading

from .. import blobinfocache, log
from .. import events as ev
from ..errors import PolicyError, SkopeoError, UnsupportedError
from ..image import checked_manifest
from ..policy import PolicyContext
from ..transport import ImageDestination, ImageSource
from .decisions import cannot_modify_reason, encryption_compression_format
from .options import CopyOptions, CopyResult


class CopySession:
    def __init__(self, policy: PolicyContext, src: ImageSource, dest: ImageDestination, options: CopyOptions,
                 emit: ev.Emitter | None = None) -> None:
        self.policy = policy
        self.src = src
        self.dest = dest
        self.options = options
        # Where the copy's events go; a view's events name its list instance.
        self.emit = emit if emit is not None else ev.Emitter(options.events)
        self._bytes_copied = [0]  # shared with every view
        self.lock = threading.Lock()
        # Set when one blob failed: the others stop at their next read.
        self.cancel = threading.Event()
        dref = dest.reference.docker_reference()
        self.dest_digest = dref.digest if dref is not None else None
        self._compression_format: tuple[str | None] | None = None
        # What this and earlier copies learned about blobs (opened by copy_image).
        self.cache = blobinfocache.cache_for(options.dest_ctx)
        self.parallel = (
            options.parallel_copies > 1
            and src.capabilities.thread_safe_get_blob
            and dest.capabilities.thread_safe_put_blob
        )

    def view(self, instance: int) -> CopySession:
        """This session as list instance *instance*, copied beside others, sees
        it: its events name the instance, it has its own cancel event (a failed
        blob stops its siblings, not the other instances); everything else shared."""
        view = copy.copy(self)
        view.emit = self.emit.for_instance(instance)
        view.cancel = threading.Event()
        return view

    @property
    def bytes_copied(self) -> int:
        return self._bytes_copied[0]

    def count_copied(self, size: int) -> None:
        with self.lock:
            self._bytes_copied[0] += size

    def desired_compression(self) -> str:
        return self.options.force_layer_compression or self.dest.capabilities.desired_layer_compression

    def compression_format(self) -> str | None:
        """``--dest-compress-format``, except that encrypted layers are not
        zstd:chunked (decided, and warned about, once per copy)."""
        with self.lock:
            if self._compression_format is None:
                o = self.options
                fmt = o.compression_format
                if o.encryption is not None:
                    fmt = encryption_compression_format(fmt, o.force_compression_format)
                    if fmt != o.compression_format:
                        log.warning("Compression using zstd:chunked is not beneficial for encrypted layers, "
                                    "using plain zstd instead")
                self._compression_format = (fmt,)
            return self._compression_format[0]

    # --- checks ---------------------------------------------------------------------------
    def read_manifest(self, instance: str | None, default_mime: str = "") -> tuple[bytes, str]:
        """The source's manifest of *instance* (None: the top level), checked
        against the digest it must have (:func:`skopeo.image.checked_manifest`)."""
        try:
            return checked_manifest(self.src, instance, default_mime)
        except SkopeoError as e:
            raise e.wrap(f"determining manifest MIME type for {self.src.reference}") from None

    def check_policy(self, manifest: bytes, instance: str | None) -> None:
        try:
            self.policy.check(self.src, manifest, instance)
        except PolicyError as e:
            raise e.wrap("Source image rejected") from None

    def already_present(self, digest: str, manifest: bytes, instance: str | None) -> bool:
        """With ``skip_existing``: the destination holds exactly the manifest we
        would write unchanged (no format or compression change was asked for)."""
        o = self.options
        if (not o.skip_existing or o.manifest_type is not None or o.compression_format or o.signers
                or o.encryption is not None or o.decryption is not None):
            return False
        if self.dest.existing_manifest_digest() != digest:
            return False
        self.check_policy(manifest, instance)
        self.emit(ev.ImageSkipped(digest))
        return True

    # --- signatures -----------------------------------------------------------------------
    def signatures(self, instance: str | None, of_list: bool) -> list[bytes]:
        """The source's signatures (of the image or *of_list*) to copy (none
        with ``remove_signatures``); fails before any blob moves if the
        destination cannot store them."""
        if self.options.remove_signatures:
            return []
        self.emit(ev.GettingSignatures(of_list))
        sigs = self.src.get_signatures(instance)
        if sigs:
            self.emit(ev.CheckingSignatureSupport())
            reason = self.dest.capabilities.signatures_unsupported_reason
            if reason:
                raise UnsupportedError(f"Can not copy signatures to {self.dest.reference}: {reason}")
        return sigs

    def cannot_modify_reason(self, sigs: list[bytes]) -> str:
        return cannot_modify_reason(bool(sigs), self.options.preserve_digests, self.dest_digest)

    def may_modify(self, sigs: list[bytes]) -> bool:
        return not self.cannot_modify_reason(sigs)

    def create_signatures(self, manifest: bytes) -> list[bytes]:
        """One new signature over *manifest* from each of ``options.signers``."""
        out = []
        for signer in self.options.signers:
            message = getattr(signer, "progress_message", "")
            if message:
                self.emit(ev.CreatingSignature(message))
            out.append(signer(manifest, self.dest.reference))
        return out

    def put_signatures(self, sigs: list[bytes], instance: str | None) -> None:
        try:
            self.dest.put_signatures(sigs, instance)
        except SkopeoError as e:
            raise e.wrap("writing signatures") from None

    def commit(self, result: CopyResult) -> None:
        try:
            self.dest.commit(result.manifest, result.mime)
        except SkopeoError as e:
            raise e.wrap("committing the finished image") from None
