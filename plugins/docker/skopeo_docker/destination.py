"""Writing an image to a registry: blobs reused (present, mounted from another
repository where the blob-info cache saw them, or being uploaded by a
concurrent copy) or uploaded, manifests last, signatures to the lookaside or
sigstore attachments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skopeo import digest as digest_mod
from skopeo import log, workers
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.transport import (
    COMPRESS,
    BlobInfo,
    BlobStream,
    DestinationCapabilities,
    ImageDestination,
    ReusedBlob,
    ReuseOptions,
)

from .blob_cache import blob_claims, record_location
from .client import new_client
from .registry import ACCEPT_MANIFESTS, put_manifest, repo_path
from .reuse import BlobFinder
from .signatures import store_image_signatures
from .upload import BlobUploader

if TYPE_CHECKING:
    from .transport import DockerImageReference

DESTINATION_MANIFEST_TYPES = (
    mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.OCI_INDEX, mf.DOCKER_LIST, mf.DOCKER_V2S1_SIGNED, mf.DOCKER_V2S1,
)


class DockerImageDestination(ImageDestination):
    capabilities = DestinationCapabilities(
        supported_manifest_types=DESTINATION_MANIFEST_TYPES,
        desired_layer_compression=COMPRESS,
        thread_safe_put_blob=True,
        accepts_foreign_layer_urls=True,
        skips_known_digests=True,
        # Signatures go to the registries.d lookaside or, for sigstore ones,
        # to sigstore attachments (see signatures.py).
    )
    reference: DockerImageReference

    def __init__(self, reference: DockerImageReference, ctx: SystemContext) -> None:
        super().__init__(reference)
        self.ref = reference.ref
        self.client = new_client(ctx, self.ref, "pull,push")
        self.manifest_digest: str | None = None
        self.ctx = ctx
        # Blob claims (see blob_cache) this destination holds and must release.
        self._claims: set[tuple[str, str, str]] = set()
        # Blobs are not looked up in a repository known to be new (mounts from
        # other repositories are still tried).
        self._new_repository = ctx.repository_is_new
        self.uploader = BlobUploader(self.client, self.ref)
        self.finder = BlobFinder(self.client, self.ref, ctx, self._new_repository)
        # Connect while the copy is still reading the source: the first upload
        # then finds the registry pinged (a failure is reported by that upload).
        if not self.client.pinged:
            workers.start(self._warm_up, "registry-warm-up")

    def _warm_up(self) -> None:
        try:
            self.client.ping()
        except SkopeoError as e:
            log.debug(f"Connecting to {self.client.host} ahead of use failed: {e}")

    def _claim_key(self, digest: str) -> tuple[str, str, str]:
        return (self.client.host, self.ref.path, digest)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        """*info* itself, if the repository has it or it can be mounted from
        another repository where it was seen (configs, signatures)."""
        if info.digest is None:
            return None
        found = self._reuse(info, None)
        return None if found is None else BlobInfo(found.digest, found.size, info.media_type, info.urls, info.annotations)

    def try_reusing_blob_with_options(self, info: BlobInfo, options: ReuseOptions) -> ReusedBlob | None:
        """See :mod:`.reuse`."""
        if info.digest is None:
            return None
        return self._reuse(info, options)

    def _reuse(self, info: BlobInfo, options: ReuseOptions | None) -> ReusedBlob | None:
        """Through the blob claims (see blob_cache): of concurrent copies needing
        the same blob, one looks for it (and uploads it if absent), the others
        wait for that."""
        assert info.digest is not None
        if options is not None and not options.uploads_original:
            return self.finder.find(info, options)  # a transformed blob will be uploaded: nothing to share
        key = self._claim_key(info.digest)
        claim = blob_claims.claim_or_wait(key)
        if claim is not True:
            if isinstance(claim, int):
                return ReusedBlob(info.digest, claim)
            claim = blob_claims.claim_or_wait(key)
            if claim is not True:
                if isinstance(claim, int):
                    return ReusedBlob(info.digest, claim)
                return None
        # This destination owns the blob now: it is released by put_blob or close().
        self._claims.add(key)
        try:
            reused = self.finder.find(info, options)
        except BaseException:
            self._release(key, None)
            raise
        if reused is None:
            self.uploader.open_early(info.digest)
        elif reused.digest == info.digest:
            self._release(key, reused.size)
        else:
            # Another blob stands for this one: waiters look for themselves.
            self._release(key, None)
            blob_claims.done(self._claim_key(reused.digest), reused.size)
        return reused

    def _release(self, key: tuple[str, str, str], size: int | None) -> None:
        self._claims.discard(key)
        blob_claims.done(key, size)

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        """Upload a blob (see :meth:`BlobUploader.upload`), sharing it with
        concurrent copies through the blob claims."""
        key = self._claim_key(info.digest) if info.digest is not None else None
        try:
            stored = self.uploader.upload(stream, info)
        except BaseException:
            if key is not None and key in self._claims:
                self._release(key, None)
            raise
        assert stored.digest is not None
        record_location(self.ctx, stored.digest, self.ref)
        done_key = self._claim_key(stored.digest)
        if done_key in self._claims:
            self._release(done_key, stored.size)
        else:
            blob_claims.done(done_key, stored.size)
        return stored

    def existing_manifest_digest(self) -> str | None:
        """The digest of the manifest the destination tag (or digest) holds now,
        from one ``HEAD`` request; None when absent or unknown (then ``sync``
        copies, and a real problem is reported by the copy itself)."""
        tail = self.ref.digest or self.ref.tag or "latest"
        try:
            resp = self.client.request("HEAD", repo_path(self.ref, "manifests", tail), headers=ACCEPT_MANIFESTS)
        except SkopeoError as e:
            log.debug(f"Checking for an existing manifest {tail} in {self.ref.name}: {e}")
            return None
        resp.close()
        found = resp.headers.get("Docker-Content-Digest", "") if resp.status_code == 200 else ""
        log.debug(f"Existing manifest {tail} in {self.ref.name}: status {resp.status_code}, digest {found!r}")
        return found if digest_mod.is_digest(found) else None

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        if instance_digest is not None:
            if not mf.matches_digest(data, instance_digest):
                raise SkopeoError(
                    f'Attempted to PutManifest using an explicitly specified digest ("{instance_digest}") '
                    f'that didn\'t match the manifest\'s digest ("{mf.manifest_digest(data)}")'
                )
            ref_tail = instance_digest
        else:
            self.manifest_digest = mf.manifest_digest(data)
            ref_tail = self.ref.digest or self.ref.tag or "latest"
        put_manifest(self.client, self.ref, data, mime, ref_tail)

    def put_signatures(self, signatures: list[bytes], instance_digest: str | None = None) -> None:
        digest = instance_digest or self.manifest_digest
        if digest is None:
            raise SkopeoError("Unknown manifest digest, can't add signatures")
        store_image_signatures(self.ctx, self.client, self.ref, self.put_blob, digest, signatures)

    def close(self) -> None:
        # Claims of blobs never uploaded (the copy failed first) let waiters go.
        for key in list(self._claims):
            self._release(key, None)
        self.uploader.cancel_unused()
