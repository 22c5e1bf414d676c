"""Image configuration blobs: decoding a Docker or OCI config into the OCI image
structure the way Go's ``json.Unmarshal`` into ``imgspecv1.Image`` would (known
fields only, field names matched case-insensitively)."""

from __future__ import annotations

import json
from typing import Any

from .errors import ManifestError
from .golang.gotime import ZERO_TIME_JSON, go_time_json


def _lookup(obj: dict[str, Any], name: str) -> Any:
    """Go's decoder: exact key, else case-insensitive; the last matching key wins."""
    found: Any = None
    lname = name.lower()
    for key, value in obj.items():
        if key == name or key.lower() == lname:
            found = value
    return found


def _typed(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"json: cannot unmarshal {type(value).__name__} into Go struct field {what}")
    return value


def _str_list(value: Any, what: str) -> list[str] | None:
    value = _typed(value, list, what)
    if value is None:
        return None
    for v in value:
        _typed(v, str, what)
    return list(value)


def _str_map(value: Any, what: str) -> dict[str, Any] | None:
    value = _typed(value, dict, what)
    if value is None:
        return None
    return dict(sorted(value.items()))


def _set_map(value: Any, what: str) -> dict[str, Any] | None:
    value = _typed(value, dict, what)
    if value is None:
        return None
    return {k: {} for k in sorted(value)}


def to_oci_config(raw: bytes) -> dict[str, Any]:
    """Decode a config blob into the OCI image structure, in Go's field order,
    with empty optional fields omitted."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"invalid config JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ManifestError("json: cannot unmarshal into Go value of type v1.Image")
    out: dict[str, Any] = {}
    created = _typed(_lookup(obj, "created"), str, "Image.created")
    if created:
        out["created"] = go_time_json(created)
    author = _typed(_lookup(obj, "author"), str, "Image.author")
    if author:
        out["author"] = author
    # architecture and os are required fields of the OCI image struct: never omitted.
    out["architecture"] = _typed(_lookup(obj, "architecture"), str, "Image.architecture") or ""
    out["os"] = _typed(_lookup(obj, "os"), str, "Image.os") or ""
    os_version = _typed(_lookup(obj, "os.version"), str, "Image.os.version")
    if os_version:
        out["os.version"] = os_version
    feats = _str_list(_lookup(obj, "os.features"), "Image.os.features")
    if feats:
        out["os.features"] = feats
    variant = _typed(_lookup(obj, "variant"), str, "Image.variant")
    if variant:
        out["variant"] = variant
    cfg_in = _typed(_lookup(obj, "config"), dict, "Image.config") or {}
    cfg: dict[str, Any] = {}
    user = _typed(_lookup(cfg_in, "User"), str, "ImageConfig.User")
    if user:
        cfg["User"] = user
    ports = _set_map(_lookup(cfg_in, "ExposedPorts"), "ImageConfig.ExposedPorts")
    if ports:
        cfg["ExposedPorts"] = ports
    for key in ("Env", "Entrypoint", "Cmd"):
        v = _str_list(_lookup(cfg_in, key), f"ImageConfig.{key}")
        if v:
            cfg[key] = v
    vols = _set_map(_lookup(cfg_in, "Volumes"), "ImageConfig.Volumes")
    if vols:
        cfg["Volumes"] = vols
    wd = _typed(_lookup(cfg_in, "WorkingDir"), str, "ImageConfig.WorkingDir")
    if wd:
        cfg["WorkingDir"] = wd
    labels = _str_map(_lookup(cfg_in, "Labels"), "ImageConfig.Labels")
    if labels:
        cfg["Labels"] = labels
    sig = _typed(_lookup(cfg_in, "StopSignal"), str, "ImageConfig.StopSignal")
    if sig:
        cfg["StopSignal"] = sig
    if _lookup(cfg_in, "ArgsEscaped") is True:
        cfg["ArgsEscaped"] = True
    out["config"] = cfg
    rootfs_in = _typed(_lookup(obj, "rootfs"), dict, "Image.rootfs") or {}
    out["rootfs"] = {
        "type": _typed(_lookup(rootfs_in, "type"), str, "RootFS.type") or "",
        "diff_ids": _str_list(_lookup(rootfs_in, "diff_ids"), "RootFS.diff_ids"),
    }
    hist_in = _typed(_lookup(obj, "history"), list, "Image.history")
    if hist_in:
        hist = []
        for h in hist_in:
            h = _typed(h, dict, "Image.history") or {}
            item: dict[str, Any] = {}
            hc = _typed(_lookup(h, "created"), str, "History.created")
            if hc:
                item["created"] = go_time_json(hc)
            for key in ("created_by", "author", "comment"):
                v = _typed(_lookup(h, key), str, f"History.{key}")
                if v:
                    item[key] = v
            if _lookup(h, "empty_layer") is True:
                item["empty_layer"] = True
            hist.append(item)
        out["history"] = hist
    return out


def diff_ids(raw: bytes) -> list[str]:
    """``rootfs.diff_ids`` of a config blob."""
    ids = to_oci_config(raw)["rootfs"]["diff_ids"]
    return list(ids or [])


def docker_version(raw: bytes) -> str:
    try:
        obj = json.loads(raw)
    except ValueError:
        return ""
    v = _lookup(obj, "docker_version") if isinstance(obj, dict) else None
    return v if isinstance(v, str) else ""


def schema1_to_schema2_config(v1_compat_raw: list[str], diff_ids: list[str]) -> bytes:
    """The Docker config containers/image builds when converting a schema1 image:
    the top ``v1Compatibility`` object without its v1-only fields, plus
    ``history`` (from every v1Compatibility entry, oldest first) and ``rootfs``.
    *v1_compat_raw* is in manifest order (newest first)."""
    from .golang import gojson

    if not v1_compat_raw:
        raise ManifestError("image has no layers")
    try:
        top = json.loads(v1_compat_raw[0])
        compat = [json.loads(c) for c in v1_compat_raw]
    except ValueError as e:
        raise ManifestError(f"invalid v1Compatibility: {e}") from None
    if not isinstance(top, dict):
        raise ManifestError("invalid v1Compatibility: not an object")
    history = []
    for item in reversed(compat):
        cmd = (item.get("container_config") or {}).get("Cmd") or []
        # Field order of containers/image's Schema2History: created, author, created_by, comment, empty_layer.
        entry: dict[str, Any] = {"created": go_time_json(item["created"]) if item.get("created") else ZERO_TIME_JSON}
        if item.get("author"):
            entry["author"] = item["author"]
        if cmd:
            entry["created_by"] = " ".join(cmd)
        if item.get("comment"):
            entry["comment"] = item["comment"]
        if item.get("throwaway"):
            entry["empty_layer"] = True
        history.append(entry)
    for key in ("id", "parent", "parent_id", "layer_id", "throwaway", "Size"):
        top.pop(key, None)
    top["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    top["history"] = history
    # Go marshals this as a map: keys sorted, nested values kept as they were.
    return gojson.marshal(dict(sorted(top.items())))
