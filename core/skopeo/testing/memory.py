"""``memory:NAME``: an in-memory transport for tests, so the core's tests (and
a plugin's conformance suite) have a source and a destination without any
transport plugin.

Upstream skopeo has no such transport, so it is never registered by default:
it does not appear in ``skopeo --help``, in completion or in any command's
output, and the command line cannot reach it (one process's memory would be
gone when it exits anyway).  A test enables it in-process with
:func:`enabled` (or the ``memory_transport`` fixture), which installs a plugin
manager holding this module beside the installed plugins.

Images live in one process-wide :class:`MemoryStore` (``STORE``): a pool of
blobs shared by every name, as a registry shares blobs between repositories,
and per name a top-level manifest, the instances of a list, and signatures.
Blobs are held in memory, which is the point of the transport: keep images
small.  What a destination writes is staged and becomes visible only at
``commit``, as the contract requires of every transport.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import manifest as mf
from ..context import SystemContext
from ..errors import ImageNotFoundError, InvalidReferenceError, SkopeoError
from ..hookspecs import hookimpl
from ..transport import (
    BlobInfo,
    BlobStream,
    DestinationCapabilities,
    ImageDestination,
    ImageReference,
    ImageSource,
    SourceCapabilities,
    Transport,
)
from .images import ImageWriter, Written

NAME = "memory"
# Lower-case, as a repository path; ":" and "@" are kept for tags and digests
# of test names, "/" for namespaces.
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@+-]*$")
_CHUNK = 1 << 16


@dataclass
class StoredImage:
    manifest: bytes
    mime: str
    # Instances of a list (and the top-level manifest itself), by digest.
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    # Signatures by instance digest (None: the top-level image).
    signatures: dict[str | None, list[bytes]] = field(default_factory=dict)


class MemoryStore:
    """Every ``memory:`` image of this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blobs: dict[str, bytes] = {}
        self.images: dict[str, StoredImage] = {}

    def clear(self) -> None:
        with self.lock:
            self.blobs.clear()
            self.images.clear()

    def image(self, name: str) -> StoredImage:
        with self.lock:
            found = self.images.get(name)
        if found is None:
            raise ImageNotFoundError(f"no image named {NAME}:{name}")
        return found

    def blob(self, digest: str) -> bytes:
        with self.lock:
            found = self.blobs.get(digest)
        if found is None:
            raise SkopeoError(f"{NAME}: blob {digest} not found")
        return found


STORE = MemoryStore()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class MemoryTransport(Transport):
    name = NAME
    # Not upstream's: never listed in help, even when a test registers it.
    listed = False
    deletes_images = True

    def parse_reference(self, text: str) -> MemoryReference:
        if not _NAME_RE.match(text):
            raise InvalidReferenceError(f'invalid {NAME}: image name "{text}": must match {_NAME_RE.pattern}')
        return MemoryReference(self, text)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        if not _NAME_RE.match(scope):
            raise InvalidReferenceError(f'invalid {NAME}: policy scope "{scope}"')


