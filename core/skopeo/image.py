"""containers/image's ``image`` package in small: a source's manifest checked
against the digest it must have (``UnparsedImage``), and a source resolved to
the single image this platform uses (``FromSource``)."""

from __future__ import annotations

from typing import NamedTuple

from . import manifest as mf
from .errors import ManifestError
from .transport import ImageSource


def checked_manifest(src: ImageSource, instance: str | None) -> tuple[bytes, str]:
    """The manifest of *instance* (None: the top level) and its MIME type,
    refused unless it matches the instance digest, or the digest the image
    reference names."""
    raw, mime = src.get_manifest(instance)
    expected = instance
    if expected is None:
        ref = src.reference.docker_reference()
        expected = ref.digest if ref is not None else None
    if expected is not None and not mf.matches_digest(raw, expected):
        raise ManifestError(f"Manifest does not match provided manifest digest {expected}")
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
    parsed = mf.parse(raw, mime)
    if isinstance(parsed, mf.ManifestList):
        instance = parsed.choose_instance(os_, arch, variant)
        instance_raw, instance_mime = checked_manifest(src, instance)
        parsed = mf.parse(instance_raw, instance_mime)
        if isinstance(parsed, mf.ManifestList):
            raise ManifestError("nested manifest lists are not supported")
    return SourcedImage(raw, mime, parsed)
