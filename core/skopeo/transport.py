"""The contract between the core and every transport.

A :class:`Transport` parses the part of an image name after ``transport:`` into an
:class:`ImageReference`; a reference opens an :class:`ImageSource` (read) or an
:class:`ImageDestination` (write).  Capabilities are declared as data so the copy
engine decides parallelism, compression and conversion in one place; transports
only move bytes.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol, runtime_checkable

from .context import SystemContext
from .errors import InvalidReferenceError, SkopeoError, UnsupportedError
from .golang.oserror import path_error_text
from .reference import DockerReference

if TYPE_CHECKING:
    from .manifest import Descriptor

# Value types are NamedTuples: defined at every start-up, they cost a fifth of
# a frozen dataclass (use ``._replace()`` to derive one).
PRESERVE = "preserve"
COMPRESS = "compress"
DECOMPRESS = "decompress"


class BlobStream(Protocol):
    """A blob being read: what :meth:`ImageSource.get_blob` returns and what
    :meth:`ImageDestination.put_blob` reads.  Files and ``io.BytesIO`` are
    blob streams, and so is every reader of the copy pipeline.

    * ``read(n)`` returns at most *n* bytes (all that is left when *n* < 0),
      and ``b""`` only at the end.  It may raise :class:`SkopeoError`: the
      source failed, or the digest did not match at the end (the copy engine
      verifies while the destination reads); ``put_blob`` lets those through.
    * ``close()`` releases it.  Whoever called ``get_blob`` closes the stream;
      ``put_blob`` never does.
    * ``put_blob`` calls ``read`` and nothing else, with one exception: to
      restart a failed upload it may rewind a stream that also has
      ``seekable()``/``tell()``/``seek()`` and says it is seekable.  Any other
      stream cannot be read twice: raise ``UploadInterruptedError`` instead
      and the engine reads the blob again from the source."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@runtime_checkable
class RewindableBlobStream(BlobStream, Protocol):
    """A blob stream ``put_blob`` may rewind to restart an upload, when
    ``seekable()`` says so (files, ``io.BytesIO``)."""

    def seekable(self) -> bool: ...

    def tell(self) -> int: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...


class BlobInfo(NamedTuple):
    """What is known about a blob. ``digest`` may be None and ``size`` -1 when the
    content is produced on the fly (e.g. recompressed) and not yet hashed."""

    digest: str | None
    size: int = -1
    media_type: str = ""
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] | None = None


class ReuseOptions(NamedTuple):
    """What the copy engine accepts in place of the blob it asks a destination
    to reuse (containers/image's ``TryReusingBlobOptions``)."""

    # Another compression of the same content may be used (the engine will
    # describe it in the manifest it writes).
    can_substitute: bool = False
    # The manifest types the image may be written as; one must be able to
    # describe the reused blob's compression.  None: any.
    possible_manifest_formats: tuple[str, ...] | None = None
    # Only a blob with this compression (``--force-compression``); None: any.
    required_compression: str | None = None
    # The compression of the blob asked for, as its media type says (None:
    # uncompressed or not known).
    original_compression: str | None = None
    # A hint: when nothing is reused, the engine will store the blob asked for
    # as it is (False: a transformed one, e.g. compressed on the way), so
    # preparing its upload now is worthwhile.
    uploads_original: bool = True

    def accepts_original(self) -> bool:
        """Whether the blob asked for, as it is, is acceptable."""
        from .blobinfocache import compression_matches

        return compression_matches(self.required_compression, self.possible_manifest_formats, self.original_compression)


class ReusedBlob(NamedTuple):
    """A blob a destination already has (or just mounted) in place of the one asked for."""

    digest: str
    size: int
    # When *digest* is not the one asked for: its compression, as the
    # blob-info cache names it ("uncompressed", "gzip", "zstd", "zstd:chunked"),
    # and the annotations that compression needs in the manifest.
    compression: str = ""
    annotations: dict[str, str] | None = None


class SourceCapabilities(NamedTuple):
    # get_blob may be called from several threads at once.
    thread_safe_get_blob: bool = True


