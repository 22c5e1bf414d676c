"""An OCI image layout on disk: ``oci-layout``, ``index.json`` and ``blobs/<algo>/<hex>``.

Everything that reads, changes or garbage-collects ``index.json`` lives here, so
the rules that keep a layout consistent are in one place:

* ``index.json`` is only changed inside :func:`locked`, an exclusive ``flock`` on
  the layout directory itself.  Locking the directory (not a lock file) leaves no
  extra file behind for other tools (skopeo 1.9.3, umoci) to trip over, and the
  lock survives the atomic rename that replaces ``index.json``.
* ``index.json`` is re-read under the lock just before it is changed and written
  with a temporary file + rename, so concurrent writers never lose each other's
  entries and readers never see a half-written file.
* Entries and fields we do not understand are kept as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

from skopeo import digest as digest_mod
from skopeo import manifest as mf
from skopeo.errors import ImageNotFoundError, InvalidReferenceError, SkopeoError
from skopeo.fsutil import write_atomic
from skopeo.golang import gojson
from skopeo.golang.oserror import path_error_text

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
BLOBS_DIR = "blobs"
# Go's json.Marshal(imgspecv1.ImageLayout{Version: "1.0.0"}).
LAYOUT_CONTENT = b'{"imageLayoutVersion":"1.0.0"}'
# What a ``REFERENCE`` lookup accepts (upstream getManifestDescriptor).
READABLE_TYPES = (mf.OCI_MANIFEST, mf.OCI_INDEX, mf.DOCKER_V2S2, mf.DOCKER_LIST)
_IMAGE_TYPES = (mf.OCI_MANIFEST, mf.DOCKER_V2S2)
_LIST_TYPES = (mf.OCI_INDEX, mf.DOCKER_LIST)

Index = dict[str, Any]
Desc = dict[str, Any]


def os_error(op: str, path: str, err: OSError) -> SkopeoError:
    return SkopeoError(path_error_text(op, path, err))


def ref_name(desc: Desc) -> str:
    annotations = desc.get("annotations")
    if isinstance(annotations, dict):
        name = annotations.get(REF_NAME, "")
        return name if isinstance(name, str) else ""
    return ""


class Layout:
    """Paths and index operations of one layout; blobs may live in a shared directory."""

    def __init__(self, path: str, shared_blob_dir: str | None = None) -> None:
        self.path = path
        self.shared_blob_dir = shared_blob_dir or None

    def _join(self, *parts: str) -> str:
        # Like Go's filepath.Join, so error messages name the same paths.
        return os.path.normpath(os.path.join(self.path, *parts)) if self.path else os.path.join(*parts)

    @property
    def index_path(self) -> str:
        return self._join(INDEX_FILE)

    @property
    def layout_file_path(self) -> str:
        return self._join(LAYOUT_FILE)

    @property
    def local_blobs_dir(self) -> str:
        return self._join(BLOBS_DIR)

    def blobs_root(self, shared: bool = True) -> str:
        if shared and self.shared_blob_dir:
            return self.shared_blob_dir
        return self.local_blobs_dir

    def blob_path(self, digest: str, shared: bool = True) -> str:
        """``blobs/<algo>/<hex>`` (or ``SHARED/<algo>/<hex>``).  The digest is
        validated first: it becomes a file name."""
        try:
            algo, hexpart = digest_mod.split(digest)
        except InvalidReferenceError as e:
            raise SkopeoError(f"unexpected digest reference {digest}: {e}") from None
        return os.path.join(self.blobs_root(shared), algo, hexpart)

    # --- index.json --------------------------------------------------------------
    def index_exists(self) -> bool:
        """True unless index.json is certainly absent: any other error (its
        directory is a file, say) is reported by reading it, as upstream does."""
        try:
            os.stat(self.index_path)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return True

    def read_index(self) -> Index:
        path = self.index_path
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise os_error("open", path, e) from None
        return parse_index(data, path)

    def write_index(self, index: Index, trailing_newline: bool = False) -> None:
        """Write atomically, keeping the mode of an existing file (umoci writes 0600,
        upstream's in-place write keeps it); new files get 0644."""
        try:
            mode = os.stat(self.index_path).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        data = gojson.marshal(index) + (b"\n" if trailing_newline else b"")
        write_atomic(self.index_path, data, mode)

    def write_layout_file(self) -> None:
        write_atomic(self.layout_file_path, LAYOUT_CONTENT)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock for a read-modify-write of ``index.json``."""
        try:
            fd = os.open(self.path or ".", os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise os_error("open", self.path or ".", e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    # --- reading manifests and walking references -------------------------------
    def read_blob(self, digest: str, limit: int = mf.MAX_MANIFEST_SIZE) -> bytes:
        path = self.blob_path(digest)
        try:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
        except OSError as e:
            raise os_error("open", path, e) from None
        if len(data) > limit:
            raise SkopeoError(f"blob {digest} in {self.path} is larger than {limit} bytes")
        return data

    def referenced(self, desc: Desc) -> Iterator[Desc]:
        """*desc* and every descriptor reachable from it (configs, layers, instances)."""
        yield desc
        digest = desc.get("digest")
        if not isinstance(digest, str):
            raise SkopeoError("invalid descriptor in index: missing digest")
        media_type = desc.get("mediaType") or ""
        if media_type and media_type not in _IMAGE_TYPES and media_type not in _LIST_TYPES:
            raise SkopeoError(f"unsupported mediaType in index: {json.dumps(media_type)}")
        try:
            data = self.read_blob(digest)
        except SkopeoError:
            if os.path.lexists(self.blob_path(digest)):
                raise
            # Absent (e.g. a list copied with --multi-arch index-only): nothing
            # below it can be seen, so only the descriptor itself counts.
            return
        if not media_type:
            # Old indexes may omit mediaType; the content says what it is.
            media_type = mf.guess_mime(data)
        try:
            parsed = json.loads(data)
        except ValueError as e:
            raise SkopeoError(f"parsing manifest {digest}: {e}") from None
        if not isinstance(parsed, dict):
            raise SkopeoError(f"parsing manifest {digest}: not a JSON object")
        if media_type in _LIST_TYPES:
            for child in parsed.get("manifests") or ():
                if isinstance(child, dict):
                    yield from self.referenced(child)
            return
        config = parsed.get("config")
        if isinstance(config, dict):
            yield config
        for layer in parsed.get("layers") or ():
            if isinstance(layer, dict):
                yield layer

    def count_blobs(self, descs: list[Desc]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for desc in descs:
            for ref in self.referenced(desc):
                d = ref.get("digest")
                if isinstance(d, str):
                    counts[d] += 1
        return counts


def new_index() -> Index:
    return {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": []}


def parse_index(data: bytes, path: str) -> Index:
    """``index.json`` as upstream reads it (``json.NewDecoder(f).Decode(&index)``):
    Go's syntax errors (``EOF`` when empty) and its type errors for the index and
    its ``manifests`` array, without a prefix naming the file, as upstream."""
    del path  # upstream's messages do not name the file
    try:
        index = gojson.loads(data, stream=True)
    except ValueError as e:
        raise SkopeoError(str(e)) from None
    if index is None:
        index = {}
    if not isinstance(index, dict):
        raise SkopeoError(gojson.type_error(index, "v1.Index"))
    manifests = index.get("manifests")
    if manifests is None:
        manifests = []
    if not isinstance(manifests, list):
        raise SkopeoError(gojson.type_error(manifests, "[]v1.Descriptor", "Index.manifests"))
    for m in manifests:
        if m is not None and not isinstance(m, dict):
            raise SkopeoError(gojson.type_error(m, "v1.Descriptor", "Index.manifests"))
    index["manifests"] = [m if m is not None else {} for m in manifests]
    return index


def find_descriptor(index: Index, image: str, source_index: int) -> tuple[Desc, int]:
    """The entry an ``oci:PATH[:REFERENCE|:@N]`` reference designates, and its position."""
    manifests: list[Desc] = index["manifests"]
    if source_index != -1:
        if source_index >= len(manifests):
            raise SkopeoError(f"index {source_index} is too large, only {len(manifests)} entries available")
        return manifests[source_index], source_index
    if image:
        unsupported = []
        for i, desc in enumerate(manifests):
            if ref_name(desc) == image:
                media_type = desc.get("mediaType", "")
                if media_type in READABLE_TYPES:
                    return desc, i
                unsupported.append(json.dumps(media_type))
        if unsupported:
            raise SkopeoError(f'reference "{image}" matches unsupported manifest MIME types [{" ".join(unsupported)}]')
        raise ImageNotFoundError(f'no descriptor found for reference "{image}"')
    if len(manifests) != 1:
        # Upstream's wording, also used for an empty index.
        raise SkopeoError("more than one image in oci, choose an image")
    return manifests[0], 0


def manifest_to_read(index: Index, top: Desc, instance_digest: str | None) -> tuple[str, str, int]:
    """(digest, MIME type or "", size or -1) of the manifest to read: *top*, or
    the instance *instance_digest*, described by index.json when it lists it."""
    desc: Desc | None = top
    if instance_digest is not None:
        desc = next((d for d in index["manifests"] if d.get("digest") == instance_digest), None)
    if desc is None:
        return str(instance_digest), "", -1
    size = desc.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        size = -1
    return str(desc.get("digest", "")), str(desc.get("mediaType") or ""), size


def add_manifest(index: Index, desc: Desc) -> None:
    """Upstream's ``addManifest``: a named entry takes the name away from the first
    older entry carrying it (that entry stays, untagged); then the new entry replaces
    an untagged entry with the same digest (possibly the one just untagged), or is
    appended."""
    manifests: list[Desc] = index["manifests"]
    name = ref_name(desc)
    if name:
        for old in manifests:
            if ref_name(old) == name:
                annotations = old["annotations"]
                del annotations[REF_NAME]
                if not annotations:
                    # Go's omitempty drops an empty annotations map.
                    del old["annotations"]
                break
    for i, old in enumerate(manifests):
        if old.get("digest") == desc["digest"] and not ref_name(old):
            manifests[i] = desc
            return
    manifests.append(desc)
