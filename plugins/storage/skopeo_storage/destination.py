"""Writing an image into the store (containers/image's ``storage_dest.go``).

Layers are unpacked as they arrive, in parallel, into staging directories
(overlay; vfs keeps the blob, as each of its layers starts from a copy of its
parent); at commit, once the manifest gives their order, each layer gets its
chain ID (from its diffID, checked against the config), existing layers are
reused, new ones are moved into place under the layer lock, and the image record
is created or updated under the image lock with upstream's big-data items:
``sha256:<config digest>`` (the config), ``manifest-<digest>`` (the manifest, and
the source's list when there is one), ``manifest``, ``signatures`` /
``signature-<hex>``, and the signature sizes in its metadata.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any, BinaryIO

from skopeo import digest as digest_mod
from skopeo import imageconfig, log
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.golang import gojson
from skopeo.golang.gotime import go_time_json
from skopeo.transport import PRESERVE, BlobInfo, BlobStream, DestinationCapabilities, ImageDestination

from .config import is_rootless
from .layerio import LayerData, LayerFormatError, Staging, stage_layer
from .records import MANIFEST_KEY, Record
from .resolve import manifest_key, signature_key
from .store import os_error_text
from .writer import BigData, PlannedLayer, commit_layers, layer_id, opaque_xattr, store_image

if TYPE_CHECKING:
    from .transport import StorageReference


# Layers unpacked at once: one per core.  More only adds contention on the
# filesystem (and the GIL) without more work done.
_UNPACK_SLOTS = threading.BoundedSemaphore(min(6, max(1, os.cpu_count() or 1)))


class StorageDestination(ImageDestination):
    reference: StorageReference
    capabilities = DestinationCapabilities(
        supported_manifest_types=(mf.OCI_MANIFEST, mf.DOCKER_V2S2, mf.DOCKER_V2S1_SIGNED, mf.DOCKER_V2S1),
        desired_layer_compression=PRESERVE,
        thread_safe_put_blob=True,
        signatures_unsupported_reason=None,
        must_match_runtime_os=True,
        accepts_foreign_layer_urls=False,
    )

    def __init__(self, reference: StorageReference, ctx: SystemContext) -> None:
        super().__init__(reference)
        self.store = reference.store
        self.rootless = is_rootless()
        self._lock = threading.Lock()
        self._temp: Staging | None = None
        self._staged: dict[str, LayerData] = {}  # blob digest -> staged layer
        self._reused: dict[str, str] = {}  # blob digest -> diffID of a layer already in the store
        self._config: tuple[str, bytes] | None = None
        self._manifest: bytes | None = None
        self._manifest_digest = ""
        self._signatures: bytes | None = None
        self._signature_sizes: list[int] = []
        self._instance_signatures: dict[str, tuple[bytes, list[int]]] = {}

    def _temp_dir(self) -> Staging:
        with self._lock:
            if self._temp is None:
                self._temp = Staging(self.store.driver.temp_root(), os.path.join(self.store.layers.dir, "tmp"))
            return self._temp

    def existing_manifest_digest(self) -> str | None:
        named = self.reference.named
        if named is None or self.reference.id:
            return None
        image = self.store.image(str(named))
        if image is None:
            return None
        digests = image.get("big-data-digests")
        value = digests.get(MANIFEST_KEY) if isinstance(digests, dict) else None
        return value if isinstance(value, str) else None

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        digest = info.digest
        if digest is None:
            return None
        with self._lock:
            staged = self._staged.get(digest)
        if staged is not None:
            return BlobInfo(digest, staged.compressed_size, info.media_type, info.urls, info.annotations)
        found = self.store.layers_by("diff-digest", digest)
        if found:
            with self._lock:
                self._reused[digest] = digest
            size = found[0].get("diff-size")
            return BlobInfo(digest, size if isinstance(size, int) else -1, info.media_type, info.urls, info.annotations)
        found = self.store.layers_by("compressed-diff-digest", digest)
        if found:
            diff_id = found[0].get("diff-digest")
            if not isinstance(diff_id, str) or not diff_id:
                raise SkopeoError(f'internal error: compressed layer "{found[0]["id"]}" (for compressed digest '
                                  f'"{digest}") does not have an uncompressed digest')
            with self._lock:
                self._reused[digest] = diff_id
            size = found[0].get("compressed-size")
            return BlobInfo(digest, size if isinstance(size, int) else -1, info.media_type, info.urls, info.annotations)
        return None

    def put_blob(self, stream: BlobStream, info: BlobInfo, is_config: bool = False) -> BlobInfo:
        if info.digest is not None:
            digest_mod.validate(info.digest)
        if is_config:
            data = stream.read(mf.MAX_CONFIG_SIZE + 1)
            if len(data) > mf.MAX_CONFIG_SIZE:
                raise SkopeoError("config blob is too large")
            digest = info.digest or digest_mod.of_bytes(data)
            with self._lock:
                if self._config is not None and self._config[0] != digest:
                    raise SkopeoError(f'after config "{self._config[0]}", refusing to record another config "{digest}"')
                self._config = (digest, data)
            return BlobInfo(digest, len(data), info.media_type, info.urls, info.annotations)
        driver = self.store.driver
        started = time.monotonic()
        try:
            with _UNPACK_SLOTS:
                staged = stage_layer(stream, info.digest, self._temp_dir(),
                                     unpack_mode=None if driver.name == "vfs" else driver.unpack_mode,
                                     rootless=self.rootless, ignore_chown_errors=driver.ignore_chown_errors,
                                     opaque_xattr=opaque_xattr(self.rootless))
        except LayerFormatError as e:
            raise SkopeoError(f"applying layer {info.digest or ''}: {e}".replace("layer : ", "layer: ")) from None
        except OSError as e:
            raise SkopeoError(f"storing layer {info.digest or ''}: {os_error_text(e)}") from None
        log.debug(f"staged layer {staged.compressed_digest} ({staged.diff_size} bytes) in "
                  f"{time.monotonic() - started:.3f}s")
        if info.size >= 0 and staged.compressed_size != info.size:
            raise SkopeoError("blob size mismatch")
        with self._lock:
            self._staged[staged.compressed_digest] = staged
        return BlobInfo(staged.compressed_digest, staged.compressed_size, info.media_type, info.urls, info.annotations)

    def put_manifest(self, data: bytes, mime: str, instance_digest: str | None = None) -> None:
        self._manifest = bytes(data)
        self._manifest_digest = mf.manifest_digest(data)

    def put_signatures(self, signatures: list[bytes], instance_digest: str | None = None) -> None:
        blob = b"".join(signatures)
        sizes = [len(s) for s in signatures]
        if instance_digest is None:
            self._signatures, self._signature_sizes = blob, sizes
            if self._manifest is not None:
                instance_digest = self._manifest_digest
        if instance_digest is not None:
            self._instance_signatures[instance_digest] = (blob, sizes)

    # --- commit -----------------------------------------------------------------------
    def commit(self, toplevel_manifest: bytes, toplevel_mime: str) -> None:
        if self._manifest is None:
            raise SkopeoError("Internal error: storageImageDestination.Commit() called without PutManifest()")
        named = self.reference.named
        if named is not None and named.digest is not None:
            if not mf.matches_digest(self._manifest, named.digest) and not mf.matches_digest(toplevel_manifest,
                                                                                              named.digest):
                raise SkopeoError(f"Manifest to be saved does not match expected digest {named.digest}")
        try:
            parsed = mf.parse(self._manifest)
        except SkopeoError as e:
            raise e.wrap("parsing manifest") from None
        assert isinstance(parsed, mf.ImageManifest)
        planned, diff_ids = self._plan(parsed)
        started = time.monotonic()
        if planned:
            commit_layers(self.store, planned, self._temp_dir(), rootless=self.rootless)
        log.debug(f"committed {len(planned)} layers in {time.monotonic() - started:.3f}s")
        top = planned[-1].id if planned else ""
        config = self._config
        if parsed.mime in mf.SCHEMA1:
            compat = [str(h.get("v1Compatibility", "{}")) for h in parsed.obj.get("history") or []]
            config_raw = imageconfig.schema1_to_schema2_config(compat, diff_ids)
            image_id = digest_mod.of_bytes(config_raw).partition(":")[2]
            created_source = config_raw
        else:
            if config is None:
                raise SkopeoError("image config has not been written")
            image_id = config[0].partition(":")[2]
            created_source = config[1]
        image_id = self.reference.id or image_id
        big: list[BigData] = []
        if config is not None:
            big.append(BigData(config[0], config[1], digest_mod.of_bytes(config[1])))
        if toplevel_manifest != self._manifest:
            top_digest = mf.manifest_digest(toplevel_manifest)
            big.append(BigData(manifest_key(top_digest), toplevel_manifest, top_digest))
        big.append(BigData(manifest_key(self._manifest_digest), self._manifest, self._manifest_digest))
        big.append(BigData(MANIFEST_KEY, self._manifest, self._manifest_digest))
        if self._signatures:
            big.append(BigData("signatures", self._signatures, digest_mod.of_bytes(self._signatures)))
        for instance, (blob, _) in self._instance_signatures.items():
            big.append(BigData(signature_key(instance), blob, digest_mod.of_bytes(blob)))
        metadata: dict[str, Any] = {}
        if self._signature_sizes:
            metadata["signature-sizes"] = self._signature_sizes
        if self._instance_signatures:
            metadata["signatures-sizes"] = {k: v[1] for k, v in self._instance_signatures.items()}
        store_image(self.store, image_id, top, _created(created_source), big, gojson.marshal(metadata).decode(),
                    [str(named)] if named is not None else [])

    def _plan(self, parsed: mf.ImageManifest) -> tuple[list[PlannedLayer], list[str]]:
        """The layers in order with their IDs; the diffIDs of the non-empty ones."""
        untrusted: list[str] | None = None
        if parsed.mime not in mf.SCHEMA1 and self._config is not None:
            try:
                untrusted = imageconfig.diff_ids(self._config[1])
            except (SkopeoError, ValueError):
                untrusted = None
        throwaway = [False] * len(parsed.layers)
        if parsed.mime in mf.SCHEMA1:
            compat = parsed.schema1_v1_compat()
            if len(compat) == len(parsed.layers):
                throwaway = [bool(c.get("throwaway")) for c in reversed(compat)]
        planned: list[PlannedLayer] = []
        diff_ids: list[str] = []
        parent = ""
        for index, (desc, empty) in enumerate(zip(parsed.layers, throwaway, strict=True)):
            if empty:
                continue
            staged = self._staged.get(desc.digest)
            diff_id = staged.diff_id if staged is not None else self._reused.get(desc.digest)
            if diff_id is None:
                if self.try_reusing_blob(BlobInfo(desc.digest, desc.size)) is None:
                    raise SkopeoError(f'error determining uncompressed digest for blob "{desc.digest}"')
                diff_id = self._reused[desc.digest]
            if untrusted is not None and any(untrusted):
                if index >= len(untrusted):
                    raise SkopeoError(f"image config has only {len(untrusted)} DiffID values, "
                                      f"but a layer with index {index} exists")
                if diff_id != untrusted[index]:
                    raise SkopeoError(f'layer {index} (blob "{desc.digest}"/""/"{diff_id}") does not match config\'s '
                                      f'DiffID "{untrusted[index]}"')
            new_id = layer_id(parent, diff_id)
            planned.append(PlannedLayer(new_id, parent, diff_id, staged, self._existing_tar(diff_id)))
            diff_ids.append(diff_id)
            parent = new_id
        return planned, diff_ids

    def _existing_tar(self, diff_id: str) -> Any:
        def open_tar() -> BinaryIO:
            layers = self.store.layers_by("diff-digest", diff_id)
            if not layers:
                raise SkopeoError(f'layer for blob ""/""/"{diff_id}" not found')
            layer = layers[0]
            lower = [r["id"] for r in reversed(self.store.layer_chain(str(layer.get("parent") or "")))]
            return self.store.open_diff(layer, lower)

        return open_tar

    def close(self) -> None:
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None


def _created(config_raw: bytes) -> str:
    try:
        value = json.loads(config_raw).get("created")
        return go_time_json(value) if isinstance(value, str) and value else ""
    except (ValueError, AttributeError, SkopeoError):
        return ""


__all__ = ["Record", "StorageDestination"]
