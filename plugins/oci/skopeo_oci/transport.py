"""``oci:PATH[:REFERENCE]`` and ``oci:PATH:@N``: images in an OCI image layout.

Writes follow upstream main (containers/image ``oci/layout``) so the result is the
same layout the Go tool would produce and stays readable by skopeo 1.9.3 and
umoci.  One deliberate difference: ``index.json`` is re-read and updated under an
exclusive lock at commit time, so parallel writers into one layout keep every
entry (upstream reads it when the destination is opened and loses entries).
"""

from __future__ import annotations

import copy
import os
import re

from skopeo import deadline
from skopeo import digest as digest_mod
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import ImageNotFoundError, InvalidReferenceError, SkopeoError
from skopeo.fsutil import store_blob, write_atomic
from skopeo.golang.strconv import NumError, atoi
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

from .layout import (
    REF_NAME,
    Desc,
    Layout,
    add_manifest,
    find_descriptor,
    manifest_to_read,
    new_index,
    os_error,
    parse_index,
    ref_name,
)

SIGNATURES_UNSUPPORTED = "Pushing signatures for OCI images is not supported"

# The OCI ref.name grammar (image-spec annotations.md), as upstream validates it.
_SEPARATOR = r"(?:[-._:@+]|--)"
_ALPHANUM = r"(?:[A-Za-z0-9]+)"
_COMPONENT = rf"(?:{_ALPHANUM}(?:{_SEPARATOR}{_ALPHANUM})*)"
_REF_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")


def validate_image_name(image: str) -> None:
    if image and not _REF_RE.match(image):
        raise InvalidReferenceError(f"Invalid image {image}")


def _parse_source_index(text: str) -> int:
    try:
        value = atoi(text)
    except NumError as e:
        raise InvalidReferenceError(f"Invalid source index @{text}: not an integer: {e}") from None
    if value < 0:
        raise InvalidReferenceError(f"Invalid source index @{value}: must not be negative")
    return value


def validate_scope(scope: str) -> None:
    if not scope.startswith("/"):
        raise InvalidReferenceError(f"Invalid scope {scope}: must be an absolute path")
    if scope == "/":
        raise InvalidReferenceError('Invalid scope "/": Use the generic default scope ""')
    cleaned = os.path.normpath(scope)
    if cleaned != scope:
        raise InvalidReferenceError(
            f"Invalid scope {scope}: Uses non-canonical path format, perhaps try with path {cleaned}"
        )


class OCITransport(Transport):
    name = "oci"
    path_references = True
    deletes_images = True
    settings = frozenset({"oci_accept_uncompressed_layers"})

    def parse_reference(self, text: str) -> OCIReference:
        # PATH ends at the first ":"; the rest (which may contain ":") is REFERENCE.
        path, _, image = text.partition(":")
        source_index = -1
        if image.startswith("@"):
            source_index = _parse_source_index(image[1:])
            image = ""
        return OCIReference(self, path, image, source_index)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_scope(scope)


class OCIReference(ImageReference):
    transport: OCITransport

    def __init__(self, transport: OCITransport, path: str, image: str = "", source_index: int = -1) -> None:
        super().__init__(transport)
        self.resolved = resolve_path_for_policy(path)
        validate_image_name(image)
        if source_index != -1 and image:
            raise InvalidReferenceError(
                f"Invalid oci: layout reference: cannot use both an image {image} and a source index @{source_index}"
            )
        self.path = path
        self.image = image
        self.source_index = source_index

    def string_within_transport(self) -> str:
        if self.source_index == -1:
            return f"{self.path}:{self.image}"
        return f"{self.path}:@{self.source_index}"

    def policy_configuration_identity(self) -> str:
        # The reference is deliberately not part of the identity: "PATH:x" and
        # "PATH:" may be the same image, so policy applies to the whole layout.
        return self.resolved

    def policy_configuration_namespaces(self) -> list[str]:
        return [self.resolved, *path_policy_namespaces(self.resolved)]

    def layout(self, ctx: SystemContext) -> Layout:
        return Layout(self.path, ctx.shared_blob_dir)

    def new_image_source(self, ctx: SystemContext) -> OCISource:
        return OCISource(self, self.layout(ctx))

    def new_image_destination(self, ctx: SystemContext) -> OCIDestination:
        return OCIDestination(self, self.layout(ctx), ctx.oci_accept_uncompressed_layers)

    def delete_image(self, ctx: SystemContext) -> None:
        layout = self.layout(ctx)
        layout.read_index()  # a missing layout reports the missing index.json, as upstream
        with layout.locked():
            _delete(layout, self.image, self.source_index)


