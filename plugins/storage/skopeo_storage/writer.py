"""Changing a store: committing layers, creating or updating an image record,
deleting an image, as containers/storage's ``store.go`` does under its locks.

A new layer's record is saved with the ``incomplete`` flag before its files are
put in place and saved again without it afterwards, so that a crash leaves a
layer every containers/storage user recognises as garbage and removes; stale
incomplete layers found while holding the layer lock are removed here too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from skopeo import log

from . import records
from .drivers import OverlayDriver, VfsDriver
from .layerio import LayerData, LayerFormatError, Staging, ingest_tar
from .records import Record
from .store import LayerStore, Store, StoreError, os_error_text
from .unpack import Extractor


def layer_id(parent: str, diff_id: str) -> str:
    """The layer ("chain") ID containers/image gives a layer: the diffID's hex
    for a base layer, else sha256 of ``parent + "+" + hex``."""
    hexpart = diff_id.partition(":")[2]
    if not parent:
        return hexpart
    return hashlib.sha256(f"{parent}+{hexpart}".encode()).hexdigest()


@dataclass
class PlannedLayer:
    """One layer of the image being committed."""

    id: str
    parent: str
    diff_id: str
    # Where its content comes from when it must be created: staged data, or a
    # function opening the tar of a layer already in the store with the same diffID.
    staged: LayerData | None
    existing_tar: Callable[[], BinaryIO] | None = None


def remove_stale_layers(store: Store, layers: LayerStore) -> None:
    """Layers left incomplete by a writer that died (the lock is held for
    writing, so no live writer owns them): removed, as upstream's load does."""
    stale = layers.incomplete()
    if not stale:
        return
    for record in stale:
        log.warning(f'Found incomplete layer "{record["id"]}", deleting it')
        store.driver.remove(record["id"])
        try:
            os.remove(layers.tar_split_path(record["id"]))
        except FileNotFoundError:
            pass
    gone = {r["id"] for r in stale}
    locations = tuple(sorted({layers.location.get(i, "stable") for i in gone}))
    layers.records = [r for r in layers.records if r["id"] not in gone]
    layers.save(locations)


def commit_layers(store: Store, planned: list[PlannedLayer], temp: Staging, *, rootless: bool) -> None:
    """Create the layers of *planned* that do not exist yet, bottom up."""
    layers = store.layers
    with layers.writing():
        remove_stale_layers(store, layers)
        new = [p for p in planned if layers.get(p.id) is None]
        if not new:
            return
        for p in new:
            if p.parent and layers.get(p.parent) is None and all(q.id != p.parent for q in new):
                raise StoreError(f'parent layer "{p.parent}" of layer "{p.id}": layer not known')
        for p in new:
            if p.id in layers.location:  # an incomplete one we just removed cannot be here; be safe
                continue
            layers.records.append(records.new_layer(p.id, p.parent))
            layers.location[p.id] = "stable"
        layers.save()
        try:
            for p in new:
                try:
                    data = _materialize(store, p, temp, rootless)
                except LayerFormatError as e:
                    raise StoreError(f'adding layer with blob "{p.diff_id}": {e}') from None
                except OSError as e:
                    raise StoreError(f'adding layer with blob "{p.diff_id}": {os_error_text(e)}') from None
                record = layers.by_id(p.id)
                assert record is not None
                record.update({
                    "compressed-diff-digest": data.compressed_digest,
                    "compressed-size": data.compressed_size,
                    "diff-digest": data.diff_id,
                    "diff-size": data.diff_size,
                    "compression": records.COMPRESSION_CODES.get(data.compression, 0),
                    "uidset": data.uids,
                    "gidset": data.gids,
                })
        except BaseException:
            # Undo what this commit created (upstream deletes the layer it failed on).
            for p in new:
                store.driver.remove(p.id)
                try:
                    os.remove(layers.tar_split_path(p.id))
                except FileNotFoundError:
                    pass
            ids = {p.id for p in new}
            layers.records = [r for r in layers.records if r["id"] not in ids]
            layers.save()
            raise
        for p in new:
            record = layers.by_id(p.id)
            assert record is not None
            flags = record.get("flags")
            if isinstance(flags, dict):
                flags.pop(records.INCOMPLETE_FLAG, None)
        if store.driver.sync:
            os.sync()
        layers.save()


