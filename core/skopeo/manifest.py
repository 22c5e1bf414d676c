"""Manifest model: Docker schema1 (read), schema2 and manifest list, OCI manifest
and index; MIME detection, digests, instance choice and format conversion.

Manifests are kept as their original bytes plus a parsed view.  Copies that do not
change anything write the original bytes; edits re-serialise in Go's field order so
the result matches what the reference tool would write byte for byte.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import digest as digest_mod
from .errors import ManifestError
from .golang import gojson

# --- media types --------------------------------------------------------------
DOCKER_V2S1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_V2S1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_V2S2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_ND_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_ND_LAYER_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_ND_LAYER_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

SCHEMA1 = (DOCKER_V2S1, DOCKER_V2S1_SIGNED)
LISTS = (DOCKER_LIST, OCI_INDEX)
# The order in which a registry is asked for manifests (upstream's Accept list).
DEFAULT_REQUESTED_TYPES = (
    OCI_MANIFEST, DOCKER_V2S2, DOCKER_V2S1_SIGNED, DOCKER_V2S1, DOCKER_LIST, OCI_INDEX,
)
# Types a destination without preferences accepts, in upstream's fallback order.
ALL_IMAGE_TYPES = (OCI_MANIFEST, DOCKER_V2S2, DOCKER_V2S1_SIGNED, DOCKER_V2S1)

EMPTY_LAYER_DIGEST = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_CONFIG_SIZE = 4 * 1024 * 1024

# Layer media type per (manifest family, compression); None = uncompressed.
_LAYER_TYPES: dict[tuple[str, str | None], str] = {
    ("oci", None): OCI_LAYER, ("oci", "gzip"): OCI_LAYER_GZIP, ("oci", "zstd"): OCI_LAYER_ZSTD,
    ("docker", None): DOCKER_LAYER, ("docker", "gzip"): DOCKER_LAYER_GZIP,
    ("docker", "zstd"): DOCKER_LAYER_ZSTD,
}
_ND_LAYER_TYPES: dict[tuple[str, str | None], str] = {
    ("oci", None): OCI_ND_LAYER, ("oci", "gzip"): OCI_ND_LAYER_GZIP, ("oci", "zstd"): OCI_ND_LAYER_ZSTD,
    ("docker", None): DOCKER_FOREIGN_LAYER, ("docker", "gzip"): DOCKER_FOREIGN_LAYER_GZIP,
}


def layer_compression(media_type: str) -> str | None:
    """Compression implied by a layer media type (``gzip``, ``zstd`` or None)."""
    if media_type.endswith(("+gzip", ".gzip")):
        return "gzip"
    if media_type.endswith(("+zstd", ".zstd")):
        return "zstd"
    return None


def is_foreign_layer(media_type: str) -> bool:
    return media_type.startswith((OCI_ND_LAYER, DOCKER_FOREIGN_LAYER))


def layer_media_type(family: str, compression: str | None, foreign: bool = False) -> str:
    """Media type for a layer of *family* (``oci``/``docker``) with *compression*."""
    table = _ND_LAYER_TYPES if foreign else _LAYER_TYPES
    mt = table.get((family, compression))
    if mt is None:
        raise ManifestError(f"{family} manifests cannot describe {compression}-compressed layers")
    return mt


def family(mime: str) -> str:
    return "oci" if mime in (OCI_MANIFEST, OCI_INDEX) else "docker"


# --- descriptors --------------------------------------------------------------
class Platform(NamedTuple):
    architecture: str = ""
    os: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    variant: str = ""
    features: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Any) -> Platform | None:
        if not isinstance(obj, dict):
            return None
        return cls(
            architecture=str(obj.get("architecture") or ""),
            os=str(obj.get("os") or ""),
            os_version=str(obj.get("os.version") or ""),
            os_features=tuple(obj.get("os.features") or ()),
            variant=str(obj.get("variant") or ""),
            features=tuple(obj.get("features") or ()),
        )

    def to_json(self, docker: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        if docker and self.features:
            out["features"] = list(self.features)
        return out


class Descriptor(NamedTuple):
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    artifact_type: str = ""

    @classmethod
    def from_json(cls, obj: Any, what: str = "descriptor") -> Descriptor:
        if not isinstance(obj, dict):
            raise ManifestError(f"invalid {what}: not an object")
        dg = obj.get("digest")
        size = obj.get("size", -1)
        if not isinstance(dg, str):
            raise ManifestError(f"invalid {what}: missing digest")
        try:
            digest_mod.validate(dg)
        except Exception as e:
            raise ManifestError(f"invalid {what}: {e}") from None
        if not isinstance(size, int) or isinstance(size, bool):
            raise ManifestError(f"invalid {what}: size is not an integer")
        ann = obj.get("annotations")
        return cls(
            media_type=str(obj.get("mediaType") or ""),
            digest=dg,
            size=size,
            urls=tuple(obj.get("urls") or ()),
            annotations=dict(ann) if isinstance(ann, dict) and ann else None,
            platform=Platform.from_json(obj.get("platform")),
            artifact_type=str(obj.get("artifactType") or ""),
        )

    def to_oci_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        if self.platform is not None:
            out["platform"] = self.platform.to_json(docker=False)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    def to_docker_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.platform is not None:
            out["platform"] = self.platform.to_json(docker=True)
        return out


# --- MIME detection and digests ----------------------------------------------
def normalize_mime(content_type: str | None) -> str:
    """A registry's Content-Type as a manifest MIME type (parameters stripped;
    unknown types are treated as signed schema1, as upstream does)."""
    mt = (content_type or "").split(";", 1)[0].strip()
    if mt in (DOCKER_V2S1, DOCKER_V2S1_SIGNED, DOCKER_V2S2, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX):
        return mt
    return DOCKER_V2S1_SIGNED


def guess_mime(data: bytes) -> str:
    """Manifest MIME type from the bytes alone (empty string when not a manifest)."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(obj, dict):
        return ""
    mt = obj.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    version = obj.get("schemaVersion")
    if version == 1:
        return DOCKER_V2S1_SIGNED if "signatures" in obj else DOCKER_V2S1
    if version == 2:
        config = obj.get("config")
        if isinstance(config, dict):
            cmt = config.get("mediaType")
            if cmt == DOCKER_CONFIG:
                return DOCKER_V2S2
            return OCI_MANIFEST
        if obj.get("manifests"):
            return OCI_INDEX
        return OCI_MANIFEST
    return ""


