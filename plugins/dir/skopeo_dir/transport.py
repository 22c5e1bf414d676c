"""``dir:PATH``: manifest.json, a version file, blobs named by digest hex and
signature-N files.  A debugging format, but users script against its exact
layout, so we write precisely what the reference tool writes."""

from __future__ import annotations

import os
import re
import shutil

from skopeo import digest as digest_mod
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.fsutil import store_blob, write_atomic
from skopeo.golang.gojson import quote
from skopeo.golang.oserror import path_error_text
from skopeo.transport import (
    COMPRESS,
    DECOMPRESS,
    PRESERVE,
    BlobInfo,
    BlobStream,
    DestinationCapabilities,
    ImageDestination,
    ImageReference,
    ImageSource,
    Transport,
    path_policy_namespaces,
    resolve_path_for_policy,
    validate_path_scope,
)

VERSION_1_1 = "Directory Transport Version: 1.1\n"
VERSION_1_2 = "Directory Transport Version: 1.2\n"
_VERSION_RE = re.compile(r"Directory Transport Version: (-?\d+)\.(-?\d+)\n")
MAX_SUPPORTED_VERSION = (1, 2)


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) of a ``version`` file, or None unless it is exactly
    ``Directory Transport Version: M.N\\n`` in canonical form (upstream scans it
    with Go's ``%d``, then requires the text to be what it would write)."""
    m = _VERSION_RE.fullmatch(text)
    if m is None:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if f"{major}" != m.group(1) or f"{minor}" != m.group(2):
        return None
    return major, minor


def unsupported_version_error(raw: bytes, resolved: str) -> SkopeoError:
    return SkopeoError(f"unsupported directory transport version {quote(raw)} at {resolved}")


def blob_name(digest: str) -> str:
    """``sha256:abc`` → ``abc``; other algorithms keep a prefix: ``sha512-abc``."""
    algo, hexpart = digest_mod.split(digest)
    return hexpart if algo == "sha256" else f"{algo}-{hexpart}"


class DirTransport(Transport):
    name = "dir"
    path_references = True
    settings = frozenset({"dir_force_compress", "dir_force_decompress"})

    def parse_reference(self, text: str) -> DirReference:
        # An empty path is the current directory, as upstream.
        return DirReference(self, text)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_path_scope(scope)


class DirReference(ImageReference):
    def __init__(self, transport: DirTransport, path: str) -> None:
        super().__init__(transport)
        self.path = path
        self.resolved = resolve_path_for_policy(path)

    def string_within_transport(self) -> str:
        return self.path

    def policy_configuration_identity(self) -> str:
        return self.resolved

    def policy_configuration_namespaces(self) -> list[str]:
        return path_policy_namespaces(self.resolved)

    def manifest_path(self, instance: str | None = None) -> str:
        if instance is None:
            return os.path.join(self.path, "manifest.json")
        return os.path.join(self.path, blob_name(instance) + ".manifest.json")

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.path, blob_name(digest))

    def signature_path(self, index: int, instance: str | None = None) -> str:
        name = f"signature-{index + 1}"
        if instance is not None:
            name = f"{blob_name(instance)}.{name}"
        return os.path.join(self.path, name)

    def new_image_source(self, ctx: SystemContext) -> DirSource:
        self._check_version()
        return DirSource(self)

    def _check_version(self) -> None:
        """A source's ``version`` file may be missing (old images), but never one
        this code does not know: the layout could mean something else."""
        path = os.path.join(self.path, "version")
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return
        except OSError as e:
            op = "read" if isinstance(e, IsADirectoryError) else "open"
            raise SkopeoError(f"reading version file {quote(path.encode())}: {path_error_text(op, path, e)}") from None
        parsed = parse_version(raw.decode("utf-8", "replace"))
        if parsed is None:
            raise SkopeoError(f"invalid version file content: {quote(raw)}")
        if parsed > MAX_SUPPORTED_VERSION:
            raise unsupported_version_error(raw, self.resolved)

    def new_image_destination(self, ctx: SystemContext) -> DirDestination:
        return DirDestination(self, ctx)


