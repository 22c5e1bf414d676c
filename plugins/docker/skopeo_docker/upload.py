"""Blob uploads to a registry: an upload session (POST), then the body with
the final PUT when the digest is known (monolithic) or a streamed PATCH and
an empty PUT when it is not; restarts of interrupted uploads; sessions opened
ahead of time while the copy engine opens the source blob."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from skopeo import digest as digest_mod
from skopeo import log, workers
from skopeo.errors import SkopeoError, UploadInterruptedError
from skopeo.reference import DockerReference
from skopeo.retry import Backoff, retrying
from skopeo.transport import BlobInfo, BlobStream, RewindableBlobStream

from . import http_messages as http
from .client import CHUNK, RETRY_STATUSES, RegistryClient
from .network import TransportError, error_from
from .registry import blob_exists

if TYPE_CHECKING:
    from skopeo.workers import Future

# A blob upload whose streamed body failed is restarted this many times in total
# (when its stream can be rewound), waiting UPLOAD_RETRY_DELAY, then doubling.
UPLOAD_ATTEMPTS = 3
UPLOAD_RETRY_DELAY = 1.0


def _rewind_point(stream: BlobStream) -> tuple[RewindableBlobStream, int] | None:
    """The stream and the position to rewind it to, if it can be rewound."""
    try:
        if isinstance(stream, RewindableBlobStream) and stream.seekable():
            return stream, stream.tell()
    except (OSError, ValueError):
        pass
    return None


class BlobUploader:
    """Uploads to one repository, on behalf of one destination."""

    def __init__(self, client: RegistryClient, ref: DockerReference) -> None:
        self.client = client
        self.ref = ref
        # Upload sessions opened ahead of upload(), by digest (see open_early).
        self._early_sessions: dict[str, Future[http.URL]] = {}
        self._early_lock = threading.Lock()

    def upload(self, stream: BlobStream, info: BlobInfo) -> BlobInfo:
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
        start = _rewind_point(stream)

        def announce(e: BaseException, delay: float, retry: int) -> None:
            log.debug(f"{e}: restarting the upload in {delay:g}s ({retry}/{UPLOAD_ATTEMPTS - 1})")

        def rewind() -> None:
            self.client.wait_cooldown()
            assert start is not None
            rewindable, position = start
            rewindable.seek(position)

        return retrying(lambda: self._upload_once(stream, info), Backoff(UPLOAD_ATTEMPTS, UPLOAD_RETRY_DELAY),
                        UploadInterruptedError, announce, may_retry=lambda e: start is not None, before_retry=rewind)

    def _open_session(self) -> http.URL:
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

    def _upload_once(self, stream: BlobStream, info: BlobInfo) -> BlobInfo:
        location = self.take_early(info.digest) or self._open_session()

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
            self.cancel(location)
            raise UploadInterruptedError(f"uploading layer chunked: {e}") from None
        if not 200 <= resp.status_code <= 399:
            err = error_from(resp)
            if resp.status_code in RETRY_STATUSES:
                self.cancel(location)
                raise UploadInterruptedError(f"uploading layer chunked: {err}") from None
            raise err.wrap("uploading layer chunked") from None
        location = self._location(resp)
        resp.close()
        digest = info.digest if hasher is None else f"{hasher.name}:{hasher.hexdigest()}"
        assert digest is not None

        return self._finish_upload(location, digest, info, [("Content-Type", "application/octet-stream")], None,
                                   lambda: False, lambda: size)

    def _finish_upload(
        self,
        location: http.URL,
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
                self.cancel(location)
            raise UploadInterruptedError(f"uploading layer to {location}: {e}") from None
        if resp.status_code != 201:
            err = error_from(resp)
            if resp.status_code == 404 and blob_exists(self.client, self.ref, self.ref.path, digest, None) == size():
                # A retried PUT whose first attempt was committed before the
                # connection broke: the session is gone, the blob is there.
                log.debug(f"Upload session of {digest} is gone but the blob exists: done")
            elif resp.status_code in RETRY_STATUSES:
                raise UploadInterruptedError(f"uploading layer to {location}: {err}") from None
            else:
                raise err.wrap(f"uploading layer to {location}") from None
        resp.close()
        log.debug(f"Upload of layer {digest} complete")
        return BlobInfo(digest, size(), info.media_type, info.urls, info.annotations)

    def cancel(self, location: http.URL) -> None:
        """Best effort: tell the registry an abandoned upload session can go."""
        try:
            self.client.request("DELETE", location).close()
        except SkopeoError as e:
            log.debug(f"Error cancelling upload {location}: {e}")

    @staticmethod
    def _location(resp: http.Response) -> http.URL:
        location = resp.headers.get("Location")
        if not location:
            resp.close()
            raise SkopeoError("determining upload URL: http: no Location header in response")
        return resp.request.url.join(location)

    def open_early(self, digest: str) -> None:
        """The blob is not there and this destination holds its claim: the copy
        engine goes on to open the source blob and then calls put_blob.  The
        upload session's POST is sent now, in parallel with that source request,
        rather than after it: on a busy registry a POST waits tens of
        milliseconds, on the path of every blob.  put_blob takes the session;
        one that is never used is cancelled by cancel_unused()."""
        with self._early_lock:
            if digest not in self._early_sessions:
                # A failure is reported by put_blob's own POST, if it matters.
                self._early_sessions[digest] = workers.submit(self._open_session, "upload-session")

    def take_early(self, digest: str | None) -> http.URL | None:
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

    def cancel_unused(self) -> None:
        """Cancel the sessions opened ahead of time that no upload took."""
        with self._early_lock:
            unused, self._early_sessions = list(self._early_sessions.values()), {}
        for future in unused:
            if future.cancel():
                continue
            try:
                location = future.result()
            except Exception:
                continue
            self.cancel(location)
