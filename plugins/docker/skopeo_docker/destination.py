"""Image sources and destinations on a registry, tag listing and deletion.

Imported only when a ``docker://`` image is actually opened (it pulls in httpx)."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

import httpx

from skopeo import digest as digest_mod
from skopeo import log
from skopeo import manifest as mf
from skopeo.context import DEST_REPOSITORY_IS_NEW, SystemContext
from skopeo.errors import ManifestTypeRejectedError, SkopeoError, UploadInterruptedError
from skopeo.reference import TAG_RE, DockerReference, parse_canonical
from skopeo.transport import (
    COMPRESS,
    BlobInfo,
    DestinationCapabilities,
    ImageDestination,
    ImageSource,
    SourceCapabilities,
)

from . import registries_conf
from .client import (
    CHUNK,
    MAX_TAG_LIST_BODY_SIZE,
    RETRY_STATUSES,
    RegistryClient,
    Scope,
    TransportError,
    describe_network_error,
    error_from,
    new_client,
    read_limited,
    without_explicit_credentials,
)
from .registry_errors import RegistryError, is_manifest_invalid

if TYPE_CHECKING:
    from concurrent.futures import Future

    from .transport import DockerImageReference

ACCEPT_MANIFESTS = [("Accept", t) for t in mf.DEFAULT_REQUESTED_TYPES]
DESTINATION_MANIFEST_TYPES = (
    mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.OCI_INDEX, mf.DOCKER_LIST, mf.DOCKER_V2S1_SIGNED, mf.DOCKER_V2S1,
)
# Reconnect a broken blob download when at least this much arrived since the last
# reconnection, or when the last reconnection is this old (upstream's heuristic).
RESUME_MIN_PROGRESS = 1 << 20
RESUME_MIN_INTERVAL = 60.0
RESUME_DELAY = 1.0
# A blob upload whose streamed body failed is restarted this many times in total
# (when its stream can be rewound), waiting UPLOAD_RETRY_DELAY, then doubling.
UPLOAD_ATTEMPTS = 3
UPLOAD_RETRY_DELAY = 1.0


def _path(ref: DockerReference, kind: str, tail: str) -> str:
    return f"/v2/{ref.path}/{kind}/{tail}"


# --- where blobs are known to live (for cross-repository mounts) -----------------------
class _KnownLocations:
    """digest → {(registry, repository path)} seen in this process.  A small,
    in-memory form of upstream's blob-info cache: enough to mount a blob that was
    just read from (or written to) another repository of the same registry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._map: dict[str, list[tuple[str, str]]] = {}

    def record(self, digest: str, registry: str, path: str) -> None:
        with self._lock:
            where = self._map.setdefault(digest, [])
            if (registry, path) not in where:
                where.append((registry, path))

    def candidates(self, digest: str, registry: str, exclude_path: str) -> list[str]:
        with self._lock:
            return [p for r, p in self._map.get(digest, []) if r == registry and p != exclude_path]

    def clear(self) -> None:
        with self._lock:
            self._map.clear()


known_locations = _KnownLocations()


