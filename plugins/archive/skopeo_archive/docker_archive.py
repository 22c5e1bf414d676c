"""``docker-archive:PATH[:REFERENCE|:@N]`` — images in a ``docker save`` tar.

Reading never extracts the archive: layers are streamed from their offsets in
the file (compressed archives and pipes are first spooled to a temporary file,
as upstream does).  Writing streams straight into the destination file.

Beyond upstream: with ``ctx.docker_archive_append`` (CLI:
``skopeo copy --dest-archive-append``) an image is *added* to an existing
archive instead of refusing a non-empty file, which is how several images end
up in one archive (skopeo#556).  See the README for the exact rules.
"""

from __future__ import annotations

import os
import stat

from skopeo import digest as digest_mod
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError, SkopeoError
from skopeo.fsutil import remove_quietly, track_temporary, untrack_temporary
from skopeo.golang.oserror import path_error_text
from skopeo.golang.strconv import NumError, atoi
from skopeo.reference import DockerReference, parse_additional_tag, parse_normalized
from skopeo.transport import (
    DECOMPRESS,
    BlobInfo,
    BlobStream,
    DestinationCapabilities,
    ImageDestination,
    ImageReference,
    ImageSource,
    Transport,
)

from .dockertar import (
    MANIFEST_FILE,
    REPOSITORIES_FILE,
    ArchiveImage,
    DockerArchiveReader,
    DockerArchiveWriter,
    ExistingArchive,
)
from .tarindex import ArchiveError, TarIndex, open_index
from .tarwriter import TarWriter

TRANSPORT_NAME = "docker-archive"
SIGNATURES_UNSUPPORTED = "Storing signatures for docker tar files is not supported"


def parse_tagged(text: str, what: str) -> DockerReference:
    """A reference that must end up tagged (``:latest`` is added to a bare
    name), never by digest; errors show the normalised reference, as upstream."""
    try:
        ref = parse_normalized(text)
    except InvalidReferenceError as e:
        raise InvalidReferenceError(f"{what} parsing reference: {e}") from None
    ref = ref.tag_name_only()
    if ref.tag is None:
        raise InvalidReferenceError(f"reference does not include a tag: {ref}")
    if ref.digest is not None:
        raise InvalidReferenceError(f"{what} doesn't support digest references: {ref}")
    return ref


def additional_tags(ctx: SystemContext) -> list[DockerReference]:
    return [parse_additional_tag(text) for text in ctx.docker_archive_additional_tags]


class DockerArchiveTransport(Transport):
    name = TRANSPORT_NAME
    path_references = True
    lists_tags = True
    settings = frozenset({"docker_archive_additional_tags", "docker_archive_append"})

    def parse_reference(self, text: str) -> DockerArchiveReference:
        if not text:
            raise InvalidReferenceError(f"docker-archive reference {text} isn't of the form <path>[:<reference>]")
        path, sep, rest = text.partition(":")
        ref = None
        source_index = -1
        if sep:
            if rest.startswith("@"):
                try:
                    source_index = atoi(rest[1:])
                except NumError as e:
                    raise InvalidReferenceError(f"Invalid source index {rest}: {e}") from None
                if source_index < 0:
                    raise InvalidReferenceError(f"Invalid source index @{source_index}: must not be negative")
            else:
                ref = parse_tagged(rest, "docker-archive")
        return DockerArchiveReference(self, path, ref, source_index)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        # Upstream: an archive has no stable identity to scope a policy to.
        raise InvalidReferenceError('docker-archive: does not support any scopes except the default "" one')


