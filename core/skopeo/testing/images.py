"""Deterministic synthetic images written as OCI layouts, and a validator that
checks any image end to end (every digest, size and diff_id)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
from dataclasses import dataclass

from .. import digest as digest_mod
from .. import manifest as mf
from ..context import SystemContext
from ..golang import gojson


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def random_layer_tar(seed: int, files: int = 3, size: int = 4096) -> bytes:
    """An uncompressed tar with *files* pseudo-random files (deterministic)."""
    rng = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(files):
            data = rng.randbytes(size)
            info = tarfile.TarInfo(f"file-{seed}-{i}")
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


@dataclass
class Written:
    digest: str
    size: int
    media_type: str


class ImageWriter:
    """Builds images (configs, layers, manifests, lists) from blobs; where the
    blobs go is up to the subclass (:class:`OCILayoutWriter`: a layout on disk,
    :class:`skopeo.testing.memory.MemoryImageWriter`: the in-memory transport)."""

    def blob(self, data: bytes, media_type: str = "") -> Written:
        raise NotImplementedError

    def image(
        self,
        layers: list[bytes],
        arch: str = "amd64",
        os_: str = "linux",
        variant: str = "",
        compress: bool = True,
        docker: bool = False,
        labels: dict[str, str] | None = None,
    ) -> Written:
        """Write an image whose layers are the given uncompressed tars."""
        layer_descs = []
        diff_ids = []
        fam = "docker" if docker else "oci"
        for tar in layers:
            diff_ids.append(_sha(tar))
            data = gzip_bytes(tar) if compress else tar
            w = self.blob(data)
            layer_descs.append(mf.Descriptor(mf.layer_media_type(fam, "gzip" if compress else None), w.digest, w.size))
        config: dict[str, object] = {
            "created": "2026-01-02T03:04:05.123456789Z",
            "architecture": arch,
            "os": os_,
        }
        if variant:
            config["variant"] = variant
        config["config"] = {"Env": ["PATH=/bin"], "Labels": labels or {"example": "yes"}}
        config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        config["history"] = [{"created": "2026-01-02T03:04:05Z", "created_by": "test"} for _ in layers]
        cfg = self.blob(gojson.marshal(config))
        cfg_desc = mf.Descriptor(mf.DOCKER_CONFIG if docker else mf.OCI_CONFIG, cfg.digest, cfg.size)
        mime = mf.DOCKER_V2S2 if docker else mf.OCI_MANIFEST
        m = mf.ImageManifest(mime, b"", cfg_desc, layer_descs, {"mediaType": mime})
        raw = m.serialize()
        w = self.blob(raw)
        return Written(w.digest, w.size, m.mime)

    def index(self, images: list[tuple[Written, mf.Platform]], docker: bool = False) -> Written:
        descs = [mf.Descriptor(w.media_type, w.digest, w.size, platform=p) for w, p in images]
        mime = mf.DOCKER_LIST if docker else mf.OCI_INDEX
        lst = mf.ManifestList(mime, b"", descs, {"mediaType": mime})
        raw = lst.serialize()
        w = self.blob(raw)
        return Written(w.digest, w.size, lst.mime)


class OCILayoutWriter(ImageWriter):
    """Writes blobs, manifests and index entries into an OCI layout directory."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        self.index_path = os.path.join(path, "index.json")
        if not os.path.exists(self.index_path):
            self._write_index({"schemaVersion": 2, "manifests": []})

    def _write_index(self, index: dict[str, object]) -> None:
        with open(self.index_path, "wb") as f:
            f.write(gojson.marshal(index))

    def blob(self, data: bytes, media_type: str = "") -> Written:
        d = _sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", d.split(":")[1]), "wb") as f:
            f.write(data)
        return Written(d, len(data), media_type)

    def tag(self, written: Written, name: str | None) -> None:
        with open(self.index_path, "rb") as f:
            index = json.load(f)
        entry: dict[str, object] = {"mediaType": written.media_type, "digest": written.digest, "size": written.size}
        if name is not None:
            entry["annotations"] = {"org.opencontainers.image.ref.name": name}
        index["manifests"].append(entry)
        self._write_index(index)


def make_image(path: str, tag: str, seed: int = 1, layers: int = 2, **kwargs: object) -> Written:
    w = OCILayoutWriter(path)
    img = w.image([random_layer_tar(seed * 100 + i) for i in range(layers)], **kwargs)  # type: ignore[arg-type]
    w.tag(img, tag)
    return img


def write_sample_layout(path: str) -> Written:
    """The kit's sample: an OCI layout at *path* holding one linux/amd64 image
    (two gzip layers of a few files) tagged ``hello``, the same bytes every time."""
    return make_image(path, "hello", seed=42, layers=2, labels={"org.example.sample": "hello"})