class DirSource(ImageSource):
    reference: DirReference

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        path = self.reference.manifest_path(instance_digest)
        try:
            with open(path, "rb") as f:
                return f.read(), ""
        except OSError as e:
            # A plain error, not ImageNotFoundError: upstream exits 1 here, not 2.
            raise SkopeoError(path_error_text("open", path, e)) from None

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        assert info.digest is not None
        path = self.reference.blob_path(info.digest)
        try:
            f = open(path, "rb")
        except OSError as e:
            raise SkopeoError(path_error_text("open", path, e)) from None
        return f, os.fstat(f.fileno()).st_size

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        sigs: list[bytes] = []
        while True:
            path = self.reference.signature_path(len(sigs), instance_digest)
            try:
                with open(path, "rb") as f:
                    sigs.append(f.read())
            except FileNotFoundError:
                return sigs


def _desired_compression(ctx: SystemContext | None) -> str:
    """--dest-compress / --dest-decompress, which only dir: reads (refused
    together when the destination is opened, as upstream)."""
    if ctx is not None and ctx.dir_force_compress:
        if ctx.dir_force_decompress:
            raise SkopeoError("Cannot compress and decompress at the same time")
        return COMPRESS
    if ctx is not None and ctx.dir_force_decompress:
        return DECOMPRESS
    return PRESERVE


class DirDestination(ImageDestination):
    reference: DirReference
    capabilities = DestinationCapabilities(supported_manifest_types=None)

    def __init__(self, reference: DirReference, ctx: SystemContext | None = None) -> None:
        super().__init__(reference)
        self.capabilities = self.capabilities._replace(desired_layer_compression=_desired_compression(ctx))
        self._prepare(reference.resolved, reference.path)
        self._uses_non_sha256 = False

    @staticmethod
    def _prepare(resolved: str, path: str) -> None:
        """Create the directory, or empty an existing image directory.  Anything
        else that is not empty is refused: it may be someone's important data.
        The directory is found by its resolved path, files are named from *path*
        (for ``dir:`` alone, the current directory), as upstream does."""
        if os.path.lexists(resolved):
            try:
                entries = os.listdir(resolved)
            except OSError as e:  # Go's os.ReadDir opens the directory first
                raise SkopeoError(path_error_text("open", resolved, e)) from None
            if entries:
                try:
                    with open(os.path.join(path, "version"), "rb") as f:
                        version = f.read()
                except OSError:
                    version = None
                parsed = parse_version(version.decode("utf-8", "replace")) if version is not None else None
                if version is None or parsed is None:
                    raise SkopeoError("not a containers image directory, don't want to overwrite important data")
                if parsed > MAX_SUPPORTED_VERSION:
                    raise unsupported_version_error(version, resolved)
                for entry in entries:
                    full = os.path.join(resolved, entry)
                    if os.path.isdir(full) and not os.path.islink(full):
                        shutil.rmtree(full)
                    else:
                        os.remove(full)
        else:
            try:
                os.makedirs(resolved, 0o755)
            except OSError as e:
                raise SkopeoError(f'unable to create directory "{resolved}": {path_error_text("mkdir", resolved, e)}') from None
        write_atomic(os.path.join(path, "version"), VERSION_1_1.encode())

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        try:
            size = os.stat(self.reference.blob_path(info.digest)).st_size
        except FileNotFoundError:
            return None
        return BlobInfo(info.digest, size, info.media_type)

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        stored = store_blob(stream, info, self.reference.path, self.reference.blob_path)
        if stored.digest is not None and not stored.digest.startswith("sha256:"):
            self._uses_non_sha256 = True
        return stored

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        write_atomic(self.reference.manifest_path(instance_digest), data)

    def put_signatures(self, signatures: list[bytes], instance_digest: str | None = None) -> None:
        for i, sig in enumerate(signatures):
            write_atomic(self.reference.signature_path(i, instance_digest), sig)
        # Remove stale signatures beyond the new ones.
        i = len(signatures)
        while os.path.exists(self.reference.signature_path(i, instance_digest)):
            os.remove(self.reference.signature_path(i, instance_digest))
            i += 1

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        if self._uses_non_sha256:
            write_atomic(os.path.join(self.reference.path, "version"), VERSION_1_2.encode())