class DockerArchiveReference(ImageReference):
    transport: DockerArchiveTransport

    def __init__(self, transport: DockerArchiveTransport, path: str, ref: DockerReference | None,
                 source_index: int = -1) -> None:
        super().__init__(transport)
        if ":" in path:
            raise InvalidReferenceError(f"Invalid path {path}: contains a colon")
        if ref is not None and source_index != -1:
            raise InvalidReferenceError(
                "Invalid docker-archive: reference: cannot use both a tag and a source index"
            )
        self.path = path
        self.ref = ref
        self.source_index = source_index

    def string_within_transport(self) -> str:
        if self.ref is not None:
            return f"{self.path}:{self.ref}"
        if self.source_index != -1:
            return f"{self.path}:@{self.source_index}"
        return self.path

    def docker_reference(self) -> DockerReference | None:
        return self.ref

    def policy_configuration_identity(self) -> str:
        return ""

    def policy_configuration_namespaces(self) -> list[str]:
        return []

    def new_image_source(self, ctx: SystemContext) -> DockerArchiveSource:
        index, tmp = open_archive_index(self.path, ctx)
        try:
            reader = DockerArchiveReader(index)
        except BaseException:
            index.close()
            if tmp:
                remove_quietly(tmp)
            raise
        return DockerArchiveSource(self, reader, tmp)

    def new_image_destination(self, ctx: SystemContext) -> DockerArchiveDestination:
        if self.source_index != -1:
            raise SkopeoError(f"Destination reference must not contain a manifest index @{self.source_index}")
        return DockerArchiveDestination(self, ctx)

    def list_tags(self, ctx: SystemContext) -> tuple[str | None, list[str]]:
        index, tmp = open_archive_index(self.path, ctx)
        try:
            reader = DockerArchiveReader(index)
            return None, reader.list_tags()
        finally:
            index.close()
            if tmp:
                remove_quietly(tmp)


def open_archive_index(path: str, ctx: SystemContext) -> tuple[TarIndex, str | None]:
    try:
        return open_index(path, ctx.tmp_directory())
    except IsADirectoryError as e:
        # Go opens a directory, then fails reading it.
        raise SkopeoError(
            f'detecting compression for file "{path}": detecting compression: {path_error_text("read", path, e)}'
        ) from None
    except OSError as e:
        raise SkopeoError(f'opening file "{path}": {path_error_text("open", path, e)}') from None


class ArchiveSourceBase(ImageSource):
    """A source serving one :class:`ArchiveImage` (shared with docker-daemon:).

    *image* is that image, or the reader it is chosen from when first needed
    (:meth:`choose_image`): upstream reports a bad selector, a missing config
    or layer when the manifest is read, not when the source is opened."""

    def __init__(self, reference: ImageReference, image: ArchiveImage | DockerArchiveReader,
                 tmp_file: str | None) -> None:
        super().__init__(reference)
        self._image: ArchiveImage | None = None
        if isinstance(image, ArchiveImage):
            self._image = image
            image = image.reader
        self.reader = image
        self._tmp_file = tmp_file

    @property
    def image(self) -> ArchiveImage:
        if self._image is None:
            self._image = self.choose_image()
        return self._image

    def choose_image(self) -> ArchiveImage:
        """The image to serve, for a source given only the reader."""
        raise NotImplementedError

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        if instance_digest is not None:
            raise SkopeoError(f'Manifest lists are not supported by "{self.reference.transport.name}:"')
        return self.image.manifest(), mf.DOCKER_V2S2

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        return self.image.blob(info)

    def close(self) -> None:
        self.reader.close()
        if self._tmp_file:
            remove_quietly(self._tmp_file)
            self._tmp_file = None


class DockerArchiveSource(ArchiveSourceBase):
    reference: DockerArchiveReference

    def choose_image(self) -> ArchiveImage:
        return ArchiveImage(self.reader, self.reader.choose(self.reference.ref, self.reference.source_index))


class ArchiveDestinationBase(ImageDestination):
    """Writes one image into a :class:`DockerArchiveWriter` (shared with docker-daemon:)."""

    def __init__(self, reference: ImageReference, writer: DockerArchiveWriter, repo_tags: list[DockerReference],
                 existing: TarIndex | None = None) -> None:
        super().__init__(reference)
        self.capabilities = DestinationCapabilities(
            supported_manifest_types=(mf.DOCKER_V2S2,),
            desired_layer_compression=DECOMPRESS,
            # Measured on the benchmark (2 cores): one layer at a time is faster and
            # uses half the memory of parallel layers that spool while they wait.
            thread_safe_put_blob=False,
            signatures_unsupported_reason=SIGNATURES_UNSUPPORTED,
        )
        self.writer = writer
        self.repo_tags = repo_tags
        self._existing = existing
        self._config: tuple[str, bytes] | None = None

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        size = self.writer.has_blob(info.digest)
        if size is None:
            return None
        return BlobInfo(info.digest, size, info.media_type)

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        if is_config:
            data = stream.read(mf.MAX_CONFIG_SIZE + 1)
            if len(data) > mf.MAX_CONFIG_SIZE:
                raise SkopeoError("reading Config file stream: config is too large")
            digest = info.digest or digest_mod.of_bytes(data)
            self._config = (digest, data)
            return self.writer.put_config(data, digest)
        return self.writer.put_layer(stream, info)

    def _config_bytes(self, digest: str) -> bytes:
        if self._config is not None and self._config[0] == digest:
            return self._config[1]
        if self._existing is not None:
            # A config reused from the archive we are appending to.
            return self._existing.read(DockerArchiveWriter.config_path(digest), mf.MAX_CONFIG_SIZE)
        raise SkopeoError(f"internal error: config {digest} was not written")

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        if instance_digest is not None:
            raise SkopeoError("Manifest lists are not supported for docker tar files")
        parsed = mf.parse(data, mf.guess_mime(data))
        if parsed.mime != mf.DOCKER_V2S2 or not isinstance(parsed, mf.ImageManifest) or parsed.config is None:
            raise SkopeoError("Unsupported manifest type, need a Docker schema 2 manifest")
        config = self._config_bytes(parsed.config.digest)
        self.writer.add_image([d.digest for d in parsed.layers], parsed.config.digest, config, self.repo_tags)


