"""The transport conformance suite: what every transport must do, as a test
class a plugin's tests subclass with their own reference factory.

    from skopeo.testing.conformance import TransportConformance

    class TestZipConformance(TransportConformance):
        transport = "zip"
        bad_names = ("",)                      # refused by parse_reference

        @pytest.fixture
        def new_image_name(self, tmp_path):    # a fresh name, nothing there yet
            names = itertools.count()
            return lambda: f"zip:{tmp_path}/image-{next(names)}.zip"

The suite checks the transport against the contract of
:mod:`skopeo.transport` and against its own declarations:

* round trips of single images (OCI and Docker schema 2) and of lists
  (``--all``) through the real copy engine, with digests preserved when the
  declared capabilities say nothing must change, and converted to a declared
  manifest type when not; every image read back passes
  :func:`skopeo.testing.images.validate`;
* concurrent ``put_blob`` (and ``get_blob``) when the transport says they are
  thread-safe;
* capabilities that tell the truth: lists accepted or refused as
  ``supported_manifest_types`` says, signatures stored or refused with
  ``signatures_unsupported_reason``, ``must_match_runtime_os``,
  ``Transport.deletes_images`` and ``Transport.lists_tags``;
* errors: bad names refused by ``parse_reference`` with
  ``InvalidReferenceError``, a missing image with ``missing_image_error``;
* deletion where the transport says it deletes.

Source images come from the in-memory transport (:mod:`skopeo.testing.memory`),
which the suite registers beside the installed plugins, so the suite needs no
other plugin.  A read-only transport sets ``writable = False`` and provides
``existing_image`` (an image it can read) and ``missing_image`` instead of
``new_image_name``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from .. import manifest as mf
from ..context import SystemContext
from ..errors import ImageNotFoundError, InvalidReferenceError, SkopeoError, UnsupportedError
from ..transport import (
    COMPRESS,
    DECOMPRESS,
    BlobInfo,
    DestinationCapabilities,
    ImageDestination,
    ImageReference,
    SourceCapabilities,
    Transport,
)
from . import memory
from .images import Written, random_layer_tar, validate

OCI = "oci"
DOCKER = "docker"
_PLATFORMS = (("amd64", ""), ("arm64", "v8"))
_names = itertools.count()


def _memory_name(what: str) -> str:
    return f"conformance/{what}-{next(_names)}-{uuid.uuid4().hex[:8]}"


def source_image(fmt: str = OCI, layers: int = 2, seed: int = 1, os_: str = "linux",
                 signatures: list[bytes] | None = None, compress: bool = True) -> str:
    """A ``memory:`` image in *fmt* (``oci`` or ``docker``) with gzip (or uncompressed) layers."""
    w = memory.MemoryImageWriter()
    img = w.image([random_layer_tar(seed * 100 + i) for i in range(layers)], os_=os_, docker=fmt == DOCKER,
                  compress=compress)
    name = w.tag(img, _memory_name("image"))
    if signatures:
        memory.STORE.image(name.split(":", 1)[1]).signatures[None] = list(signatures)
    return name


def source_list(fmt: str = OCI) -> str:
    """A ``memory:`` list (OCI index or Docker manifest list) of two linux images."""
    w = memory.MemoryImageWriter()
    instances: list[tuple[Written, mf.Platform]] = []
    for i, (arch, variant) in enumerate(_PLATFORMS):
        img = w.image([random_layer_tar(5000 + i)], arch=arch, variant=variant, docker=fmt == DOCKER)
        instances.append((img, mf.Platform(architecture=arch, os="linux", variant=variant)))
    return w.tag(w.index(instances, docker=fmt == DOCKER), _memory_name("list"))


def _policy() -> Any:
    from ..policy import Policy, PolicyContext

    return PolicyContext(Policy.accept_anything())


def _mime_of(fmt: str, is_list: bool) -> str:
    if is_list:
        return mf.OCI_INDEX if fmt == OCI else mf.DOCKER_LIST
    return mf.OCI_MANIFEST if fmt == OCI else mf.DOCKER_V2S2


def _sha256(data: bytes) -> str:
    return mf.manifest_digest(data)


class TransportConformance:
    """Subclass with ``transport``, ``bad_names`` and the ``new_image_name``
    fixture (or, for a read-only transport, ``writable = False`` and the
    ``existing_image`` and ``missing_image`` fixtures).  Override the ``context`` fixture when the
    transport needs settings (a registries.d for signatures, a daemon host)."""

    # The transport's name, as in "name:reference".
    transport: ClassVar[str]
    # Texts after "name:" that parse_reference must refuse (InvalidReferenceError).
    bad_names: ClassVar[tuple[str, ...]] = ()
    # False for transports that can only be read (their destinations refuse).
    writable: ClassVar[bool] = True
    # What opening a source for a name holding no image raises.
    missing_image_error: ClassVar[type[SkopeoError]] = ImageNotFoundError
    # False where the source's manifests describe layers in another compression
    # than their content (upstream's docker-archive: every layer "tar.gzip").
    layer_media_types_match_content: ClassVar[bool] = True
    # False where each opening of a source builds its manifest anew, with
    # other bytes (upstream's sif: a layer tar made at every open).
    stable_manifests: ClassVar[bool] = True
    # False where a source presents other manifests than were written
    # (upstream's ostree: layers named by the uncompressed digests it can
    # rebuild, their media types kept).
    manifests_read_as_written: ClassVar[bool] = True
    # Plugin modules to register in-process besides the installed plugins
    # (for a transport that is not installed through an entry point).
    plugin_modules: ClassVar[tuple[object, ...]] = ()

    # --- what the subclass provides -----------------------------------------------------------

    @pytest.fixture
    def new_image_name(self) -> Callable[[], str]:
        """A callable giving a fresh image name in the transport (nothing is
        there yet) at each call.  Writable transports must override this."""
        if not self.writable:
            pytest.skip(f"not applicable: {self.transport}: is read-only")
        raise NotImplementedError(f"{type(self).__name__} must define the new_image_name fixture")

    @pytest.fixture
    def context(self) -> SystemContext:
        """The context both ends of the transport are opened with."""
        return SystemContext()

    @pytest.fixture
    def existing_image(self, new_image_name: Callable[[], str], context: SystemContext) -> str:
        """The name of an image the transport holds.  By default a two-layer
        image copied in; read-only transports build their own."""
        return self._copy_in(source_image(self._accepted_format(context)), new_image_name(), context)

    @pytest.fixture
    def missing_image(self, new_image_name: Callable[[], str]) -> str:
        """A name where no image is (by default a fresh name)."""
        return new_image_name()

    # --- set-up -----------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _memory_and_plugins(self) -> Iterator[None]:
        from .. import plugins

        with memory.enabled():
            pm = plugins.manager()
            for module in self.plugin_modules:
                if not pm.is_registered(module):
                    pm.register(module)
            plugins.set_manager(pm)
            yield

    # --- helpers ----------------------------------------------------------------------------

    def _transport(self) -> Transport:
        from .. import plugins

        return plugins.get_transport(self.transport)

    def _dest_capabilities(self, name: str, context: SystemContext) -> DestinationCapabilities:
        from .. import api

        with api.parse(name).new_image_destination(context) as dest:
            return dest.capabilities

    def _probe_capabilities(self, new_image_name: Callable[[], str], context: SystemContext) -> DestinationCapabilities:
        return self._dest_capabilities(new_image_name(), context)

    def _accepted_format(self, context: SystemContext, caps: DestinationCapabilities | None = None) -> str:
        if caps is None or caps.supported_manifest_types is None:
            return OCI
        return OCI if mf.OCI_MANIFEST in caps.supported_manifest_types else DOCKER

    def _options(self, context: SystemContext, **kwargs: Any) -> Any:
        from ..copy import CopyOptions

        return CopyOptions(source_ctx=SystemContext(), dest_ctx=context, **kwargs)

    def _copy_in(self, src: str, dest: str, context: SystemContext, **kwargs: Any) -> str:
        from .. import api

        api.copy(src, dest, options=self._options(context, **kwargs), policy=_policy())
        return dest

    def _read(self, name: str, context: SystemContext, instance: str | None = None) -> tuple[bytes, str]:
        from .. import api

        with api.parse(name).new_image_source(context) as src:
            raw, mime = src.get_manifest(instance)
        return raw, mime or mf.guess_mime(raw)

    def _config(self, name: str, context: SystemContext, manifest: bytes, mime: str) -> dict[str, Any]:
        from .. import api
        from ..transport import read_config_blob

        parsed = mf.parse(manifest, mime)
        assert isinstance(parsed, mf.ImageManifest) and parsed.config is not None
        with api.parse(name).new_image_source(context) as src:
            return dict(json.loads(read_config_blob(src, parsed.config)))

    def _copy_out(self, name: str, context: SystemContext, **kwargs: Any) -> tuple[str, bytes]:
        """Copy *name* to a fresh ``memory:`` image; its (name, manifest)."""
        from .. import api
        from ..copy import CopyOptions

        out = f"memory:{_memory_name('out')}"
        result = api.copy(name, out, options=CopyOptions(source_ctx=context, **kwargs), policy=_policy())
        raw = memory.STORE.image(out.split(":", 1)[1]).manifest
        assert result.digest == _sha256(raw), f"the copy reported {result.digest}, wrote {_sha256(raw)}"
        return out, raw

    def _check_read_back(self, name: str, context: SystemContext, raw: bytes, out: str, back: bytes) -> None:
        """A copy out of *name* (manifest *raw*) wrote *back* to *out*: the same
        manifest, unless the source serves other blobs than its manifest names
        (``layer_infos_for_copy``), when the copy must rewrite it, keeping the
        layers' content."""
        from ..api import parse

        with parse(name).new_image_source(context) as src:
            physical = src.layer_infos_for_copy(None)
        if physical is None:
            assert back == raw, f"{name}: a copy out changed the manifest read"
            return
        back_config = self._config(out, SystemContext(), back, mf.guess_mime(back))
        config = self._config(name, context, raw, mf.guess_mime(raw))
        assert back_config["rootfs"]["diff_ids"] == config["rootfs"]["diff_ids"]

    def _require_writable(self) -> None:
        if not self.writable:
            pytest.skip(f"not applicable: {self.transport}: is read-only")

    # --- names ------------------------------------------------------------------------------

    def test_bad_names_are_refused(self) -> None:
        from .. import api

        assert self.bad_names, f"{type(self).__name__}.bad_names must list names {self.transport}: refuses"
        for text in self.bad_names:
            with pytest.raises(InvalidReferenceError):
                api.parse(f"{self.transport}:{text}")

    def test_reference_round_trips_through_its_string(self, existing_image: str) -> None:
        from .. import api

        ref = api.parse(existing_image)
        again = api.parse(str(ref))
        assert str(again) == str(ref)
        assert again.policy_configuration_identity() == ref.policy_configuration_identity()

    def test_missing_image(self, missing_image: str, context: SystemContext) -> None:
        from .. import api

        with pytest.raises(self.missing_image_error), api.parse(missing_image).new_image_source(context) as src:
            src.get_manifest(None)

    # --- round trips ------------------------------------------------------------------------

    def test_existing_image_reads_back(self, existing_image: str, context: SystemContext) -> None:
        raw, _ = self._read(existing_image, context)
        validate(existing_image, self.layer_media_types_match_content, context)
        out, back = self._copy_out(existing_image, context)
        if self.stable_manifests:
            self._check_read_back(existing_image, context, raw, out, back)
        validate(out, self.layer_media_types_match_content)

    @pytest.mark.parametrize("fmt", [OCI, DOCKER])
    def test_image_round_trip(self, fmt: str, new_image_name: Callable[[], str], context: SystemContext) -> None:
        self._require_writable()
        name = new_image_name()
        caps = self._dest_capabilities(name, context)
        src = source_image(fmt)
        src_raw, src_mime = self._read(src, SystemContext())
        self._copy_in(src, name, context)
        raw, mime = self._read(name, context)
        accepted = caps.supported_manifest_types is None or src_mime in caps.supported_manifest_types
        if accepted and caps.desired_layer_compression != DECOMPRESS and self.manifests_read_as_written:
            assert raw == src_raw, f"{name}: the manifest changed although {self.transport}: accepts {src_mime}"
        elif caps.supported_manifest_types is not None:
            assert mime in caps.supported_manifest_types, f"{name}: stored as {mime}, not a declared type"
        # The layers' content is the same whatever the conversions.
        src_config = self._config(src, SystemContext(), src_raw, src_mime)
        config = self._config(name, context, raw, mime)
        assert config["rootfs"]["diff_ids"] == src_config["rootfs"]["diff_ids"]
        validate(name, self.layer_media_types_match_content, context)
        out, back = self._copy_out(name, context)
        self._check_read_back(name, context, raw, out, back)

    def test_list_round_trip(self, new_image_name: Callable[[], str], context: SystemContext) -> None:
        from ..copy import MULTI_ARCH_ALL

        self._require_writable()
        name = new_image_name()
        caps = self._dest_capabilities(name, context)
        types = caps.supported_manifest_types
        list_types = None if types is None else [t for t in types if t in (mf.OCI_INDEX, mf.DOCKER_LIST)]
        fmt = OCI if list_types is None or mf.OCI_INDEX in list_types else DOCKER
        src = source_list(fmt)
        src_raw, _ = self._read(src, SystemContext())
        if list_types == []:
            with pytest.raises(SkopeoError, match="does not support copying multiple images as a group"):
                self._copy_in(src, name, context, multi_arch=MULTI_ARCH_ALL)
            return
        self._copy_in(src, name, context, multi_arch=MULTI_ARCH_ALL)
        raw, mime = self._read(name, context)
        if caps.desired_layer_compression != DECOMPRESS and self.manifests_read_as_written:
            assert raw == src_raw, f"{name}: the list changed although {self.transport}: accepts it"
        assert mime in (mf.OCI_INDEX, mf.DOCKER_LIST)
        parsed = mf.parse(raw, mime)
        assert isinstance(parsed, mf.ManifestList) and len(parsed.instances) == len(_PLATFORMS)
        for desc in parsed.instances:
            inst_raw, _ = self._read(name, context, desc.digest)
            assert _sha256(inst_raw) == desc.digest
        validate(name, self.layer_media_types_match_content, context)
        out, back = self._copy_out(name, context, multi_arch=MULTI_ARCH_ALL)
        self._check_read_back(name, context, raw, out, back)

    # --- concurrency ------------------------------------------------------------------------

    def test_concurrent_put_blob(self, new_image_name: Callable[[], str], context: SystemContext) -> None:
        self._require_writable()
        name = new_image_name()
        caps = self._dest_capabilities(name, context)
        if not caps.thread_safe_put_blob:
            pytest.skip(f"not applicable: {self.transport}: says put_blob is not thread-safe")
        # Layers in the compression and format the destination wants, so it
        # stores them as they are.
        from .images import gzip_bytes

        fmt = self._accepted_format(context, caps)
        compress = caps.desired_layer_compression != DECOMPRESS
        tars = [random_layer_tar(9000 + i, files=2, size=64 << 10) for i in range(8)]
        blobs = [gzip_bytes(t) if compress else t for t in tars]
        layer_type = mf.layer_media_type(fmt, "gzip" if compress else None)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [_sha256(t) for t in tars]}}).encode()
        from ..api import parse

        barrier = threading.Barrier(len(blobs))

        class Trickle:
            """A stream that hands out small pieces, so the writers interleave."""

            def __init__(self, data: bytes) -> None:
                self.data, self.pos = data, 0

            def read(self, n: int = -1) -> bytes:
                if self.pos == 0:
                    # Start together where the destination lets the calls
                    # overlap (thread-safe may also mean serialised inside).
                    with contextlib.suppress(threading.BrokenBarrierError):
                        barrier.wait(timeout=2)
                n = 4096 if n < 0 else min(n, 4096)
                piece = self.data[self.pos:self.pos + n]
                self.pos += len(piece)
                return piece

            def close(self) -> None:
                pass

        with parse(name).new_image_destination(context) as dest:
            def put(blob: bytes) -> BlobInfo:
                return dest.put_blob(Trickle(blob), BlobInfo(_sha256(blob), len(blob), layer_type))

            with ThreadPoolExecutor(len(blobs)) as pool:
                stored = list(pool.map(put, blobs))
            assert [s.digest for s in stored] == [_sha256(b) for b in blobs]
            cfg = dest.put_blob(io.BytesIO(config), BlobInfo(_sha256(config), len(config)), is_config=True)
            manifest = _manifest(fmt, BlobInfo(cfg.digest, len(config)), [(layer_type, b) for b in blobs])
            dest.put_manifest(manifest, _mime_of(fmt, False), None)
            dest.commit(manifest, _mime_of(fmt, False))
        raw, _ = self._read(name, context)
        if caps.desired_layer_compression != DECOMPRESS:
            assert raw == manifest
        validate(name, self.layer_media_types_match_content, context)

    def test_concurrent_get_blob(self, existing_image: str, context: SystemContext) -> None:
        from ..api import parse
        from ..digest import VerifyingReader

        with parse(existing_image).new_image_source(context) as src:
            caps: SourceCapabilities = src.capabilities
            if not caps.thread_safe_get_blob:
                pytest.skip(f"not applicable: {self.transport}: says get_blob is not thread-safe")
            raw, mime = src.get_manifest(None)
            parsed = mf.parse(raw, mime or mf.guess_mime(raw))
            instance = None
            if isinstance(parsed, mf.ManifestList):
                instance = parsed.instances[0].digest
                raw, mime = src.get_manifest(instance)
                parsed = mf.parse(raw, mime or mf.guess_mime(raw))
            assert isinstance(parsed, mf.ImageManifest) and parsed.config is not None
            layers = src.layer_infos_for_copy(instance)
            if layers is None:
                layers = [BlobInfo(d.digest, d.size, d.media_type) for d in parsed.layers]
            config = parsed.config
            descs = [BlobInfo(config.digest, config.size, config.media_type), *layers] * 4

            def read(desc: BlobInfo) -> str | None:
                assert desc.digest is not None
                stream, _ = src.get_blob(desc)
                try:
                    reader = VerifyingReader(stream, desc.digest, desc.size)
                    while reader.read(8192):
                        pass
                finally:
                    stream.close()
                return desc.digest

            with ThreadPoolExecutor(8) as pool:
                assert list(pool.map(read, descs)) == [d.digest for d in descs]

    # --- capabilities that tell the truth --------------------------------------------------

    def test_signatures_stored_or_refused(self, new_image_name: Callable[[], str], context: SystemContext) -> None:
        self._require_writable()
        name = new_image_name()
        caps = self._dest_capabilities(name, context)
        fmt = self._accepted_format(context, caps)
        # Opaque simple-signing blobs (an OpenPGP packet's first byte).
        signatures = [b"\xa3conformance signature 1", b"\xa3conformance signature 2"]
        # Layers the destination keeps as they are: signatures forbid changes.
        src = source_image(fmt, signatures=signatures, compress=caps.desired_layer_compression == COMPRESS)
        reason = caps.signatures_unsupported_reason
        if reason is not None:
            with pytest.raises(UnsupportedError) as err:
                self._copy_in(src, name, context)
            assert reason in err.value.message
            return
        self._copy_in(src, name, context)
        from ..api import parse

        with parse(name).new_image_source(context) as s:
            assert s.get_signatures(None) == signatures

    def test_runtime_os(self, new_image_name: Callable[[], str], context: SystemContext) -> None:
        self._require_writable()
        name = new_image_name()
        caps = self._dest_capabilities(name, context)
        src = source_image(self._accepted_format(context, caps), os_="plan9")
        if caps.must_match_runtime_os:
            with pytest.raises(SkopeoError):
                self._copy_in(src, name, context)
        else:
            self._copy_in(src, name, context)
            validate(name, self.layer_media_types_match_content, context)

    def test_delete(self, existing_image: str, context: SystemContext) -> None:
        from ..api import parse

        ref = parse(existing_image)
        if not self._transport().deletes_images:
            with pytest.raises(UnsupportedError):
                ref.delete_image(context)
            self._read(existing_image, context)  # still there
            return
        ref.delete_image(context)
        with pytest.raises(SkopeoError), parse(existing_image).new_image_source(context) as src:
            src.get_manifest(None)

    def tag_listing_name(self, image: str) -> str:
        """The name ``list-tags`` takes for the repository holding *image*
        (for a registry: without the tag)."""
        return image

    def test_list_tags(self, existing_image: str, context: SystemContext) -> None:
        ref: ImageReference = _parse(self.tag_listing_name(existing_image))
        if not self._transport().lists_tags:
            with pytest.raises(UnsupportedError):
                ref.list_tags(context)
            return
        _, tags = ref.list_tags(context)
        assert isinstance(tags, list)

    def test_read_only_refuses_destinations(self, context: SystemContext, existing_image: str) -> None:
        if self.writable:
            pytest.skip(f"not applicable: {self.transport}: is writable")
        with pytest.raises(SkopeoError):
            dest: ImageDestination = _parse(existing_image).new_image_destination(context)
            dest.close()


def _parse(name: str) -> ImageReference:
    from ..api import parse

    return parse(name)


def _manifest(fmt: str, config: BlobInfo, layers: list[tuple[str, bytes]]) -> bytes:
    assert config.digest is not None
    mime = _mime_of(fmt, False)
    cfg = mf.Descriptor(mf.OCI_CONFIG if fmt == OCI else mf.DOCKER_CONFIG, config.digest, config.size)
    descs = [mf.Descriptor(t, _sha256(b), len(b)) for t, b in layers]
    return mf.ImageManifest(mime, b"", cfg, descs, {"mediaType": mime}).serialize()


__all__ = ["DOCKER", "OCI", "TransportConformance", "source_image", "source_list"]