class DestinationCapabilities(NamedTuple):
    # Manifest MIME types accepted, most preferred first; None accepts anything.
    supported_manifest_types: tuple[str, ...] | None = None
    # What the destination wants done to layers: PRESERVE, COMPRESS or DECOMPRESS.
    desired_layer_compression: str = PRESERVE
    # put_blob may be called from several threads at once.
    thread_safe_put_blob: bool = True
    # None when signatures can be stored, else the reason they cannot.
    signatures_unsupported_reason: str | None = None
    # Only images for the running OS may be written (daemons, local storage).
    must_match_runtime_os: bool = False
    accepts_foreign_layer_urls: bool = False
    # Blobs may be given without a known digest (the destination computes it).
    accepts_unknown_digests: bool = True
    # A blob the destination already has is not stored again once its digest
    # is known (a registry): ``--dest-precompute-digests`` spools a changed
    # layer to learn it first.  Elsewhere the flag does nothing, as upstream's
    # DockerRegistryPushPrecomputeDigests.
    skips_known_digests: bool = False


class ImageSource(ABC):
    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities()

    def __init__(self, reference: ImageReference) -> None:
        self.reference = reference

    @abstractmethod
    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        """Manifest bytes and MIME type ('' if unknown); with *instance_digest*, that
        instance of the list this source holds."""

    @abstractmethod
    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        """A stream of the blob and its size (-1 if unknown).  The caller verifies
        the digest while reading and closes the stream."""

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        return []

    def layer_infos_for_copy(self, instance_digest: str | None = None) -> list[BlobInfo] | None:
        """The layers a copy reads instead of the manifest's, one per manifest
        layer, or None to read the manifest's (containers/image's
        ``LayerInfosForCopy``).  A store that keeps layers unpacked cannot give
        back the compressed blobs its manifest names, only their uncompressed
        tars: the copy then writes a manifest naming those."""
        return None

    def repo_tags(self) -> list[str] | None:
        """Tags of the repository, for ``inspect``'s RepoTags (registries only)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageDestination(ABC):
    capabilities: DestinationCapabilities = DestinationCapabilities()

    def __init__(self, reference: ImageReference) -> None:
        self.reference = reference

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        """The stored blob's info if the destination already has *info*, else None."""
        return None

    def try_reusing_blob_with_options(self, info: BlobInfo, options: ReuseOptions) -> ReusedBlob | None:
        """What the copy engine calls for a layer: a blob that can stand for
        *info* (the blob itself or, when *options* allow, another compression
        of its content the destination has or can get cheaply, e.g. by a
        cross-repository mount), or None.  By default, *info* itself through
        :meth:`try_reusing_blob` when *options* accept it as it is."""
        if not options.accepts_original():
            return None
        found = self.try_reusing_blob(info)
        if found is None or found.digest is None:
            return None
        return ReusedBlob(found.digest, found.size)

    def existing_manifest_digest(self) -> str | None:
        """Digest of the manifest already stored under this destination's name, if
        the transport can tell cheaply; lets ``sync`` skip unchanged images."""
        return None

    @abstractmethod
    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        """Store a blob read from *stream* (already verified by the caller when
        ``info.digest`` is set) and return what was stored."""

    @abstractmethod
    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        """Store a manifest; *instance_digest* is set for instances of a list."""

    def put_signatures(self, signatures: list[bytes], instance_digest: str | None = None) -> None:
        if signatures and self.capabilities.signatures_unsupported_reason:
            raise UnsupportedError(self.capabilities.signatures_unsupported_reason)

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:  # noqa: B027
        """Make everything written visible; until this returns nothing counts as written."""

    def close(self) -> None:  # noqa: B027
        pass

    def __enter__(self) -> ImageDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageReference(ABC):
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @abstractmethod
    def string_within_transport(self) -> str: ...

    def __str__(self) -> str:
        return f"{self.transport.name}:{self.string_within_transport()}"

    def docker_reference(self) -> DockerReference | None:
        return None

    @abstractmethod
    def policy_configuration_identity(self) -> str: ...

    @abstractmethod
    def policy_configuration_namespaces(self) -> list[str]: ...

    @abstractmethod
    def new_image_source(self, ctx: SystemContext) -> ImageSource: ...

    @abstractmethod
    def new_image_destination(self, ctx: SystemContext) -> ImageDestination: ...

    def delete_image(self, ctx: SystemContext) -> None:
        raise UnsupportedError(f"Deleting images not implemented for {self.transport.name}: images")

    def list_tags(self, ctx: SystemContext) -> tuple[str | None, list[str]]:
        """(repository name or None, tags) for ``list-tags``; transports that
        implement it declare ``lists_tags``."""
        # The contract module does not load the plugin manager for its own sake.
        from .plugins import unsupported_tag_listing

        raise UnsupportedError(unsupported_tag_listing(self.transport.name))


