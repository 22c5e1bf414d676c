"""The ``docker save`` archive format, independent of where the tar lives: a
reader that synthesises a schema 2 image from one ``manifest.json`` item, and a
writer that produces what upstream's ``docker/internal/tarfile`` writes.  Both
the ``docker-archive:`` transport (a file) and ``docker-daemon:`` (the Engine
API's save/load streams) are built on these two classes."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

from skopeo import compression as comp
from skopeo import digest as digest_mod
from skopeo import manifest as mf
from skopeo.errors import InvalidReferenceError, SkopeoError
from skopeo.golang import gojson
from skopeo.reference import DockerReference, parse_normalized
from skopeo.transport import BlobInfo, BlobStream

from .tarindex import ArchiveError, MemberNotFound, TarIndex
from .tarwriter import TarWriter

MANIFEST_FILE = "manifest.json"
REPOSITORIES_FILE = "repositories"
LEGACY_VERSION_FILE = "VERSION"
LEGACY_CONFIG_FILE = "json"
LEGACY_LAYER_FILE = "layer.tar"
# upstream iolimits.MaxTarFileManifestSize
MAX_TAR_MANIFEST_SIZE = 1 << 20
# The top legacy layer's json copies these fields of the image config.
_LEGACY_ATTRS = ("architecture", "config", "container", "container_config", "created", "docker_version", "os")


# --- manifest.json ---------------------------------------------------------------
def parse_manifest_json(data: bytes) -> list[dict[str, Any]]:
    """The items of ``manifest.json``, checked for the types Go's decoder requires."""
    try:
        items = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ArchiveError(f"decoding tar manifest.json: {e}") from None
    if items is None:
        return []
    if not isinstance(items, list):
        raise ArchiveError("decoding tar manifest.json: not an array")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ArchiveError(f"decoding tar manifest.json: item {i} is not an object")
        config = item.get("Config", "")
        tags = item.get("RepoTags") or []
        layers = item.get("Layers") or []
        if not isinstance(config, str) or not isinstance(tags, list) or not isinstance(layers, list) or not all(
            isinstance(x, str) for x in [*tags, *layers]
        ):
            raise ArchiveError(f"decoding tar manifest.json: item {i} has fields of the wrong type")
    return items


def read_component(index: TarIndex, name: str, limit: int) -> bytes:
    """A metadata member, worded as upstream: a failed lookup is "loading tar
    component NAME: …", a failed read (a truncated member) is not prefixed."""
    try:
        index.resolve(name)
    except ArchiveError as e:
        from skopeo.golang.gojson import quote

        raise ArchiveError(f"loading tar component {quote(name.encode())}: {e}") from None
    return index.read(name, limit)


def marshal_manifest_json(items: list[dict[str, Any]]) -> bytes:
    """Go's ``json.Marshal([]ManifestItem)``: fixed field order, empty optionals omitted."""
    out = []
    for item in items:
        entry: dict[str, Any] = {
            "Config": item.get("Config", ""),
            "RepoTags": list(item.get("RepoTags") or []),
            "Layers": list(item.get("Layers") or []),
        }
        if item.get("Parent"):
            entry["Parent"] = item["Parent"]
        if item.get("LayerSources"):
            entry["LayerSources"] = item["LayerSources"]
        out.append(entry)
    return gojson.marshal(out)


def repo_tag_string(ref: DockerReference) -> str:
    # Fully qualified (docker.io/library/x:y), as upstream writes RepoTags.
    return f"{ref.name}:{ref.tag}"


def parse_repo_tag(tag: str, index: int) -> DockerReference:
    try:
        return parse_normalized(tag)
    except InvalidReferenceError as e:
        raise SkopeoError(f'Invalid tag "{tag}" in manifest.json item @{index}: {e}') from None


def compact_json(raw: bytes) -> bytes:
    """Go's ``json.Compact`` with HTML escaping, as ``json.Marshal`` applies to a
    ``json.RawMessage``: whitespace outside strings goes, key order and number
    spelling stay exactly as in *raw*."""
    text = raw.decode("utf-8", errors="surrogateescape")
    out = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            if ch in "<>&\u2028\u2029":
                out.append(f"\\u{ord(ch):04x}")
                continue
            out.append(ch)
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch not in " \t\r\n":
            out.append(ch)
    return "".join(out).encode("utf-8", errors="surrogateescape")


