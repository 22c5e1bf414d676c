"""Copying one image (a top-level image or an instance of a list): policy,
signatures, config, layers, then the first manifest type the destination
accepts, then new signatures."""

from __future__ import annotations

from dataclasses import replace

from .. import events as ev
from .. import imageconfig
from .. import layertypes as lt
from .. import manifest as mf
from ..errors import ManifestError, ManifestTypeRejectedError, SkopeoError
from ..layertypes import LayerCompressionIncompatibleError
from ..transport import BlobInfo
from ..workers import Future
from .decisions import layers_to_encrypt, manifest_candidates
from .layers import ImageFacts, LayerPipeline, LayerResult
from .manifests import ManifestBuilder
from .options import CopyResult
from .schema1 import converted_from_schema1
from .session import CopySession


class ImageCopier:
    def __init__(self, session: CopySession, layers: LayerPipeline, manifests: ManifestBuilder) -> None:
        self.session = session
        self.layers = layers
        self.manifests = manifests

    def for_session(self, view: CopySession) -> ImageCopier:
        """A copier of its own for *view* (an instance copied beside others);
        :meth:`close` it when done."""
        return ImageCopier(view, LayerPipeline(view), ManifestBuilder(view))

    def close(self) -> None:
        self.manifests.close()

    def copy(self, raw: bytes, mime: str, instance: str | None, toplevel: bool) -> CopyResult:
        """Copy one image; *instance* is its digest in the source's list (if any),
        *toplevel* says whether it becomes the destination's top-level manifest."""
        s = self.session
        if toplevel:
            s.check_policy(raw, instance)
        try:  # parsed before anything is announced, as upstream
            parsed = mf.parse(raw, mime)
        except SkopeoError as e:
            raise e.wrap(f"initializing image from source {s.src.reference}") from None
        sigs = s.signatures(instance, of_list=False)
        may_modify = s.may_modify(sigs)
        if not isinstance(parsed, mf.ImageManifest):
            raise ManifestError("nested manifest lists are not supported")
        # Blobs the source serves instead of the manifest's (see layer_infos_for_copy).
        original_layers = parsed.layers
        parsed = with_layers_for_copy(parsed, s.src.layer_infos_for_copy(instance))
        o = s.options
        encrypted = any(lt.is_encrypted(d.media_type) for d in parsed.layers)
        candidates = manifest_candidates(mime, may_modify, s.dest.capabilities.supported_manifest_types,
                                         o.manifest_type, s.compression_format(),
                                         (encrypted and o.decryption is None) or o.encryption is not None)
        config = self.manifests.fetch_config(parsed)
        config_raw: bytes | None
        if s.dest.capabilities.must_match_runtime_os:
            self._check_os(config.result())
        if mime in mf.SCHEMA1 and candidates[0] not in mf.SCHEMA1:
            config.result()
            if not may_modify:
                raise ManifestError(f"Unsupported manifest type, need a {candidates[0]} manifest")
            parsed, config_raw, layer_results = converted_from_schema1(self.layers, parsed)
        else:
            if s.parallel:
                self.manifests.start_config_upload(parsed, candidates[0], config)
            facts = ImageFacts(parsed.mime, parsed.config.media_type if parsed.config is not None else "",
                               s.cannot_modify_reason(sigs),
                               layers_to_encrypt(o.encrypt_layers if o.encryption is not None else None,
                                                 len(parsed.layers)))
            layer_results = self.layers.copy_layers(parsed.layers, may_modify, facts,
                                                    manifest_types=tuple(candidates))
            for r, orig in zip(layer_results, original_layers, strict=True):
                r.changed = r.changed or r.digest != orig.digest
            config_raw = self._config_after_layers(parsed, config)
        changed_layers = any(r.changed or r.drop_urls for r in layer_results)
        if changed_layers and not may_modify:
            raise SkopeoError(
                "Copying this image would require changing layer representation, which we cannot do: "
                f'"{s.cannot_modify_reason(sigs)}"'
            )
        out, out_mime = self._write_manifest(parsed, candidates, layer_results, config_raw, may_modify, toplevel)
        self._store_signatures(sigs, out, toplevel)
        s.emit(ev.ImageDone(mf.manifest_digest(out), out_mime))
        return CopyResult(out, out_mime)

    def _write_manifest(
        self,
        parsed: mf.ImageManifest,
        candidates: list[str],
        layers: list[LayerResult],
        config_raw: bytes | None,
        may_modify: bool,
        toplevel: bool,
    ) -> tuple[bytes, str]:
        """Each candidate format in turn, as upstream: when the first cannot
        describe the layers' compression, or the destination rejects it, the
        others get a chance (any failure of theirs is listed); any other
        failure of the first is reported as it is."""
        s = self.session
        if toplevel:
            # The blobs are in place: what they taught the cache is written
            # while the manifest is uploaded (an fsync or three otherwise after it).
            s.cache.write_ahead()
        errors: list[str] = []
        for cand in candidates:
            try:
                try:
                    out, out_mime = self.manifests.build(parsed, cand, layers, config_raw, may_modify)
                except ManifestError as e:
                    raise e.wrap("creating an updated image manifest") from None
                s.emit(ev.WritingManifest())
                try:
                    s.dest.put_manifest(out, out_mime, None if toplevel else mf.manifest_digest(out))
                except SkopeoError as e:
                    raise e.wrap("writing manifest") from None
                s.emit(ev.ManifestWritten(mf.manifest_digest(out), out_mime))
            except (ManifestError, ManifestTypeRejectedError) as e:
                if len(candidates) == 1:
                    raise  # no other choice: the error as it is, without MIME types
                if not errors and not isinstance(e, (LayerCompressionIncompatibleError, ManifestTypeRejectedError)):
                    raise
                errors.append(f"{cand}({e})")
                continue
            return out, out_mime
        raise ManifestError(f"Uploading manifest failed, attempted the following formats: {', '.join(errors)}")

    def _store_signatures(self, sigs: list[bytes], manifest: bytes, toplevel: bool) -> None:
        """The source's signatures, then one from each signer over *manifest*."""
        s = self.session
        new_sigs = sigs + s.create_signatures(manifest)
        if new_sigs:
            s.emit(ev.StoringSignatures(len(new_sigs)))
            s.put_signatures(new_sigs, None if toplevel else mf.manifest_digest(manifest))

    def _config_after_layers(self, parsed: mf.ImageManifest, config: Future[bytes | None]) -> bytes | None:
        """The config read in the background; when it could not be read, the
        copy fails as upstream's does there: after announcing the config."""
        try:
            return config.result()
        except SkopeoError:
            if parsed.config is not None:
                self.session.emit(ev.CopyingConfig(parsed.config.digest, parsed.config.size))
            raise

    def _check_os(self, config_raw: bytes | None) -> None:
        if config_raw is None:
            return
        wanted = mf.runtime_platform()[0]
        os_name = imageconfig.to_oci_config(config_raw).get("os", "")
        if os_name and os_name != wanted:
            raise SkopeoError(f'image operating system "{os_name}" cannot be used on "{wanted}"')


def with_layers_for_copy(parsed: mf.ImageManifest, replaced: list[BlobInfo] | None) -> mf.ImageManifest:
    """*parsed* naming the blobs a source serves instead of its manifest's
    layers (``ImageSource.layer_infos_for_copy``), one for one."""
    if replaced is None:
        return parsed
    return replace(parsed, layers=[
        d._replace(digest=i.digest or d.digest, size=i.size, media_type=i.media_type or d.media_type,
                   urls=i.urls, annotations=i.annotations)
        for d, i in zip(parsed.layers, replaced, strict=True)])
