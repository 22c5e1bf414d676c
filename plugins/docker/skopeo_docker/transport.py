"""``docker://REFERENCE``: parsing, policy identity and namespaces.  The registry
client (and ssl with it) is imported only when an image is opened, so commands
that never touch a registry do not pay for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError
from skopeo.reference import DockerReference, parse_normalized
from skopeo.transport import ImageReference, Transport

if TYPE_CHECKING:
    from .destination import DockerImageDestination
    from .source import DockerImageSource


class DockerTransport(Transport):
    name = "docker"
    reference_prefix = "//"
    lists_tags = True
    list_tags_context = "Error listing repository tags"
    deletes_images = True

    def parse_reference(self, text: str) -> DockerImageReference:
        if not text.startswith("//"):
            raise InvalidReferenceError(f"docker: image reference {text} does not start with //")
        parsed = parse_normalized(text[2:])
        return DockerImageReference(self, parsed.tag_name_only(), explicit=not parsed.is_name_only)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        # Upstream accepts any string here (hosts, namespaces, *.wildcards).
        return None


def policy_namespaces(ref: DockerReference) -> list[str]:
    """``host/ns/repo``, ``host/ns``, ``host``, then ``*.parent.domain`` forms of the
    host (without its port), most specific first."""
    out = []
    name = ref.name
    while True:
        out.append(name)
        slash = name.rfind("/")
        if slash == -1:
            break
        name = name[:slash]
    host = name.split(":", 1)[0] if not name.startswith("[") else name
    while "." in host:
        host = host.split(".", 1)[1]
        out.append("*." + host)
    return out


class DockerImageReference(ImageReference):
    transport: DockerTransport

    def __init__(self, transport: DockerTransport, ref: DockerReference, explicit: bool = True) -> None:
        super().__init__(transport)
        if ref.tag is not None and ref.digest is not None:
            raise InvalidReferenceError("Docker references with both a tag and digest are currently not supported")
        self.ref = ref
        # Whether the user wrote a tag or digest (``latest`` is otherwise implied).
        self.explicit = explicit

    def string_within_transport(self) -> str:
        return "//" + self.ref.familiar()

    def docker_reference(self) -> DockerReference:
        return self.ref

    def policy_configuration_identity(self) -> str:
        return str(self.ref)

    def policy_configuration_namespaces(self) -> list[str]:
        return policy_namespaces(self.ref)

    def new_image_source(self, ctx: SystemContext) -> DockerImageSource:
        from .source import DockerImageSource

        return DockerImageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> DockerImageDestination:
        from .destination import DockerImageDestination

        return DockerImageDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        from .registry import delete_image

        delete_image(ctx, self.ref)

    def list_tags(self, ctx: SystemContext) -> tuple[str | None, list[str]]:
        if self.explicit:
            raise InvalidReferenceError("No tag or digest allowed in reference")
        from .registry import list_repository_tags

        return self.ref.name, list_repository_tags(ctx, self.ref)