def _b64url(text: str) -> bytes:
    import base64  # only schema1 signatures need it

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def schema1_payload(data: bytes) -> bytes:
    """The JWS payload of a signed schema1 manifest (the bytes its digest covers)."""
    obj = json.loads(data)
    sigs = obj.get("signatures")
    if not sigs:
        return data
    protected = json.loads(_b64url(sigs[0]["protected"]))
    length = protected["formatLength"]
    tail = _b64url(protected["formatTail"])
    return data[:length] + tail


def manifest_digest(data: bytes, algo: str = digest_mod.CANONICAL) -> str:
    """Digest of a manifest: its bytes, or for signed schema1 its JWS payload."""
    if guess_mime(data) == DOCKER_V2S1_SIGNED:
        try:
            data = schema1_payload(data)
        except (KeyError, ValueError, TypeError, IndexError) as e:
            raise ManifestError(f"invalid schema1 signature: {e}") from None
    return digest_mod.of_bytes(data, algo)


def matches_digest(data: bytes, expected: str) -> bool:
    algo = expected.partition(":")[0]
    return manifest_digest(data, algo) == expected


def verify_manifest(data: bytes, digest: str, size: int = -1) -> None:
    """Manifest bytes against the descriptor that named them (a layout's
    index.json, a list's instance): the digest (upstream's wording), then the
    size when the descriptor gives one."""
    if not matches_digest(data, digest):
        raise ManifestError(f"Manifest does not match provided manifest digest {digest}")
    if size >= 0 and len(data) != size:
        raise ManifestError(f"Manifest {digest} has {len(data)} bytes, its descriptor says {size}")


