"""Typed results of :mod:`skopeo.api`: what ``inspect`` and ``list-tags``
print, as dataclasses.

``to_json()`` gives exactly the bytes the command prints (the command line
calls it), ``to_dict()`` the object with upstream's field names (what
``--format`` templates see).  Indexing by those names (``info["Digest"]``)
still works, as it did when these calls returned dicts.

The copy and sync results live beside their engines
(:class:`skopeo.copy.CopyResult`, :class:`skopeo.sync.SyncResult`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class _ByFieldName:
    """``result["Name"]``: the dicts these results replace were read that way."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)


@dataclass
class LayerInfo(_ByFieldName):
    """One layer of :attr:`ImageInfo.layers_data`."""

    mime_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"MIMEType": self.mime_type, "Digest": self.digest, "Size": self.size, "Annotations": self.annotations}


@dataclass
class ImageInfo(_ByFieldName):
    """What ``skopeo inspect`` prints about an image (the one chosen for this
    platform when the name is a list).  *created* is the creation time as
    the JSON prints it (RFC 3339), None when the image has none; *name* is
    "" for transports without repository names."""

    name: str
    tag: str
    digest: str
    repo_tags: list[str]
    created: str | None
    docker_version: str
    labels: dict[str, str] | None
    architecture: str
    os: str
    layers: list[str]
    layers_data: list[LayerInfo] = field(default_factory=list)
    env: list[str] | None = None

    @classmethod
    def from_output(cls, out: dict[str, Any]) -> ImageInfo:
        """From :func:`skopeo.inspect.output`'s object."""
        created = out["Created"]
        return cls(
            name=out["Name"], tag=out["Tag"], digest=out["Digest"], repo_tags=list(out["RepoTags"]),
            created=created.json if created is not None else None, docker_version=out["DockerVersion"],
            labels=out["Labels"], architecture=out["Architecture"], os=out["Os"], layers=list(out["Layers"]),
            layers_data=[LayerInfo(d["MIMEType"], d["Digest"], d["Size"], d["Annotations"]) for d in out["LayersData"]],
            env=out["Env"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The inspect object with upstream's field names, every field
        present (``Created`` as a Go time: templates print it Go's way)."""
        from .golang.gotime import GoTime

        return {
            "Name": self.name,
            "Tag": self.tag,
            "Digest": self.digest,
            "RepoTags": list(self.repo_tags),
            "Created": GoTime(self.created) if self.created else None,
            "DockerVersion": self.docker_version,
            "Labels": self.labels,
            "Architecture": self.architecture,
            "Os": self.os,
            "Layers": list(self.layers),
            "LayersData": [d.to_dict() for d in self.layers_data],
            "Env": self.env,
        }

    def to_json(self) -> bytes:
        """Exactly what ``skopeo inspect`` prints."""
        from .golang import gojson
        from .inspect import to_json_object

        return gojson.marshal_indent(to_json_object(self.to_dict())).encode("utf-8", "surrogateescape")

    def template_data(self) -> Any:
        """What ``inspect --format`` templates see (Go's ``inspect.Output``)."""
        from .inspect import template_data

        return template_data(self.to_dict())


@dataclass
class TagList(_ByFieldName):
    """What ``skopeo list-tags`` prints: the repository (None for transports
    without one, such as docker-archive:) and its tags."""

    repository: str | None
    tags: list[str]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.repository:
            out["Repository"] = self.repository
        out["Tags"] = list(self.tags)
        return out

    def to_json(self) -> bytes:
        """Exactly what ``skopeo list-tags`` prints."""
        from .golang import gojson

        return gojson.marshal_indent(self.to_dict()).encode("utf-8", "surrogateescape")


# --- login, logout and the signing commands ------------------------------------------------
# NamedTuples: this module is imported by every inspect, and a NamedTuple is
# several times cheaper to define than a dataclass.
class LoginResult(NamedTuple):
    """A successful :func:`skopeo.api.login`: the credentials *key* (``host[:port]``
    or ``host[:port]/ns/repo``), its *registry*, the *username*, and where the
    credentials went (*stored_in*: an auth file's path, ``credential helper:
    NAME``, a vendor backend's description; what ``login --verbose`` prints).
    *reused* is True when no credentials were given and the stored ones were
    valid: nothing was stored."""

    key: str
    registry: str
    username: str
    stored_in: str = ""
    reused: bool = False


class LogoutResult(NamedTuple):
    """A successful :func:`skopeo.api.logout`.  *key* is None for all
    registries.  *removed* is False only when nothing was stored by this tool
    but credentials from elsewhere (``docker login``) are valid for *key*: the
    command then tells the user to use ``docker logout``."""

    key: str | None
    removed: bool = True


class VerifiedSignature(NamedTuple):
    """A signature :func:`skopeo.api.standalone_verify` accepted: the key's
    *fingerprint* and the *digest* of the manifest it signs."""

    fingerprint: str
    digest: str


class SigstoreKeyPair(NamedTuple):
    """The files :func:`skopeo.api.generate_sigstore_key` wrote."""

    private_key: str
    public_key: str