class Transport(ABC):
    """A transport says what it is through these attributes; the core never
    tests a transport's name."""

    name: ClassVar[str]
    # Shown in help; deprecated transports set this to False.
    listed: ClassVar[bool] = True
    # What every reference starts with after ``name:`` ("//" for docker://).
    reference_prefix: ClassVar[str] = ""
    # References start with a local path (shell completion offers files).
    path_references: ClassVar[bool] = False
    # Its references implement ImageReference.list_tags (``skopeo list-tags``),
    # whose errors ``list-tags`` prefixes with this context, if any.
    lists_tags: ClassVar[bool] = False
    list_tags_context: ClassVar[str] = ""
    # Its references implement ImageReference.delete_image (``skopeo delete``);
    # the others refuse with UnsupportedError.  The conformance suite
    # (skopeo.testing.conformance) holds a transport to what this says.
    deletes_images: ClassVar[bool] = False
    # The transport-specific SystemContext fields it reads (and checks), such
    # as "dir_force_compress": a flag setting one for a transport that does
    # not read it is ineffective, which the CLI says.
    settings: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def parse_reference(self, text: str) -> ImageReference: ...

    def validate_policy_configuration_scope(self, scope: str) -> None:  # noqa: B027 - optional hook
        """Raise InvalidReferenceError if *scope* is not valid in policy.json."""


# --- helpers shared by path-based transports (dir:, oci:, oci-archive:) ---------
def resolve_path_for_policy(path: str) -> str:
    """Absolute, symlink-free path (upstream's ResolvePathToFullyExplicit); for a
    missing leaf, its resolved parent + name.  A missing parent, or a symlink to
    nothing, is an error, as upstream (``dir:``, ``oci:`` and ``oci-archive:``
    never create directories)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        existing, leaf = os.path.split(os.path.abspath(path))
    except OSError as e:  # e.g. a regular file where a directory should be
        raise InvalidReferenceError(path_error_text("lstat", path, e)) from None
    else:
        existing, leaf = os.path.abspath(path), ""
    resolved = os.path.realpath(existing)
    # /dev/stdout on a pipe resolves to "pipe:[…]", a name that exists nowhere,
    # yet it opens (stat follows the /proc link): unlike upstream, accepted.
    if not os.path.lexists(resolved) and not (not leaf and os.path.exists(existing)):
        missing = resolved
        while not os.path.lexists(os.path.dirname(missing)):
            missing = os.path.dirname(missing)
        raise InvalidReferenceError(f"lstat {missing}: no such file or directory")
    return os.path.join(resolved, leaf) if leaf else resolved


def path_policy_namespaces(resolved: str) -> list[str]:
    """Parent directories of *resolved*, most specific first, ``/`` excluded."""
    out = []
    cur = os.path.dirname(resolved)
    while cur and cur != "/":
        out.append(cur)
        cur = os.path.dirname(cur)
    return out


def validate_path_scope(scope: str) -> None:
    if not scope.startswith("/"):
        raise InvalidReferenceError(f"Invalid scope {scope}: Must be an absolute path")
    if scope == "/":
        raise InvalidReferenceError('Invalid scope "/": Use the generic default scope ""')
    if os.path.normpath(scope) != scope:
        raise InvalidReferenceError(f"Invalid scope {scope}: Uses non-canonical format, perhaps try {os.path.normpath(scope)}")


def read_blob_verified(src: ImageSource, desc: Descriptor, limit: int) -> bytes:
    """A small blob (config, signature payload) read whole: digest and size
    verified, at most *limit* bytes ever held."""
    from .digest import VerifyingReader

    stream, _ = src.get_blob(BlobInfo(desc.digest, desc.size, desc.media_type))
    try:
        reader = VerifyingReader(stream, desc.digest, desc.size)
        data = reader.read(limit + 1)
        if len(data) > limit:
            raise SkopeoError(f"blob {desc.digest} is too large")
        while not reader.done:
            more = reader.read(limit)
            data += more
            if len(data) > limit:
                raise SkopeoError(f"blob {desc.digest} is too large")
        return data
    finally:
        stream.close()


def read_config_blob(src: ImageSource, desc: Descriptor) -> bytes:
    """An image's config blob, verified, with upstream's wording for a digest
    mismatch (callers add their context: ``reading config blob …`` in copy)."""
    from .errors import DigestMismatchError
    from .manifest import MAX_CONFIG_SIZE

    try:
        return read_blob_verified(src, desc, MAX_CONFIG_SIZE)
    except DigestMismatchError as e:
        if not e.actual:
            raise
        # Upstream main's text (1.9.3 said "Download config.json digest … does not match expected …").
        raise DigestMismatchError(
            f"config validation failed: blob digest {e.actual} does not match expected {desc.digest}",
            expected=desc.digest, actual=e.actual,
        ) from None
