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
from typing import TYPE_CHECKING

from skopeo import digest as digest_mod
from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError, SkopeoError
from skopeo.reference import DockerReference, parse_normalized
from skopeo.transport import ImageReference, Transport

if TYPE_CHECKING:
    from .image import DaemonDestination, DaemonSource

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
        # The archive code and httpx load only when an image is opened.
        from skopeo_archive.dockertar import ArchiveImage, DockerArchiveReader
        from skopeo_archive.tarindex import TarIndex, spool

        from .client import DaemonClient
        from .image import DaemonSource

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
        from .image import DaemonDestination

        return DaemonDestination(self, ctx)
