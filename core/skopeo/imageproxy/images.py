"""Images the proxy opens: the trust policy checked as upstream's proxy does
(a signed list *or* a signed instance is enough), the instance for this
platform chosen, and the views its methods serve (the manifest as OCI, the
OCI config, the layer list)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import imageconfig, log
from .. import manifest as mf
from ..errors import ImageNotFoundError, ManifestError, PolicyError, SkopeoError
from ..golang import gojson
from ..image import checked_manifest
from ..transport import ImageSource, read_config_blob

if TYPE_CHECKING:
    from ..context import SystemContext
    from ..policy import PolicyContext


class ProxyImage:
    """An open image: its source and the manifest of the chosen instance; the
    config blob is read on first use and kept."""

    def __init__(self, src: ImageSource, raw: bytes, mime: str, manifest: mf.ImageManifest) -> None:
        self.src = src
        self.raw = raw
        self.mime = mime
        self.manifest = manifest
        self._config: bytes | None = None

    def close(self) -> None:
        try:
            self.src.close()
        except SkopeoError as e:  # as upstream: not fatal
            log.warning(f"Failed to close image: {e}")

    # --- GetManifest ---------------------------------------------------------------
    def oci_manifest(self) -> tuple[str, bytes]:
        """(digest of the manifest as stored, the manifest converted to OCI)."""
        if self.mime in mf.SCHEMA1:
            raise ManifestError(f"unsupported legacy manifest MIME type: {self.mime}")
        if self.mime not in (mf.OCI_MANIFEST, mf.DOCKER_V2S2):
            raise ManifestError(f"unsupported manifest MIME type: {self.mime}")
        digest = mf.manifest_digest(self.raw)
        if self.mime == mf.OCI_MANIFEST:
            return digest, self.raw
        # As containers/image converts schema2 to OCI: the config is re-encoded as
        # an OCI config, so the new manifest names a config blob that is stored
        # nowhere (clients read it with GetFullConfig).
        config = gojson.marshal(self.oci_config())
        from ..digest import of_bytes

        config_desc = mf.Descriptor(mf.OCI_CONFIG, of_bytes(config), len(config))
        layers = mf.with_layer_types(self.manifest.layers, "oci")
        return digest, self.manifest.serialize(mf.OCI_MANIFEST, config_desc, layers)

    # --- GetFullConfig / GetConfig -------------------------------------------------
    def oci_config(self) -> dict[str, Any]:
        """The config as an OCI image config (``OCIConfig``)."""
        m = self.manifest
        if m.config is None:  # schema1: derived from the history
            from ..inspect import schema1_config

            return schema1_config(m)
        if self.mime == mf.OCI_MANIFEST and m.config.media_type != mf.OCI_CONFIG:
            if m.config.media_type == mf.DOCKER_CONFIG:
                raise ManifestError(f'invalid mixed OCI image with Docker v2s2 config ("{m.config.media_type}")')
            raise ManifestError(f'unsupported image-specific operation on artifact with type "{m.config.media_type}"')
        if self._config is None:
            self._config = read_config_blob(self.src, m.config)
        return imageconfig.to_oci_config(self._config)

    # --- GetLayerInfo ----------------------------------------------------------------
    def layer_infos(self) -> list[dict[str, Any]]:
        """Digest, size and media type of each layer, as the manifest lists them
        (schema1 knows neither sizes nor media types)."""
        schema1 = self.mime in mf.SCHEMA1
        return [{"digest": d.digest, "size": d.size, "media_type": "" if schema1 else d.media_type}
                for d in self.manifest.layers]


def _policy_error(policy: PolicyContext, src: ImageSource, raw: bytes, instance: str | None) -> PolicyError | None:
    try:
        policy.check(src, raw, instance)
    except PolicyError as e:
        return e
    return None


def open_image(name: str, ctx: SystemContext, policy: PolicyContext, allow_not_found: bool) -> ProxyImage | None:
    """Open *name* for the proxy; None when *allow_not_found* and the image does
    not exist (OpenImageOptional)."""
    from .. import plugins

    ref = plugins.parse_image_name(name)
    try:
        src = ref.new_image_source(ctx)
    except ImageNotFoundError:
        if allow_not_found:
            return None
        raise
    try:
        try:
            raw, mime = checked_manifest(src, None)
        except ImageNotFoundError:
            # Upstream's registry source reads the manifest while it is opened.
            if allow_not_found:
                src.close()
                return None
            raise
        toplevel_error = _policy_error(policy, src, raw, None)
        parsed = mf.parse(raw, mime)
        if isinstance(parsed, mf.ManifestList):
            # The proxy asks the list directly, without the prefix image loading adds.
            instance = parsed.choose_instance(ctx.override_os, ctx.override_arch, ctx.override_variant)
            raw, mime = checked_manifest(src, instance)
            target_error = _policy_error(policy, src, raw, instance)
            # A signed list or a signed instance is enough.
            if target_error is not None and toplevel_error is not None:
                raise target_error
            parsed = mf.parse(raw, mime)
            if isinstance(parsed, mf.ManifestList):
                raise ManifestError("nested manifest lists are not supported")
        elif toplevel_error is not None:
            raise toplevel_error
        return ProxyImage(src, raw, mime, parsed)
    except BaseException:
        src.close()
        raise
