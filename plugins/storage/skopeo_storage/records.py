"""The metadata files of a store, as containers/storage reads and writes them:
``layers.json`` / ``volatile-layers.json`` (layer records), ``images.json`` (image
records) and ``containers.json`` (read only here).

Records stay the dicts that were read, so fields written by another version of
containers/storage survive our rewrites.  New records get upstream's field order;
maps are written with sorted keys and times in RFC 3339 with nanoseconds, as Go's
``encoding/json`` does.  Files are replaced atomically (temporary file, fsync,
rename), as ``ioutils.AtomicWriteFile`` does.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from skopeo.golang import gojson

Record = dict[str, Any]

INCOMPLETE_FLAG = "incomplete"
# ImageDigestBigDataKey / ImageDigestManifestBigDataNamePrefix.
MANIFEST_KEY = "manifest"
# archive.Compression values, as stored in a layer's "compression" field.
COMPRESSION_CODES = {None: 0, "bzip2": 1, "gzip": 2, "xz": 3, "zstd": 4}

# Go struct field order of Layer and Image (storage/layers.go, images.go).
_LAYER_ORDER = ("id", "names", "parent", "metadata", "mountlabel", "created", "compressed-diff-digest",
                "compressed-size", "diff-digest", "toc-digest", "diff-size", "compression", "uidset", "gidset",
                "flags", "uidmap", "gidmap", "big-data-names")
_IMAGE_ORDER = ("id", "digest", "names", "names-history", "layer", "mapped-layers", "metadata", "big-data-names",
                "big-data-sizes", "big-data-digests", "created", "flags")
_SORTED_MAPS = ("big-data-sizes", "big-data-digests", "flags")


def go_now() -> str:
    """``time.Now().UTC()`` as Go marshals it (RFC 3339, trailing zeros of the
    nanoseconds dropped)."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def _ordered(record: Record, order: tuple[str, ...]) -> Record:
    out: Record = {}
    for key in order:
        if key in record:
            out[key] = record[key]
    for key, value in record.items():
        if key not in out:
            out[key] = value
    for key in _SORTED_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = dict(sorted(out[key].items()))
    return out


def _omit_empty(record: Record, always: tuple[str, ...]) -> Record:
    # Go's omitempty: "", 0, false, null, [] and {} are left out.
    return {k: v for k, v in record.items() if k in always or v not in ("", 0, None, [], {})}


def new_layer(layer_id: str, parent: str) -> Record:
    return {"id": layer_id, "parent": parent, "created": go_now(), "flags": {INCOMPLETE_FLAG: True}}


def new_image(image_id: str, top_layer: str, created: str) -> Record:
    return {"id": image_id, "digest": "", "names": [], "names-history": [], "layer": top_layer, "metadata": "",
            "big-data-names": [], "big-data-sizes": {}, "big-data-digests": {}, "created": created or go_now()}


def encode_layers(records: list[Record]) -> bytes:
    return gojson.marshal([_omit_empty(_ordered(r, _LAYER_ORDER), ("id", "created")) for r in records])


def encode_images(records: list[Record]) -> bytes:
    return gojson.marshal([_omit_empty(_ordered(r, _IMAGE_ORDER), ("id", "created")) for r in records])


def decode_list(path: str) -> list[Record]:
    """A JSON array of records; a missing or empty file is an empty store."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    if not data:
        return []
    try:
        value = json.loads(data)
    except ValueError as e:
        raise ValueError(f'loading "{path}": {gojson.syntax_error(data) or e}') from None
    if not isinstance(value, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in value):
        raise ValueError(f'loading "{path}": json: cannot unmarshal records')
    return value


def atomic_write(path: str, data: bytes, sync: bool = True) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, 0o700, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{os.path.basename(path)}-{os.getpid()}-{time.monotonic_ns()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def big_data_file_name(key: str) -> str:
    """``makeBigDataBaseName``: the key itself when it is made of ``[.0-9a-z]``,
    else ``=`` + its base64."""
    if key and all(c == "." or "0" <= c <= "9" or "a" <= c <= "z" for c in key):
        return key
    return "=" + base64.b64encode(key.encode()).decode()


def has_incomplete_flag(record: Record) -> bool:
    flags = record.get("flags")
    return isinstance(flags, dict) and flags.get(INCOMPLETE_FLAG) is True


def image_digests(record: Record) -> list[str]:
    """``Image.recomputeDigests``: the record's digest, then the digests of every
    big-data item whose name starts with "manifest", without duplicates."""
    out: list[str] = []
    digest = record.get("digest")
    if isinstance(digest, str) and digest:
        out.append(digest)
    digests = record.get("big-data-digests")
    if isinstance(digests, dict):
        for name, value in digests.items():
            if isinstance(name, str) and name.startswith(MANIFEST_KEY) and isinstance(value, str) and value not in out:
                out.append(value)
    return out


def names_of(record: Record) -> list[str]:
    names = record.get("names")
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
