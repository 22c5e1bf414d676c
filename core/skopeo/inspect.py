"""``skopeo inspect``: the output object, its field order and value rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import imageconfig
from . import manifest as mf
from .errors import SkopeoError
from .golang.gotime import GoTime
from .image import checked_manifest, from_manifest
from .transport import ImageSource, read_config_blob


@dataclass(eq=False)
class ResolvedImage:
    """The top-level manifest plus the single image chosen from it."""

    toplevel_raw: bytes
    toplevel_mime: str
    manifest: mf.ImageManifest
    config_raw: bytes | None


def resolve(
    src: ImageSource, os_: str | None, arch: str | None, variant: str | None, config_context: str = ""
) -> ResolvedImage:
    """The image chosen for the platform, with its config.  *config_context*
    prefixes an error reading the config (each inspect mode words it its own way)."""
    try:
        raw, mime = checked_manifest(src, None)
    except SkopeoError as e:
        raise e.wrap("Error retrieving manifest for image") from None
    try:
        parsed_image = from_manifest(src, raw, mime, os_, arch, variant).manifest
    except SkopeoError as e:
        raise e.wrap("Error parsing manifest for image") from None
    config_raw = None
    if parsed_image.config is not None:
        try:
            config_raw = read_config_blob(src, parsed_image.config)
        except SkopeoError as e:
            if not config_context:
                raise
            raise e.wrap(config_context) from None
    return ResolvedImage(raw, mime, parsed_image, config_raw)


def oci_config(image: ResolvedImage) -> dict[str, Any]:
    """The config as an OCI image structure (``inspect --config``)."""
    try:
        if image.config_raw is not None:
            return imageconfig.to_oci_config(image.config_raw)
        return schema1_config(image.manifest)
    except SkopeoError as e:
        raise e.wrap("Error reading OCI-formatted configuration data") from None


def schema1_config(m: mf.ImageManifest) -> dict[str, Any]:
    """A schema1 image's config as upstream derives it: converted to schema2
    with its history, each non-empty layer's diff_id unknown ("")."""
    compat_raw = [str(h.get("v1Compatibility", "{}")) for h in m.obj.get("history") or []]
    layers = sum(1 for c in m.schema1_v1_compat() if not c.get("throwaway"))
    return imageconfig.to_oci_config(imageconfig.schema1_to_schema2_config(compat_raw, [""] * layers))


def output_digest(image: ResolvedImage, algorithm: str | None = None) -> str:
    """The inspect Digest: the manifest digest with *algorithm* (``--manifest-digest``),
    by default with the algorithm of the config's digest, as upstream main."""
    from . import digest as digest_mod
    from .golang.gojson import quote

    config = image.manifest.config
    if algorithm is None and config is not None and config.digest:
        algorithm = config.digest.partition(":")[0]
        if algorithm not in digest_mod.ALGORITHMS:
            raise SkopeoError(f"Error computing manifest digest: config digest algorithm {quote(algorithm.encode())} "
                              "is not available")
    algorithm = algorithm or digest_mod.CANONICAL
    if algorithm not in digest_mod.ALGORITHMS:
        raise SkopeoError(f"Error computing manifest digest: digest algorithm {quote(algorithm.encode())} is not available")
    return mf.manifest_digest(image.toplevel_raw, algorithm)


def output(image: ResolvedImage, name: str | None, repo_tags: list[str], digest: str | None = None) -> dict[str, Any]:
    """The inspect object in upstream's field order (template data: all fields present);
    *digest* defaults to :func:`output_digest`'s."""
    m = image.manifest
    tag = ""
    if m.config is not None and image.config_raw is not None:
        cfg_obj: dict[str, Any] = json.loads(image.config_raw)
        docker_version = imageconfig.docker_version(image.config_raw)
        oci = imageconfig.to_oci_config(image.config_raw)
    else:
        compat = m.schema1_v1_compat()
        cfg_obj = compat[0] if compat else {}
        docker_version = str(cfg_obj.get("docker_version") or "")
        oci = imageconfig.to_oci_config(json.dumps(cfg_obj).encode())
        tag = str(m.obj.get("tag") or "")
        if not oci.get("architecture"):
            oci["architecture"] = str(m.obj.get("architecture") or "")
    created = oci.get("created")
    config = oci.get("config") or {}
    layers_data = [
        {
            "MIMEType": d.media_type,
            "Digest": d.digest,
            "Size": d.size,
            "Annotations": dict(sorted(d.annotations.items())) if d.annotations else None,
        }
        for d in m.layers
    ]
    return {
        "Name": name or "",
        "Tag": tag,
        "Digest": digest or output_digest(image),
        "RepoTags": list(repo_tags),
        "Created": GoTime(created) if created else None,
        "DockerVersion": docker_version,
        "Labels": config.get("Labels"),
        "Architecture": oci.get("architecture", ""),
        "Os": oci.get("os", ""),
        "Layers": [d.digest for d in m.layers],
        "LayersData": layers_data,
        "Env": config.get("Env"),
    }


