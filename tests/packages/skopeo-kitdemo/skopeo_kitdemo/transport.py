"""``flat:/PATH``: one image per directory, written to a staging directory
beside it and renamed into place at commit."""

from __future__ import annotations

import os
import shutil
import uuid

from skopeo.context import SystemContext
from skopeo.errors import ImageNotFoundError, InvalidReferenceError, SkopeoError
from skopeo.fsutil import store_blob
from skopeo.manifest import manifest_digest
from skopeo.transport import (
    BlobInfo,
    BlobStream,
    DestinationCapabilities,
    ImageDestination,
    ImageReference,
    ImageSource,
    SourceCapabilities,
    Transport,
    path_policy_namespaces,
    validate_path_scope,
)


def _hex(digest: str) -> str:
    algo, _, value = digest.partition(":")
    if algo != "sha256" or len(value) != 64:
        raise SkopeoError(f"unsupported digest {digest}")
    return value


class FlatTransport(Transport):
    name = "flat"
    path_references = True
    deletes_images = True

    def parse_reference(self, text: str) -> FlatReference:
        if not text.startswith("/"):
            raise InvalidReferenceError(f'flat: path "{text}" is not absolute')
        return FlatReference(self, os.path.normpath(text))

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_path_scope(scope)


class FlatReference(ImageReference):
    def __init__(self, transport: Transport, path: str) -> None:
        super().__init__(transport)
        self.path = path

    def string_within_transport(self) -> str:
        return self.path

    def policy_configuration_identity(self) -> str:
        return self.path

    def policy_configuration_namespaces(self) -> list[str]:
        return path_policy_namespaces(self.path)

    def new_image_source(self, ctx: SystemContext) -> FlatSource:
        if not os.path.exists(os.path.join(self.path, "manifest")):
            raise ImageNotFoundError(f"no image at {self.path}")
        return FlatSource(self)

    def new_image_destination(self, ctx: SystemContext) -> FlatDestination:
        return FlatDestination(self)

    def delete_image(self, ctx: SystemContext) -> None:
        if not os.path.exists(os.path.join(self.path, "manifest")):
            raise ImageNotFoundError(f"no image at {self.path}")
        shutil.rmtree(self.path)


class FlatSource(ImageSource):
    capabilities = SourceCapabilities(thread_safe_get_blob=True)
    reference: FlatReference

    def _read(self, *parts: str) -> bytes:
        with open(os.path.join(self.reference.path, *parts), "rb") as f:
            return f.read()

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        try:
            if instance_digest is None:
                return self._read("manifest"), self._read("mime").decode()
            return self._read("manifests", _hex(instance_digest)), ""
        except FileNotFoundError:
            raise ImageNotFoundError(f"{self.reference}: no manifest {instance_digest}") from None

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        assert info.digest is not None
        path = os.path.join(self.reference.path, "blobs", _hex(info.digest))
        try:
            return open(path, "rb"), os.path.getsize(path)
        except FileNotFoundError:
            raise SkopeoError(f"{self.reference}: no blob {info.digest}") from None

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        directory = os.path.join(self.reference.path, "signatures")
        prefix = f"{instance_digest or 'image'}-"
        names = sorted((n for n in os.listdir(directory) if n.startswith(prefix)),
                       key=lambda n: int(n.rsplit("-", 1)[1])) if os.path.isdir(directory) else []
        return [self._read("signatures", n) for n in names]


class FlatDestination(ImageDestination):
    capabilities = DestinationCapabilities(supported_manifest_types=None, thread_safe_put_blob=True)
    reference: FlatReference

    def __init__(self, reference: FlatReference) -> None:
        super().__init__(reference)
        parent = os.path.dirname(reference.path)
        if not os.path.isdir(parent):
            raise SkopeoError(f"{reference}: directory {parent} does not exist")
        self.staging = os.path.join(parent, f".flat-staging-{uuid.uuid4().hex}")
        for sub in ("blobs", "manifests", "signatures"):
            os.makedirs(os.path.join(self.staging, sub))

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        return store_blob(stream, info, self.staging, lambda d: os.path.join(self.staging, "blobs", _hex(d)), fsync=False)

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        with open(os.path.join(self.staging, "manifests", _hex(instance_digest or manifest_digest(data))), "wb") as f:
            f.write(data)

    def put_signatures(self, signatures: list[bytes], instance_digest: str | None = None) -> None:
        for i, sig in enumerate(signatures, start=1):
            with open(os.path.join(self.staging, "signatures", f"{instance_digest or 'image'}-{i}"), "wb") as f:
                f.write(sig)

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        for name, data in (("manifest", toplevel_manifest), ("mime", toplevel_mime.encode())):
            with open(os.path.join(self.staging, name), "wb") as f:
                f.write(data)
        if os.path.exists(self.reference.path):
            shutil.rmtree(self.reference.path)
        os.rename(self.staging, self.reference.path)

    def close(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