class _BlobClaims:
    """Blobs this process knows a repository holds, and uploads in flight.

    Many images copied at once (``sync``, ``--all``) often share layers: the
    first copy to need a blob claims it and uploads it; the others wait for
    that upload instead of sending the same bytes again, and nobody asks the
    registry again about a blob this process itself stored there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._present: dict[tuple[str, str, str], int] = {}
        self._inflight: dict[tuple[str, str, str], threading.Event] = {}

    def present(self, key: tuple[str, str, str]) -> int | None:
        with self._lock:
            return self._present.get(key)

    def claim_or_wait(self, key: tuple[str, str, str]) -> int | bool | None:
        """True: the caller now owns the upload of *key*.  Otherwise the size
        once another owner finished (None if that owner failed)."""
        while True:
            with self._lock:
                if key in self._present:
                    return self._present[key]
                event = self._inflight.get(key)
                if event is None:
                    self._inflight[key] = threading.Event()
                    return True
            event.wait()
            with self._lock:
                if key in self._present:
                    return self._present[key]
                if key not in self._inflight:
                    return None  # the owner failed; the caller uploads itself

    def done(self, key: tuple[str, str, str], size: int | None) -> None:
        with self._lock:
            if size is not None:
                self._present[key] = size
            event = self._inflight.pop(key, None)
        if event is not None:
            event.set()

    def clear(self) -> None:
        with self._lock:
            self._present.clear()


blob_claims = _BlobClaims()


def _record_manifest_blobs(data: bytes, mime: str, ref: DockerReference) -> None:
    try:
        parsed = mf.parse(data, mime)
    except SkopeoError:
        return
    if isinstance(parsed, mf.ImageManifest):
        descs = list(parsed.layers)
        if parsed.config is not None:
            descs.append(parsed.config)
        for d in descs:
            known_locations.record(d.digest, ref.domain, ref.path)


# --- manifests -------------------------------------------------------------------------------
def fetch_manifest(client: RegistryClient, ref: DockerReference, tag_or_digest: str) -> tuple[bytes, str]:
    resp = client.request(
        "GET", _path(ref, "manifests", tag_or_digest), headers=ACCEPT_MANIFESTS, preload=mf.MAX_MANIFEST_SIZE
    )
    content_type = resp.headers.get("Content-Type", "")
    log.debug(f'Content-Type from manifest GET is "{content_type}"')
    if resp.status_code != 200:
        err = error_from(resp)
        raise err.wrap(f"reading manifest {tag_or_digest} in {ref.name}") from None
    data = read_limited(resp, mf.MAX_MANIFEST_SIZE)
    header_digest = resp.headers.get("Docker-Content-Digest", "")
    if digest_mod.is_digest(header_digest):
        try:
            matches = mf.matches_digest(data, header_digest)
        except SkopeoError:
            matches = True  # unparseable schema1 signatures: the engine reports those
        if not matches:
            raise SkopeoError(
                f"reading manifest {tag_or_digest} in {ref.name}: registry reported digest {header_digest}, "
                f"content has digest {mf.manifest_digest(data, header_digest.partition(':')[0])}"
            )
    mime = content_type.split(";", 1)[0].strip()
    if mime not in (*mf.ALL_IMAGE_TYPES, *mf.LISTS):
        # application/json or nothing: upstream assumes signed schema1; the bytes know better.
        mime = mf.guess_mime(data) or mf.normalize_mime(mime)
    return data, mime


def get_blob_response(client: RegistryClient, path: str) -> httpx.Response:
    """GET a blob, following redirects (object stores, CDNs) without sending the
    registry's Authorization header to any other host."""
    headers = [("Accept-Encoding", "identity")]
    resp = client.request("GET", path, headers=headers)
    origin = resp.request.url
    for _ in range(10):
        if resp.status_code not in (301, 302, 303, 307, 308) or "Location" not in resp.headers:
            return resp
        target = origin.join(resp.headers["Location"])
        resp.close()
        same_origin = (target.scheme, target.host, target.port) == (origin.scheme, origin.host, origin.port)
        if same_origin:
            resp = client.request("GET", target, headers=headers)
        else:
            resp = client.request("GET", target, headers=headers, auth=False)
        origin = target
    return resp


def blob_bytes(client: RegistryClient, ref: DockerReference, desc: mf.Descriptor, limit: int) -> bytes:
    """The contents of the (small) blob *desc* in *ref*'s repository, at most
    *limit* bytes, checked against its digest (upstream's getOCIDescriptorContents)."""
    try:
        digest_mod.validate(desc.digest)
    except SkopeoError as e:
        raise SkopeoError(f'invalid digest "{desc.digest}": {e}') from None
    algo = desc.digest.partition(":")[0]  # validate() accepted only algorithms we compute
    path = _path(ref, "blobs", desc.digest)
    log.debug(f"Downloading {path}")
    resp = get_blob_response(client, path)
    if resp.status_code != 200:
        err = error_from(resp)
        raise err.wrap("fetching blob") from None
    try:
        data = read_limited(resp, limit)
    except SkopeoError as e:
        raise e.wrap(f"reading blob {desc.digest} in {ref.name}") from None
    actual = digest_mod.of_bytes(data, algo)
    if actual != desc.digest:
        raise SkopeoError(f'digest mismatch, expected "{desc.digest}", got "{actual}"')
    return data


