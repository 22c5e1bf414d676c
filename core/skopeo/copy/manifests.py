"""The manifest the destination gets: the source's bytes when nothing
changed, else a converted one (updated layer descriptors and media types,
Docker↔OCI config), with its config blob stored, ahead of time when the
layers are copied in parallel."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, TypeVar

from .. import deadline, imageconfig, workers
from .. import layertypes as lt
from .. import manifest as mf
from ..errors import ManifestError, SkopeoError
from ..events import CopyingConfig
from ..golang import gojson
from ..transport import BlobInfo, read_config_blob
from ..workers import Future
from .layers import LayerResult
from .schema1 import schema1_manifest
from .session import CopySession

T = TypeVar("T")


def target_config(parsed: mf.ImageManifest, target: str, config_raw: bytes) -> tuple[mf.Descriptor, bytes, mf.Descriptor]:
    """For a *target* manifest type: the config blob to store (descriptor and
    bytes) and the descriptor the new manifest names."""
    config = parsed.config
    assert config is not None
    if parsed.mime == target:
        return config, config_raw, config
    if target == mf.DOCKER_V2S2:
        return config, config_raw, config._replace(media_type=mf.DOCKER_CONFIG, annotations=None)
    if target == mf.OCI_MANIFEST:
        from .. import digest as digest_mod

        oci_raw = gojson.marshal(imageconfig.to_oci_config(config_raw))
        oci = mf.Descriptor(mf.OCI_CONFIG, digest_mod.of_bytes(oci_raw), len(oci_raw))
        return oci, oci_raw, oci
    raise ManifestError(f"conversion to {target} is not supported")


def layer_types(parsed: mf.ImageManifest, target: str, layers: list[LayerResult]) -> list[str]:
    """The layer media types of a *target* manifest for the copied *layers*
    (containers/image's conversion, then UpdateLayerInfos when a layer changed)."""
    changed = any(r.changed or r.drop_urls for r in layers)
    config = parsed.config
    return lt.target_layer_types(
        parsed.mime, target, config.media_type if config is not None else "", str(parsed.obj.get("artifactType") or ""),
        [r.source.media_type for r in layers], [r.edit() for r in layers] if changed else None)


def converted_layers(layers: list[LayerResult], types: list[str]) -> list[mf.Descriptor]:
    """The layer descriptors for the copied *layers*, with media types *types*."""
    from ..zstdchunked import ANNOTATIONS as ZSTD_CHUNKED_ANNOTATIONS

    out = []
    for r, media in zip(layers, types, strict=True):
        src_desc = r.source
        if r.changed:
            # Annotations describing the old representation go; the new one's are added.
            annotations = {k: v for k, v in (src_desc.annotations or {}).items() if k not in ZSTD_CHUNKED_ANNOTATIONS
                           and not (r.crypto == lt.DECRYPT and k.startswith(lt.ENC_ANNOTATION_PREFIX))}
            annotations.update(r.annotations or {})
            out.append(src_desc._replace(digest=r.digest, size=r.size, media_type=media, urls=(),
                                         annotations=annotations or None))
        else:
            urls = () if r.drop_urls else src_desc.urls
            out.append(src_desc._replace(media_type=media, urls=urls))
    return out


class ManifestBuilder:
    """Builds manifests and stores their config blobs (one per copy)."""

    def __init__(self, session: CopySession) -> None:
        self.session = session
        # Config blobs being stored ahead of their manifest; each future's
        # result is the digest it stored.
        self._background: list[Future[Any]] = []
        self._config_uploads: list[Future[str]] = []

    def build(
        self,
        parsed: mf.ImageManifest,
        target: str,
        layers: list[LayerResult],
        config_raw: bytes | None,
        may_modify: bool,
    ) -> tuple[bytes, str]:
        changed = any(r.changed or r.drop_urls for r in layers)
        if target == parsed.mime and not changed:
            self.put_config(parsed.config, config_raw)
            return parsed.raw, parsed.mime
        if not may_modify:
            raise ManifestError(f"Unsupported manifest type, need a {target} manifest")
        if parsed.config is None:
            raise ManifestError(f"conversion to {target} is not supported")
        types = layer_types(parsed, target, layers)
        if target in mf.SCHEMA1:
            return schema1_manifest(self.session.dest, parsed, layers, config_raw), target
        new_layers = converted_layers(layers, types)
        assert config_raw is not None
        stored, data, new_config = target_config(parsed, target, config_raw)
        self.put_config(stored, data)
        return parsed.serialize(target, new_config, new_layers), target

    def _submit(self, fn: Callable[[], T]) -> Future[T]:
        future = workers.submit(fn, "config")
        with self.session.lock:
            self._background.append(future)
        return future

    def fetch_config(self, parsed: mf.ImageManifest) -> Future[bytes | None]:
        """The source's config blob, verified.  When layers are copied in
        parallel it is read in the background, as upstream reads it only after
        the layers: a round trip fewer on a registry copy's critical path (its
        error surfaces where the config is first needed).  Otherwise now."""
        config = parsed.config
        src = self.session.src

        def read() -> bytes | None:
            if config is None:
                return None
            try:
                return read_config_blob(src, config)
            except SkopeoError as e:
                raise e.wrap(f"reading config blob {config.digest}") from None

        if config is not None and self.session.parallel:
            return self._submit(read)
        future: Future[bytes | None] = Future()
        try:
            future.set_result(read())
        except SkopeoError as e:
            future.set_exception(e)
        return future

    def start_config_upload(self, parsed: mf.ImageManifest, target: str, config: Future[bytes | None]) -> None:
        """Store the config the first manifest candidate needs while the layers
        are copied, instead of after them (three requests fewer on the critical
        path of a registry copy); :meth:`put_config` reports it at the usual
        point and waits for it."""
        if parsed.config is None or target in mf.SCHEMA1:
            return
        if parsed.mime == mf.OCI_MANIFEST and target != mf.OCI_MANIFEST and parsed.config.media_type != mf.OCI_CONFIG:
            return  # an artifact: the conversion fails before any config is stored

        def upload() -> str:
            try:
                config_raw = config.result()
                assert config_raw is not None
                desc, data, _ = target_config(parsed, target, config_raw)
            except SkopeoError:  # a config that cannot be read or converted: reported when the manifest is built
                return ""
            self._store_config(desc, data)
            return desc.digest

        future = self._submit(upload)
        with self.session.lock:
            self._config_uploads.append(future)

    def put_config(self, desc: mf.Descriptor | None, data: bytes | None) -> None:
        if desc is None or data is None:
            return
        try:  # upstream's semaphore acquisition, the context's check before the config
            deadline.check()
        except SkopeoError as e:
            raise e.wrap("copying config") from None
        self.session.emit(CopyingConfig(desc.digest, desc.size))
        with self.session.lock:
            early, self._config_uploads = self._config_uploads, []
        if desc.digest not in {f.result() for f in early}:
            self._store_config(desc, data)

    def _store_config(self, desc: mf.Descriptor, data: bytes) -> None:
        dest = self.session.dest
        info = BlobInfo(desc.digest, len(data), desc.media_type)
        if dest.try_reusing_blob(info) is not None:
            return
        dest.put_blob(io.BytesIO(data), info, is_config=True)

    def close(self) -> None:
        """Nothing outlives the copy (an early config upload of a failed one)."""
        with self.session.lock:
            background, self._background = self._background, []
        for future in background:
            future.cancel()  # not started yet: never will be
        workers.wait(background)
