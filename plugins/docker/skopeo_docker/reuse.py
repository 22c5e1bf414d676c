"""Finding what a registry destination can use instead of uploading a blob, as
upstream's ``TryReusingBlobWithOptions``: the blob in the destination
repository, then the blob-info cache's candidates on the same registry (other
repositories, and other compressions of the same content when the copy
allows), in upstream's order; a candidate in another repository is checked
and mounted, and any failure just moves on to the next (an upload follows
when none works)."""

from __future__ import annotations

from skopeo import blobinfocache, log
from skopeo import digest as digest_mod
from skopeo.blobinfocache import Candidate, CandidateOptions
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.reference import DockerReference, parse_normalized
from skopeo.transport import BlobInfo, ReusedBlob, ReuseOptions

from .authorization import Scope
from .blob_cache import TRANSPORT, manifest_locations, record_location
from .client import RegistryClient
from .registry import blob_exists, mount


class BlobFinder:
    """Looks for blobs on behalf of one destination (*ref* through *client*)."""

    def __init__(self, client: RegistryClient, ref: DockerReference, ctx: SystemContext, new_repository: bool) -> None:
        self.client = client
        self.ref = ref
        self.ctx = ctx
        # The repository was just seen not to exist: do not ask it for blobs.
        self.new_repository = new_repository

    def find(self, info: BlobInfo, options: ReuseOptions | None) -> ReusedBlob | None:
        """A blob standing for *info*, now in the destination repository.
        Without *options*: *info* itself, from anywhere it was seen."""
        assert info.digest is not None
        original_ok = options is None or options.accepts_original()
        if original_ok and not self.new_repository:
            size = blob_exists(self.client, self.ref, self.ref.path, info.digest, None)
            if size is not None:
                record_location(self.ctx, info.digest, self.ref)
                return ReusedBlob(info.digest, size)
        lookup = None if options is None else CandidateOptions(
            options.can_substitute, options.possible_manifest_formats, options.required_compression)
        candidates = blobinfocache.cache_for(self.ctx).candidate_locations(TRANSPORT, self.ref.domain, info.digest,
                                                                           lookup)
        tried: set[tuple[str, str]] = set()
        for c in candidates:
            path = self._candidate_path(c)
            if path is None:
                continue
            if original_ok and path == self.ref.path and c.digest == info.digest:
                log.debug("... Already tried the primary destination")
                continue
            tried.add((path, c.digest))
            size = self._take_from(path, c.digest)
            if size is not None:
                if c.digest == info.digest:
                    return ReusedBlob(c.digest, size)
                return ReusedBlob(c.digest, size, c.compression, c.annotations)
        if original_ok:
            # Repositories whose manifests (read or written by this process) name it.
            for path in manifest_locations.candidates(info.digest, self.ref.domain, self.ref.path):
                if (path, info.digest) not in tried:
                    log.debug(f"Trying to reuse blob {info.digest} in destination repo {self.ref.domain}/{path}")
                    size = self._take_from(path, info.digest)
                    if size is not None:
                        return ReusedBlob(info.digest, size)
        return None

    def _candidate_path(self, candidate: Candidate) -> str | None:
        """The repository (path on this registry) to look in for *candidate*."""
        if not digest_mod.is_digest(candidate.digest):
            return None
        compressed = _compressed(candidate.compression)
        if candidate.location is None:
            log.debug(f"Trying to reuse blob with cached digest {candidate.digest}{compressed} with no location match, "
                      "checking current repo")
            return self.ref.path
        try:
            repo = parse_normalized(candidate.location)
        except SkopeoError as e:
            log.debug(f"Error parsing BlobInfoCache location reference: {e}")
            return None
        log.debug(f"Trying to reuse blob with cached digest {candidate.digest}{compressed} in destination repo {repo.name}")
        if repo.domain != self.ref.domain:
            log.debug(f"... Internal error: domain {repo.domain} does not match destination {self.ref.domain}")
            return None
        return repo.path

    def _take_from(self, path: str, digest: str) -> int | None:
        """The size of *digest* once the destination repository has it from
        repository *path* (checked there, then mounted unless it is the
        destination itself), else None."""
        scope = Scope("repository", path, "pull")
        try:
            size = blob_exists(self.client, self.ref, path, digest, scope)
            if size is None:
                return None
            if path != self.ref.path and not mount(self.client, self.ref, path, digest, scope):
                return None
        except SkopeoError as e:
            log.debug(f"... Failed: {e}")
            return None
        record_location(self.ctx, digest, self.ref)
        return size


def _compressed(compression: str) -> str:
    """How upstream's debug lines name a candidate's compression."""
    if compression in (blobinfocache.UNCOMPRESSED, blobinfocache.UNKNOWN_COMPRESSION):
        return ""
    return f" compressed with {compression}"
