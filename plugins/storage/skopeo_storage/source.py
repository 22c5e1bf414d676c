"""Reading an image from the store (containers/image's ``storage_src.go``).

The manifest, config and signatures are the image's big-data items; layers are
served uncompressed, their tar rebuilt byte for byte from the tar-split record
and the layer's files, so each one's digest is its diffID.  A copy therefore
reads the layers :meth:`StorageSource.layer_infos_for_copy` lists (diffIDs,
uncompressed media types) rather than the compressed blobs the stored manifest
names, as upstream.
"""

from __future__ import annotations

import io
import json
import threading
from typing import TYPE_CHECKING, Any

from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.transport import BlobInfo, BlobStream, ImageSource, SourceCapabilities

from .records import MANIFEST_KEY, Record
from .resolve import manifest_key, resolve_image, signature_key

if TYPE_CHECKING:
    from .transport import StorageReference

_UNCOMPRESSED = {mf.OCI_MANIFEST: (mf.OCI_LAYER, mf.OCI_LAYER_GZIP)}
_DOCKER = (mf.DOCKER_LAYER, mf.DOCKER_LAYER_GZIP)


def _missing(path_hint: str) -> SkopeoError:
    return SkopeoError(f"open {path_hint}: no such file or directory")


class StorageSource(ImageSource):
    capabilities = SourceCapabilities(thread_safe_get_blob=True)
    reference: StorageReference

    def __init__(self, reference: StorageReference, ctx: SystemContext) -> None:
        super().__init__(reference)
        self.store = reference.store
        self.image: Record = resolve_image(reference, ctx)
        self.metadata: dict[str, Any] = {}
        raw = self.image.get("metadata")
        if isinstance(raw, str) and raw:
            try:
                value = json.loads(raw)
            except ValueError as e:
                raise SkopeoError(f"decoding metadata for source image: {e}") from None
            self.metadata = value if isinstance(value, dict) else {}
        self._manifest: tuple[bytes, str] | None = None
        self._lock = threading.Lock()
        self._digest_to_layer: dict[str, str] = {}
        self._position: dict[str, int] = {}

    def _big_data(self, key: str) -> bytes:
        try:
            return self.store.image_big_data(self.image, key)
        except FileNotFoundError:
            images = self.store.images
            raise _missing(images.data_path(self.image["id"], key)) from None

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        if instance_digest is not None:
            try:
                instance = self._big_data(manifest_key(instance_digest))
            except SkopeoError as e:
                raise e.wrap(f'reading manifest for image instance "{instance_digest}"') from None
            return instance, mf.guess_mime(instance)
        if self._manifest is None:
            data: bytes | None = None
            named = self.reference.named
            if named is not None and named.digest is not None:
                try:
                    data = self.store.image_big_data(self.image, manifest_key(named.digest))
                except FileNotFoundError:
                    data = None
            if data is None:
                data = self._big_data(MANIFEST_KEY)
            self._manifest = (data, mf.guess_mime(data))
        return self._manifest

    def layer_infos_for_copy(self, instance_digest: str | None = None) -> list[BlobInfo] | None:
        raw, mime = self.get_manifest(instance_digest)
        if mime in mf.LISTS:
            raise SkopeoError("can't copy layers for a manifest list (shouldn't be attempted)")
        try:
            parsed = mf.parse(raw, mime)
        except SkopeoError as e:
            raise e.wrap(f'parsing image manifest for "{self.image["id"]}"') from None
        assert isinstance(parsed, mf.ImageManifest)
        uncompressed, gzipped = _UNCOMPRESSED.get(mime, _DOCKER if mime in (mf.DOCKER_V2S2, *mf.SCHEMA1) else ("", ""))
        physical: list[BlobInfo] = []
        top = str(self.image.get("layer") or "")
        for layer in reversed(self.store.layer_chain(top)) if top else []:
            diff_id = layer.get("diff-digest")
            if not isinstance(diff_id, str) or not diff_id:
                raise SkopeoError(f'uncompressed digest and TOC digest for layer "{layer["id"]}" is unknown')
            size = layer.get("diff-size")
            with self._lock:
                self._digest_to_layer[diff_id] = layer["id"]
            physical.append(BlobInfo(diff_id, size if isinstance(size, int) and size >= 0 else -1, uncompressed))
        physical.reverse()
        throwaway = _schema1_throwaway(parsed) if mime in mf.SCHEMA1 else [False] * len(parsed.layers)
        out: list[BlobInfo] = []
        next_physical = 0
        for desc, empty in zip(parsed.layers, throwaway, strict=False):
            annotations = {k: v for k, v in (desc.annotations or {}).items() if k not in _CHUNKED_ANNOTATIONS} or None
            if empty:
                from skopeo import schema1

                out.append(BlobInfo(mf.EMPTY_LAYER_DIGEST, len(schema1.GZIPPED_EMPTY_LAYER), gzipped, desc.urls,
                                    annotations))
                continue
            if next_physical >= len(physical):
                raise SkopeoError(f'creating LayerInfosForCopy of image "{self.image["id"]}": '
                                  f"expected more than {len(physical)} physical layers to exist")
            p = physical[next_physical]
            out.append(p._replace(urls=desc.urls, annotations=annotations))
            next_physical += 1
        if next_physical != len(physical):
            raise SkopeoError(f'creating LayerInfosForCopy of image "{self.image["id"]}": '
                              f"used only {next_physical} out of {len(physical)} physical layers")
        return out

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        digest = info.digest
        assert digest is not None
        if digest == mf.EMPTY_LAYER_DIGEST:
            from skopeo import schema1

            return io.BytesIO(schema1.GZIPPED_EMPTY_LAYER), len(schema1.GZIPPED_EMPTY_LAYER)
        with self._lock:
            layer_id = self._digest_to_layer.get(digest)
        layers: list[Record] = []
        if layer_id is not None:
            found = self.store.layer(layer_id)
            if found is not None:
                layers = [found[0]]
        if not layers:
            try:
                layers = self.store.layers_by("diff-digest", digest)
            except SkopeoError:
                layers = []  # upstream ignores this error: the blob may be a big-data item
        if not layers:
            data = self._big_data(digest)
            return io.BytesIO(data), len(data)
        with self._lock:
            position = self._position.get(digest, 0)
            self._position[digest] = position + 1
        layer = layers[position % len(layers)]
        lower_ids = [r["id"] for r in reversed(self.store.layer_chain(str(layer.get("parent") or "")))]
        size = layer.get("diff-size")
        stream = self.store.open_diff(layer, lower_ids)
        return stream, size if isinstance(size, int) and size >= 0 else -1

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        if instance_digest is None:
            sizes = self.metadata.get("signature-sizes") or []
            key, what = "signatures", "default instance"
        else:
            per = self.metadata.get("signatures-sizes") or {}
            sizes = per.get(instance_digest) or [] if isinstance(per, dict) else []
            key, what = signature_key(instance_digest), instance_digest.partition(":")[2]
        if not isinstance(sizes, list) or not sizes:
            return []
        try:
            data = self._big_data(key)
        except SkopeoError as e:
            raise e.wrap(f'looking up signatures data for image "{self.image["id"]}" ({what})') from None
        out: list[bytes] = []
        offset = 0
        for length in sizes:
            if not isinstance(length, int) or offset + length > len(data):
                raise SkopeoError(f'looking up signatures data for image "{self.image["id"]}" ({what}): expected at '
                                  f"least {len(data)} bytes, only found {offset + int(length)}")
            out.append(data[offset:offset + length])
            offset += length
        if offset != len(data):
            raise SkopeoError(f"signatures data ({what}) contained {len(data) - offset} extra bytes")
        return out


# toc.ChunkedAnnotations: dropped when a layer stops being zstd:chunked / estargz.
_CHUNKED_ANNOTATIONS = {
    "io.github.containers.zstd-chunked.manifest-checksum",
    "io.github.containers.zstd-chunked.manifest-position",
    "io.github.containers.zstd-chunked.tarsplit-position",
    "io.github.containers.zstd-chunked.tarsplit-checksum",
    "containerd.io/snapshot/stargz/toc.digest",
}


def _schema1_throwaway(parsed: mf.ImageManifest) -> list[bool]:
    compat = parsed.schema1_v1_compat()
    # history is newest first; layers are base first.
    return [bool(c.get("throwaway")) for c in reversed(compat)] if len(compat) == len(parsed.layers) else \
        [False] * len(parsed.layers)