def sparse_layer_image(path: str, tag: str, payload: int) -> Written:
    """An image whose one uncompressed layer is a tar of a single file of
    *payload* zero bytes (a multiple of 512), written as a sparse file: a layer of
    hundreds of MB costs no disk I/O, only its digest.  Returns the layer."""
    info = tarfile.TarInfo("zeros")
    info.size = payload
    info.mtime = 0
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    size = len(header) + payload + 2 * tarfile.BLOCKSIZE
    h = hashlib.sha256(header)
    zeros = bytes(1 << 20)
    remaining = size - len(header)
    while remaining:
        n = min(remaining, len(zeros))
        h.update(zeros[:n])
        remaining -= n
    layer = Written("sha256:" + h.hexdigest(), size, mf.layer_media_type("oci", None))
    w = OCILayoutWriter(path)
    with open(os.path.join(path, "blobs", "sha256", layer.digest[7:]), "wb") as f:
        f.write(header)
        f.truncate(size)
    cfg = w.blob(gojson.marshal({"architecture": "amd64", "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": [layer.digest]}}))
    m = mf.ImageManifest(mf.OCI_MANIFEST, b"", mf.Descriptor(mf.OCI_CONFIG, cfg.digest, cfg.size),
                         [mf.Descriptor(layer.media_type, layer.digest, layer.size)], {"mediaType": mf.OCI_MANIFEST})
    raw = m.serialize()
    w.tag(Written(w.blob(raw).digest, len(raw), mf.OCI_MANIFEST), tag)
    return layer


def make_multiarch(path: str, tag: str, docker: bool = False) -> Written:
    w = OCILayoutWriter(path)
    plats = [("amd64", ""), ("arm64", "v8"), ("ppc64le", "")]
    imgs = []
    for i, (arch, variant) in enumerate(plats):
        img = w.image([random_layer_tar(1000 + i)], arch=arch, variant=variant, docker=docker)
        imgs.append((img, mf.Platform(architecture=arch, os="linux", variant=variant)))
    idx = w.index(imgs, docker=docker)
    w.tag(idx, tag)
    return idx


def validate(name: str, check_media_types: bool = True, ctx: SystemContext | None = None) -> list[str]:
    """Check an image through our own transports: every manifest's digest, every
    blob's digest and size, every layer's diff_id and (unless told not to) that
    its media type names its compression; then again with an
    independent reader (:mod:`skopeo.testing.independent`: plain json, hashlib,
    tarfile, httpx) where the transport allows, which must check the same layers.
    *ctx* is the context our transports open the image with.  Returns the
    layer digests checked."""
    checked = _validate_through_our_transports(name, check_media_types, ctx)
    from .independent import read_image

    independent = read_image(name)
    assert independent is None or independent == checked, \
        f"{name}: our transports read layers {checked}, an independent reader {independent}"
    return checked


def _validate_through_our_transports(name: str, check_media_types: bool, ctx: SystemContext | None) -> list[str]:
    from .. import api
    from ..compression import decompressing_reader, detect
    from ..transport import BlobInfo

    checked: list[str] = []
    ref = api.parse(name)
    with ref.new_image_source(ctx or SystemContext()) as src:
        raw, mime = src.get_manifest(None)
        parsed = mf.parse(raw, mime or mf.guess_mime(raw))
        # (instance digest or None, manifest) of each image.
        images: list[tuple[str | None, mf.ImageManifest]] = []
        if isinstance(parsed, mf.ManifestList):
            for d in parsed.instances:
                inst_raw, inst_mime = src.get_manifest(d.digest)
                assert mf.manifest_digest(inst_raw) == d.digest, f"instance {d.digest} digest mismatch"
                assert len(inst_raw) == d.size, f"instance {d.digest} size mismatch"
                inner = mf.parse(inst_raw, inst_mime or mf.guess_mime(inst_raw))
                assert isinstance(inner, mf.ImageManifest)
                images.append((d.digest, inner))
        else:
            images.append((None, parsed))
        for instance, img in images:
            assert img.config is not None
            stream, _ = src.get_blob(BlobInfo(img.config.digest, img.config.size))
            cfg = stream.read()
            stream.close()
            assert _sha(cfg) == img.config.digest and len(cfg) == img.config.size
            diff_ids = json.loads(cfg)["rootfs"]["diff_ids"]
            assert len(diff_ids) == len(img.layers)
            # A source that cannot serve the manifest's blobs (a store keeping
            # layers unpacked) names the ones a reader gets instead.
            layers = src.layer_infos_for_copy(instance)
            if layers is None:
                layers = [BlobInfo(d.digest, d.size, d.media_type) for d in img.layers]
            assert len(layers) == len(img.layers)
            for layer, diff_id in zip(layers, diff_ids, strict=True):
                stream, _ = src.get_blob(layer)
                data = stream.read()
                stream.close()
                assert _sha(data) == layer.digest, f"layer {layer.digest} digest mismatch"
                assert layer.size < 0 or len(data) == layer.size, f"layer {layer.digest} size mismatch"
                algo = detect(data[:8])
                plain = decompressing_reader(io.BytesIO(data), algo).read() if algo else data
                assert _sha(plain) == diff_id, f"layer {layer.digest} diff_id mismatch"
                assert not check_media_types or not layer.media_type or mf.layer_compression(layer.media_type) == algo, \
                    f"layer {layer.digest} media type {layer.media_type} but content {algo}"
                assert layer.digest is not None
                checked.append(layer.digest)
    return checked


__all__ = ["ImageWriter", "OCILayoutWriter", "Written", "digest_mod", "make_image", "make_multiarch", "random_layer_tar", "sparse_layer_image", "validate", "write_sample_layout"]