# --- parsed manifests ---------------------------------------------------------
@dataclass(eq=False)
class ImageManifest:
    """A single-image manifest (schema1, schema2 or OCI)."""

    mime: str
    raw: bytes
    config: Descriptor | None  # None for schema1
    layers: list[Descriptor]
    obj: dict[str, Any] = field(repr=False, default_factory=dict)

    def layer_infos(self) -> list[Descriptor]:
        return list(self.layers)

    # schema1 specifics
    def schema1_v1_compat(self) -> list[dict[str, Any]]:
        hist = self.obj.get("history") or []
        out = []
        for h in hist:
            try:
                out.append(json.loads(h.get("v1Compatibility", "{}")))
            except ValueError:
                out.append({})
        return out

    def serialize(self, mime: str | None = None, config: Descriptor | None = None,
                  layers: list[Descriptor] | None = None) -> bytes:
        """Bytes of this manifest with *config*/*layers* replaced, written as *mime*."""
        mime = mime or self.mime
        config = config or self.config
        layers = self.layers if layers is None else layers
        if config is None:
            raise ManifestError("cannot serialise a manifest without a config")
        if mime == OCI_MANIFEST:
            out: dict[str, Any] = {"schemaVersion": 2}
            # An edited OCI manifest keeps the (optional) mediaType only if it had one;
            # conversions from Docker formats always set it.
            if self.mime != OCI_MANIFEST or self.obj.get("mediaType"):
                out["mediaType"] = OCI_MANIFEST
            if self.mime == OCI_MANIFEST and self.obj.get("artifactType"):
                out["artifactType"] = self.obj["artifactType"]
            out["config"] = config.to_oci_json()
            out["layers"] = [d.to_oci_json() for d in layers]
            if self.mime == OCI_MANIFEST:
                if isinstance(self.obj.get("subject"), dict):
                    out["subject"] = Descriptor.from_json(self.obj["subject"]).to_oci_json()
                if self.obj.get("annotations"):
                    out["annotations"] = dict(sorted(self.obj["annotations"].items()))
            return gojson.marshal(out)
        if mime == DOCKER_V2S2:
            out = {"schemaVersion": 2, "mediaType": DOCKER_V2S2, "config": config.to_docker_json(),
                   "layers": [d.to_docker_json() for d in layers]}
            return gojson.marshal(out)
        raise ManifestError(f"Unsupported manifest type {mime!r} for writing")


@dataclass(eq=False)
class ManifestList:
    """A manifest list or OCI index."""

    mime: str
    raw: bytes
    instances: list[Descriptor]
    obj: dict[str, Any] = field(repr=False, default_factory=dict)

    def choose_instance(self, os_: str | None, arch: str | None, variant: str | None) -> str:
        wanted = wanted_platforms(os_, arch, variant)
        for w_os, w_arch, w_variant in wanted:
            for d in self.instances:
                p = d.platform
                if p is None:
                    continue
                if p.os == w_os and p.architecture == w_arch and \
                        _normalized_variant(p.architecture, p.variant) == w_variant:
                    return d.digest
        w_os, w_arch, w_variant = wanted[0]
        where = "image index" if self.mime == OCI_INDEX else "manifest list"
        raise ManifestError(
            f'no image found in {where} for architecture "{w_arch}", '
            f'variant "{w_variant}", OS "{w_os}"'
        )

    def serialize(self, mime: str | None = None, instances: list[Descriptor] | None = None) -> bytes:
        mime = mime or self.mime
        instances = self.instances if instances is None else instances
        if mime == OCI_INDEX:
            out: dict[str, Any] = {"schemaVersion": 2}
            if self.mime != OCI_INDEX or self.obj.get("mediaType"):
                out["mediaType"] = OCI_INDEX
            if self.mime == OCI_INDEX and self.obj.get("artifactType"):
                out["artifactType"] = self.obj["artifactType"]
            out["manifests"] = [d.to_oci_json() for d in instances]
            if self.mime == OCI_INDEX and self.obj.get("annotations"):
                out["annotations"] = dict(sorted(self.obj["annotations"].items()))
            return gojson.marshal(out)
        if mime == DOCKER_LIST:
            return gojson.marshal({"schemaVersion": 2, "mediaType": DOCKER_LIST,
                                   "manifests": [d.to_docker_json() for d in instances]})
        raise ManifestError(f"Unsupported manifest list type {mime!r}")


Manifest = ImageManifest | ManifestList


# The Go type upstream decodes each kind of manifest into; an unknown type (and a
# document too broken to guess one) is decoded as schema1.
_GO_MANIFEST_TYPES = {
    "": "manifest.Schema1", DOCKER_V2S1: "manifest.Schema1", DOCKER_V2S1_SIGNED: "manifest.Schema1",
    DOCKER_V2S2: "manifest.Schema2", OCI_MANIFEST: "manifest.OCI1",
    DOCKER_LIST: "manifest.Schema2List", OCI_INDEX: "manifest.OCI1Index",
}


def _unmarshal_error(mime: str, data: bytes, error: str) -> str:
    """A JSON error as upstream's manifest package reports it: lists quote the document."""
    if mime == OCI_INDEX:
        return f"unmarshaling OCI1Index {gojson.quote(data)}: {error}"
    if mime == DOCKER_LIST:
        return f"unmarshaling Schema2List {gojson.quote(data)}: {error}"
    return error


