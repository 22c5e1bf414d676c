"""Writing an image into an OSTree repository (layout: ``reference.py``).

Blobs are spooled to a temporary directory as they arrive; nothing reaches
the repository before ``commit``, which imports everything in one libostree
transaction (aborted on any failure, so no ref moves): each new layer (its
tar decompressed, its tar-split metadata computed, its files committed),
then the other blobs, then the manifest and signatures.

As upstream: only Docker schema 2 manifests, layers kept as they come, the
image must be for the running OS, blobs are written one at a time.  Unlike
upstream, a layer's files keep the owners of the tar whoever runs the copy
(upstream extracted to disk first and, as non-root, lost them), and no
SELinux labels are computed for them (upstream labelled them as root on
SELinux hosts).
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from typing import BinaryIO, cast

from skopeo import compression as comp
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.digest import VerifyingReader
from skopeo.errors import SkopeoError
from skopeo.fsutil import store_blob, track_temporary, untrack_temporary, write_atomic
from skopeo.transport import PRESERVE, BlobInfo, BlobStream, DestinationCapabilities, ImageDestination

from . import tarsplit
from .reference import OstreeReference, layer_branch
from .repo import Repo

NO_LISTS = 'Manifest lists are not supported by "ostree:"'


class OstreeDestination(ImageDestination):
    reference: OstreeReference
    capabilities = DestinationCapabilities(
        supported_manifest_types=(mf.DOCKER_V2S2,),
        desired_layer_compression=PRESERVE,
        thread_safe_put_blob=False,
        must_match_runtime_os=True,
    )

    def __init__(self, reference: OstreeReference, ctx: SystemContext) -> None:
        super().__init__(reference)
        self.repo = Repo(reference.repo)  # a missing or broken repository fails here
        self.tmp = track_temporary(tempfile.mkdtemp(prefix=f"ostree-{reference.branch_name}-", dir=ctx.tmp_directory()))
        self.manifest_dir = os.path.join(self.tmp, "manifest")
        os.mkdir(self.manifest_dir, 0o755)
        self.blobs: dict[str, int] = {}  # digest → size of blobs spooled in self.tmp
        self.manifest: bytes | None = None
        self.signature_count = 0

    def _blob_path(self, digest: str) -> str:
        return os.path.join(self.tmp, digest.split(":", 1)[1])

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        branch = layer_branch(info.digest)
        # A layer imported before (configs are always written again, as upstream).
        if self.repo.metadata(branch, "docker.uncompressed_digest") is None:
            return None
        if self.repo.metadata(branch, "docker.uncompressed_size") is None:
            return None
        size = self.repo.metadata(branch, "docker.size")
        if size is None:
            return None
        try:
            return BlobInfo(info.digest, int(size), info.media_type)
        except ValueError:
            raise SkopeoError(f'strconv.ParseInt: parsing "{size}": invalid syntax') from None

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        stored = store_blob(stream, info, self.tmp, self._blob_path, fsync=False)
        assert stored.digest is not None
        if info.size >= 0 and stored.size != info.size:
            os.remove(self._blob_path(stored.digest))
            raise SkopeoError(f"Size mismatch when copying {stored.digest}, expected {info.size}, got {stored.size}")
        self.blobs[stored.digest] = stored.size
        return stored

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        if instance_digest is not None:
            raise SkopeoError(NO_LISTS)
        self.manifest = data
        write_atomic(os.path.join(self.manifest_dir, "manifest.json"), data)

    def put_signatures(self, signatures: list[bytes], instance_digest: str | None = None) -> None:
        if instance_digest is not None:
            raise SkopeoError(NO_LISTS)
        for i, sig in enumerate(signatures):
            write_atomic(os.path.join(self.manifest_dir, f"signature-{i + 1}"), sig)
        self.signature_count = len(signatures)

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        manifest = self.manifest if self.manifest is not None else toplevel_manifest
        parsed = mf.parse(manifest, mf.guess_mime(manifest) or toplevel_mime)
        if not isinstance(parsed, mf.ImageManifest):
            raise SkopeoError(NO_LISTS)
        try:
            manifest_text = manifest.decode("utf-8")
        except UnicodeDecodeError:
            raise SkopeoError("the manifest is not valid UTF-8, which OSTree commit metadata cannot hold") from None
        self.repo.begin()
        try:
            for layer in parsed.layers:
                if layer.digest in self.blobs:
                    self._import_layer(layer.digest, self.blobs.pop(layer.digest))
            for digest, size in list(self.blobs.items()):
                self._import_blob(digest, size)
                del self.blobs[digest]
            self.repo.commit_directory(self.reference.image_branch, self.manifest_dir, {
                "docker.manifest": manifest_text,
                "signatures": str(self.signature_count),
                "docker.digest": mf.manifest_digest(manifest),
            })
            self.repo.finish()
        except BaseException:
            self.repo.abort()
            raise

    def _import_layer(self, digest: str, size: int) -> None:
        blob = self._blob_path(digest)
        try:
            tar_path, uncompressed_digest, uncompressed_size = self._uncompressed(blob)
            try:
                metadata = tarsplit.disassemble(tar_path)
                self.repo.commit_archive(layer_branch(digest), tar_path, {
                    "docker.size": str(size),
                    "docker.uncompressed_size": str(uncompressed_size),
                    "docker.uncompressed_digest": uncompressed_digest,
                    "tarsplit.output": base64.b64encode(metadata).decode(),
                })
            finally:
                if tar_path != blob:
                    os.remove(tar_path)
        except SkopeoError as e:
            raise e.wrap(f"importing layer {digest}") from None
        os.remove(blob)

    def _uncompressed(self, blob: str) -> tuple[str, str, int]:
        """(path of the uncompressed tar, its digest, its size)."""
        with open(blob, "rb") as f:
            peek = comp.PeekReader(cast(BinaryIO, f))
            algo = comp.detect(peek.peek())
            reader = VerifyingReader(comp.decompressing_reader(cast(BinaryIO, peek), algo) if algo else cast(BinaryIO, peek),
                                     None)
            if algo is None:
                while reader.read(comp.CHUNK):
                    pass
                return blob, reader.digest, reader.size
            tar_path = blob + ".tar"
            with open(tar_path, "wb") as out:
                shutil.copyfileobj(cast(BinaryIO, reader), out, comp.CHUNK)
        return tar_path, reader.digest, reader.size

    def _import_blob(self, digest: str, size: int) -> None:
        """A non-layer blob: a directory holding it as ``content``."""
        directory = tempfile.mkdtemp(prefix="blob", dir=self.tmp)
        os.rename(self._blob_path(digest), os.path.join(directory, "content"))
        self.repo.commit_directory(layer_branch(digest), directory, {"docker.size": str(size)})

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        untrack_temporary(self.tmp)
