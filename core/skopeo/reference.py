"""The Docker reference grammar (``[DOMAIN/]PATH[:TAG][@DIGEST]``) with the
normalisation every containers tool applies: ``busybox`` is
``docker.io/library/busybox``."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from . import digest as digest_mod
from .errors import InvalidReferenceError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

# containers/image's docker/reference grammar (regexp.go), in ASCII as Go's \w is.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]*)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
TAG_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

TAG_RE = re.compile(rf"{TAG_PATTERN}\Z")
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}\Z")


@functools.cache
def _reference_re() -> re.Pattern[str]:
    # Compiled on first use: the full grammar costs ~1 ms to compile, which
    # commands that never parse a Docker reference should not pay.
    return re.compile(rf"({_NAME})(?::({TAG_PATTERN}))?(?:@({_DIGEST}))?\Z")


@functools.cache
def _name_re() -> re.Pattern[str]:
    return re.compile(rf"(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)\Z")


class DockerReference(NamedTuple):
    """A normalised (fully qualified) Docker reference."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Repository name with domain, without tag or digest."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag is not None:
            s += ":" + self.tag
        if self.digest is not None:
            s += "@" + self.digest
        return s

    def familiar_name(self) -> str:
        """The short form users type: ``busybox`` for ``docker.io/library/busybox``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in self.path[len(OFFICIAL_REPO_PREFIX):]:
            return self.path[len(OFFICIAL_REPO_PREFIX):]
        return self.path

    def familiar(self) -> str:
        s = self.familiar_name()
        if self.tag is not None:
            s += ":" + self.tag
        if self.digest is not None:
            s += "@" + self.digest
        return s

    @property
    def is_name_only(self) -> bool:
        return self.tag is None and self.digest is None

    def with_tag(self, tag: str) -> DockerReference:
        if not TAG_RE.match(tag):
            raise InvalidReferenceError("invalid tag format")
        return DockerReference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> DockerReference:
        digest_mod.validate(digest)
        return DockerReference(self.domain, self.path, None, digest)

    def tag_name_only(self) -> DockerReference:
        """``name:latest`` when neither a tag nor a digest is present."""
        if self.is_name_only:
            return DockerReference(self.domain, self.path, DEFAULT_TAG, None)
        return self


def _split_domain(name: str) -> tuple[str, str]:
    """containers/image's splitDockerDomain: the first component is a registry
    when it has a dot or a port, or is localhost (``Upper/repo`` is on docker.io,
    and then fails as not lowercase)."""
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_normalized(text: str) -> DockerReference:
    """Parse a user-supplied reference, applying docker.io normalisation
    (ParseNormalizedNamed, with its error texts)."""
    if _IDENTIFIER_RE.match(text):
        raise InvalidReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(text)
    remote_name = remainder.split(":", 1)[0]  # as Go: up to the first colon, "@" included
    if remote_name.lower() != remote_name:
        raise InvalidReferenceError("invalid reference format: repository name must be lowercase")
    ref = _parse(f"{domain}/{remainder}")
    if not ref.domain:
        # "a_b.c/d": not a host, so the whole is a path without one.  Upstream
        # accepts it and then looks up a registry named "" on the network.
        raise InvalidReferenceError("repository name must be canonical")
    return ref


def _parse(text: str) -> DockerReference:
    """reference.Parse for a name that has a domain (the normalised form)."""
    m = _reference_re().match(text)
    if not m:
        if not text:
            raise InvalidReferenceError("repository name must have at least one component")
        if _reference_re().match(text.lower()):
            raise InvalidReferenceError("repository name must be lowercase")
        raise InvalidReferenceError("invalid reference format")
    name, tag, dgst = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReferenceError(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    nm = _name_re().match(name)
    assert nm is not None
    if dgst is not None:
        digest_mod.validate(dgst)
    return DockerReference(nm.group(1) or "", nm.group(2), tag, dgst)


def parse_canonical(text: str) -> DockerReference:
    """Parse a fully qualified reference (no normalisation beyond validation)."""
    ref = _parse(text)
    if not ref.domain:
        raise InvalidReferenceError("repository name must be canonical")
    return ref


def parse_normalized_named_strict(text: str) -> DockerReference:
    """Like :func:`parse_normalized` but the input must already be canonical
    (as ``--sign-identity`` requires)."""
    ref = parse_normalized(text)
    if str(ref) != text:
        raise InvalidReferenceError("repository name must be canonical")
    return ref


def parse_additional_tag(text: str) -> DockerReference:
    """An ``--additional-tag`` value: a tagged name, worded as upstream's checks."""
    try:
        ref = parse_normalized(text)
    except InvalidReferenceError as e:
        raise InvalidReferenceError(f"error parsing additional-tag '{text}': {e}") from None
    if ref.tag is None:
        raise InvalidReferenceError(f"additional-tag '{text}' must be a tagged reference")
    return ref