def parse(data: bytes, mime: str | None = None) -> Manifest:
    """Parse manifest bytes; *mime* is the type the transport reported (guessed if empty)."""
    mime = mime or guess_mime(data)
    try:
        obj = gojson.loads(data)
    except ValueError as e:
        raise ManifestError(_unmarshal_error(mime, data, str(e))) from None
    if not isinstance(obj, dict):
        go_type = _GO_MANIFEST_TYPES.get(mime)
        if go_type is None or obj is None:
            raise ManifestError("invalid manifest: not a JSON object")
        raise ManifestError(_unmarshal_error(mime, data, gojson.type_error(obj, go_type)))
    if mime in LISTS:
        mans = obj.get("manifests")
        if not isinstance(mans, list):
            raise ManifestError("invalid manifest list: manifests is not an array")
        return ManifestList(mime, data, [Descriptor.from_json(m, "manifest list entry") for m in mans], obj)
    if mime in SCHEMA1:
        fs = obj.get("fsLayers")
        if not isinstance(fs, list):
            raise ManifestError("invalid schema1 manifest: fsLayers is not an array")
        layers = []
        for entry in reversed(fs):
            blob = entry.get("blobSum") if isinstance(entry, dict) else None
            if not isinstance(blob, str):
                raise ManifestError("invalid schema1 manifest: fsLayers entry without blobSum")
            digest_mod.validate(blob)
            layers.append(Descriptor(DOCKER_LAYER_GZIP, blob, -1))
        return ImageManifest(mime, data, None, layers, obj)
    if mime in (OCI_MANIFEST, DOCKER_V2S2):
        cfg = obj.get("config")
        lys = obj.get("layers")
        if lys is None:
            lys = []
        if not isinstance(lys, list):
            raise ManifestError("invalid manifest: layers is not an array")
        return ImageManifest(mime, data, Descriptor.from_json(cfg, "config descriptor"),
                             [Descriptor.from_json(lay, "layer descriptor") for lay in lys], obj)
    raise ManifestError(f"Unimplemented manifest MIME type {mime!r}")


# --- platforms ----------------------------------------------------------------
_ARCH_FROM_MACHINE = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
    "riscv64": "riscv64", "armv7l": "arm", "armv6l": "arm", "mips64": "mips64",
}
# Known variants of an architecture, most capable (most restrictive) first.
_VARIANT_COMPATIBILITY = {"amd64": ("v4", "v3", "v2"), "arm": ("v8", "v7", "v6", "v5"), "arm64": ("v8",)}


def runtime_platform() -> tuple[str, str, str]:
    """(os, architecture, variant) of this machine in Go/OCI spelling."""
    os_name = "linux" if sys.platform.startswith("linux") else sys.platform
    machine = os.uname().machine.lower()
    arch = _ARCH_FROM_MACHINE.get(machine, machine)
    variant = ""
    if machine.startswith("armv") and machine[4:5].isdigit():
        variant = "v" + machine[4]
    return os_name, arch, variant


def wanted_platforms(os_: str | None, arch: str | None, variant: str | None) -> list[tuple[str, str, str]]:
    """Candidate (os, arch, variant) triples in preference order, as upstream's
    WantedPlatforms: a requested variant, then the less capable ones of its
    architecture, then no variant; without one, no variant first and then the
    architecture's known variants (not amd64's, which are never guessed)."""
    r_os, r_arch, r_variant = runtime_platform()
    w_os = os_ or r_os
    w_arch = arch or r_arch
    w_variant = variant or (r_variant if not arch else "")
    w_variant = _normalized_variant(w_arch, w_variant)
    order = _VARIANT_COMPATIBILITY.get(w_arch, ())
    if w_variant:
        variants = list(order[order.index(w_variant):]) if w_variant in order else [w_variant]
        variants.append("")
    else:
        variants = [""] + (list(order) if w_arch != "amd64" else [])
    return [(w_os, w_arch, v) for v in variants]


def _normalized_variant(arch: str, variant: str) -> str:
    """amd64's "v1" is the baseline: the same as no variant."""
    return "" if arch == "amd64" and variant == "v1" else variant


# --- conversion ---------------------------------------------------------------
def convert_layer_type(media_type: str, to_family: str) -> str:
    """Layer media type in the other manifest family."""
    if family_of_layer(media_type) == to_family:
        return media_type
    comp = layer_compression(media_type)
    if to_family == "docker" and comp == "zstd":
        raise ManifestError(zstd_in_docker_error(media_type))
    return layer_media_type(to_family, comp, is_foreign_layer(media_type))


def zstd_in_docker_error(media_type: str) -> str:
    """Upstream's text for a zstd layer a Docker manifest cannot describe."""
    return f'Error during manifest conversion: "{media_type}": zstd compression is not supported for docker images'


def family_of_layer(media_type: str) -> str:
    return "oci" if media_type.startswith("application/vnd.oci.") else "docker"


def with_layer_types(layers: list[Descriptor], to_family: str) -> list[Descriptor]:
    return [d._replace(media_type=convert_layer_type(d.media_type, to_family)) for d in layers]