# --- blob download with resume ------------------------------------------------------------------
class BlobReader:
    """A blob streamed from the registry in large chunks.  A connection that breaks
    mid-body is re-opened with ``Range: bytes=<offset>-`` while the download keeps
    making progress, as upstream's bodyReader does."""

    def __init__(self, client: RegistryClient, path: str, resp: httpx.Response, what: str) -> None:
        self._client = client
        self._path = path
        self._resp: httpx.Response | None = resp
        self._what = what
        self._iter: Iterator[bytes] | None = self._open_iter(resp)
        self._buf = b""
        self._eof = False
        self.offset = 0
        self._last_retry_offset = -1
        self._last_retry_time = 0.0

    @staticmethod
    def _open_iter(resp: httpx.Response) -> Iterator[bytes]:
        # Raw bytes as they arrive: the digest covers the stored bytes, so no
        # content decoding, and no re-chunking copies (~30% faster than iter_bytes).
        return resp.iter_raw()

    def _resumable(self) -> bool:
        resp = self._resp
        return resp is not None and resp.headers.get("Content-Encoding", "identity") in ("", "identity")

    def _next_chunk(self) -> bytes:
        while True:
            assert self._iter is not None
            try:
                return next(self._iter)
            except StopIteration:
                return b""
            except httpx.TransportError as e:
                self._reconnect(e)

    def _reconnect(self, exc: httpx.TransportError) -> None:
        assert self._resp is not None
        url = self._resp.request.url
        reason = describe_network_error(exc, url)
        progress = self.offset - self._last_retry_offset
        now = time.monotonic()
        allowed = self._resumable() and (
            progress >= RESUME_MIN_PROGRESS
            or self._last_retry_offset < 0
            or now - self._last_retry_time >= RESUME_MIN_INTERVAL
        )
        if not allowed:
            raise TransportError(f"reading {self._what}: {reason}") from None
        log.info(f"Reading blob body from {url} failed ({reason}), reconnecting after {self.offset} bytes…")
        self._resp.close()
        self._resp = None
        time.sleep(RESUME_DELAY)
        try:
            headers = [("Range", f"bytes={self.offset}-"), ("Accept-Encoding", "identity")]
            resp = self._client.request("GET", self._path, headers=headers)
        except SkopeoError as e:
            raise TransportError(f"reading {self._what}: {reason} (while reconnecting: {e})") from None
        if resp.status_code == 206:
            first, _, _total = _parse_content_range(resp.headers.get("Content-Range", ""))
            if first != self.offset:
                resp.close()
                raise TransportError(
                    f"reading {self._what}: {reason} (after reconnecting at offset {self.offset}, "
                    f"got unexpected Content-Range {resp.headers.get('Content-Range', '')})"
                )
        elif resp.status_code == 200:
            resp.close()
            raise TransportError(
                f"reading {self._what}: {reason} "
                "(after reconnecting, server did not process a Range: header, status 200)"
            )
        else:
            err = error_from(resp)
            raise TransportError(f"reading {self._what}: {reason} (after reconnecting, fetching blob: {err})")
        log.debug(f"Successfully reconnected to {url}")
        self._resp = resp
        self._iter = self._open_iter(resp)
        self._last_retry_offset = self.offset
        self._last_retry_time = time.monotonic()

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self._buf]
            self._buf = b""
            while not self._eof:
                chunk = self._next_chunk()
                if not chunk:
                    self._eof = True
                    break
                self.offset += len(chunk)
                parts.append(chunk)
            return b"".join(parts)
        if not self._buf and not self._eof:
            chunk = self._next_chunk()
            if not chunk:
                self._eof = True
            else:
                self.offset += len(chunk)
                if len(chunk) <= n:
                    return chunk  # the common case: no copy
                self._buf = chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None


def _parse_content_range(value: str) -> tuple[int, int, int]:
    try:
        unit, _, rest = value.partition(" ")
        span, _, total = rest.partition("/")
        first, _, last = span.partition("-")
        if unit != "bytes":
            raise ValueError(value)
        return int(first), int(last), (-1 if total == "*" else int(total))
    except ValueError:
        return -1, -1, -1


def _tell(stream: BinaryIO) -> int | None:
    """The position of a stream that can be rewound to it, else None."""
    try:
        if stream.seekable():
            return stream.tell()
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _blob_size(resp: httpx.Response) -> int:
    cl = resp.headers.get("Content-Length")
    return int(cl) if cl is not None and cl.isdigit() else -1