def template_data(out: dict[str, Any]) -> Any:
    """The inspect object as skopeo's ``inspect.Output`` Go struct (``--format``).
    ``LayersData`` is upstream's newer field; 1.9.3 lacks it, like the JSON."""
    from .golang.gotemplate import GoStruct

    layers = [
        GoStruct("types.ImageInspectLayer", [
            ("MIMEType", "string", d["MIMEType"]),
            ("Digest", "digest.Digest", d["Digest"]),
            ("Size", "int64", d["Size"]),
            ("Annotations", "map[string]string", d["Annotations"]),
        ], json=d)
        for d in out["LayersData"]
    ]
    return GoStruct("inspect.Output", [
        ("Name", "string", out["Name"]),
        ("Tag", "string", out["Tag"]),
        ("Digest", "digest.Digest", out["Digest"]),
        ("RepoTags", "[]string", out["RepoTags"]),
        ("Created", "*time.Time", out["Created"]),
        ("DockerVersion", "string", out["DockerVersion"]),
        ("Labels", "map[string]string", out["Labels"]),
        ("Architecture", "string", out["Architecture"]),
        ("Os", "string", out["Os"]),
        ("Layers", "[]string", out["Layers"]),
        ("LayersData", "[]types.ImageInspectLayer", layers),
        ("Env", "[]string", out["Env"]),
    ], json=to_json_object(out))


def config_template_data(cfg: dict[str, Any]) -> Any:
    """The OCI config (as :func:`oci_config` returns it) as image-spec's ``v1.Image``
    Go struct, as upstream main vendors it (image-spec 1.1: the platform fields
    in an embedded ``Platform``)."""
    from .golang.gotemplate import GoStruct

    def time_or_nil(value: Any) -> GoTime | None:
        return GoTime(value) if value else None

    c = cfg.get("config") or {}
    rootfs = cfg.get("rootfs") or {}
    return GoStruct("v1.Image", [
        ("Created", "*time.Time", time_or_nil(cfg.get("created"))),
        ("Author", "string", cfg.get("author", "")),
        ("Platform", "v1.Platform", GoStruct("v1.Platform", [
            ("Architecture", "string", cfg.get("architecture", "")),
            ("OS", "string", cfg.get("os", "")),
            ("OSVersion", "string", cfg.get("os.version", "")),
            ("OSFeatures", "[]string", cfg.get("os.features")),
            ("Variant", "string", cfg.get("variant", "")),
        ], json={k: cfg[k] for k in ("architecture", "os", "os.version", "os.features", "variant") if k in cfg})),
        ("Config", "v1.ImageConfig", GoStruct("v1.ImageConfig", json=c, fields=[
            ("User", "string", c.get("User", "")),
            ("ExposedPorts", "map[string]struct {}", c.get("ExposedPorts")),
            ("Env", "[]string", c.get("Env")),
            ("Entrypoint", "[]string", c.get("Entrypoint")),
            ("Cmd", "[]string", c.get("Cmd")),
            ("Volumes", "map[string]struct {}", c.get("Volumes")),
            ("WorkingDir", "string", c.get("WorkingDir", "")),
            ("Labels", "map[string]string", c.get("Labels")),
            ("StopSignal", "string", c.get("StopSignal", "")),
            ("ArgsEscaped", "bool", bool(c.get("ArgsEscaped", False))),
        ])),
        ("RootFS", "v1.RootFS", GoStruct("v1.RootFS", [
            ("Type", "string", rootfs.get("type", "")),
            ("DiffIDs", "[]digest.Digest", rootfs.get("diff_ids")),
        ], json={"type": rootfs.get("type", ""), "diff_ids": rootfs.get("diff_ids")})),
        ("History", "[]v1.History", [
            GoStruct("v1.History", [
                ("Created", "*time.Time", time_or_nil(h.get("created"))),
                ("CreatedBy", "string", h.get("created_by", "")),
                ("Author", "string", h.get("author", "")),
                ("Comment", "string", h.get("comment", "")),
                ("EmptyLayer", "bool", bool(h.get("empty_layer", False))),
            ], json=h)
            for h in cfg["history"]
        ] if cfg.get("history") else None),
    ], json=cfg, embedded=("Platform",))


def to_json_object(out: dict[str, Any]) -> dict[str, Any]:
    """The object ``inspect`` prints: omitempty fields dropped, times formatted."""
    obj = dict(out)
    for key in ("Name", "Tag"):
        if not obj[key]:
            del obj[key]
    if isinstance(obj["Created"], GoTime):
        obj["Created"] = obj["Created"].json
    return obj
