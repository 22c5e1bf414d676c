"""The copy pipeline: the one place that reads a source, evaluates the trust
policy, decides compression, conversion, reuse and parallelism, verifies every
digest while streaming, and writes the manifest last.

Transports never make these decisions; they declare capabilities and move bytes.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from . import compression as comp
from . import gojson, imageconfig, log
from . import manifest as mf
from .context import SystemContext
from .digest import VerifyingReader
from .errors import (
    ManifestError,
    ManifestTypeRejectedError,
    PolicyError,
    SkopeoError,
    UnsupportedError,
    UploadInterruptedError,
)
from .policy import PolicyContext
from .progress import BlobProgress, CancelledError, CountingReader, Progress
from .streams import PrefetchReader, ReadErrorAnnotator
from .transport import (
    COMPRESS,
    DECOMPRESS,
    PRESERVE,
    BlobInfo,
    ImageDestination,
    ImageReference,
    ImageSource,
    read_config_blob,
)

MULTI_ARCH_SYSTEM = "system"
MULTI_ARCH_ALL = "all"
MULTI_ARCH_INDEX_ONLY = "index-only"
DEFAULT_PARALLEL_COPIES = 6
# A blob whose upload was interrupted (UploadInterruptedError) is copied at most
# this many times in total, waiting BLOB_RESTART_DELAY, then doubling.
BLOB_RESTART_ATTEMPTS = 3
BLOB_RESTART_DELAY = 1.0


@dataclass
class CopyOptions:
    source_ctx: SystemContext = field(default_factory=SystemContext)
    dest_ctx: SystemContext = field(default_factory=SystemContext)
    # Where progress lines go (stdout in the CLI); None is quiet.
    report: TextIO | None = None
    remove_signatures: bool = False
    # Force the destination manifest MIME type (``--format``).
    manifest_type: str | None = None
    preserve_digests: bool = False
    multi_arch: str = MULTI_ARCH_SYSTEM
    # ``--dest-compress`` / ``--dest-decompress`` (dir: only): COMPRESS or DECOMPRESS.
    force_layer_compression: str | None = None
    compression_format: str | None = None
    compression_level: int | None = None
    force_compression_format: bool = False
    parallel_copies: int = DEFAULT_PARALLEL_COPIES
    # Skip the copy when the destination already holds this exact manifest (sync).
    skip_existing: bool = False
    # Signatures to add to the copied image: callables given the manifest bytes.
    signers: list[Callable[[bytes, ImageReference], bytes]] = field(default_factory=list)


@dataclass
class CopyResult:
    manifest: bytes
    mime: str
    skipped: bool = False
    # Blob bytes actually transferred (reused blobs not counted).
    bytes_copied: int = 0

    @property
    def digest(self) -> str:
        return mf.manifest_digest(self.manifest)


@dataclass
class _LayerResult:
    digest: str
    size: int
    compression: str | None
    source: mf.Descriptor
    changed: bool
    # Foreign-layer URLs the destination cannot record (the blob was copied instead).
    drop_urls: bool = False
    # sha256 of the uncompressed content, when it had to be computed.
    diff_id: str = ""
    # Annotations the new representation needs (zstd:chunked's TOC position).
    annotations: dict[str, str] | None = None


def copy_image(
    policy: PolicyContext,
    dest_ref: ImageReference,
    src_ref: ImageReference,
    options: CopyOptions | None = None,
) -> CopyResult:
    """Copy the image *src_ref* to *dest_ref*; return the manifest written."""
    options = options or CopyOptions()
    if options.multi_arch not in (MULTI_ARCH_SYSTEM, MULTI_ARCH_ALL, MULTI_ARCH_INDEX_ONLY):
        raise SkopeoError(f"unknown multi-arch option {options.multi_arch!r}")
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
            return _Copier(policy, src, dest, options).run()
        finally:
            src.close()
    finally:
        dest.close()


class _Copier:
    def __init__(self, policy: PolicyContext, src: ImageSource, dest: ImageDestination, options: CopyOptions) -> None:
        self.policy = policy
        self.src = src
        self.dest = dest
        self.options = options
        self.progress = Progress(options.report)
        self.bytes_copied = 0
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._two_worker_size = 0  # zstd compression: layers this large get two workers (see _copy_layers)
        self._prefetch = False
        # Config blobs being stored ahead of their manifest (by digest).
        self._background: ThreadPoolExecutor | None = None
        self._config_uploads: dict[str, Future[None]] = {}
        self.report = self.progress.line
        dref = dest.reference.docker_reference()
        self.dest_digest = dref.digest if dref is not None else None
        self.parallel = (
            options.parallel_copies > 1
            and src.capabilities.thread_safe_get_blob
            and dest.capabilities.thread_safe_put_blob
        )

    # --- top level -------------------------------------------------------------
    def run(self) -> CopyResult:
        try:
            result = self._run()
            result.bytes_copied = self.bytes_copied
            return result
        finally:
            if self._background is not None:
                # Nothing outlives the copy (an early config upload of a failed one).
                self._background.shutdown(wait=True, cancel_futures=True)
            self.progress.close()

    def _run(self) -> CopyResult:
        try:
            raw, mime = self.src.get_manifest(None)
        except SkopeoError as e:
            raise e.wrap(f"determining manifest MIME type for {self.src.reference}") from None
        mime = mime or mf.guess_mime(raw)
        if self.dest_digest is not None and not mf.matches_digest(raw, self.dest_digest):
            if mime not in mf.LISTS or self.options.multi_arch != MULTI_ARCH_SYSTEM:
                raise SkopeoError("Digest of source image's manifest would not match destination reference")
        if mime in mf.LISTS:
            parsed = mf.parse(raw, mime)
            assert isinstance(parsed, mf.ManifestList)
            if self.options.multi_arch == MULTI_ARCH_SYSTEM:
                ctx = self.options.source_ctx
                instance = parsed.choose_instance(ctx.override_os, ctx.override_arch, ctx.override_variant)
                try:
                    inst_raw, inst_mime = self.src.get_manifest(instance)
                    if self._already_present(instance, inst_raw, instance):
                        return CopyResult(inst_raw, inst_mime or mf.guess_mime(inst_raw), skipped=True)
                    self._check_instance_digest(inst_raw, instance)
                    result = self._copy_single(inst_raw, inst_mime or mf.guess_mime(inst_raw), instance, toplevel=True)
                except SkopeoError as e:
                    raise e.wrap("copying system image from manifest list") from None
                self._commit(result)
                return result
            if self._already_present(mf.manifest_digest(raw), raw, None):
                return CopyResult(raw, mime, skipped=True)
            result = self._copy_list(parsed)
        else:
            if self._already_present(mf.manifest_digest(raw), raw, None):
                return CopyResult(raw, mime, skipped=True)
            result = self._copy_single(raw, mime, None, toplevel=True)
        self._commit(result)
        return result

    def _put_signatures(self, sigs: list[bytes], instance: str | None) -> None:
        try:
            self.dest.put_signatures(sigs, instance)
        except SkopeoError as e:
            raise e.wrap("writing signatures") from None

    def _commit(self, result: CopyResult) -> None:
        try:
            self.dest.commit(result.manifest, result.mime)
        except SkopeoError as e:
            raise e.wrap("committing the finished image") from None

    def _already_present(self, digest: str, manifest: bytes, instance: str | None) -> bool:
        """With ``skip_existing``: the destination holds exactly the manifest we
        would write unchanged (no format or compression change was asked for)."""
        o = self.options
        if not o.skip_existing or o.manifest_type is not None or o.compression_format or o.signers:
            return False
        if self.dest.existing_manifest_digest() != digest:
            return False
        self._check_policy(manifest, instance)
        self.report("Skipping: image already present at destination")
        return True

    def _check_policy(self, manifest: bytes, instance: str | None) -> None:
        try:
            self.policy.check(self.src, manifest, instance)
        except PolicyError as e:
            raise e.wrap("Source image rejected") from None

    def _check_instance_digest(self, data: bytes, expected: str) -> None:
        if not mf.matches_digest(data, expected):
            raise SkopeoError(f"determining manifest MIME type for {self.src.reference}: "
                              f"Manifest does not match provided manifest digest {expected}")

    def _signatures(self, manifest: bytes, instance: str | None, what: str) -> list[bytes]:
        if self.options.remove_signatures:
            return []
        self.report(f"Getting {what} signatures")
        sigs = self.src.get_signatures(instance)
        if sigs:
            self.report("Checking if image destination supports signatures")
            reason = self.dest.capabilities.signatures_unsupported_reason
            if reason:
                raise UnsupportedError(f"Can not copy signatures to {self.dest.reference}: {reason}")
        return sigs

    def _may_modify(self, sigs: list[bytes]) -> bool:
        return not self._cannot_modify_reason(sigs)

    def _cannot_modify_reason(self, sigs: list[bytes]) -> str:
        if sigs:
            return "Would invalidate signatures"
        if self.options.preserve_digests:
            return "Instructed to preserve digests"
        if self.dest_digest is not None:
            return "Destination specifies a digest"
        return ""

    # --- manifest lists -------------------------------------------------------
    def _copy_list(self, parsed: mf.ManifestList) -> CopyResult:
        self._check_policy(parsed.raw, None)
        sigs = self._signatures(parsed.raw, None, "image list")
        may_modify = self._may_modify(sigs)
        list_mime = self._choose_list_type(parsed.mime, may_modify)
        instances = parsed.instances
        updated = list(instances)
        if self.options.multi_arch == MULTI_ARCH_ALL:
            total = len(instances)
            self.report(f"Copying {total} images generated from {total} images in list")

            def one(index: int) -> mf.Descriptor:
                d = instances[index]
                self.report(f"Copying image {d.digest} ({index + 1}/{total})")
                try:
                    inst_raw, inst_mime = self.src.get_manifest(d.digest)
                    self._check_instance_digest(inst_raw, d.digest)
                    res = self._copy_single(inst_raw, inst_mime or d.media_type or mf.guess_mime(inst_raw), d.digest,
                                            toplevel=False)
                except SkopeoError as e:
                    raise e.wrap(f"copying image {index + 1}/{total} from manifest list") from None
                return d._replace(digest=res.digest, size=len(res.manifest), media_type=res.mime)

            if self.parallel and total > 1:
                with ThreadPoolExecutor(max_workers=min(total, 3)) as pool:
                    updated = list(pool.map(one, range(total)))
            else:
                updated = [one(i) for i in range(total)]
        self.report("Writing manifest list to image destination")
        # The chosen list type first, then the other list types the destination
        # may take (as upstream: a registry refusing one may accept another).
        candidates = [list_mime]
        if may_modify and self.options.manifest_type is None:
            supported = self.dest.capabilities.supported_manifest_types or mf.LISTS
            candidates += [t for t in supported if t in mf.LISTS and t != list_mime]
        errors: list[str] = []
        for list_type in candidates:
            if updated == instances and list_type == parsed.mime:
                out = parsed.raw
            else:
                if not may_modify:
                    raise SkopeoError("Instance manifests would change but the manifest list may not be modified")
                out = parsed.serialize(list_type, updated)
            try:
                self.dest.put_manifest(out, list_type, None)
            except SkopeoError as e:
                errors.append(f"{list_type}({e})")
                continue
            list_mime = list_type
            break
        else:
            raise SkopeoError(f"Uploading manifest list failed, attempted the following formats: {', '.join(errors)}")
        if sigs:
            self.report("Storing list signatures")
            self._put_signatures(sigs, None)
        return CopyResult(out, list_mime)

    def _choose_list_type(self, src_mime: str, may_modify: bool) -> str:
        supported = self.dest.capabilities.supported_manifest_types
        forced = self.options.manifest_type
        if forced is not None and may_modify:
            return mf.OCI_INDEX if forced == mf.OCI_MANIFEST else mf.DOCKER_LIST
        if supported is None or src_mime in supported or not may_modify:
            return src_mime
        for t in supported:
            if t in mf.LISTS:
                return t
        raise UnsupportedError(f"destination {self.dest.reference} does not support manifest lists")

    # --- single images --------------------------------------------------------
    def _copy_single(self, raw: bytes, mime: str, instance: str | None, toplevel: bool) -> CopyResult:
        """Copy one image; *instance* is its digest in the source's list (if any),
        *toplevel* says whether it becomes the destination's top-level manifest."""
        if toplevel:
            self._check_policy(raw, instance)
        try:  # parsed before anything is announced, as upstream
            parsed = mf.parse(raw, mime)
        except SkopeoError as e:
            raise e.wrap(f"initializing image from source {self.src.reference}") from None
        sigs = self._signatures(raw, instance, "image source")
        may_modify = self._may_modify(sigs)
        if not isinstance(parsed, mf.ImageManifest):
            raise ManifestError("nested manifest lists are not supported")
        candidates = self._manifest_candidates(mime, may_modify)
        config_raw = self._read_config(parsed)
        self._check_os(config_raw)
        if mime in mf.SCHEMA1 and candidates[0] not in mf.SCHEMA1:
            if not may_modify:
                raise ManifestError(f"Unsupported manifest type, need a {candidates[0]} manifest")
            parsed, config_raw, layer_results = self._copy_schema1_converted(parsed)
        else:
            if self.parallel:
                self._start_config_upload(parsed, candidates[0], config_raw)
            layer_results = self._copy_layers(parsed.layers, may_modify)
        changed_layers = any(r.changed or r.drop_urls for r in layer_results)
        if changed_layers and not may_modify:
            raise SkopeoError(
                "Copying this image would require changing layer representation, which we cannot do: "
                f'"{self._cannot_modify_reason(sigs)}"'
            )
        # Each candidate format in turn, as upstream: one that cannot describe the
        # layers, or that the destination rejects, leaves the next one a chance.
        errors: list[str] = []
        for cand in candidates:
            try:
                try:
                    out, out_mime = self._build_manifest(parsed, cand, layer_results, config_raw, may_modify)
                except ManifestError as e:
                    raise e.wrap("creating an updated image manifest") from None
                self.report("Writing manifest to image destination")
                try:
                    self.dest.put_manifest(out, out_mime, None if toplevel else mf.manifest_digest(out))
                except SkopeoError as e:
                    raise e.wrap("writing manifest") from None
            except (ManifestError, ManifestTypeRejectedError) as e:
                if len(candidates) == 1:
                    raise  # no other choice: the error as it is, without MIME types
                errors.append(f"{cand}({e})")
                continue
            break
        else:
            raise ManifestError(f"Uploading manifest failed, attempted the following formats: {', '.join(errors)}")
        new_sigs = list(sigs)
        for signer in self.options.signers:
            message = getattr(signer, "progress_message", "")
            if message:
                self.report(f"Creating signature: {message}")
            new_sigs.append(signer(out, self.dest.reference))
        if new_sigs:
            self.report("Storing signatures")
            self._put_signatures(new_sigs, None if toplevel else mf.manifest_digest(out))
        return CopyResult(out, out_mime)

    def _copy_schema1_converted(self, parsed: mf.ImageManifest) -> tuple[mf.ImageManifest, bytes, list[_LayerResult]]:
        """Copy a schema1 image's layers (throwaway layers are dropped) computing
        their diffIDs, and return the equivalent schema2 manifest, its config
        and the copied layers, as upstream converts schema1 images."""
        compat_raw = [str(h.get("v1Compatibility", "{}")) for h in parsed.obj.get("history") or []]
        compat = parsed.schema1_v1_compat()
        if len(compat) != len(parsed.layers):
            raise ManifestError(f"schema1 manifest has {len(parsed.layers)} layers but {len(compat)} history entries")
        # Every blob is copied, as upstream does; throwaway layers are then left
        # out of the schema2 manifest.  parsed.layers is base first, history newest first.
        copied = self._copy_layers(parsed.layers, True, need_diff_ids=True)
        results = [r for r, c in zip(copied, reversed(compat), strict=True) if not c.get("throwaway")]
        diff_ids = [r.diff_id for r in results]
        config_raw = imageconfig.schema1_to_schema2_config(compat_raw, diff_ids)
        from . import digest as digest_mod

        config = mf.Descriptor(mf.DOCKER_CONFIG, digest_mod.of_bytes(config_raw), len(config_raw))
        layers = [mf.Descriptor(mf.layer_media_type("docker", r.compression), r.digest, r.size) for r in results]
        converted = mf.ImageManifest(mf.DOCKER_V2S2, b"", config, layers, {"mediaType": mf.DOCKER_V2S2})
        converted.raw = converted.serialize()
        unchanged = [_LayerResult(d.digest, d.size, r.compression, d, changed=False) for d, r in zip(layers, results, strict=True)]
        return converted, config_raw, unchanged

    def _manifest_candidates(self, src_mime: str, may_modify: bool) -> list[str]:
        supported = self.dest.capabilities.supported_manifest_types
        forced = self.options.manifest_type
        if forced is not None:
            supported = (forced,)
        if not may_modify:
            return [src_mime]
        if supported is None:
            return [src_mime]
        out: list[str] = []
        if src_mime in supported:
            out.append(src_mime)
        for t in (mf.DOCKER_V2S2, mf.DOCKER_V2S1_SIGNED):
            if t in supported and t not in out:
                out.append(t)
        for t in supported:
            if t not in out and t not in mf.LISTS:
                out.append(t)
        if self.options.compression_format in (comp.ZSTD, comp.ZSTD_CHUNKED):
            # zstd layers can only be described by OCI manifests.
            restricted = [t for t in out if t == mf.OCI_MANIFEST]
            if not restricted:
                wanted = self.options.compression_format
                if forced is not None:
                    raise ManifestError(
                        f"compression using {wanted} required together with format {forced}, which does not support it"
                    )
                raise ManifestError(
                    f"compression using {wanted} required but the destination only supports MIME types "
                    f"[{' '.join(supported)}], none of which support it"
                )
            out = restricted
        return out

    def _read_config(self, parsed: mf.ImageManifest) -> bytes | None:
        if parsed.config is None:
            return None
        try:
            return read_config_blob(self.src, parsed.config)
        except SkopeoError as e:
            raise e.wrap(f"reading config blob {parsed.config.digest}") from None

    def _check_os(self, config_raw: bytes | None) -> None:
        if not self.dest.capabilities.must_match_runtime_os or config_raw is None:
            return
        wanted = mf.runtime_platform()[0]
        os_name = imageconfig.to_oci_config(config_raw).get("os", "")
        if os_name and os_name != wanted:
            raise SkopeoError(f'image operating system "{os_name}" cannot be used on "{wanted}"')

    # --- layers ---------------------------------------------------------------
    def _desired_compression(self) -> str:
        return self.options.force_layer_compression or self.dest.capabilities.desired_layer_compression

    def _copy_layers(self, layers: list[mf.Descriptor], may_change: bool, need_diff_ids: bool = False) -> list[_LayerResult]:
        # zstd workers: one per layer when layers are compressed side by side, so
        # compression overlaps the decompression and hashing of its own layer;
        # two for the largest layer (or a lone one, or when layers go one by
        # one): its compression is the copy's critical path, the others end
        # first.  Measured on the bench's medium image (5 layers): 1.52 s and
        # 121 MiB, against 1.72 s / 115 MiB with one each, 1.57 s / 138 MiB with
        # two for the two largest and 1.55 s / 164 MiB with two for all.
        self._two_worker_size = max((d.size for d in layers), default=0) if self.parallel else 0
        # Blobs copied one after the other (a destination that writes them in
        # sequence, or a single layer) get a second thread for the source side.
        self._prefetch = not self.parallel or len(layers) == 1

        def one(desc: mf.Descriptor) -> _LayerResult:
            return self._copy_layer(desc, may_change, need_diff_ids)

        if self.parallel and len(layers) > 1:
            with ThreadPoolExecutor(max_workers=min(len(layers), self.options.parallel_copies)) as pool:
                futures = [pool.submit(one, d) for d in layers]
                _, pending = wait(futures, return_when=FIRST_EXCEPTION)
                if pending:
                    # One blob failed: stop the others instead of finishing them for nothing.
                    self._cancel.set()
                    for f in pending:
                        f.cancel()
                    wait(pending)
                errors = [f.exception() for f in futures if f.done() and not f.cancelled() and f.exception()]
                real = [e for e in errors if not isinstance(e, CancelledError)]
                if real or errors:
                    raise (real or errors)[0]  # type: ignore[misc]
                return [f.result() for f in futures]
        return [one(d) for d in layers]

    def _operation(self, detected: str | None, may_change: bool) -> tuple[str, str | None]:
        """(operation, target compression) for a layer whose content is *detected*."""
        if not may_change:
            return PRESERVE, detected
        desired = self._desired_compression()
        fmt = self.options.compression_format or comp.GZIP
        if desired == COMPRESS:
            if detected is None:
                return COMPRESS, fmt
            if detected not in (comp.GZIP, comp.ZSTD):
                return "recompress", fmt
            if self.options.compression_format and detected != fmt:
                return "recompress", fmt
            return PRESERVE, detected
        if desired == DECOMPRESS and detected is not None:
            return DECOMPRESS, None
        if desired == PRESERVE and self.options.force_compression_format and self.options.compression_format:
            if detected != fmt:
                return ("recompress" if detected else COMPRESS), fmt
        return PRESERVE, detected

    def _copy_layer(self, desc: mf.Descriptor, may_change: bool, need_diff_id: bool = False) -> _LayerResult:
        info = BlobInfo(desc.digest, desc.size, desc.media_type, desc.urls, desc.annotations)
        if desc.urls and self.dest.capabilities.accepts_foreign_layer_urls:
            # A foreign layer stays where its URLs point; only the manifest refers to it.
            log.debug(f'Skipping foreign layer "{desc.digest}" copy to {self.dest.reference}')
            return _LayerResult(desc.digest, desc.size, mf.layer_compression(desc.media_type), desc, changed=False)
        hinted = mf.layer_compression(desc.media_type)
        op_hint, _ = self._operation(hinted, may_change)
        if op_hint == PRESERVE and not need_diff_id:
            try:
                reused = self.dest.try_reusing_blob(info)
            except SkopeoError as e:
                raise e.wrap(f"trying to reuse blob {desc.digest} at destination") from None
            if reused is not None and reused.digest is not None:
                self.progress.skipped(f"Copying blob {desc.digest}")
                return _LayerResult(reused.digest, reused.size, hinted, desc, changed=False)
        # A destination that cannot rewind a stream it consumed part of raises
        # UploadInterruptedError on a transient failure (e.g. a registry upload
        # whose connection was reset): the blob is then read again from the
        # source, through a fresh pipeline, instead of buffering it anywhere.
        bars: list[BlobProgress] = []  # one progress bar across attempts
        attempt = 0
        while True:
            try:
                return self._transfer_layer(desc, info, may_change, need_diff_id, bars)
            except UploadInterruptedError as e:
                attempt += 1
                if attempt >= BLOB_RESTART_ATTEMPTS or self._cancel.is_set():
                    raise
                delay = BLOB_RESTART_DELAY * 2 ** (attempt - 1)
                log.info(f"{e}: copying blob {desc.digest} again in {delay:g}s ({attempt}/{BLOB_RESTART_ATTEMPTS - 1})")
                time.sleep(delay)

    def _transfer_layer(
        self, desc: mf.Descriptor, info: BlobInfo, may_change: bool, need_diff_id: bool, bars: list[BlobProgress]
    ) -> _LayerResult:
        """One attempt at reading a layer from the source and writing it."""
        prefetch: PrefetchReader | None = None
        chunked: Any = None  # a zstdchunked.ZstdChunkedReader
        if not bars:  # announced before the source is opened, as upstream does
            bars.append(self.progress.blob(f"Copying blob {desc.digest}", desc.size))
        bar = bars[0]
        try:
            stream, size = self.src.get_blob(info)
        except SkopeoError as e:
            raise e.wrap(f"reading blob {desc.digest}") from None
        try:
            expected_size = desc.size if desc.size >= 0 else size
            bar.size = expected_size
            bar.copied = 0  # from the start (again, when restarted)
            counted = CountingReader(stream, bar, self._cancel)
            verifier = VerifyingReader(counted, desc.digest, expected_size, what="blob")  # type: ignore[arg-type]
            peek = comp.PeekReader(verifier)  # type: ignore[arg-type]
            detected = comp.detect(peek.peek())
            op, target = self._operation(detected, may_change)
            tee = comp.DiffIDReader(peek, detected) if need_diff_id else None  # type: ignore[arg-type]
            if tee is not None:
                peek = tee  # type: ignore[assignment]
            out: BinaryIO
            if op == PRESERVE:
                out = peek  # type: ignore[assignment]
                out_info = info._replace(size=expected_size)
            else:
                reader: BinaryIO = peek  # type: ignore[assignment]
                if op in (DECOMPRESS, "recompress"):
                    assert detected is not None
                    reader = comp.decompressing_reader(reader, detected)
                if target == comp.ZSTD_CHUNKED:
                    from .zstdchunked import ZstdChunkedReader  # tarfile: only when needed

                    chunked = ZstdChunkedReader(reader, self.options.compression_level)
                    reader = chunked
                elif op in (COMPRESS, "recompress"):
                    assert target is not None
                    reader = comp.compressing_reader(  # type: ignore[assignment]
                        reader, target, self.options.compression_level, 2 if desc.size >= self._two_worker_size else 1
                    )
                out = reader
                media = desc.media_type
                out_info = BlobInfo(None, -1, media, (), desc.annotations)
            if self._prefetch:
                prefetch = PrefetchReader(out)
                out = prefetch  # type: ignore[assignment]
            out = ReadErrorAnnotator(out)  # type: ignore[assignment]
            try:
                if out_info.digest is None and (
                    self.options.dest_ctx.extra.get("precompute_digests")
                    or not self.dest.capabilities.accepts_unknown_digests
                ):
                    stored = self._put_precomputed(out, out_info)
                else:
                    stored = self.dest.put_blob(out, out_info)
            except SkopeoError as e:
                raise e.wrap("writing blob") from None
            if prefetch is not None:
                prefetch.stop()  # before anyone else reads the verifier
            if not verifier.done:
                # The destination stopped early; finish reading so the digest is checked.
                while verifier.read(comp.CHUNK):
                    pass
            bar.finish()
            with self._lock:
                self.bytes_copied += verifier.size
        finally:
            if prefetch is not None:
                prefetch.stop()
            stream.close()
        assert stored.digest is not None
        changed = stored.digest != desc.digest
        compression = target if op != PRESERVE else detected
        result = _LayerResult(stored.digest, stored.size, compression, desc, changed, drop_urls=bool(desc.urls) and may_change)
        if chunked is not None:
            result.annotations = chunked.annotations
        if tee is not None:
            if not tee.done:
                raise SkopeoError(f"layer {desc.digest} was not read to its end")
            result.diff_id = tee.diff_id
        return result

    def _put_precomputed(self, stream: BinaryIO, info: BlobInfo) -> BlobInfo:
        """``--dest-precompute-digests``: spool a transformed layer to a temporary
        file to learn its digest first, so a blob the destination already has
        is not uploaded again."""
        import hashlib
        import tempfile

        hasher = hashlib.sha256()
        size = 0
        with tempfile.TemporaryFile(dir=self.options.dest_ctx.tmp_directory(), prefix="container_images_") as tmp:
            while chunk := stream.read(comp.CHUNK):
                hasher.update(chunk)
                tmp.write(chunk)
                size += len(chunk)
            known = info._replace(digest=f"sha256:{hasher.hexdigest()}", size=size)
            reused = self.dest.try_reusing_blob(known)
            if reused is not None and reused.digest is not None:
                return reused
            attempt = 0
            while True:
                tmp.seek(0)
                try:
                    return self.dest.put_blob(VerifyingReader(tmp, known.digest, size), known)  # type: ignore[arg-type]
                except UploadInterruptedError as e:
                    attempt += 1
                    if attempt >= BLOB_RESTART_ATTEMPTS:
                        raise
                    log.info(f"{e}: uploading {known.digest} again ({attempt}/{BLOB_RESTART_ATTEMPTS - 1})")
                    time.sleep(BLOB_RESTART_DELAY * 2 ** (attempt - 1))

    # --- manifests ------------------------------------------------------------
    def _build_manifest(
        self,
        parsed: mf.ImageManifest,
        target: str,
        layers: list[_LayerResult],
        config_raw: bytes | None,
        may_modify: bool,
    ) -> tuple[bytes, str]:
        changed = any(r.changed or r.drop_urls for r in layers)
        if target == parsed.mime and not changed:
            self._put_config(parsed.config, config_raw)
            return parsed.raw, parsed.mime
        if not may_modify:
            raise ManifestError(f"Unsupported manifest type, need a {target} manifest")
        if parsed.config is None:
            raise ManifestError(f"conversion to {target} is not supported")
        if target in mf.SCHEMA1:
            return self._schema1_manifest(parsed, layers, config_raw), target
        from .zstdchunked import ANNOTATIONS as ZSTD_CHUNKED_ANNOTATIONS

        fam = mf.family(target)
        new_layers = []
        for r in layers:
            src_desc = r.source
            if r.changed:
                compression = comp.ZSTD if r.compression == comp.ZSTD_CHUNKED else r.compression
                media = mf.layer_media_type(fam, compression, mf.is_foreign_layer(src_desc.media_type))
                # Annotations describing the old representation go; the new one's are added.
                annotations = {k: v for k, v in (src_desc.annotations or {}).items() if k not in ZSTD_CHUNKED_ANNOTATIONS}
                annotations.update(r.annotations or {})
                new_layers.append(src_desc._replace(digest=r.digest, size=r.size, media_type=media, urls=(),
                                                    annotations=annotations or None))
            else:
                urls = () if r.drop_urls else src_desc.urls
                new_layers.append(src_desc._replace(media_type=mf.convert_layer_type(src_desc.media_type, fam), urls=urls))
        assert config_raw is not None
        stored, data, new_config = self._target_config(parsed, target, config_raw)
        self._put_config(stored, data)
        return parsed.serialize(target, new_config, new_layers), target

    @staticmethod
    def _target_config(parsed: mf.ImageManifest, target: str, config_raw: bytes) -> tuple[mf.Descriptor, bytes, mf.Descriptor]:
        """For a *target* manifest type: the config blob to store (descriptor and
        bytes) and the descriptor the new manifest names."""
        config = parsed.config
        assert config is not None
        if parsed.mime == target:
            return config, config_raw, config
        if target == mf.DOCKER_V2S2:
            if config.media_type not in (mf.OCI_CONFIG, mf.DOCKER_CONFIG):
                raise ManifestError(f"cannot convert an artifact with config type {config.media_type!r} to {target}")
            return config, config_raw, config._replace(media_type=mf.DOCKER_CONFIG, annotations=None)
        if target == mf.OCI_MANIFEST:
            from . import digest as digest_mod

            oci_raw = gojson.marshal(imageconfig.to_oci_config(config_raw))
            oci = mf.Descriptor(mf.OCI_CONFIG, digest_mod.of_bytes(oci_raw), len(oci_raw))
            return oci, oci_raw, oci
        raise ManifestError(f"conversion to {target} is not supported")

    def _start_config_upload(self, parsed: mf.ImageManifest, target: str, config_raw: bytes | None) -> None:
        """Store the config the first manifest candidate needs while the layers
        are copied, instead of after them (three requests fewer on the critical
        path of a registry copy); :meth:`_put_config` reports it at the usual
        point and waits for it."""
        if parsed.config is None or config_raw is None or target in mf.SCHEMA1:
            return
        try:
            desc, data, _ = self._target_config(parsed, target, config_raw)
        except ManifestError:
            return  # reported when the manifest is built
        with self._lock:
            if self._background is None:
                self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="config")
            self._config_uploads[desc.digest] = self._background.submit(self._store_config, desc, data)

    def _schema1_manifest(self, parsed: mf.ImageManifest, layers: list[_LayerResult], config_raw: bytes | None) -> bytes:
        """A signed schema1 manifest for a schema2/OCI image (no config blob is
        written: schema1 carries the config in its history)."""
        from . import schema1

        assert parsed.config is not None and config_raw is not None
        if parsed.config.media_type not in (mf.OCI_CONFIG, mf.DOCKER_CONFIG):
            raise ManifestError(f"cannot convert an artifact with config type {parsed.config.media_type!r} to schema1")
        for r in layers:
            if r.compression in (comp.ZSTD, comp.ZSTD_CHUNKED):
                raise ManifestError(mf.zstd_in_docker_error(r.source.media_type))
            if r.compression not in (None, comp.GZIP) or mf.is_foreign_layer(r.source.media_type):
                raise ManifestError(f"schema1 manifests cannot describe layer {r.digest} ({r.source.media_type})")
        dref = self.dest.reference.docker_reference()
        unsigned, uses_empty_layer = schema1.from_config(
            config_raw, [r.source.digest for r in layers], [r.digest for r in layers],
            dref.path if dref is not None else "", (dref.tag or "") if dref is not None else "",
        )
        if uses_empty_layer:
            empty = BlobInfo(mf.EMPTY_LAYER_DIGEST, len(schema1.GZIPPED_EMPTY_LAYER), mf.DOCKER_LAYER_GZIP)
            if self.dest.try_reusing_blob(empty) is None:
                self.dest.put_blob(io.BytesIO(schema1.GZIPPED_EMPTY_LAYER), empty)
        return schema1.sign(unsigned)

    def _put_config(self, desc: mf.Descriptor | None, data: bytes | None) -> None:
        if desc is None or data is None:
            return
        self.report(f"Copying config {desc.digest}")
        with self._lock:
            early = self._config_uploads.pop(desc.digest, None)
        if early is not None:
            early.result()
        else:
            self._store_config(desc, data)

    def _store_config(self, desc: mf.Descriptor, data: bytes) -> None:
        info = BlobInfo(desc.digest, len(data), desc.media_type)
        if self.dest.try_reusing_blob(info) is not None:
            return
        self.dest.put_blob(io.BytesIO(data), info, is_config=True)
