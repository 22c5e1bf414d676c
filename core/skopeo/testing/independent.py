"""An independent reader of images, paired with :func:`skopeo.testing.images.validate`.

``validate`` reads an image back through our own transports; a write and a read
that are wrong in the same way would pass it.  This module reads the same image
with none of our code: the on-disk formats with ``json``, ``hashlib`` and
``tarfile``, layers decompressed with the standard library (gzip, bz2, lzma)
and the ``zstandard`` package, registries with plain ``httpx`` GETs.  It
checks every manifest, blob digest and size, every layer's ``diff_id`` and that
each layer's media type names its real compression, and returns the layer
digests it checked, which ``validate`` compares with its own list.

Handled: ``oci:``, ``oci-archive:``, ``dir:``, ``docker-archive:`` and
``docker://`` on a registry that answers anonymous plain-HTTP (or unverified
HTTPS) requests; anything else (other transports, schema1, authenticated
registries, ``oci:PATH:@N``) returns None and ``validate`` relies on our
transports alone."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import tarfile
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from typing import IO, Any

OCI_REF_NAME = "org.opencontainers.image.ref.name"
LIST_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json", *LIST_TYPES,
])
CHUNK = 1 << 20
# Opens a blob by digest; a reader of its bytes.
Opener = Callable[[str], IO[bytes]]


class NotHandled(Exception):
    """This image cannot be read independently here."""


def _sha(data: bytes, algo: str = "sha256") -> str:
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


def _compression(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd") or (len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18"):
        return "zstd"  # a zstd frame, or a skippable frame (zstd:chunked starts with data frames, but be lenient)
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def _decompressed(stream: IO[bytes], algo: str | None) -> IO[bytes]:
    if algo is None:
        return stream
    if algo == "gzip":
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    if algo == "bzip2":
        return bz2.BZ2File(stream)
    if algo == "xz":
        return lzma.LZMAFile(stream)
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)


def _media_type_compression(media_type: str) -> str | bool | None:
    """The compression a layer media type names; True when it names none we know."""
    if media_type.endswith(("gzip", ".gzip")):
        return "gzip"
    if media_type.endswith("zstd"):
        return "zstd"
    if media_type.endswith(".tar") or media_type.endswith("tar"):
        return None
    return True


def _hash_stream(stream: IO[bytes], algo: str = "sha256") -> tuple[str, int]:
    h = hashlib.new(algo)
    size = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return f"{algo}:{h.hexdigest()}", size


def _check_layer(open_blob: Opener, digest: str, size: int, media_type: str, diff_id: str) -> None:
    algo = digest.partition(":")[0]
    with open_blob(digest) as f:
        got, got_size = _hash_stream(f, algo)
    assert got == digest, f"independent reader: layer {digest} has digest {got}"
    assert size < 0 or got_size == size, f"independent reader: layer {digest} has {got_size} bytes, not {size}"
    with open_blob(digest) as f:
        head = f.read(8)
    compression = _compression(head)
    named = _media_type_compression(media_type)
    assert named is True or named == compression, \
        f"independent reader: layer {digest} is {compression or 'uncompressed'} but its media type is {media_type}"
    with open_blob(digest) as f:
        plain, _ = _hash_stream(_decompressed(f, compression), diff_id.partition(":")[0])
    assert plain == diff_id, f"independent reader: layer {digest} decompresses to {plain}, not its diff_id {diff_id}"


def check_manifest_tree(raw: bytes, get_manifest: Callable[[str], bytes], open_blob: Opener) -> list[str]:
    """Check the image (or every instance of the list) whose manifest is *raw*;
    the layer digests checked, in order."""
    obj = json.loads(raw)
    if obj.get("schemaVersion") == 1:
        raise NotHandled("schema1")
    images: list[dict[str, Any]] = []
    if obj.get("mediaType") in LIST_TYPES or "manifests" in obj:
        for desc in obj["manifests"]:
            inst = get_manifest(desc["digest"])
            assert _sha(inst, desc["digest"].partition(":")[0]) == desc["digest"], \
                f"independent reader: instance {desc['digest']} has other bytes"
            assert len(inst) == desc["size"], f"independent reader: instance {desc['digest']} size"
            images.append(json.loads(inst))
    else:
        images.append(obj)
    checked: list[str] = []
    for img in images:
        cfg_desc = img["config"]
        with open_blob(cfg_desc["digest"]) as f:
            cfg = f.read()
        assert _sha(cfg, cfg_desc["digest"].partition(":")[0]) == cfg_desc["digest"], "independent reader: config digest"
        assert len(cfg) == cfg_desc["size"], "independent reader: config size"
        diff_ids = json.loads(cfg)["rootfs"]["diff_ids"]
        assert len(diff_ids) == len(img["layers"]), "independent reader: diff_ids and layers differ in number"
        for layer, diff_id in zip(img["layers"], diff_ids, strict=True):
            _check_layer(open_blob, layer["digest"], layer["size"], layer["mediaType"], diff_id)
            checked.append(layer["digest"])
    return checked


# --- formats ----------------------------------------------------------------------------------
def _oci(path: str, ref: str) -> list[str]:
    if ref.startswith("@"):
        raise NotHandled("oci:PATH:@N")

    def blob_path(digest: str) -> str:
        algo, _, hexpart = digest.partition(":")
        return os.path.join(path, "blobs", algo, hexpart)

    with open(os.path.join(path, "index.json"), "rb") as f:
        index = json.load(f)
    entries = index["manifests"]
    matching = [e for e in entries if (e.get("annotations") or {}).get(OCI_REF_NAME) == ref] if ref else entries
    assert len(matching) == 1, f"independent reader: {len(matching)} index.json entries for {ref!r} in {path}"
    with open(blob_path(matching[0]["digest"]), "rb") as f:
        raw = f.read()
    assert _sha(raw, matching[0]["digest"].partition(":")[0]) == matching[0]["digest"], "independent reader: manifest digest"

    def get_manifest(digest: str) -> bytes:
        with open(blob_path(digest), "rb") as f:
            return f.read()

    return check_manifest_tree(raw, get_manifest, lambda d: open(blob_path(d), "rb"))


def _dir(path: str) -> list[str]:
    def name(digest: str) -> str:
        algo, _, hexpart = digest.partition(":")
        return os.path.join(path, hexpart if algo == "sha256" else f"{algo}-{hexpart}")

    with open(os.path.join(path, "manifest.json"), "rb") as f:
        raw = f.read()

    def get_manifest(digest: str) -> bytes:
        with open(name(digest) + ".manifest.json", "rb") as f:
            return f.read()

    return check_manifest_tree(raw, get_manifest, lambda d: open(name(d), "rb"))


def _extracted(path: str, stack: ExitStack) -> str:
    directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="independent-"))
    with tarfile.open(path) as tar:
        tar.extractall(directory, filter="data")
    return directory


def _docker_archive(path: str, ref: str) -> list[str]:
    with ExitStack() as stack:
        root = _extracted(path, stack)
        with open(os.path.join(root, "manifest.json"), "rb") as f:
            items = json.load(f)
        if ref.startswith("@"):
            item = items[int(ref[1:])]
        elif ref:
            wanted = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
            spellings = {wanted, f"docker.io/{wanted}", f"docker.io/library/{wanted}",
                         wanted.removeprefix("docker.io/"), wanted.removeprefix("docker.io/library/")}
            found = [i for i in items if spellings & set(i.get("RepoTags") or [])]
            if len(found) != 1:
                raise NotHandled(f"{len(found)} images tagged {ref}")
            item = found[0]
        else:
            assert len(items) == 1, f"independent reader: {len(items)} images in {path}"
            item = items[0]
        with open(os.path.join(root, item["Config"]), "rb") as f:
            cfg = f.read()
        diff_ids = json.loads(cfg)["rootfs"]["diff_ids"]
        assert len(diff_ids) == len(item["Layers"]), "independent reader: diff_ids and layers differ in number"
        for layer, diff_id in zip(item["Layers"], diff_ids, strict=True):
            layer_path = os.path.join(root, layer)
            with open(layer_path, "rb") as f:
                compression = _compression(f.read(8))
            with open(layer_path, "rb") as f:
                plain, _ = _hash_stream(_decompressed(f, compression))
            assert plain == diff_id, f"independent reader: {layer} in {path} is {plain}, not its diff_id {diff_id}"
        # Our source names each layer by its diff_id (upstream's docker-archive source does too).
        return list(diff_ids)


def _docker(rest: str) -> list[str]:
    import httpx

    name = rest.lstrip("/")
    host, _, remainder = name.partition("/")
    if "." not in host and ":" not in host and host != "localhost":
        raise NotHandled("not a registry host")
    if "@" in remainder:
        repo, _, ref = remainder.partition("@")
    elif ":" in remainder.rsplit("/", 1)[-1]:
        repo, _, ref = remainder.rpartition(":")
    else:
        repo, ref = remainder, "latest"
    with ExitStack() as stack:
        # Test registries on loopback: TLS is not what this reader checks.
        client = stack.enter_context(httpx.Client(timeout=60, verify=False))
        base = None
        for scheme in ("http", "https"):
            try:
                resp = client.get(f"{scheme}://{host}/v2/")
            except httpx.HTTPError:
                continue
            if resp.status_code == 401:
                raise NotHandled("registry needs credentials")
            if resp.status_code == 200:
                base = f"{scheme}://{host}/v2/{repo}"
                break
        if base is None:
            raise NotHandled("registry not reachable without TLS verification")

        def get_manifest(reference: str) -> bytes:
            r = client.get(f"{base}/manifests/{reference}", headers={"Accept": ACCEPT})
            assert r.status_code == 200, f"independent reader: manifest {reference}: HTTP {r.status_code}"
            return r.content

        def open_blob(digest: str) -> IO[bytes]:
            import io

            r = client.get(f"{base}/blobs/{digest}", follow_redirects=True)
            assert r.status_code == 200, f"independent reader: blob {digest}: HTTP {r.status_code}"
            return io.BytesIO(r.content)

        raw = get_manifest(ref)
        if ref.startswith("sha256:"):
            assert _sha(raw) == ref, "independent reader: manifest does not match the digest asked for"
        return check_manifest_tree(raw, get_manifest, open_blob)


def read_image(name: str) -> list[str] | None:
    """Check *name* (``transport:reference``) without our code; the layer digests
    checked, or None when it cannot be read independently here."""
    transport, _, rest = name.partition(":")
    try:
        if transport == "oci":
            path, _, ref = rest.partition(":")
            return _oci(path, ref)
        if transport == "oci-archive":
            path, _, ref = rest.partition(":")
            with ExitStack() as stack:
                return _oci(_extracted(path, stack), ref)
        if transport == "dir":
            return _dir(rest)
        if transport == "docker-archive":
            path, _, ref = rest.partition(":")
            return _docker_archive(path, ref)
        if transport == "docker":
            return _docker(rest)
    except NotHandled:
        return None
    return None
