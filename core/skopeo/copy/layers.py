"""The layer pipeline: each layer reused or streamed from the source to the
destination, verified while it flows, (de)compressed when the decision says
so, several at once when both ends allow it, and read again from the source
when an upload was interrupted.

The chain is ``src.get_blob`` → ``CountingReader`` (progress events, cancellation) →
``VerifyingReader`` (digest and size) → ``PeekReader`` (compression sniffed
from the content) → optional decompressor → optional compressor →
``dest.put_blob``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from .. import compression as comp
from .. import deadline, log, workers
from .. import layertypes as lt
from .. import manifest as mf
from ..digest import VerifyingReader
from ..errors import SkopeoError, UploadInterruptedError
from ..events import BlobCounter, BlobSkipped
from ..golang.oserror import path_error_text
from ..progress import CancelledError, CountingReader
from ..retry import Backoff, retrying
from ..streams import PrefetchReader, ReadErrorAnnotator
from ..transport import BlobInfo, BlobStream
from .crypto import LayerCryptoStep
from .decisions import LayerOperation, layer_crypto, layer_edit, layer_operation
from .reuse import record_transfer, reuse_options, reused_layer
from .session import CopySession

if TYPE_CHECKING:
    from ..zstdchunked import ZstdChunkedReader

# A blob whose upload was interrupted (UploadInterruptedError) is copied at most
# this many times in total, waiting BLOB_RESTART_DELAY, then doubling.
BLOB_RESTART_ATTEMPTS = 3
BLOB_RESTART_DELAY = 1.0


@dataclass
class LayerResult:
    """A layer as the destination received it."""

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
    # What was done to the layer, from which its new media type follows
    # (layertypes.LayerEdit): the compression operation and algorithm.
    operation: str = lt.PRESERVE_ORIGINAL
    algorithm: str | None = None
    # lt.ENCRYPT, lt.DECRYPT or "".
    crypto: str = ""

    def edit(self) -> lt.LayerEdit:
        return lt.LayerEdit(self.digest, self.operation, self.algorithm, self.crypto)


class ImageFacts(NamedTuple):
    """What the layer decisions need to know about the image they belong to."""

    manifest_mime: str
    config_media_type: str
    # Why the image must stay byte for byte ("" when it may change).
    cannot_modify: str = ""
    # The indexes of the layers to encrypt.
    encrypt: frozenset[int] = frozenset()

    def compression_changeable(self, layer_type: str) -> bool:
        return lt.can_change_compression(self.manifest_mime, self.config_media_type, layer_type)


# A schema1 image: no media types, every layer is taken for a tar layer.
SCHEMA1_IMAGE = ImageFacts(mf.DOCKER_V2S1, "")


class _Batch(NamedTuple):
    """How the layers of one image are copied."""

    may_change: bool
    image: ImageFacts
    need_diff_ids: bool
    # zstd compression: layers at least this large get worker threads.
    worker_size: int
    # Reads of the source run in a thread of their own.
    prefetch: bool
    # The manifest types the image may be written as (None: any); a reused
    # blob's compression must fit one of them.
    manifest_types: tuple[str, ...] | None = None


def _restart_policy() -> Backoff:
    """Read when a blob is restarted (tests shorten the delay)."""
    return Backoff(BLOB_RESTART_ATTEMPTS, BLOB_RESTART_DELAY)


class LayerPipeline:
    def __init__(self, session: CopySession) -> None:
        self.session = session

    def copy_layers(self, layers: list[mf.Descriptor], may_change: bool, image: ImageFacts,
                    need_diff_ids: bool = False, manifest_types: tuple[str, ...] | None = None) -> list[LayerResult]:
        """Copy *layers*; *manifest_types* are the manifest types the image may
        be written as (they limit what may be reused in place of a layer)."""
        s = self.session
        batch = _Batch(
            may_change,
            image,
            need_diff_ids,
            # zstd workers (each buffers several MiB): layers compressed side by
            # side compress in their own thread, except the largest, whose
            # compression is the copy's critical path: one worker thread, so it
            # overlaps that layer's download and decompression.  A lone layer
            # (or layers going one by one) gets two.  Measured on the bench's
            # medium image (5 layers, registry → oci:, 1 MiB reads): 2.40 s and
            # 100 MiB, against 2.50 s / 135 MiB with two workers for the largest
            # and one for each other, 2.20 s / 125 MiB with one each, 2.56 s /
            # 117 MiB with two for the largest only, 2.69 s / 94 MiB with none.
            max((d.size for d in layers), default=0) if s.parallel else 0,
            # Blobs copied one after the other (a destination that writes them in
            # sequence, or a single layer) get a second thread for the source side.
            not s.parallel or len(layers) == 1,
            manifest_types,
        )

        def one(index: int, desc: mf.Descriptor) -> LayerResult:
            return self._copy_layer(index, desc, batch)

        if s.parallel and len(layers) > 1:
            futures = workers.map_bounded(lambda i: one(i, layers[i]), len(layers), s.options.parallel_copies, "layer")
            _, pending = workers.wait(futures, first_exception=True)
            if pending:
                # One blob failed: stop the others instead of finishing them for nothing.
                s.cancel.set()
                for f in pending:
                    f.cancel()
                workers.wait(pending)
            errors = [e for f in futures if f.done() and not f.cancelled() and (e := f.exception()) is not None]
            real = [e for e in errors if not isinstance(e, CancelledError)]
            if real or errors:
                raise (real or errors)[0]
            return [f.result() for f in futures]
        return [one(i, d) for i, d in enumerate(layers)]

    def _operation(self, detected: str | None, may_change: bool, changeable: bool) -> tuple[LayerOperation, str | None]:
        o = self.session.options
        return layer_operation(detected, may_change, self.session.desired_compression(), self.session.compression_format(),
                               o.force_compression_format, changeable)

    def _copy_layer(self, index: int, desc: mf.Descriptor, batch: _Batch) -> LayerResult:
        s = self.session
        try:  # upstream's semaphore acquisition, the context's check before each layer
            deadline.check()
        except SkopeoError as e:
            raise e.wrap("copying layer") from None
        info = BlobInfo(desc.digest, desc.size, desc.media_type, desc.urls, desc.annotations)
        if desc.urls and s.dest.capabilities.accepts_foreign_layer_urls:
            # A foreign layer stays where its URLs point; only the manifest refers to it.
            log.debug(f'Skipping foreign layer "{desc.digest}" copy to {s.dest.reference}')
            return LayerResult(desc.digest, desc.size, mf.layer_compression(desc.media_type), desc, changed=False)
        o = s.options
        decrypt, encrypt = layer_crypto(desc.media_type, desc.digest, index in batch.image.encrypt,
                                        o.decryption is not None, batch.image.cannot_modify)
        crypto = LayerCryptoStep(desc.digest, o.decryption if decrypt else None, o.encryption if encrypt else None)
        # Encrypting or decrypting always reads the layer (upstream does not reuse there).
        if not crypto.operation:
            reused = self._reused(index, desc, info, batch)
            if reused is not None:
                return reused
        # A destination that cannot rewind a stream it consumed part of raises
        # UploadInterruptedError on a transient failure (e.g. a registry upload
        # whose connection was reset): the blob is then read again from the
        # source, through a fresh pipeline, instead of buffering it anywhere.
        counters: list[BlobCounter] = []  # one blob in the events across attempts

        def announce(e: BaseException, delay: float, retry: int) -> None:
            log.debug(f"{e}: copying blob {desc.digest} again in {delay:g}s ({retry}/{BLOB_RESTART_ATTEMPTS - 1})")

        return retrying(lambda: self._transfer(index, desc, info, batch, counters, crypto), _restart_policy(),
                        UploadInterruptedError, announce, may_retry=lambda e: not s.cancel.is_set())

    def _reused(self, index: int, desc: mf.Descriptor, info: BlobInfo, batch: _Batch) -> LayerResult | None:
        """The layer as the destination already has it, in this or (through the
        blob-info cache) another compression, without reading the source; as
        upstream, tried whenever the layer's diffID is not needed or is known."""
        s = self.session
        diff_id = ""
        if batch.need_diff_ids:
            diff_id = s.cache.uncompressed_digest(desc.digest) or ""
            if not diff_id:
                return None
        o = s.options
        changeable = batch.image.compression_changeable(desc.media_type)
        hinted, _ = self._operation(mf.layer_compression(desc.media_type), batch.may_change, changeable)
        options = reuse_options(desc, batch.may_change and not o.signers, changeable, batch.manifest_types,
                                o.compression_format, o.force_compression_format, hinted == LayerOperation.PRESERVE)
        try:
            reused = s.dest.try_reusing_blob_with_options(info, options)
        except SkopeoError as e:
            raise e.wrap(f"trying to reuse blob {desc.digest} at destination") from None
        if reused is None:
            return None
        digest, size, compression, changed, annotations = reused_layer(desc, reused)
        s.emit(BlobSkipped(desc.digest, desc.size, index, digest))
        return LayerResult(digest, size, compression, desc, changed, diff_id=diff_id, annotations=annotations)

    def _transfer(self, index: int, desc: mf.Descriptor, info: BlobInfo, batch: _Batch, counters: list[BlobCounter],
                  crypto: LayerCryptoStep) -> LayerResult:
        """One attempt at reading a layer from the source and writing it."""
        s = self.session
        prefetch: PrefetchReader | None = None
        if not counters:  # announced before the source is opened, as upstream does
            counters.append(BlobCounter(s.emit, desc.digest, desc.size))
            counters[0].started(index)
        counter = counters[0]
        try:
            stream, size = s.src.get_blob(info)
        except SkopeoError as e:
            raise e.wrap(f"reading blob {desc.digest}") from None
        try:
            expected_size = desc.size if desc.size >= 0 else size
            counter.restart(expected_size)  # from the start (again, when restarted)
            counted = CountingReader(stream, counter, s.cancel)
            verifier = VerifyingReader(counted, desc.digest, expected_size, what="blob")
            peek = comp.PeekReader(crypto.decrypted(verifier, desc.annotations))
            detected = comp.detect(peek.peek())
            changeable = batch.image.compression_changeable(desc.media_type)
            op, target = self._operation(detected, batch.may_change, changeable)
            tee = comp.DiffIDReader(peek, detected) if batch.need_diff_ids else None
            out: BlobStream = peek if tee is None else tee
            chunked: ZstdChunkedReader | None = None
            if op == LayerOperation.PRESERVE and not crypto.operation:
                out_info = info._replace(size=expected_size)
            else:
                if op != LayerOperation.PRESERVE:
                    out, chunked = self._transformed(out, op, detected, target, desc, batch)
                out = crypto.encrypted(out)
                out_info = BlobInfo(None, -1, desc.media_type, (), desc.annotations)
            if batch.prefetch:
                prefetch = PrefetchReader(out)
                out = prefetch
            out = ReadErrorAnnotator(out)
            try:
                if out_info.digest is None and (
                    (s.options.precompute_digests and s.dest.capabilities.skips_known_digests)
                    or not s.dest.capabilities.accepts_unknown_digests
                ):
                    stored = self._put_precomputed(out, out_info)
                else:
                    stored = s.dest.put_blob(out, out_info)
            except SkopeoError as e:
                raise e.wrap("writing blob") from None
            if prefetch is not None:
                prefetch.stop()  # before anyone else reads the verifier
            if not verifier.done and not crypto.drain():
                # The destination stopped early; finish reading so the digest is checked.
                while verifier.read(comp.CHUNK):
                    pass
            assert stored.digest is not None
            counter.done(stored.digest)
            s.count_copied(verifier.size)
        finally:
            if prefetch is not None:
                prefetch.stop()
            stream.close()
        assert stored.digest is not None
        changed = stored.digest != desc.digest
        compression = target if op != LayerOperation.PRESERVE else detected
        operation, algorithm = layer_edit(op, detected, target, changeable)
        if not crypto.operation:  # nothing about encrypted data is recorded, as upstream
            record_transfer(s.cache, op, detected, target, changeable, desc.digest, stored.digest,
                            chunked.annotations if chunked is not None else None)
        result = LayerResult(stored.digest, stored.size, compression, desc, changed,
                             drop_urls=bool(desc.urls) and batch.may_change, operation=operation, algorithm=algorithm,
                             crypto=crypto.operation)
        if chunked is not None or crypto.operation:
            result.annotations = {**((chunked.annotations or {}) if chunked is not None else {}), **crypto.annotations()}
        if tee is not None:
            if not tee.done:
                raise SkopeoError(f"layer {desc.digest} was not read to its end")
            result.diff_id = tee.diff_id
            if not crypto.operation:
                s.cache.record_digest_uncompressed_pair(desc.digest, tee.diff_id)
        return result

    def _transformed(
        self, reader: BlobStream, op: LayerOperation, detected: str | None, target: str | None, desc: mf.Descriptor,
        batch: _Batch,
    ) -> tuple[BlobStream, ZstdChunkedReader | None]:
        """*reader* decompressed and/or compressed as *op* says; and the
        zstd:chunked writer when that is the target (its annotations go into
        the manifest)."""
        level = self.session.options.compression_level
        if op.decompresses:
            assert detected is not None
            reader = comp.decompressing_reader(reader, detected)
        if target == comp.ZSTD_CHUNKED:
            from ..zstdchunked import ZstdChunkedReader  # tarfile: only when needed

            chunked = ZstdChunkedReader(reader, level)
            return chunked, chunked
        if op.compresses:
            assert target is not None
            threads = (2 if batch.prefetch else 1) if desc.size >= batch.worker_size else 0
            reader = comp.compressing_reader(reader, target, level, threads)
        return reader, None

    def _put_precomputed(self, stream: BlobStream, info: BlobInfo) -> BlobInfo:
        """``--dest-precompute-digests``: spool a transformed layer to a temporary
        file to learn its digest first, so a blob the destination already has
        is not uploaded again."""
        import hashlib
        import tempfile

        dest = self.session.dest
        hasher = hashlib.sha256()
        size = 0
        directory = self.session.options.dest_ctx.tmp_directory()
        try:
            spool = tempfile.TemporaryFile(dir=directory, prefix="container_images_stream-blob")
        except OSError as e:  # upstream's wording where it spools a layer of unknown digest
            where = e.filename if isinstance(e.filename, str) else directory
            raise SkopeoError(f"creating temporary on-disk layer: {path_error_text('open', where, e)}") from None
        with spool as tmp:
            while chunk := stream.read(comp.CHUNK):
                hasher.update(chunk)
                tmp.write(chunk)
                size += len(chunk)
            known = info._replace(digest=f"sha256:{hasher.hexdigest()}", size=size)
            reused = dest.try_reusing_blob(known)
            if reused is not None and reused.digest is not None:
                return reused

            def put() -> BlobInfo:
                tmp.seek(0)
                return dest.put_blob(VerifyingReader(tmp, known.digest, size), known)

            def announce(e: BaseException, delay: float, retry: int) -> None:
                log.debug(f"{e}: uploading {known.digest} again ({retry}/{BLOB_RESTART_ATTEMPTS - 1})")

            return retrying(put, _restart_policy(), UploadInterruptedError, announce)