# --- reading ---------------------------------------------------------------------------
class DockerArchiveReader:
    """A ``docker save`` archive opened for random access."""

    def __init__(self, index: TarIndex) -> None:
        self.index = index
        self.items = parse_manifest_json(read_component(index, MANIFEST_FILE, MAX_TAR_MANIFEST_SIZE))

    def choose(self, ref: DockerReference | None, source_index: int) -> dict[str, Any]:
        if ref is not None:
            wanted = str(ref)
            for i, item in enumerate(self.items):
                for tag in item.get("RepoTags") or []:
                    if str(parse_repo_tag(tag, i)) == wanted:
                        return item
            raise SkopeoError(f'Tag "{wanted}" not found')
        if source_index != -1:
            if source_index >= len(self.items):
                raise SkopeoError(
                    f"Invalid source index @{source_index}, only {len(self.items)} manifest items available"
                )
            return self.items[source_index]
        if len(self.items) != 1:
            raise SkopeoError(f"Unexpected tar manifest.json: expected 1 item, got {len(self.items)}")
        return self.items[0]

    def list_tags(self) -> list[str]:
        """What ``skopeo list-tags`` prints: each RepoTags string as stored (the
        first item carrying an equal normalised tag wins), ``@N`` for untagged items."""
        out = []
        for i, item in enumerate(self.items):
            tags = item.get("RepoTags") or []
            if not tags:
                out.append(f"@{i}")
            for tag in tags:
                ref = parse_repo_tag(tag, i)
                if ref.tag is None:
                    raise SkopeoError(f"Invalid tag {tag} ({ref}): does not contain a tag")
                out.append(self._first_tag_string(ref))
        return out

    def _first_tag_string(self, ref: DockerReference) -> str:
        for i, item in enumerate(self.items):
            for tag in item.get("RepoTags") or []:
                if parse_repo_tag(tag, i) == ref:
                    return str(tag)
        raise SkopeoError(f"internal error: tag {ref} disappeared")

    def close(self) -> None:
        self.index.close()


class ArchiveImage:
    """One image of a :class:`DockerArchiveReader`, as upstream's tarfile.Source
    presents it: a schema 2 manifest whose layers are the *uncompressed* layer
    tars, addressed by diffID, sized as uncompressed, yet labelled with the gzip
    media type (upstream's quirk, kept for identical manifests and digests)."""

    def __init__(self, reader: DockerArchiveReader, item: dict[str, Any]) -> None:
        self.reader = reader
        self.item = item
        index = reader.index
        config_path = item.get("Config", "")
        self.config = read_component(index, config_path, mf.MAX_CONFIG_SIZE)
        try:
            parsed = json.loads(self.config)
        except (ValueError, UnicodeDecodeError) as e:
            raise SkopeoError(f'decoding tar config "{config_path}": {e}') from None
        rootfs = parsed.get("rootfs") if isinstance(parsed, dict) else None
        if not isinstance(rootfs, dict):
            raise SkopeoError(f'Invalid image config (rootFS is not set): "{config_path}"')
        diff_ids = rootfs.get("diff_ids") or []
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            raise SkopeoError(f'decoding tar config "{config_path}": rootfs.diff_ids is not a list of strings')
        for d in diff_ids:
            try:
                digest_mod.validate(d)
            except InvalidReferenceError as e:
                raise SkopeoError(f'decoding tar config "{config_path}": {e}') from None
        layers = item.get("Layers") or []
        if len(layers) != len(diff_ids):
            raise SkopeoError(
                f"Inconsistent layer count: {len(layers)} in manifest, {len(diff_ids)} in config"
            )
        if index.scan_error:
            # Upstream reads the whole archive to find the layers.
            raise ArchiveError(index.scan_error)
        self.config_digest = digest_mod.of_bytes(self.config)
        self.diff_ids: list[str] = diff_ids
        # diffID -> (member path, uncompressed size, compression)
        self.layers: dict[str, tuple[str, int, str | None]] = {}
        paths: set[str] = set()
        for diff_id, path in zip(diff_ids, layers, strict=True):
            if diff_id in self.layers:
                # The same layer twice in one image (docker save links the copies).
                continue
            try:
                member = index.resolve(path)
            except MemberNotFound:
                raise SkopeoError("Some layer tarfiles are missing in the tarball") from None
            if member.name in paths:
                raise SkopeoError(f'Layer tarfile "{path}" used for two different DiffID values')
            paths.add(member.name)
            stream, size = index.open(path)
            algo = comp.detect(stream.read(comp.SNIFF_SIZE))
            if algo is not None:
                # Upstream reports (and serves) the uncompressed layer: measure it.
                size = _measure(index, path, algo)
            self.layers[diff_id] = (path, size, algo)

    def manifest(self) -> bytes:
        return gojson.marshal({
            "schemaVersion": 2,
            "mediaType": mf.DOCKER_V2S2,
            "config": {"mediaType": mf.DOCKER_CONFIG, "size": len(self.config), "digest": self.config_digest},
            "layers": [
                {"mediaType": mf.DOCKER_LAYER_GZIP, "size": self.layers[d][1], "digest": d} for d in self.diff_ids
            ],
        })

    def blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        if info.digest == self.config_digest:
            return io.BytesIO(self.config), len(self.config)
        layer = self.layers.get(info.digest or "")
        if layer is None:
            raise SkopeoError(f"Unknown blob {info.digest}")
        path, size, algo = layer
        stream, _ = self.reader.index.open(path)
        if algo is not None:
            return comp.decompressing_reader(stream, algo), size
        return stream, size