def _delete(layout: Layout, image: str, source_index: int) -> None:
    """Remove the entry and the blobs only it used (upstream main's DeleteImage);
    the caller holds the layout lock."""
    index = layout.read_index()
    desc, position = find_descriptor(index, image, source_index)
    used_by_image = layout.count_blobs([desc])
    used_by_all = layout.count_blobs(index["manifests"])
    doomed = [d for d, n in used_by_all.items() if n - used_by_image[d] <= 0]
    del index["manifests"][position]
    # The index is written before blobs go, so a crash leaves unused blobs, never
    # an entry pointing at missing ones.  Upstream writes with json.Encoder, which
    # adds a newline.
    layout.write_index(index, trailing_newline=True)
    for d in doomed:
        # Only local blobs: other layouts we cannot see may use the shared directory.
        try:
            os.remove(layout.blob_path(d, shared=False))
        except FileNotFoundError:
            pass
        except OSError as e:
            raise os_error("remove", layout.blob_path(d, shared=False), e) from None
    if not _is_sigstore_tag(image):
        # Upstream also drops the image's sigstore attachment ("sha256-<hex>.sig").
        algo, _, hexpart = str(desc.get("digest", "")).partition(":")
        try:
            _delete(layout, f"{algo}-{hexpart}.sig", -1)
        except ImageNotFoundError:
            pass


def _is_sigstore_tag(tag: str) -> bool:
    if not tag.endswith(".sig"):
        return False
    return digest_mod.is_digest(tag[: -len(".sig")].replace("-", ":", 1))


class OCISource(ImageSource):
    reference: OCIReference

    def __init__(self, reference: OCIReference, layout: Layout) -> None:
        super().__init__(reference)
        self.layout = layout
        self.index = layout.read_index()
        self.descriptor, _ = find_descriptor(self.index, reference.image, reference.source_index)

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        digest, mime, size = manifest_to_read(self.index, self.descriptor, instance_digest)
        path = self.layout.blob_path(digest)
        try:
            with open(path, "rb") as f:
                data = f.read(mf.MAX_MANIFEST_SIZE + 1)
        except OSError as e:
            raise os_error("open", path, e) from None
        if len(data) > mf.MAX_MANIFEST_SIZE:
            raise SkopeoError(f"manifest {digest} is larger than {mf.MAX_MANIFEST_SIZE} bytes")
        # A layout is read as untrusted as a registry: its blobs are verified
        # against their descriptors, and so is the manifest (upstream trusts it).
        if instance_digest is None:  # an instance is checked against its list by the reader
            mf.verify_manifest(data, digest, size)
        return data, mime or mf.guess_mime(data)

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        assert info.digest is not None
        path = self.layout.blob_path(info.digest)
        try:
            f = open(path, "rb")  # the caller closes it
        except FileNotFoundError as e:
            # Non-distributable layers may live only at their URLs.
            if info.urls:
                return _fetch_external(info.urls)
            raise os_error("open", path, e) from None
        except OSError as e:
            raise os_error("open", path, e) from None
        return f, os.fstat(f.fileno()).st_size


def _fetch_external(urls: tuple[str, ...]) -> tuple[BlobStream, int]:
    # Imported here: urllib.request costs ~10 ms and is almost never needed.
    import urllib.parse
    import urllib.request

    errors = []
    for url in urls:
        if urllib.parse.urlparse(url).scheme not in ("http", "https"):
            continue
        try:
            resp = urllib.request.urlopen(url, timeout=deadline.timeout(60))  # scheme checked above
        except OSError as e:
            errors.append(f'fetching "{url}" failed {e}')
            continue
        length = resp.headers.get("Content-Length")
        return resp, int(length) if length and length.isdigit() else -1
    if not errors:
        raise SkopeoError(f"blob not found locally and no usable URL among {list(urls)}")
    raise SkopeoError(": ".join([*errors, "failed fetching external blob from all urls"]))


