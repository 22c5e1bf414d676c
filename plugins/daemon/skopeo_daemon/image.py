"""docker-daemon: image source and destination (loaded when an image is opened)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.transport import BlobInfo, BlobStream, DestinationCapabilities
from skopeo_archive.docker_archive import ArchiveDestinationBase, ArchiveSourceBase
from skopeo_archive.dockertar import DockerArchiveWriter
from skopeo_archive.tarwriter import TarWriter

from .client import DEFAULT_HOST, DaemonClient
from .transport import CHUNK, DaemonReference


class DaemonSource(ArchiveSourceBase):
    pass


class DaemonDestination(ArchiveDestinationBase):
    reference: DaemonReference

    def __init__(self, reference: DaemonReference, ctx: SystemContext) -> None:
        assert reference.ref is not None
        self.client = DaemonClient(ctx)
        try:
            self.client.api_version()  # fail now, not after streaming layers, if the daemon is unreachable
            r, w = os.pipe()
        except BaseException:
            self.client.close()
            raise
        self._read_fd = r
        self._pipe = os.fdopen(w, "wb", buffering=0)
        self._error: BaseException | None = None
        self._committed = False
        self._thread = threading.Thread(target=self._upload, name="docker-daemon-load", daemon=True)
        self._thread.start()
        tar = TarWriter(self._pipe, ctx.tmp_directory())
        super().__init__(reference, DockerArchiveWriter(tar), [reference.ref])
        # Upstream's quirk: the OS check applies only when the default socket is
        # named explicitly.
        self.capabilities = DestinationCapabilities(
            supported_manifest_types=self.capabilities.supported_manifest_types,
            desired_layer_compression=self.capabilities.desired_layer_compression,
            thread_safe_put_blob=True,
            signatures_unsupported_reason="Storing signatures for docker-daemon: destinations is not supported",
            must_match_runtime_os=ctx.daemon_host == DEFAULT_HOST,
        )

    def _body(self) -> Iterator[bytes]:
        while True:
            chunk = os.read(self._read_fd, CHUNK)
            if not chunk:
                return
            yield chunk

    def _upload(self) -> None:
        try:
            self.client.load(self._body())
        except BaseException as e:  # reported by commit/put_blob in the caller's thread
            self._error = e
        finally:
            os.close(self._read_fd)

    def _raise_upload_error(self, err: BaseException) -> None:
        """A write into the pipe failed: the daemon's answer says why."""
        self._pipe.close()
        self._thread.join(timeout=60)
        if self._error is not None:
            raise self._error
        raise SkopeoError(f"writing to the docker daemon: {err}")

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        try:
            return super().put_blob(stream, info, is_config)
        except (BrokenPipeError, ConnectionError) as e:
            self._raise_upload_error(e)
            raise

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        try:
            super().put_manifest(data, mime, instance_digest)
        except (BrokenPipeError, ConnectionError) as e:
            self._raise_upload_error(e)

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        try:
            self.writer.close()
        except (BrokenPipeError, ConnectionError) as e:
            self._raise_upload_error(e)
        self._pipe.close()
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._committed = True

    def close(self) -> None:
        if not self._pipe.closed:
            # An unfinished archive: the daemon sees a truncated tar and loads nothing.
            self._pipe.close()
        self._thread.join(timeout=60)
        self.client.close()