def _measure(index: TarIndex, path: str, algo: str) -> int:
    stream, _ = index.open(path)
    reader = comp.decompressing_reader(stream, algo)
    total = 0
    while True:
        chunk = reader.read(comp.CHUNK)
        if not chunk:
            return total
        total += len(chunk)


# --- writing ---------------------------------------------------------------------------
def legacy_layer_configs(layer_digests: list[str], config: bytes) -> Iterator[tuple[str, bytes]]:
    """(legacy ID, ``<ID>/json`` bytes) per layer, bottom first: upstream's
    writeLegacyMetadataLocked, byte for byte (Go marshals the map with sorted keys)."""
    try:
        cfg = json.loads(config)
    except (ValueError, UnicodeDecodeError) as e:
        raise SkopeoError(f"unmarshaling config: {e}") from None
    if not isinstance(cfg, dict):
        raise SkopeoError("unmarshaling config: not a JSON object")
    # Missing attributes are nil RawMessages in Go, marshalled as null; present
    # ones keep their original text (key order, number spelling), compacted.
    raw_values = dict.fromkeys(_LEGACY_ATTRS, b"null")
    raw_values.update(_raw_top_level_values(config, _LEGACY_ATTRS))
    chain_id = ""
    last_id = ""
    for i, digest in enumerate(layer_digests):
        fields: dict[str, bytes] = {}
        if last_id:
            fields["parent"] = gojson.marshal(last_id)
        if i == len(layer_digests) - 1:
            fields.update(raw_values)
        chain_id = digest if not chain_id else "sha256:" + hashlib.sha256(f"{chain_id} {digest}".encode()).hexdigest()
        fields["layer_id"] = gojson.marshal(chain_id)
        layer_id = hashlib.sha256(_marshal_raw_map(fields)).hexdigest()
        del fields["layer_id"]
        fields["id"] = gojson.marshal(layer_id)
        yield layer_id, _marshal_raw_map(fields)
        last_id = layer_id


def _marshal_raw_map(fields: dict[str, bytes]) -> bytes:
    return b"{" + b",".join(gojson.marshal(k) + b":" + v for k, v in sorted(fields.items())) + b"}"