# --- source ------------------------------------------------------------------------------------------
class DockerImageSource(ImageSource):
    capabilities = SourceCapabilities(thread_safe_get_blob=True)
    reference: DockerImageReference

    def __init__(self, reference: DockerImageReference, ctx: SystemContext) -> None:
        super().__init__(reference)
        self.ctx = ctx
        logical = reference.ref
        conf = registries_conf.load(ctx)
        try:
            reg = conf.find_registry(logical.name)
        except SkopeoError as e:
            raise e.wrap("loading registries configuration") from None
        if reg is not None and reg.blocked:
            raise conf.blocked_error(reg)
        if reg is None:
            sources: list[tuple[registries_conf.Endpoint | None, str]] = [(None, str(logical))]
        else:
            sources = list(reg.pull_sources(logical))
        attempts: list[tuple[str, SkopeoError]] = []
        for endpoint, physical_text in sources:
            log.debug(f'Trying to access "{physical_text}"')
            try:
                physical = parse_canonical(physical_text)
            except SkopeoError as e:
                attempts.append((physical_text, e.wrap("rewriting reference")))
                continue
            endpoint_ctx = ctx if physical.domain == logical.domain else without_explicit_credentials(ctx)
            try:
                client = new_client(endpoint_ctx, physical, "pull", None if endpoint is None else endpoint.insecure)
                data, mime = fetch_manifest(client, physical, physical.digest or physical.tag or "latest")
            except SkopeoError as e:
                log.debug(f'Accessing "{physical_text}" failed: {e}')
                attempts.append((physical_text, e))
                continue
            self.physical = physical
            self.client = client
            self._manifest = data
            self._mime = mime
            _record_manifest_blobs(data, mime, physical)
            return
        if len(attempts) == 1:
            raise attempts[0][1]
        primary_ref, primary_err = attempts[-1]
        extras = "\n".join(f"[{r}: {e}]" for r, e in attempts[:-1])
        raise primary_err.wrap(f"(Mirrors also failed: {extras}): {primary_ref}") from None

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        if instance_digest is None:
            return self._manifest, self._mime
        digest_mod.validate(instance_digest)
        data, mime = fetch_manifest(self.client, self.physical, instance_digest)
        _record_manifest_blobs(data, mime, self.physical)
        return data, mime

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        from .signatures import image_signatures

        digest = instance_digest or self.physical.digest or mf.manifest_digest(self._manifest)
        return image_signatures(self.ctx, self.client, self.physical, digest)

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        assert info.digest is not None
        if info.urls:
            found = self._get_external_blob(info.urls)
            if found is not None:
                return found
        digest_mod.validate(info.digest)
        path = _path(self.physical, "blobs", info.digest)
        log.debug(f"Downloading {path}")
        resp = self._get_following_redirects(path)
        if resp.status_code != 200:
            err = error_from(resp)
            raise err.wrap("fetching blob") from None
        known_locations.record(info.digest, self.physical.domain, self.physical.path)
        reader = BlobReader(self.client, path, resp, f"blob {info.digest}")
        return reader, _blob_size(resp)  # type: ignore[return-value]

    def _get_following_redirects(self, path: str) -> httpx.Response:
        return get_blob_response(self.client, path)

    def _get_external_blob(self, urls: tuple[str, ...]) -> tuple[BinaryIO, int] | None:
        errors = []
        for u in urls:
            parsed = urllib.parse.urlsplit(u)
            if parsed.scheme not in ("http", "https"):
                continue
            # Never authenticate to foreign-layer URLs: they could steal credentials (CVE-2020-15157).
            try:
                resp = self.client.request("GET", httpx.URL(u), auth=False)
            except SkopeoError as e:
                errors.append(str(e))
                continue
            if resp.status_code != 200:
                resp.close()
                errors.append(
                    f'error fetching external blob from "{u}": received unexpected HTTP status: '
                    f"{resp.status_code} {resp.reason_phrase}"
                )
                continue
            return BlobReader(self.client, u, resp, f"blob from {u}"), _blob_size(resp)  # type: ignore[return-value]
        if not errors:
            return None
        raise SkopeoError(f"failed fetching external blob from all urls: {', '.join(errors)}")

    def repo_tags(self) -> list[str] | None:
        try:
            return list_repository_tags(self.ctx, self.reference.ref)
        except RegistryError as e:
            if e.code == "DENIED" or (e.code == "UNKNOWN" and e.registry_message == "404 page not found"):
                log.warning("Registry disallows tag list retrieval; skipping")
                return []
            raise

    def close(self) -> None:
        pass  # connections stay pooled for the process


