"""``zip:PATH``: parsing and policy identity.  Kept import-light; the archive
code is imported when an image is actually opened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError
from skopeo.transport import (
    ImageReference,
    Transport,
    path_policy_namespaces,
    resolve_path_for_policy,
    validate_path_scope,
)

if TYPE_CHECKING:
    from .archive import ZipDestination, ZipSource


class ZipTransport(Transport):
    name = "zip"

    def parse_reference(self, text: str) -> ZipReference:
        if not text:
            raise InvalidReferenceError("zip: path must not be empty")
        return ZipReference(self, text)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_path_scope(scope)


class ZipReference(ImageReference):
    def __init__(self, transport: ZipTransport, path: str) -> None:
        super().__init__(transport)
        self.path = path
        self.resolved = resolve_path_for_policy(path)

    def string_within_transport(self) -> str:
        return self.path

    # policy.json scopes for zip: are absolute paths: the file, then its directories.
    def policy_configuration_identity(self) -> str:
        return self.resolved

    def policy_configuration_namespaces(self) -> list[str]:
        return path_policy_namespaces(self.resolved)

    def new_image_source(self, ctx: SystemContext) -> ZipSource:
        from .archive import ZipSource

        return ZipSource(self)

    def new_image_destination(self, ctx: SystemContext) -> ZipDestination:
        from .archive import ZipDestination

        return ZipDestination(self, ctx)