def _materialize(store: Store, p: PlannedLayer, temp: Staging, rootless: bool) -> LayerData:
    """Put the layer's files and tar-split record in place; returns its data."""
    driver = store.driver
    tar_split_dest = store.layers.tar_split_path(p.id)
    if isinstance(driver, OverlayDriver):
        data = p.staged
        if data is None or not data.diff_dir or not os.path.isdir(data.diff_dir):
            data = _restage(store, p, temp, rootless)
        driver.create_layer(p.id, p.parent, data.diff_dir)
        os.rename(data.tar_split, tar_split_dest)
        os.chmod(tar_split_dest, 0o600)
        return data
    assert isinstance(driver, VfsDriver)
    return _create_vfs_layer(store, p, temp, rootless, tar_split_dest)


def _existing_tar(p: PlannedLayer) -> BinaryIO:
    if p.existing_tar is None:
        raise StoreError(f"layer for blob {p.diff_id} not found")
    return p.existing_tar()


def _restage(store: Store, p: PlannedLayer, temp: Staging, rootless: bool) -> LayerData:
    """A second layer with the same content (another parent, or the same blob
    twice in one image): extracted again from the tar of the first."""
    from .layerio import stage_layer

    driver = store.driver
    tar = _existing_tar(p) if p.staged is None or not p.staged.blob else open(p.staged.blob, "rb")
    try:
        data = stage_layer(tar, None, temp, unpack_mode=driver.unpack_mode, rootless=rootless,
                           ignore_chown_errors=driver.ignore_chown_errors, opaque_xattr=opaque_xattr(rootless))
    finally:
        tar.close()
    if p.staged is not None:
        data.compressed_digest, data.compressed_size = p.staged.compressed_digest, p.staged.compressed_size
        data.compression = p.staged.compression
    else:
        data.compressed_digest, data.compressed_size, data.compression = p.diff_id, data.diff_size, None
    if data.diff_id != p.diff_id:
        raise StoreError(f"layer content changed: got {data.diff_id}, want {p.diff_id}")
    return data


def opaque_xattr(rootless: bool) -> str:
    return "user.overlay.opaque" if rootless else "trusted.overlay.opaque"