def _raw_top_level_values(raw: bytes, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """The exact (compacted) JSON text of selected top-level members of *raw*;
    like Go, the last occurrence of a duplicated key wins."""
    text = raw.decode("utf-8", errors="surrogateescape")
    decoder = json.JSONDecoder()
    out: dict[str, bytes] = {}
    i = text.index("{") + 1
    ws = " \t\r\n"
    while True:
        while i < len(text) and text[i] in ws + ",":
            i += 1
        if i >= len(text) or text[i] == "}":
            return out
        key, i = decoder.raw_decode(text, i)
        while text[i] in ws:
            i += 1
        i += 1  # ':'
        while text[i] in ws:
            i += 1
        _, end = decoder.raw_decode(text, i)
        if key in wanted:
            out[key] = compact_json(text[i:end].encode("utf-8", errors="surrogateescape"))
        i = end


class DockerArchiveWriter:
    """Builds a ``docker save`` archive on a :class:`TarWriter`.  Several images
    may be added before :meth:`close`; with *existing* (items, repositories, blob
    names) it continues an archive whose metadata was cut off for appending."""

    def __init__(self, tar: TarWriter, existing: ExistingArchive | None = None) -> None:
        self.tar = tar
        self.blobs: dict[str, int] = {}
        self.legacy_layers: set[str] = set()
        self.items: list[dict[str, Any]] = []
        self.repositories: dict[str, dict[str, str]] = {}
        if existing is not None:
            self.blobs.update(existing.blobs)
            self.legacy_layers.update(existing.legacy_layers)
            self.items = existing.items
            self.repositories = existing.repositories

    @staticmethod
    def layer_path(digest: str) -> str:
        return digest_mod.split(digest)[1] + ".tar"

    @staticmethod
    def config_path(digest: str) -> str:
        return digest_mod.split(digest)[1] + ".json"

    def has_blob(self, digest: str) -> int | None:
        return self.blobs.get(digest)

    def put_layer(self, stream: BlobStream, info: BlobInfo) -> BlobInfo:
        if info.digest is not None and info.digest in self.blobs:
            return BlobInfo(info.digest, self.blobs[info.digest], info.media_type)

        def name_for(digest: str) -> str | None:
            if digest in self.blobs:
                return None
            return self.layer_path(digest)

        algo = (info.digest or digest_mod.CANONICAL).partition(":")[0]
        try:
            digest, size = self.tar.add_stream(stream, info.size if info.digest else -1, name_for, algo)
        except SkopeoError as e:
            if info.digest and info.size >= 0:
                raise
            # Upstream spools a layer of unknown size to a temporary file first; its failures say so.
            raise e.wrap("writing to temporary on-disk layer") from None
        self.blobs.setdefault(digest, size)
        return BlobInfo(digest, size, info.media_type)

    def put_config(self, data: bytes, digest: str) -> BlobInfo:
        if digest not in self.blobs:
            self.tar.add_bytes(self.config_path(digest), data)
            self.blobs[digest] = len(data)
        return BlobInfo(digest, len(data))

    def add_image(self, layer_digests: list[str], config_digest: str, config: bytes,
                  repo_tags: list[DockerReference]) -> None:
        last_id = ""
        legacy = legacy_layer_configs(layer_digests, config)
        for (layer_id, layer_json), digest in zip(legacy, layer_digests, strict=True):
            last_id = layer_id
            if layer_id in self.legacy_layers:
                continue
            self.tar.add_symlink(f"{layer_id}/{LEGACY_LAYER_FILE}", f"../{self.layer_path(digest)}")
            self.tar.add_bytes(f"{layer_id}/{LEGACY_VERSION_FILE}", b"1.0")
            self.tar.add_bytes(f"{layer_id}/{LEGACY_CONFIG_FILE}", layer_json)
            self.legacy_layers.add(layer_id)
        new_tags = []
        for ref in repo_tags:
            tag = repo_tag_string(ref)
            if tag not in new_tags:
                new_tags.append(tag)
        # A tag names one image: appending an image under an existing tag moves it.
        for item in self.items:
            if item.get("Config") != self.config_path(config_digest):
                item["RepoTags"] = [t for t in item.get("RepoTags") or [] if t not in new_tags]
        layers = [self.layer_path(d) for d in layer_digests]
        for item in self.items:
            if item.get("Config") == self.config_path(config_digest) and list(item.get("Layers") or []) == layers:
                tags = list(item.get("RepoTags") or [])
                item["RepoTags"] = tags + [t for t in new_tags if t not in tags]
                break
        else:
            self.items.append({"Config": self.config_path(config_digest), "RepoTags": new_tags, "Layers": layers})
        if last_id:
            for ref in repo_tags:
                assert ref.tag is not None
                self.repositories.setdefault(ref.name, {})[ref.tag] = last_id

    def close(self) -> None:
        self.tar.add_bytes(MANIFEST_FILE, marshal_manifest_json(self.items))
        repos = {name: dict(sorted(tags.items())) for name, tags in sorted(self.repositories.items())}
        self.tar.add_bytes(REPOSITORIES_FILE, gojson.marshal(repos))
        self.tar.finish()


class ExistingArchive:
    """What an archive being appended to already holds."""

    def __init__(self, index: TarIndex) -> None:
        reader = DockerArchiveReader(index)
        self.items = reader.items
        try:
            repos = json.loads(index.read(REPOSITORIES_FILE, MAX_TAR_MANIFEST_SIZE)) if index.exists(
                REPOSITORIES_FILE) else {}
        except (ValueError, UnicodeDecodeError) as e:
            raise ArchiveError(f"decoding tar repositories: {e}") from None
        if not isinstance(repos, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) for v in repos.values()
        ):
            raise ArchiveError("decoding tar repositories: not a map of repositories to tags")
        self.repositories: dict[str, dict[str, str]] = repos
        self.blobs: dict[str, int] = {}
        self.legacy_layers: set[str] = set()
        for name, member in index.members.items():
            if "/" not in name and member.kind == "file" and name.endswith((".tar", ".json")):
                stem = name.rsplit(".", 1)[0]
                if digest_mod.is_digest(f"sha256:{stem}"):
                    self.blobs[f"sha256:{stem}"] = member.size
            elif name.endswith(f"/{LEGACY_CONFIG_FILE}") and name.count("/") == 1:
                self.legacy_layers.add(name.split("/", 1)[0])