class OCIDestination(ImageDestination):
    reference: OCIReference

    def __init__(self, reference: OCIReference, layout: Layout, accept_uncompressed_layers: bool = False) -> None:
        super().__init__(reference)
        if reference.source_index != -1:
            raise SkopeoError(f"Destination reference must not contain a manifest index @{reference.source_index}")
        self.layout = layout
        self.capabilities = DestinationCapabilities(
            supported_manifest_types=(mf.OCI_MANIFEST, mf.OCI_INDEX),
            desired_layer_compression=PRESERVE if accept_uncompressed_layers else COMPRESS,
            thread_safe_put_blob=True,
            signatures_unsupported_reason=SIGNATURES_UNSUPPORTED,
            accepts_foreign_layer_urls=True,
        )
        # Fail early on an index we could not update (as upstream does); the
        # index is read again under the lock at commit.
        if layout.index_exists():
            layout.read_index()
        if not layout.path:
            raise SkopeoError("mkdir : no such file or directory")  # upstream's MkdirAll("") fails so
        try:
            os.makedirs(layout.path, 0o755, exist_ok=True)
            # The spec requires blobs/, even when every blob goes to a shared directory.
            os.makedirs(layout.local_blobs_dir, 0o755, exist_ok=True)
        except OSError as e:
            raise os_error("mkdir", e.filename or layout.path, e) from None
        self._entry: Desc | None = None
        # Every blob this image uses that is already in place (written or reused);
        # checked again at commit, see there.
        self._used: set[str] = set()

    def existing_manifest_digest(self) -> str | None:
        """The digest the reference's name points at now (lets sync skip it)."""
        if not self.reference.image or not self.layout.index_exists():
            return None
        try:
            desc, _ = find_descriptor(self.layout.read_index(), self.reference.image, -1)
        except SkopeoError:
            return None
        digest = desc.get("digest")
        return digest if isinstance(digest, str) else None

    def _ensure_parent(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        try:
            size = os.stat(self.layout.blob_path(info.digest)).st_size
        except FileNotFoundError:
            return None
        self._used.add(info.digest)
        return BlobInfo(info.digest, size, info.media_type, info.urls, info.annotations)

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        root = self.layout.blobs_root()
        os.makedirs(root, 0o755, exist_ok=True)

        def final_path(digest: str) -> str:
            path = self.layout.blob_path(digest)
            self._ensure_parent(path)
            return path

        # The temporary file sits in the blobs root: same filesystem as the final
        # name (the shared directory may be elsewhere), outside blobs/<algo>/.
        stored = store_blob(stream, info, root, final_path)
        if info.size >= 0 and stored.size != info.size:
            os.remove(self.layout.blob_path(str(stored.digest)))
            raise SkopeoError(f"Size mismatch when copying {stored.digest}, expected {info.size}, got {stored.size}")
        self._used.add(str(stored.digest))
        return stored

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        digest = instance_digest or mf.manifest_digest(data)
        path = self.layout.blob_path(digest)
        self._ensure_parent(path)
        write_atomic(path, data)
        self._used.add(digest)
        if instance_digest is not None:
            return
        entry: Desc = {
            # Upstream guesses from the bytes rather than trusting the caller.
            "mediaType": mf.guess_mime(data) or mime,
            "digest": digest,
            "size": len(data),
        }
        if self.reference.image:
            entry["annotations"] = {REF_NAME: self.reference.image}
        self._entry = entry

    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        entry = self._entry
        if entry is None:
            raise SkopeoError("internal error: commit called before the manifest was written")
        layout = self.layout
        with layout.locked():
            # A concurrent delete may have collected a blob we reused or wrote
            # (it only removes blobs of the entry it deletes, but those can be
            # ours too); refuse to record an entry that points at nothing.
            for digest in sorted(self._used):
                if not os.path.exists(layout.blob_path(digest)):
                    raise SkopeoError(
                        f"writing {self.reference}: blob {digest} disappeared from the layout while the image "
                        "was being written (concurrent delete?); try again"
                    )
            if layout.index_exists():
                index = layout.read_index()
            else:
                index = new_index()
            add_manifest(index, copy.deepcopy(entry))
            layout.write_layout_file()
            layout.write_index(index)


__all__ = [
    "SIGNATURES_UNSUPPORTED",
    "OCIDestination",
    "OCIReference",
    "OCISource",
    "OCITransport",
    "parse_index",
    "ref_name",
    "validate_image_name",
]