def _create_vfs_layer(store: Store, p: PlannedLayer, temp: Staging, rootless: bool, tar_split_dest: str) -> LayerData:
    from .dircopy import copy_tree
    from .layerio import _decompressed, _Hashing

    driver = store.driver
    target = os.path.join(driver.home, "dir", p.id)
    if os.path.lexists(target):
        driver.remove(p.id)
    os.mkdir(target, 0o700)
    try:
        base_mode = 0o555
        if p.parent:
            parent_dir = driver.layer_dir(p.parent)
            base_mode = os.stat(parent_dir).st_mode & 0o7777
            copy_tree(parent_dir, target)
        staged = p.staged
        source = open(staged.blob, "rb") if staged is not None and staged.blob else _existing_tar(p)
        tmp_split = temp.meta.new_path()
        fd = os.open(tmp_split, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        extractor = Extractor(target, "apply", rootless=rootless, ignore_chown_errors=driver.ignore_chown_errors)
        try:
            os.chmod(target, base_mode | 0o700)
            tar, algo = _decompressed(source)
            hashed = _Hashing(tar, True)
            ingest_tar(hashed, extractor, fd)  # type: ignore[arg-type]
            while hashed.read(1 << 20):
                pass
        finally:
            os.close(fd)
            extractor.close()
            source.close()
        if not extractor.root_entry_seen:
            os.chmod(target, base_mode)
        if hashed.digest != p.diff_id:
            raise StoreError(f"layer content changed: got {hashed.digest}, want {p.diff_id}")
        os.rename(tmp_split, tar_split_dest)
        if staged is not None:
            data = staged
        else:
            data = LayerData(p.diff_id, hashed.size, p.diff_id, hashed.size, None)
        data.uids, data.gids = sorted(extractor.uids), sorted(extractor.gids)
        data.compression = algo if staged is not None else None
        return data
    except BaseException:
        driver.remove(p.id)
        raise


# --- images -------------------------------------------------------------------------
@dataclass
class BigData:
    key: str
    data: bytes
    digest: str


def _add_names(image: Record, names: list[str], others: list[Record]) -> None:
    """``updateNames(addNames)``: the names move here from any other image."""
    current = records.names_of(image)
    merged: list[str] = []
    for name in [*current, *names]:
        if name not in merged:
            merged.append(name)
    history = [h for h in image.get("names-history") or [] if isinstance(h, str)]
    for name in merged:
        for other in others:
            if other is not image and name in records.names_of(other):
                other["names"] = [n for n in records.names_of(other) if n != name]
        history = [name, *[h for h in history if h != name]]
    image["names"] = merged
    image["names-history"] = history


def store_image(store: Store, intended_id: str, top_layer: str, created: str, big_data: list[BigData],
                metadata: str, names: list[str]) -> Record:
    """Create the image (or update the one with that ID), with its big-data
    items, metadata and names; returns the record."""
    images = store.images
    with images.writing():
        image = images.by_id(intended_id)
        if image is not None and image.get("layer", "") != top_layer:
            raise StoreError(f'image with ID "{intended_id}" already exists, but uses a different top layer: '
                             "that ID is already in use")
        new = image is None
        if image is None:
            image = records.new_image(intended_id, top_layer, created)
        data_dir = os.path.join(images.dir, intended_id)
        os.makedirs(data_dir, 0o700, exist_ok=True)
        for item in big_data:
            records.atomic_write(images.data_path(intended_id, item.key), item.data)
            names_list = image.setdefault("big-data-names", [])
            if item.key not in names_list:
                names_list.append(item.key)
            image.setdefault("big-data-sizes", {})[item.key] = len(item.data)
            image.setdefault("big-data-digests", {})[item.key] = item.digest
            if not image.get("digest") and item.key.startswith(records.MANIFEST_KEY):
                image["digest"] = item.digest
        if metadata:
            image["metadata"] = metadata
        if new:
            images.records.append(image)
            images.location[intended_id] = "stable"
        _add_names(image, names, images.records)
        images.save()
        return dict(image)


def delete_image(store: Store, image: Record) -> list[str]:
    """``store.DeleteImage(id, commit=true)``: the image record and data, and the
    layers only it used; returns the removed layer IDs."""
    if image.get("read-only"):
        raise StoreError(f'not allowed to delete images at "{store.images.dir}/images.json": '
                         "called a write method on a read-only store")
    layers, images, containers = store.layers, store.images, store.containers
    with layers.writing(), images.writing(), containers.reading():
        found = images.by_id(image["id"])
        if found is None:
            raise StoreError("identifier is not an image")
        record = found
        for container in containers.records:
            if container.get("image") == record["id"]:
                raise StoreError(f"image used by {container['id']}: image is in use by a container")
        children: dict[str, list[str]] = {}
        for layer in layers.records:
            children.setdefault(str(layer.get("parent") or ""), []).append(layer["id"])
        others: set[str] = set()
        for other in images.records:
            if other["id"] != record["id"]:
                others.add(str(other.get("layer") or ""))
                others.update(x for x in other.get("mapped-layers") or [] if isinstance(x, str))
        container_layers = {str(c.get("layer") or "") for c in containers.records}
        doomed: list[str] = [x for x in record.get("mapped-layers") or [] if isinstance(x, str)]
        current = str(record.get("layer") or "")
        while current and current not in container_layers and current not in others:
            current_layer = layers.by_id(current)
            parent = str(current_layer.get("parent") or "") if current_layer is not None else ""
            check = [current, *(record.get("mapped-layers") or [])] if current == record.get("layer") else [current]
            if any(child not in doomed for c in check for child in children.get(c, [])):
                break
            doomed.append(current)
            current = parent
        images.records = [r for r in images.records if r["id"] != record["id"]]
        images.save()
        _remove_data_dir(os.path.join(images.dir, record["id"]))
        if doomed:
            gone = set(doomed)
            for layer_id_ in doomed:
                rec = layers.by_id(layer_id_)
                if rec is not None:
                    rec.setdefault("flags", {})[records.INCOMPLETE_FLAG] = True
            locations = tuple(sorted({layers.location.get(i, "stable") for i in gone}))
            layers.save(locations)
            for layer_id_ in doomed:
                store.driver.remove(layer_id_)
                try:
                    os.remove(layers.tar_split_path(layer_id_))
                except FileNotFoundError:
                    pass
            layers.records = [r for r in layers.records if r["id"] not in gone]
            layers.save(locations)
        return doomed


def _remove_data_dir(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