class MemoryReference(ImageReference):
    def __init__(self, transport: Transport, name: str) -> None:
        super().__init__(transport)
        self.name = name

    def string_within_transport(self) -> str:
        return self.name

    def policy_configuration_identity(self) -> str:
        return self.name

    def policy_configuration_namespaces(self) -> list[str]:
        parts = self.name.split("/")
        return ["/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]

    def new_image_source(self, ctx: SystemContext) -> MemorySource:
        return MemorySource(self, STORE.image(self.name))

    def new_image_destination(self, ctx: SystemContext) -> MemoryDestination:
        return MemoryDestination(self)

    def delete_image(self, ctx: SystemContext) -> None:
        with STORE.lock:
            if STORE.images.pop(self.name, None) is None:
                raise ImageNotFoundError(f"no image named {NAME}:{self.name}")


class MemorySource(ImageSource):
    capabilities = SourceCapabilities(thread_safe_get_blob=True)

    def __init__(self, reference: MemoryReference, image: StoredImage) -> None:
        super().__init__(reference)
        self.image = image

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        if instance_digest is None:
            return self.image.manifest, self.image.mime
        found = self.image.manifests.get(instance_digest)
        if found is None:
            raise ImageNotFoundError(f"{self.reference}: no manifest {instance_digest}")
        return found

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        if info.digest is None:
            raise SkopeoError(f"{self.reference}: a blob without a digest cannot be read")
        data = STORE.blob(info.digest)
        return io.BytesIO(data), len(data)

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        return list(self.image.signatures.get(instance_digest, []))


class MemoryDestination(ImageDestination):
    capabilities = DestinationCapabilities(supported_manifest_types=None, thread_safe_put_blob=True)
    reference: MemoryReference

    def __init__(self, reference: MemoryReference) -> None:
        super().__init__(reference)
        self.lock = threading.Lock()
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.signatures: dict[str | None, list[bytes]] = {}

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        with self.lock:
            data = self.blobs.get(info.digest)
        if data is None:
            with STORE.lock:
                data = STORE.blobs.get(info.digest)
        return None if data is None else BlobInfo(info.digest, len(data), info.media_type)

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        buf = io.BytesIO()
        while chunk := stream.read(_CHUNK):
            buf.write(chunk)
        data = buf.getvalue()
        # A digest given was verified by the engine's reader at EOF (it raised
        # above otherwise); without one, the destination computes it.
        digest = info.digest or _sha256(data)
        with self.lock:
            self.blobs[digest] = data
        return BlobInfo(digest, len(data), info.media_type)

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        with self.lock:
            self.manifests[instance_digest or _sha256(data)] = (data, mime)

    def put_signatures(self, signatures: list[bytes], instance_digest: str | None = None) -> None:
        with self.lock:
            self.signatures[instance_digest] = list(signatures)

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        with self.lock:
            image = StoredImage(toplevel_manifest, toplevel_mime, dict(self.manifests), dict(self.signatures))
            image.manifests[_sha256(toplevel_manifest)] = (toplevel_manifest, toplevel_mime)
            blobs = dict(self.blobs)
        with STORE.lock:
            STORE.blobs.update(blobs)
            STORE.images[self.reference.name] = image


class MemoryImageWriter(ImageWriter):
    """Writes synthetic images (:class:`skopeo.testing.images.ImageWriter`)
    straight into the store: ``w.tag(w.image([...]), "name")`` makes
    ``memory:name``."""

    def __init__(self) -> None:
        self.manifests: dict[str, tuple[bytes, str]] = {}

    def blob(self, data: bytes, media_type: str = "") -> Written:
        digest = _sha256(data)
        with STORE.lock:
            STORE.blobs[digest] = data
        return Written(digest, len(data), media_type)

    def image(self, layers: list[bytes], arch: str = "amd64", os_: str = "linux", variant: str = "",
              compress: bool = True, docker: bool = False, labels: dict[str, str] | None = None) -> Written:
        written = super().image(layers, arch, os_, variant, compress, docker, labels)
        self.manifests[written.digest] = (STORE.blob(written.digest), written.media_type)
        return written

    def index(self, images: list[tuple[Written, mf.Platform]], docker: bool = False) -> Written:
        written = super().index(images, docker)
        self.manifests[written.digest] = (STORE.blob(written.digest), written.media_type)
        return written

    def tag(self, written: Written, name: str) -> str:
        """Store *written* (an image or list of this writer) as ``memory:name``; returns that image name."""
        MemoryTransport().parse_reference(name)
        manifest, mime = self.manifests[written.digest]
        image = StoredImage(manifest, mime, dict(self.manifests))
        with STORE.lock:
            STORE.images[name] = image
        return f"{NAME}:{name}"


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    register(MemoryTransport())


@contextmanager
def enabled(load_entry_points: bool = True) -> Iterator[None]:
    """Make ``memory:`` usable in this process: a plugin manager with this
    module registered beside the built-ins and (by default) every installed
    plugin ``$SKOPEO_PLUGINS`` allows becomes the process-wide one until exit.
    The store is emptied afterwards."""
    import sys

    from .. import plugins

    pm = plugins.new_manager(load_entry_points=load_entry_points)
    pm.register(sys.modules[__name__], name=f"skopeo.testing.{NAME}")
    plugins.set_manager(pm)
    try:
        yield
    finally:
        plugins.set_manager(None)
        STORE.clear()
