"""``sif:PATH``: a SingularityCE/Apptainer SIF image, read-only, presented as
upstream presents it: one OCI image whose single layer is the primary system
partition as an uncompressed tar, whose config carries the SIF header's
architecture and modification time, and whose command is the definition
file's runscript (see :mod:`.convert`).

The conversion (``source.py``) runs when the source is opened, in a temporary
directory under ``--tmpdir`` (default ``$TMPDIR`` or ``/var/tmp``), removed at close.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skopeo.context import SystemContext
from skopeo.errors import UnsupportedError
from skopeo.transport import (
    ImageDestination,
    ImageReference,
    Transport,
    path_policy_namespaces,
    resolve_path_for_policy,
    validate_path_scope,
)

if TYPE_CHECKING:
    from .source import SifSource


class SifTransport(Transport):
    name = "sif"
    path_references = True

    def parse_reference(self, text: str) -> SifReference:
        return SifReference(self, text)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_path_scope(scope)


class SifReference(ImageReference):
    def __init__(self, transport: SifTransport, file: str) -> None:
        super().__init__(transport)
        self.file = file
        self.resolved = resolve_path_for_policy(file)

    def string_within_transport(self) -> str:
        return self.file

    def policy_configuration_identity(self) -> str:
        return self.resolved

    def policy_configuration_namespaces(self) -> list[str]:
        return path_policy_namespaces(self.resolved)

    def new_image_source(self, ctx: SystemContext) -> SifSource:
        from .source import SifSource  # the conversion's modules only when used

        return SifSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        raise UnsupportedError('"sif:" locations can only be read from, not written to')
