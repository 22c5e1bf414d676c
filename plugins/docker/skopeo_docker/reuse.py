"""Finding what a registry destination can use instead of uploading a blob, as
upstream's ``TryReusingBlobWithOptions``: the blob in the destination
repository, then the blob-info cache's candidates on the same registry (other
repositories, and other compressions of the same content when the copy
allows), in upstream's order; a candidate in another repository is checked
and mounted, and any failure just moves on to the next (an upload follows
when none works)."""

from __future__ import annotations

import functools
from typing import NamedTuple

from skopeo import blobinfocache, log, workers
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
        checks: list[_Check] = []
        if original_ok and not self.new_repository:
            checks.append(_Check(self.ref.path, info.digest, None, primary=True))
        lookup = None if options is None else CandidateOptions(
            options.can_substitute, options.possible_manifest_formats, options.required_compression)
        candidates = blobinfocache.cache_for(self.ctx).candidate_locations(TRANSPORT, self.ref.domain, info.digest,
                                                                           lookup)
        seen_here = False  # the cache saw this very blob in the destination repository
        for c in candidates:
            path = self._candidate_path(c)
            if path is None:
                continue
            if original_ok and path == self.ref.path and c.digest == info.digest:
                log.debug("... Already tried the primary destination")
                seen_here = seen_here or c.location is not None
                continue
            checks.append(_Check(path, c.digest, c))
        if original_ok:
            # Repositories whose manifests (read or written by this process) name it.
            tried = {(check.path, check.digest) for check in checks}
            for path in manifest_locations.candidates(info.digest, self.ref.domain, self.ref.path):
                if (path, info.digest) not in tried:
                    log.debug(f"Trying to reuse blob {info.digest} in destination repo {self.ref.domain}/{path}")
                    checks.append(_Check(path, info.digest, None))
        # Upstream asks one place after the other.  The answers are taken in the
        # same order, but the questions go out together (one round trip per
        # layer instead of one per candidate), except where the cache saw the
        # blob in the destination repository itself: that one is asked alone
        # first (a copy to where the image already is then sends only it).
        batches = [checks[:1], checks[1:]] if seen_here and checks and checks[0].primary else [checks]
        for batch in batches:
            for check, size in zip(batch, self._sizes(batch), strict=True):
                if size is None or (check.path != self.ref.path and not self._mount(check.path, check.digest)):
                    continue
                record_location(self.ctx, check.digest, self.ref)
                found = check.candidate
                if found is None or found.digest == info.digest:
                    return ReusedBlob(check.digest, size)
                return ReusedBlob(found.digest, size, found.compression, found.annotations)
        return None

    def _sizes(self, checks: list[_Check]) -> list[int | None]:
        """The size of each check's blob where it looks (None: not there).  An
        error of the primary check (the destination repository itself) is
        raised, as upstream; a candidate's error only disqualifies it."""

        def one(check: _Check) -> int | None:
            scope = None if check.primary else Scope("repository", check.path, "pull")
            try:
                return blob_exists(self.client, self.ref, check.path, check.digest, scope)
            except SkopeoError as e:
                if check.primary:
                    raise
                log.debug(f"... Failed: {e}")
                return None

        # The first check here, the others on workers; every one has ended
        # before an error (the first in order) is raised.
        others = [workers.submit(functools.partial(one, c), "blob-exists") for c in checks[1:]]
        try:
            first = [one(checks[0])] if checks else []
        finally:
            workers.wait(others)
        return first + [f.result() for f in others]

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

    def _mount(self, path: str, digest: str) -> bool:
        """*digest*, seen in repository *path*, mounted into the destination."""
        try:
            return mount(self.client, self.ref, path, digest, Scope("repository", path, "pull"))
        except SkopeoError as e:
            log.debug(f"... Failed: {e}")
            return False


class _Check(NamedTuple):
    """A place to look for a blob: repository *path* (on the destination's
    registry), *digest*, and the cache's candidate it comes from (if any)."""

    path: str
    digest: str
    candidate: Candidate | None
    # The destination repository itself, for the blob asked for: its errors count.
    primary: bool = False


def _compressed(compression: str) -> str:
    """How upstream's debug lines name a candidate's compression."""
    if compression in (blobinfocache.UNCOMPRESSED, blobinfocache.UNKNOWN_COMPRESSION):
        return ""
    return f" compressed with {compression}"
