"""``docker-daemon:REFERENCE`` and ``docker-daemon:sha256:ID`` — images in a
Docker (or Podman) engine, moved as ``docker save`` archives through the Engine
API.  The archive reading and writing is skopeo-archive's; this module only
adds the daemon connection.

Reading saves the image into a temporary file (the save stream's member order
is not ours to choose, and the copy needs the config before the layers);
writing streams a generated archive into ``POST /images/load`` through a pipe,
with only layers of unknown size (decompressed on the way) spooled, as the tar
header needs the size before the data.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from skopeo import digest as digest_mod
from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError, SkopeoError
from skopeo.reference import DockerReference, parse_normalized
from skopeo.transport import BlobInfo, DestinationCapabilities, ImageReference, Transport
from skopeo_archive.docker_archive import ArchiveDestinationBase, ArchiveSourceBase
from skopeo_archive.dockertar import ArchiveImage, DockerArchiveReader, DockerArchiveWriter
from skopeo_archive.tarindex import TarIndex, spool
from skopeo_archive.tarwriter import TarWriter

from .client import DEFAULT_HOST, DaemonClient

TRANSPORT_NAME = "docker-daemon"
CHUNK = 1 << 20


class DaemonTransport(Transport):
    name = TRANSPORT_NAME

    def parse_reference(self, text: str) -> DaemonReference:
        # "algo:hex" has the shape of "repo:tag"; upstream reads it as an image ID.
        algo, sep, _ = text.partition(":")
        if sep and "/" not in text and digest_mod.is_digest(text):
            if algo != digest_mod.CANONICAL:
                raise InvalidReferenceError(
                    f"Invalid docker-daemon: reference {text}: only digest algorithm sha256 accepted"
                )
            return DaemonReference(self, image_id=text)
        ref = parse_normalized(text)
        if ref.familiar_name() == digest_mod.CANONICAL:
            raise InvalidReferenceError(
                f"Invalid docker-daemon: reference {text}: The sha256 repository name is reserved for "
                "(non-shortened) digest references"
            )
        return DaemonReference(self, ref=ref)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        if digest_mod.is_digest(scope):
            raise InvalidReferenceError(f"docker-daemon: can not use algo:digest value {scope} as a namespace")


def policy_namespaces(ref: DockerReference) -> list[str]:
    """``host/ns/repo``, ``host/ns``, ``host``, then ``*.domain`` forms (upstream's
    policyconfiguration.DockerReferenceNamespaces)."""
    out = []
    name = ref.name
    while "/" in name:
        out.append(name)
        name = name.rsplit("/", 1)[0]
    out.append(name)
    host = ref.domain.rsplit(":", 1)[0] if not ref.domain.endswith("]") else ref.domain
    parts = host.split(".")
    for i in range(1, len(parts)):
        out.append("*." + ".".join(parts[i:]))
    return out


class DaemonReference(ImageReference):
    transport: DaemonTransport

    def __init__(self, transport: DaemonTransport, ref: DockerReference | None = None,
                 image_id: str | None = None) -> None:
        super().__init__(transport)
        if ref is not None:
            if ref.is_name_only:
                raise InvalidReferenceError(f"docker-daemon: reference {ref.familiar()} has neither a tag nor a digest")
            if ref.tag is not None and ref.digest is not None:
                raise InvalidReferenceError(
                    "docker-daemon: references with both a tag and digest are currently not supported"
                )
        self.ref = ref
        self.image_id = image_id

    def string_within_transport(self) -> str:
        if self.image_id is not None:
            return self.image_id
        assert self.ref is not None
        return self.ref.familiar()

    def docker_reference(self) -> DockerReference | None:
        return self.ref

    def policy_configuration_identity(self) -> str:
        # IDs cannot be namespaced; the default "" scope still applies to them.
        return "" if self.ref is None else str(self.ref)

    def policy_configuration_namespaces(self) -> list[str]:
        return [] if self.ref is None else policy_namespaces(self.ref)

    def new_image_source(self, ctx: SystemContext) -> DaemonSource:
        client = DaemonClient(ctx)
        try:
            with client.save(self.string_within_transport()) as stream:
                tmp = spool(stream, ctx.tmp_directory(), "docker-daemon-tar-")
        finally:
            client.close()
        try:
            reader = DockerArchiveReader(TarIndex(tmp, display=f"the image saved by {client.endpoint.host}"))
            try:
                image = ArchiveImage(reader, reader.choose(None, -1))
            except BaseException:
                reader.close()
                raise
        except BaseException:
            os.unlink(tmp)
            raise
        return DaemonSource(self, image, tmp)

    def new_image_destination(self, ctx: SystemContext) -> DaemonDestination:
        if self.ref is None or self.ref.tag is None:
            raise SkopeoError(
                f"Invalid destination docker-daemon:{self.string_within_transport()}: a destination must be a name:tag"
            )
        return DaemonDestination(self, ctx)


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

    def put_blob(self, stream, info: BlobInfo, is_config: bool = False) -> BlobInfo:  # type: ignore[no-untyped-def]
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
