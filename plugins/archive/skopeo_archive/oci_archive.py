"""``oci-archive:PATH[:REFERENCE]`` — a tar of an OCI image layout.

Upstream extracts the whole archive to a temporary directory to read it, and
builds a layout in a temporary directory to write it.  We do neither: reading
uses the tar index (blobs are streamed from their offsets), writing streams
blobs into a new tar next to the destination which replaces it atomically at
commit (upstream's outcome: the archive holds exactly the one image written).
The layout rules (index lookup, reference grammar) are skopeo-oci's.

Errors name what upstream would have used: the resolved archive path, and for
a broken archive or a missing ``index.json`` the temporary directory upstream
extracts into.  That directory is made as upstream makes it (``--tmpdir``, else
/var/tmp, named ``container_images_ociNNN``: a missing --tmpdir fails the same
way), holds whatever we spool, and is removed when the image is closed.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time

from skopeo import digest as digest_mod
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError, UnsupportedError
from skopeo.fsutil import make_temp_dir, remove_quietly, replace_tracked, temporary_file
from skopeo.golang import gojson
from skopeo.golang.oserror import path_error_text
from skopeo.transport import (
    COMPRESS,
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
)
from skopeo_oci.layout import (
    INDEX_FILE,
    LAYOUT_CONTENT,
    LAYOUT_FILE,
    REF_NAME,
    add_manifest,
    find_descriptor,
    manifest_to_read,
    new_index,
    parse_index,
)
from skopeo_oci.transport import SIGNATURES_UNSUPPORTED, validate_image_name, validate_scope

from .tarindex import MemberNotFound, TarIndex, open_index
from .tarwriter import TarWriter

# Upstream's big-file temporary directories: container_images_oci<random>.
TEMP_PREFIX = "container_images_oci"

TRANSPORT_NAME = "oci-archive"


def blob_member(digest: str) -> str:
    algo, hexpart = digest_mod.split(digest)
    return f"blobs/{algo}/{hexpart}"


class OCIArchiveTransport(Transport):
    name = TRANSPORT_NAME
    path_references = True
    settings = frozenset({"oci_accept_uncompressed_layers"})

    def parse_reference(self, text: str) -> OCIArchiveReference:
        path, _, image = text.partition(":")
        return OCIArchiveReference(self, path, image)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_scope(scope)


class OCIArchiveReference(ImageReference):
    transport: OCIArchiveTransport

    def __init__(self, transport: OCIArchiveTransport, path: str, image: str = "") -> None:
        super().__init__(transport)
        validate_image_name(image)
        self.path = path
        self.image = image
        self.resolved = resolve_path_for_policy(path)

    def string_within_transport(self) -> str:
        return f"{self.path}:{self.image}"

    def policy_configuration_identity(self) -> str:
        return self.resolved

    def policy_configuration_namespaces(self) -> list[str]:
        return [self.resolved, *path_policy_namespaces(self.resolved)]

    def new_image_source(self, ctx: SystemContext) -> OCIArchiveSource:
        # Upstream opens the archive first, then makes the directory it extracts
        # into: we read the archive in place, but make that directory as
        # upstream does (same name, same failures) and keep any spooled copy in it.
        from skopeo.golang.gojson import quote

        try:
            os.close(os.open(self.resolved, os.O_RDONLY))
        except FileNotFoundError:
            raise SkopeoError(f"creating temp directory: archive file not found: {quote(self.resolved.encode())}") from None
        except OSError as e:
            raise SkopeoError(f"creating temp directory: {path_error_text('open', self.resolved, e)}") from None
        try:
            untar_dir = make_temp_dir(ctx.tmp_directory(), TEMP_PREFIX)
        except SkopeoError as e:
            raise e.wrap("creating temp directory: creating oci reference: creating temp directory") from None
        try:
            return self._open_source(untar_dir)
        except BaseException:
            shutil.rmtree(untar_dir, ignore_errors=True)
            raise

    def _open_source(self, untar_dir: str) -> OCIArchiveSource:
        path = self.resolved
        try:
            index, tmp = open_index(path, untar_dir)
        except IsADirectoryError as e:
            # Go opens a directory, then fails reading it.
            raise SkopeoError(
                f'creating temp directory: untarring file "{untar_dir}": {path_error_text("read", path, e)}'
            ) from None
        except OSError as e:
            raise SkopeoError(f"creating temp directory: {path_error_text('open', path, e)}") from None
        try:
            if index.scan_error is not None:
                raise SkopeoError(f'creating temp directory: untarring file "{untar_dir}": {index.scan_error}')
            return OCIArchiveSource(self, index, tmp, untar_dir)
        except BaseException:
            index.close()
            if tmp:
                remove_quietly(tmp)
            raise

    def new_image_destination(self, ctx: SystemContext) -> OCIArchiveDestination:
        return OCIArchiveDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        # Upstream's fixed text names "oci:" here too.
        raise UnsupportedError("Deleting images not implemented for oci: images")


class OCIArchiveSource(ImageSource):
    reference: OCIArchiveReference

    def __init__(self, reference: OCIArchiveReference, index: TarIndex, tmp_file: str | None,
                 untar_dir: str) -> None:
        super().__init__(reference)
        self.tar = index
        self._tmp_file = tmp_file
        self._untar_dir = untar_dir
        try:
            data = index.read(INDEX_FILE, mf.MAX_MANIFEST_SIZE)
        except MemberNotFound:
            missing = os.path.join(untar_dir, INDEX_FILE)
            raise SkopeoError(f"open {missing}: no such file or directory") from None
        self.index = parse_index(data, INDEX_FILE)
        self.descriptor, _ = find_descriptor(self.index, reference.image, -1)

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        digest, mime, size = manifest_to_read(self.index, self.descriptor, instance_digest)
        data = self.tar.read(blob_member(digest), mf.MAX_MANIFEST_SIZE)
        if instance_digest is None:  # as oci: layouts, see there
            mf.verify_manifest(data, digest, size)
        return data, mime or mf.guess_mime(data)

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        assert info.digest is not None
        stream, size = self.tar.open(blob_member(info.digest))
        return stream, size

    def close(self) -> None:
        self.tar.close()
        if self._tmp_file:
            remove_quietly(self._tmp_file)
            self._tmp_file = None
        shutil.rmtree(self._untar_dir, ignore_errors=True)


class OCIArchiveDestination(ImageDestination):
    reference: OCIArchiveReference

    def __init__(self, reference: OCIArchiveReference, ctx: SystemContext) -> None:
        super().__init__(reference)
        self.capabilities = DestinationCapabilities(
            supported_manifest_types=(mf.OCI_MANIFEST, mf.OCI_INDEX),
            desired_layer_compression=PRESERVE if ctx.oci_accept_uncompressed_layers else COMPRESS,
            thread_safe_put_blob=True,
            signatures_unsupported_reason=SIGNATURES_UNSUPPORTED,
            accepts_foreign_layer_urls=True,
        )
        path = reference.path
        # Upstream builds the layout in this directory, then tars it; we write
        # the archive directly but keep upstream's directory (and its failures)
        # for what must be spooled.
        try:
            self._work_dir: str | None = make_temp_dir(ctx.tmp_directory(), TEMP_PREFIX)
        except SkopeoError as e:
            raise e.wrap("creating oci reference: creating temp directory") from None
        try:
            self._open(reference, path)
        except BaseException:
            self.close_work_dir()
            raise
        # Upstream tars a directory it just wrote: root-owned, real times.
        self.tar = TarWriter(self._file, self._work_dir or "", {
            "mode": 0o644, "mtime": int(time.time()), "uname": "root", "gname": "root",
        })
        self.tar.add_dir("blobs/")
        self._dirs = {"blobs/"}
        self._blobs: dict[str, int] = {}
        self._lock = threading.Lock()
        self._entry: dict[str, object] | None = None
        self._committed = False

    def close_work_dir(self) -> None:
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def _open(self, reference: OCIArchiveReference, path: str) -> None:
        try:
            st: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise SkopeoError(path_error_text("stat", path, e)) from None
        self._tmp: str | None = None
        if st is None or stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            # Written beside the old archive and renamed over it at commit: a
            # failed copy leaves the old archive untouched.  Upstream writes the
            # resolved path (the cwd for "oci-archive:"); a directory fails at
            # commit, where upstream creates the file.
            directory = os.path.dirname(reference.resolved)
            try:
                fd, self._tmp = temporary_file(".oci-archive-", directory)
            except OSError as e:
                raise SkopeoError(path_error_text("open", path, e)) from None
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            self._file = os.fdopen(fd, "r+b", buffering=0)
        else:
            # A pipe or device (/dev/stdout): written directly.
            try:
                self._file = open(path, "wb", buffering=0)
            except OSError as e:
                raise SkopeoError(path_error_text("open", path, e)) from None

    def _ensure_dir(self, digest: str) -> None:
        algo = digest.partition(":")[0]
        name = f"blobs/{algo}/"
        with self._lock:
            if name not in self._dirs:
                self.tar.add_dir(name)
                self._dirs.add(name)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None or info.digest not in self._blobs:
            return None
        return BlobInfo(info.digest, self._blobs[info.digest], info.media_type, info.urls, info.annotations)

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        if info.digest is not None and info.digest in self._blobs:
            return BlobInfo(info.digest, self._blobs[info.digest], info.media_type, info.urls, info.annotations)
        self._ensure_dir(info.digest or digest_mod.CANONICAL + ":")

        def name_for(digest: str) -> str | None:
            with self._lock:
                if digest in self._blobs:
                    return None
                self._blobs[digest] = -1
            return blob_member(digest)

        algo = (info.digest or digest_mod.CANONICAL).partition(":")[0]
        digest, size = self.tar.add_stream(stream, info.size if info.digest else -1, name_for, algo)
        with self._lock:
            self._blobs[digest] = size
        return BlobInfo(digest, size, info.media_type, info.urls, info.annotations)

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        digest = instance_digest or mf.manifest_digest(data)
        if digest not in self._blobs:
            self._ensure_dir(digest)
            self.tar.add_bytes(blob_member(digest), data)
            self._blobs[digest] = len(data)
        if instance_digest is not None:
            return
        entry: dict[str, object] = {"mediaType": mf.guess_mime(data) or mime, "digest": digest, "size": len(data)}
        if self.reference.image:
            entry["annotations"] = {REF_NAME: self.reference.image}
        self._entry = entry

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        if self._entry is None:
            raise SkopeoError("internal error: commit called before the manifest was written")
        index = new_index()
        add_manifest(index, dict(self._entry))
        self.tar.add_bytes(INDEX_FILE, gojson.marshal(index))
        self.tar.add_bytes(LAYOUT_FILE, LAYOUT_CONTENT)
        self.tar.finish()
        if self._tmp is not None:
            path = self.reference.resolved
            try:
                replace_tracked(self._tmp, path)
            except OSError as e:
                raise SkopeoError(f'creating tar file "{path}": {path_error_text("open", path, e)}') from None
            self._tmp = None
        self._committed = True

    def close(self) -> None:
        self._file.close()
        if self._tmp is not None:
            remove_quietly(self._tmp)
            self._tmp = None
        self.close_work_dir()
