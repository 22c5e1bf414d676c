"""containers/image's ``image`` package in small: a source's manifest checked
against the digest it must have (``UnparsedImage``), and a source resolved to
the single image this platform uses (``FromSource``).

This is the one place where manifest bytes a transport returns meet the digest
they must have.  ``ImageSource.get_manifest`` does not verify (a registry's
``Docker-Content-Digest`` header proves nothing); every reader of an image
(copy, sync, inspect, layers, the image proxy) takes its manifests from here,
so a reference carrying a digest (``docker://host/repo@sha256:…``,
``containers-storage:name@sha256:…``, any transport whose
``docker_reference()`` has one) and the instances of a list are verified the
same way for every transport."""

from __future__ import annotations

from typing import NamedTuple

from . import manifest as mf
from .errors import ManifestError, SkopeoError
from .transport import ImageSource


def expected_digest(src: ImageSource, instance: str | None) -> str | None:
    """The digest the manifest of *instance* (None: the top level) must have:
    the instance digest, else the digest the source's reference names."""
    if instance is not None:
        return instance
    ref = src.reference.docker_reference()
    return ref.digest if ref is not None else None


def _matches(raw: bytes, digest: str) -> bool:
    try:
        return mf.matches_digest(raw, digest)
    except SkopeoError as e:  # a signed schema1 manifest whose signature cannot be parsed
        raise e.wrap("computing manifest digest") from None


def checked_manifest(src: ImageSource, instance: str | None, default_mime: str = "") -> tuple[bytes, str]:
    """The manifest of *instance* (None: the top level) and its MIME type (if
    the source does not know it: *default_mime*, else guessed from the bytes),
    refused unless it matches the instance digest, or the digest the image
    reference names (upstream's ``UnparsedImage.Manifest``)."""
    raw, mime = src.get_manifest(instance)
    expected = expected_digest(src, instance)
    if expected is not None and not _matches(raw, expected):
        raise ManifestError(f"Manifest does not match provided manifest digest {expected}")
    return raw, mime or default_mime or mf.guess_mime(raw)


def selected_instance(src: ImageSource, parsed: mf.ManifestList, os_: str | None, arch: str | None,
                      variant: str | None) -> tuple[bytes, str]:
    """The manifest of the instance of *parsed* chosen for the platform, as
    upstream's image loading reads it (its own wording: ``Image manifest does
    not match selected manifest digest``)."""
    try:
        instance = parsed.choose_instance(os_, arch, variant)
    except SkopeoError as e:
        raise e.wrap("choosing image instance") from None
    try:
        raw, mime = src.get_manifest(instance)
    except SkopeoError as e:
        where = "image index" if parsed.mime == mf.OCI_INDEX else "manifest list"
        raise e.wrap(f"fetching target platform image selected from {where}") from None
    if not _matches(raw, instance):
        raise ManifestError(f"Image manifest does not match selected manifest digest {instance}")
    return raw, mime or mf.guess_mime(raw)


class SourcedImage(NamedTuple):
    """One image, as upstream's ``SourcedImage``: ``raw``/``mime`` are the
    manifest as read (for a list, the list: what its ``Manifest()`` returns),
    ``manifest`` is the parsed image (for a list, the chosen instance)."""

    raw: bytes
    mime: str
    manifest: mf.ImageManifest


def from_source(src: ImageSource, os_: str | None, arch: str | None, variant: str | None) -> SourcedImage:
    """The image *src* holds, or the instance of its list chosen for the
    platform (with ``--override-*``)."""
    raw, mime = checked_manifest(src, None)
    return from_manifest(src, raw, mime, os_, arch, variant)


def from_manifest(src: ImageSource, raw: bytes, mime: str, os_: str | None, arch: str | None,
                  variant: str | None) -> SourcedImage:
    """:func:`from_source` once the top-level manifest is read (callers that
    word a failure to read it their own way)."""
    parsed = mf.parse(raw, mime)
    if isinstance(parsed, mf.ManifestList):
        instance_raw, instance_mime = selected_instance(src, parsed, os_, arch, variant)
        parsed = mf.parse(instance_raw, instance_mime)
        if isinstance(parsed, mf.ManifestList):
            raise ManifestError("nested manifest lists are not supported")
    return SourcedImage(raw, mime, parsed)
