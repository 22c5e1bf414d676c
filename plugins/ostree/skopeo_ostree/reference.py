"""``ostree:NAME[:TAG][@/ABSOLUTE/REPO]``: an image in an OSTree repository
(default ``/ostree/repo``), stored the way containers/image's ``ostree``
transport stored it before it was removed upstream (2025), so the tools of
that era find and read it:

* each layer is a commit on branch ``ociimage/<blob digest hex>``: its files
  with owners, modes and extended attributes, and commit metadata
  ``docker.size`` (the blob's size), ``docker.uncompressed_size``,
  ``docker.uncompressed_digest`` and ``tarsplit.output`` (base64 of gzipped
  tar-split JSON, from which the exact layer tar is rebuilt);
* every other blob (the config) is a commit on ``ociimage/<digest hex>``
  holding one file, ``/content``, with metadata ``docker.size``;
* the image is a commit on ``ociimage/<encoded NAME:TAG>`` holding
  ``/manifest.json`` and ``/signature-N``, with metadata ``docker.manifest``,
  ``signatures`` (their count) and ``docker.digest``.

Commits have the all-zero parent and the time of writing, as upstream's.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
from typing import TYPE_CHECKING

from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError
from skopeo.reference import parse_normalized
from skopeo.transport import ImageReference, Transport, resolve_path_for_policy

if TYPE_CHECKING:
    from .destination import OstreeDestination
    from .source import OstreeSource

DEFAULT_REPO = "/ostree/repo"
BRANCH_PREFIX = "ociimage/"
_REF_SAFE = re.compile(r"[A-Za-z0-9.-]")
TYPELIB = "OSTree-1.0.typelib"


def libostree_missing() -> str | None:
    """Why libostree cannot be used here, or None (no import, a few stats)."""
    if importlib.util.find_spec("gi") is None:
        return "PyGObject is not installed (pip install PyGObject)"
    if importlib.util.find_spec("fastcrc") is None:
        return "fastcrc is not installed (pip install fastcrc)"
    dirs = [d for d in os.environ.get("GI_TYPELIB_PATH", "").split(":") if d]
    dirs += [*glob.glob("/usr/lib/*/girepository-1.0"), "/usr/lib64/girepository-1.0", "/usr/lib/girepository-1.0",
             "/usr/local/lib/girepository-1.0"]
    if not any(os.path.exists(os.path.join(d, TYPELIB)) for d in dirs):
        return f"libostree's introspection data ({TYPELIB}) is not installed (Debian: apt-get install gir1.2-ostree-1.0)"
    return None


def encode_ref(image: str) -> str:
    """An image name as an OSTree ref component: every byte outside
    ``[A-Za-z0-9.-]`` becomes ``_XX`` (upper-case hex), as upstream encodes it."""
    return "".join(chr(b) if _REF_SAFE.fullmatch(chr(b)) else f"_{b:02X}" for b in image.encode())


def layer_branch(digest: str) -> str:
    """The branch of a blob: ``ociimage/<digest hex>``."""
    return BRANCH_PREFIX + digest.split(":", 1)[1]


class OstreeTransport(Transport):
    name = "ostree"
    # Upstream main no longer has an ostree: transport (1.9.3 listed it): help's
    # transports line stays main's, the transport works all the same.
    listed = False

    def parse_reference(self, text: str) -> OstreeReference:
        image, sep, repo_part = text.partition("@/")
        return OstreeReference(self, image, "/" + repo_part if sep else DEFAULT_REPO)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        repo, sep, _ = scope.partition(":")
        if not sep:
            raise InvalidReferenceError(f"Invalid ostree: scope {scope}: Must include a repo")
        if not repo.startswith("/"):
            raise InvalidReferenceError(f"Invalid ostree: scope {scope}: repository must be an absolute path")
        cleaned = os.path.normpath(repo)
        if cleaned != repo:
            raise InvalidReferenceError(
                f"Invalid ostree: scope {scope}: Uses non-canonical path format, perhaps try with path {cleaned}")


class UnavailableOstreeTransport(OstreeTransport):
    """Stands in when libostree cannot be loaded: any use says what is missing."""

    def __init__(self, missing: str) -> None:
        self.missing = missing

    def parse_reference(self, text: str) -> OstreeReference:
        raise InvalidReferenceError(f"the ostree transport is unavailable: {self.missing}")


class OstreeReference(ImageReference):
    def __init__(self, transport: OstreeTransport, image: str, repo: str) -> None:
        super().__init__(transport)
        named = parse_normalized(image)
        if named.is_name_only:
            image += ":latest"
        try:
            resolved = resolve_path_for_policy(repo)
        except InvalidReferenceError:
            if repo != DEFAULT_REPO:
                raise
            resolved = repo  # a machine without /ostree: fail when the repository is opened
        if ":" in resolved:
            raise InvalidReferenceError(f"Invalid OSTree reference {image}@{repo}: path {resolved} contains a colon")
        self.image = image
        self.branch_name = encode_ref(image)
        self.repo = resolved

    @property
    def image_branch(self) -> str:
        return BRANCH_PREFIX + self.branch_name

    def string_within_transport(self) -> str:
        return f"{self.image}@{self.repo}"

    def policy_configuration_identity(self) -> str:
        return f"{self.repo}:{self.image}"

    def policy_configuration_namespaces(self) -> list[str]:
        name = self.image.split(":", 1)[0]  # as upstream: up to the first colon
        out = []
        while True:
            out.append(f"{self.repo}:{name}")
            if "/" not in name:
                return out
            name = name.rsplit("/", 1)[0]

    def new_image_source(self, ctx: SystemContext) -> OstreeSource:
        from .source import OstreeSource

        return OstreeSource(self)

    def new_image_destination(self, ctx: SystemContext) -> OstreeDestination:
        from .destination import OstreeDestination

        return OstreeDestination(self, ctx)