# --- destination -----------------------------------------------------------------------------------------
class DockerImageDestination(ImageDestination):
    capabilities = DestinationCapabilities(
        supported_manifest_types=DESTINATION_MANIFEST_TYPES,
        desired_layer_compression=COMPRESS,
        thread_safe_put_blob=True,
        accepts_foreign_layer_urls=True,
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
        # Blob claims (see _BlobClaims) this destination holds and must release.
        self._claims: set[tuple[str, str, str]] = set()
        # Blobs are not looked up in a repository known to be new (mounts from
        # other repositories are still tried).
        self._new_repository = bool(ctx.extra.get(DEST_REPOSITORY_IS_NEW))
        # Upload sessions opened ahead of put_blob, by digest (see _open_session_early).
        self._early_sessions: dict[str, Future[httpx.URL]] = {}
        self._early_lock = threading.Lock()
        # Connect while the copy is still reading the source: the first upload
        # then finds the registry pinged (a failure is reported by that upload).
        threading.Thread(target=self._warm_up, name="registry-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        try:
            self.client.ping()
        except SkopeoError as e:
            log.debug(f"Connecting to {self.client.host} ahead of use failed: {e}")

    # --- blobs ---
    def _blob_exists(self, repo_path: str, digest: str, extra_scope: Scope | None) -> int | None:
        """Size of the blob if the repository has it, else None."""
        digest_mod.validate(digest)
        log.debug(f"Checking /v2/{repo_path}/blobs/{digest}")
        resp = self.client.request("HEAD", f"/v2/{repo_path}/blobs/{digest}", extra_scope=extra_scope)
        name = f"{self.ref.domain}/{repo_path}"
        if resp.status_code == 200:
            resp.close()
            size = _blob_size(resp)
            if size < 0:
                raise SkopeoError(
                    f'determining size of blob {digest} in {name}: Missing "Content-Length" header in response'
                )
            log.debug("... already exists")
            return size
        if resp.status_code == 404:
            resp.close()
            log.debug("... not present")
            return None
        err = error_from(resp)
        raise err.wrap(f"checking whether a blob {digest} exists in {name}") from None

    def _mount(self, from_path: str, digest: str, scope: Scope) -> bool:
        query = urllib.parse.urlencode([("from", from_path), ("mount", digest)])
        path = f"/v2/{self.ref.path}/blobs/uploads/?{query}"
        log.debug(f"Trying to mount {path}")
        resp = self.client.request("POST", path, extra_scope=scope)
        if resp.status_code == 201:
            resp.close()
            log.debug("... mount OK")
            return True
        if resp.status_code == 202:
            location = resp.headers.get("Location")
            resp.close()
            log.debug("... started an upload instead of mounting, trying to cancel")
            if location:
                try:
                    cancel = self.client.request("DELETE", resp.request.url.join(location), extra_scope=scope)
                    cancel.close()
                except SkopeoError as e:
                    log.debug(f"Error trying to cancel an inadvertent upload: {e}")
            return False
        err = error_from(resp)
        log.debug(f"... mount failed: {err}")
        return False

    def _claim_key(self, digest: str) -> tuple[str, str, str]:
        return (self.client.host, self.ref.path, digest)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        key = self._claim_key(info.digest)
        claim = blob_claims.claim_or_wait(key)
        if claim is not True:
            if isinstance(claim, int):
                return BlobInfo(info.digest, claim, info.media_type, info.urls, info.annotations)
            claim = blob_claims.claim_or_wait(key)
            if claim is not True:
                if isinstance(claim, int):
                    return BlobInfo(info.digest, claim, info.media_type, info.urls, info.annotations)
                return None
        # This destination owns the blob now: it is released by put_blob or close().
        self._claims.add(key)
        try:
            reused = self._find_blob(info)
        except BaseException:
            self._release(key, None)
            raise
        if reused is not None:
            self._release(key, reused.size)
        else:
            self._open_session_early(info.digest)
        return reused

    def _open_session_early(self, digest: str) -> None:
        """The blob is not there and this destination holds its claim: the copy
        engine goes on to open the source blob and then calls put_blob.  The
        upload session's POST is sent now, in parallel with that source request,
        rather than after it: on a busy registry a POST waits tens of
        milliseconds, on the path of every blob.  put_blob takes the session;
        one that is never used is cancelled in close()."""
        from concurrent.futures import Future  # ~3 ms that inspect and list-tags skip

        future: Future[httpx.URL] = Future()
        with self._early_lock:
            if digest in self._early_sessions:
                return
            self._early_sessions[digest] = future

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(self._open_session())
            except BaseException as e:  # reported by put_blob's own POST, if it matters
                future.set_exception(e)

        threading.Thread(target=run, name="upload-session", daemon=True).start()

    def _take_early_session(self, digest: str | None) -> httpx.URL | None:
        if digest is None:
            return None
        with self._early_lock:
            future = self._early_sessions.pop(digest, None)
        if future is None:
            return None
        try:
            return future.result()
        except Exception as e:
            log.debug(f"Opening an upload session ahead of time failed ({e}), opening one now")
            return None

    def _release(self, key: tuple[str, str, str], size: int | None) -> None:
        self._claims.discard(key)
        blob_claims.done(key, size)

    def _find_blob(self, info: BlobInfo) -> BlobInfo | None:
        assert info.digest is not None
        size = None if self._new_repository else self._blob_exists(self.ref.path, info.digest, None)
        if size is not None:
            known_locations.record(info.digest, self.ref.domain, self.ref.path)
            return BlobInfo(info.digest, size, info.media_type, info.urls, info.annotations)
        for other in known_locations.candidates(info.digest, self.ref.domain, self.ref.path):
            scope = Scope("repository", other, "pull")
            log.debug(f"Trying to reuse blob {info.digest} in destination repo {self.ref.domain}/{other}")
            try:
                size = self._blob_exists(other, info.digest, scope)
                if size is None or not self._mount(other, info.digest, scope):
                    continue
            except SkopeoError as e:
                log.debug(f"... Failed: {e}")
                continue
            known_locations.record(info.digest, self.ref.domain, self.ref.path)
            return BlobInfo(info.digest, size, info.media_type, info.urls, info.annotations)
        return None

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        """Upload a blob: POST a session, one streamed PATCH, PUT ?digest=.

        Retries.  Bodiless requests (POST, the final PUT) are retried by the
        client.  The PATCH streams *stream* and cannot be replayed by the client:
        when it fails for a transient reason (connection dropped or reset,
        408/429/5xx), the session is abandoned and the upload starts again with
        a new POST.  The bytes already sent must be produced again: a seekable
        stream (config blobs, spooled temporary files) is rewound here; any
        other stream makes us raise :class:`UploadInterruptedError` and the copy
        engine re-opens the source blob and calls us again.  Nothing is buffered
        in memory or spooled to disk for this, and nothing of a failed attempt
        is visible: a blob only exists once the final PUT succeeded."""
        key = self._claim_key(info.digest) if info.digest is not None else None
        try:
            stored = self._put_blob(stream, info)
        except BaseException:
            if key is not None and key in self._claims:
                self._release(key, None)
            raise
        assert stored.digest is not None
        done_key = self._claim_key(stored.digest)
        if done_key in self._claims:
            self._release(done_key, stored.size)
        else:
            blob_claims.done(done_key, stored.size)
        return stored

    def _put_blob(self, stream: BinaryIO, info: BlobInfo) -> BlobInfo:
        start = _tell(stream)
        attempt = 0
        while True:
            try:
                return self._upload_once(stream, info)
            except UploadInterruptedError as e:
                attempt += 1
                if start is None or attempt >= UPLOAD_ATTEMPTS:
                    raise
                delay = UPLOAD_RETRY_DELAY * 2 ** (attempt - 1)
                log.info(f"{e}: restarting the upload in {delay:g}s ({attempt}/{UPLOAD_ATTEMPTS - 1})")
                time.sleep(delay)
                self.client.wait_cooldown()
                stream.seek(start)

    def _open_session(self) -> httpx.URL:
        """POST a new upload session; its URL."""
        upload_path = f"/v2/{self.ref.path}/blobs/uploads/"
        log.debug(f"Uploading {upload_path}")
        resp = self.client.request("POST", upload_path)
        if resp.status_code != 202:
            err = error_from(resp)
            raise err.wrap(f"initiating layer upload to {upload_path} in {self.client.host}") from None
        location = self._location(resp)
        resp.close()
        return location

    def _upload_once(self, stream: BinaryIO, info: BlobInfo) -> BlobInfo:
        location = self._take_early_session(info.digest) or self._open_session()

        hasher = digest_mod.hasher(digest_mod.CANONICAL) if info.digest is None else None
        size = 0
        source_failed = False

        def body() -> Iterator[bytes]:
            nonlocal size, source_failed
            while True:
                try:
                    chunk = stream.read(CHUNK)
                except BaseException:
                    source_failed = True  # the source's own error, not the upload's
                    raise
                if not chunk:
                    return
                if hasher is not None:
                    hasher.update(chunk)
                size += len(chunk)
                yield chunk

        headers = [("Content-Type", "application/octet-stream")]
        if info.digest is not None and info.size >= 0:
            headers.append(("Content-Length", str(info.size)))
        if info.digest is not None:
            # The digest is known up front: send the body with the final PUT
            # (one request fewer per blob than PATCH + PUT; the distribution
            # spec's monolithic upload, which every registry accepts).
            return self._finish_upload(location, info.digest, info, headers, body, lambda: source_failed, lambda: size)
        try:
            resp = self.client.request("PATCH", location, headers=headers, content=body())
        except TransportError as e:
            if source_failed:
                raise  # reading the source failed (it reports itself), not the upload
            if not e.retryable:
                raise e.wrap("uploading layer chunked") from None
            self._cancel_upload(location)
            raise UploadInterruptedError(f"uploading layer chunked: {e}") from None
        if not 200 <= resp.status_code <= 399:
            err = error_from(resp)
            if resp.status_code in RETRY_STATUSES:
                self._cancel_upload(location)
                raise UploadInterruptedError(f"uploading layer chunked: {err}") from None
            raise err.wrap("uploading layer chunked") from None
        location = self._location(resp)
        resp.close()
        digest: str = info.digest if hasher is None else f"{hasher.name}:{hasher.hexdigest()}"  # type: ignore[assignment]

        return self._finish_upload(location, digest, info, [("Content-Type", "application/octet-stream")], None,
                                   lambda: False, lambda: size)

    def _finish_upload(
        self,
        location: httpx.URL,
        digest: str,
        info: BlobInfo,
        headers: list[tuple[str, str]],
        body: Callable[[], Iterator[bytes]] | None,
        source_failed: Callable[[], bool],
        size: Callable[[], int],
    ) -> BlobInfo:
        """``PUT <location>?digest=…``, with the blob as body when *body* is
        given (monolithic) or empty after a PATCH."""
        query = urllib.parse.parse_qsl(location.query.decode(), keep_blank_values=True)
        query = [(k, v) for k, v in query if k != "digest"] + [("digest", digest)]
        # Go's url.Values.Encode() sorts by key.
        location = location.copy_with(query=urllib.parse.urlencode(sorted(query, key=lambda kv: kv[0])).encode())
        try:
            resp = self.client.request("PUT", location, headers=headers, content=body() if body is not None else b"")
        except TransportError as e:
            if source_failed():
                raise  # reading the source failed (it reports itself), not the upload
            if not e.retryable:
                raise e.wrap(f"uploading layer to {location}") from None
            if body is not None:
                self._cancel_upload(location)
            raise UploadInterruptedError(f"uploading layer to {location}: {e}") from None
        if resp.status_code != 201:
            err = error_from(resp)
            if resp.status_code == 404 and self._blob_exists(self.ref.path, digest, None) == size():
                # A retried PUT whose first attempt was committed before the
                # connection broke: the session is gone, the blob is there.
                log.debug(f"Upload session of {digest} is gone but the blob exists: done")
            elif resp.status_code in RETRY_STATUSES:
                raise UploadInterruptedError(f"uploading layer to {location}: {err}") from None
            else:
                raise err.wrap(f"uploading layer to {location}") from None
        resp.close()
        log.debug(f"Upload of layer {digest} complete")
        known_locations.record(digest, self.ref.domain, self.ref.path)
        return BlobInfo(digest, size(), info.media_type, info.urls, info.annotations)

    def _cancel_upload(self, location: httpx.URL) -> None:
        """Best effort: tell the registry an abandoned upload session can go."""
        try:
            self.client.request("DELETE", location).close()
        except SkopeoError as e:
            log.debug(f"Error cancelling upload {location}: {e}")

    def existing_manifest_digest(self) -> str | None:
        """The digest of the manifest the destination tag (or digest) holds now,
        from one ``HEAD`` request; None when absent or unknown (then ``sync``
        copies, and a real problem is reported by the copy itself)."""
        tail = self.ref.digest or self.ref.tag or "latest"
        try:
            resp = self.client.request("HEAD", _path(self.ref, "manifests", tail), headers=ACCEPT_MANIFESTS)
        except SkopeoError as e:
            log.debug(f"Checking for an existing manifest {tail} in {self.ref.name}: {e}")
            return None
        resp.close()
        found = resp.headers.get("Docker-Content-Digest", "") if resp.status_code == 200 else ""
        log.debug(f"Existing manifest {tail} in {self.ref.name}: status {resp.status_code}, digest {found!r}")
        return found if digest_mod.is_digest(found) else None

    @staticmethod
    def _location(resp: httpx.Response) -> httpx.URL:
        location = resp.headers.get("Location")
        if not location:
            resp.close()
            raise SkopeoError("determining upload URL: http: no Location header in response")
        return resp.request.url.join(location)

    # --- manifests ---
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
        self.upload_manifest(data, mime, ref_tail)

    def upload_manifest(self, data: bytes, mime: str, ref_tail: str) -> None:
        """PUT *data* as the manifest *ref_tail* (a tag or digest) of the repository."""
        path = _path(self.ref, "manifests", ref_tail)
        headers = []
        guessed = mf.guess_mime(data)
        if guessed:
            headers.append(("Content-Type", guessed))
        resp = self.client.request("PUT", path, headers=headers, content=data)
        if not 200 <= resp.status_code <= 399:
            err = error_from(resp)
            wrapped = err.wrap(f"uploading manifest {ref_tail} to {self.ref.name}")
            if is_manifest_invalid(err):
                raise ManifestTypeRejectedError(wrapped.message) from None
            raise wrapped from None
        if "Docker-Content-Digest" not in resp.headers:
            log.debug(
                "Manifest upload response didn't contain a Docker-Content-Digest header, "
                "it might not be a container registry"
            )
        resp.close()
        _record_manifest_blobs(data, guessed or mime, self.ref)

    def put_signatures(self, signatures: list[bytes], instance_digest: str | None = None) -> None:
        from .signatures import store_image_signatures

        digest = instance_digest or self.manifest_digest
        if digest is None:
            raise SkopeoError("Unknown manifest digest, can't add signatures")
        store_image_signatures(self, digest, signatures)

    def close(self) -> None:
        # Claims of blobs never uploaded (the copy failed first) let waiters go.
        for key in list(self._claims):
            self._release(key, None)
        with self._early_lock:
            unused, self._early_sessions = list(self._early_sessions.values()), {}
        for future in unused:
            if future.cancel():
                continue
            try:
                location = future.result()
            except Exception:
                continue
            self._cancel_upload(location)


# --- tags and deletion ------------------------------------------------------------------------------------
def list_repository_tags(ctx: SystemContext, ref: DockerReference) -> list[str]:
    """Every tag of *ref*'s repository, following ``Link`` pagination."""
    import json

    try:
        client = new_client(ctx, ref, "pull")
    except SkopeoError as e:
        raise e.wrap("failed to create client") from None
    path = _path(ref, "tags", "list")
    tags: list[str] = []
    while True:
        resp = client.request("GET", path, preload=MAX_TAG_LIST_BODY_SIZE)
        if resp.status_code != 200:
            err = error_from(resp)
            raise err.wrap("fetching tags list") from None
        body = read_limited(resp, MAX_TAG_LIST_BODY_SIZE)
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise SkopeoError(f"fetching tags list: {e}") from None
        page = obj.get("tags") if isinstance(obj, dict) else None
        for tag in page or []:
            if not isinstance(tag, str) or not TAG_RE.match(tag):
                if not tag:
                    log.debug("Ignoring invalid empty tag")
                    continue
                if isinstance(tag, str) and digest_mod.is_digest(tag):
                    log.debug(f'Ignoring invalid tag "{tag}" matching a digest format')
                    continue
                raise SkopeoError(f'registry returned invalid tag "{tag}": invalid tag format')
            tags.append(tag)
        link = resp.headers.get("Link", "")
        if not link:
            break
        target = urllib.parse.urlsplit(link.split(";", 1)[0].strip().strip("<>"))
        # Relative or absolute: only the path and query are used.
        path = target.path + (f"?{target.query}" if target.query else "")
    return tags


def delete_image(ctx: SystemContext, ref: DockerReference) -> None:
    """Delete the manifest *ref* points at, by digest (so every tag sharing it goes)."""
    try:
        client = new_client(ctx, ref, "*")
    except SkopeoError as e:
        raise e
    tail = ref.digest or ref.tag or "latest"
    resp = client.request("GET", _path(ref, "manifests", tail), headers=ACCEPT_MANIFESTS)
    if resp.status_code == 404:
        resp.close()
        raise SkopeoError(
            f"Unable to delete {ref}. Image may not exist or is not stored with a v2 Schema in a v2 registry"
        )
    if resp.status_code != 200:
        err = error_from(resp)
        raise err.wrap(f"deleting {ref}") from None
    body = read_limited(resp, mf.MAX_MANIFEST_SIZE)
    try:
        digest = mf.manifest_digest(body)
    except SkopeoError as e:
        raise e.wrap("computing manifest digest") from None
    resp = client.request("DELETE", _path(ref, "manifests", digest), headers=ACCEPT_MANIFESTS)
    if resp.status_code != 202:
        err = error_from(resp)
        raise err.wrap(f"deleting {ref}") from None
    resp.close()


__all__ = [
    "DockerImageDestination",
    "DockerImageSource",
    "delete_image",
    "fetch_manifest",
    "known_locations",
    "list_repository_tags",
]