class DockerArchiveDestination(ArchiveDestinationBase):
    reference: DockerArchiveReference

    def __init__(self, reference: DockerArchiveReference, ctx: SystemContext) -> None:
        path = reference.path
        append = ctx.docker_archive_append
        tags = ([reference.ref] if reference.ref is not None else []) + additional_tags(ctx)
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None  # opening it fails the same way, and is what upstream reports
        self._path = path
        self._created = st is None
        if self._created:  # removed if the process ends before the commit
            track_temporary(path)
        self._regular = st is None or stat.S_ISREG(st.st_mode)
        # Pipes and devices (/dev/stdout) are opened write-only, as upstream does.
        flags = (os.O_RDWR | os.O_CREAT) if self._regular else os.O_WRONLY
        try:
            fd = os.open(path, flags | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise SkopeoError(f'opening file "{path}": {path_error_text("open", path, e)}') from None
        self._file = os.fdopen(fd, "r+b" if self._regular else "wb", buffering=0)
        self._committed = False
        self._cut = -1
        self._tail = b""
        existing_index: TarIndex | None = None
        existing: ExistingArchive | None = None
        try:
            fst = os.fstat(fd)
            if stat.S_ISREG(fst.st_mode) and fst.st_size != 0:
                if not append:
                    raise SkopeoError("docker-archive doesn't support modifying existing images")
                existing_index = TarIndex(path)
                existing = ExistingArchive(existing_index)
                self._cut = _metadata_offset(existing_index)
                self._tail = os.pread(fd, fst.st_size - self._cut, self._cut)
                self._file.truncate(self._cut)
                self._file.seek(self._cut)
            tar = TarWriter(self._file, ctx.tmp_directory())
        except BaseException:
            if existing_index is not None:
                existing_index.close()
            self._file.close()
            if self._created:
                remove_quietly(path)
            raise
        super().__init__(reference, DockerArchiveWriter(tar, existing), tags, existing_index)

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        self.writer.close()
        self._committed = True
        untrack_temporary(self._path)

    def close(self) -> None:
        if self._existing is not None:
            self._existing.close()
        try:
            if not self._committed and self._regular:
                # Leave no half-written archive behind: restore what was there.
                if self._cut >= 0:
                    self._file.truncate(self._cut)
                    os.pwrite(self._file.fileno(), self._tail, self._cut)
                elif self._created:
                    remove_quietly(self._path)
                else:
                    self._file.truncate(0)
        finally:
            self._file.close()


def _metadata_offset(index: TarIndex) -> int:
    """Where the trailing ``manifest.json`` (and ``repositories``) start: an
    image is appended by rewriting them after the new members."""
    ordered = sorted(index.members.values(), key=lambda m: m.header_offset)
    meta = (MANIFEST_FILE, REPOSITORIES_FILE)
    i = len(ordered)
    while i > 0 and ordered[i - 1].name in meta:
        i -= 1
    tail = {m.name for m in ordered[i:]}
    if MANIFEST_FILE not in tail or (REPOSITORIES_FILE in index.members and REPOSITORIES_FILE not in tail):
        raise ArchiveError(
            f"cannot append to {index.display}: manifest.json and repositories are not its last members "
            "(only archives written by skopeo or podman save can be appended to)"
        )
    return ordered[i].header_offset

