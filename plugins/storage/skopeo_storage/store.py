"""A containers/storage store: the layer, image and container metadata of one
graph root / run root / driver, each guarded by its lock file.

Layout (``<d>`` is the driver name), as ``store.GetStore`` creates it::

    GRAPHROOT/storage.lock, userns.lock
    GRAPHROOT/<d>/                      the driver's data (drivers.py)
    GRAPHROOT/<d>-layers/layers.lock, layers.json, volatile-layers.json, <id>.tar-split.gz
    GRAPHROOT/<d>-images/images.lock, images.json, <id>/<big-data files>
    GRAPHROOT/<d>-containers/containers.lock, containers.json   (read only here)
    RUNROOT/<d>-layers/mountpoints.lock, RUNROOT/<d>-containers/, RUNROOT/<d>-locks/

Every read takes the lock shared and reloads the JSON when the lock's writer
token (or the file's mtime) changed; every write takes it exclusively, reloads,
changes, replaces the token and then the file.  Lock order, as upstream: layers,
then images, then containers.  Additional image stores (``imagestore=`` options)
are read only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, cast

from skopeo import log
from skopeo.errors import SkopeoError

from . import records
from .config import StoreOptions
from .drivers import Driver, choose_driver, new_driver
from .lockfile import LockFile, get_lock_file
from .records import Record

if TYPE_CHECKING:
    from .tarsplit import TarAssembler

TAR_SPLIT_SUFFIX = ".tar-split.gz"


class StoreError(SkopeoError):
    pass


def _load(path: str) -> list[Record]:
    try:
        return records.decode_list(path)
    except ValueError as e:
        raise StoreError(str(e)) from None
    except OSError as e:
        raise StoreError(f"open {path}: {(e.strerror or str(e)).lower()}") from None


def os_error_text(e: OSError) -> str:
    """An OSError as Go's ``*PathError``/``*LinkError`` reads: ``open PATH: reason``."""
    reason = (e.strerror or str(e)).lower()
    if e.filename is not None and e.filename2 is not None:
        return f"rename {e.filename} {e.filename2}: {reason}"
    if e.filename is not None:
        return f"{e.filename}: {reason}"
    return reason


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


class _JSONStore:
    """What the three stores share: a lock, JSON files, reload on change."""

    def __init__(self, lock_path: str, paths: dict[str, str], read_only: bool) -> None:
        self.lock: LockFile = get_lock_file(lock_path, read_only)
        self.paths = paths  # location name -> JSON file ("" = not used)
        self.read_only = read_only
        self.records: list[Record] = []
        self.location: dict[str, str] = {}  # id -> location name
        self._token: bytes | None = None
        self._mtimes: dict[str, int] = {}

    def _refresh(self) -> None:
        token = self.lock.last_write()
        mtimes = {name: _mtime(p) for name, p in self.paths.items() if p}
        if token == self._token and mtimes == self._mtimes:
            return
        loaded: list[Record] = []
        location: dict[str, str] = {}
        for name, path in self.paths.items():
            if not path:
                continue
            for record in _load(path):
                if record["id"] in location:
                    continue  # a duplicate across files: the first wins, as upstream
                location[record["id"]] = name
                loaded.append(record)
        self.records, self.location = loaded, location
        self._token, self._mtimes = token, mtimes
        self._index()

    def _index(self) -> None:
        pass

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self.lock.locked(exclusive=False):
            self._refresh()
            yield

    @contextmanager
    def writing(self) -> Iterator[None]:
        if self.read_only:
            raise StoreError("called a write method on a read-only store")
        with self.lock.locked(exclusive=True):
            self._refresh()
            yield

    def _encode(self, subset: list[Record]) -> bytes:
        raise NotImplementedError

    def save(self, locations: tuple[str, ...] = ("stable",), sync: bool = True) -> None:
        """Write the files of *locations* (the lock held for writing); the token
        first, so a crash in between still makes readers reload."""
        self._token = self.lock.record_write()
        for name in locations:
            path = self.paths[name]
            subset = [r for r in self.records if self.location.get(r["id"], "stable") == name]
            records.atomic_write(path, self._encode(subset), sync=sync and name != "volatile")
            self._mtimes[name] = _mtime(path)
        self._index()

    def by_id(self, record_id: str) -> Record | None:
        raise NotImplementedError


def _unique_prefix(ids: list[str], prefix: str) -> str | None:
    """``truncindex``: the one ID starting with *prefix*, if exactly one does."""
    found = None
    for i in ids:
        if i.startswith(prefix):
            if found is not None:
                return None
            found = i
    return found


class LayerStore(_JSONStore):
    def __init__(self, layer_dir: str, volatile_dir: str, read_only: bool) -> None:
        super().__init__(
            os.path.join(layer_dir, "layers.lock"),
            {"stable": os.path.join(layer_dir, "layers.json"),
             "volatile": os.path.join(volatile_dir, "volatile-layers.json")},
            read_only,
        )
        self.dir = layer_dir
        self._by_id: dict[str, Record] = {}
        self._by_name: dict[str, Record] = {}

    def _encode(self, subset: list[Record]) -> bytes:
        return records.encode_layers(subset)

    def _index(self) -> None:
        self._by_id = {r["id"]: r for r in self.records}
        self._by_name = {n: r for r in self.records for n in records.names_of(r)}

    def tar_split_path(self, layer_id: str) -> str:
        return os.path.join(self.dir, layer_id + TAR_SPLIT_SUFFIX)

    def by_id(self, record_id: str) -> Record | None:
        return self._by_id.get(record_id)

    def get(self, key: str) -> Record | None:
        """By ID, name or unique ID prefix; incomplete layers (a writer that died)
        are not layers."""
        record = self._by_id.get(key) or self._by_name.get(key)
        if record is None:
            full = _unique_prefix(list(self._by_id), key) if key else None
            record = self._by_id.get(full) if full else None
        if record is not None and records.has_incomplete_flag(record):
            return None
        return record

    def by_digest(self, field: str, digest: str) -> list[Record]:
        return [r for r in self.records if r.get(field) == digest and not records.has_incomplete_flag(r)]

    def incomplete(self) -> list[Record]:
        return [r for r in self.records if records.has_incomplete_flag(r)]


class ImageStore(_JSONStore):
    def __init__(self, image_dir: str, read_only: bool) -> None:
        super().__init__(os.path.join(image_dir, "images.lock"), {"stable": os.path.join(image_dir, "images.json")},
                         read_only)
        self.dir = image_dir
        self._by_id: dict[str, Record] = {}
        self._by_name: dict[str, Record] = {}

    def _encode(self, subset: list[Record]) -> bytes:
        return records.encode_images(subset)

    def _index(self) -> None:
        self._by_id = {r["id"]: r for r in self.records}
        self._by_name = {}
        for r in self.records:
            for name in records.names_of(r):
                self._by_name.setdefault(name, r)

    def by_id(self, record_id: str) -> Record | None:
        return self._by_id.get(record_id)

    def get(self, key: str) -> Record | None:
        record = self._by_id.get(key) or self._by_name.get(key)
        if record is None and key:
            full = _unique_prefix(list(self._by_id), key)
            record = self._by_id.get(full) if full else None
        return record

    def by_digest(self, digest: str) -> list[Record]:
        return [r for r in self.records if digest in records.image_digests(r)]

    def data_path(self, image_id: str, key: str) -> str:
        return os.path.join(self.dir, image_id, records.big_data_file_name(key))

    def big_data(self, image_id: str, key: str) -> bytes:
        with open(self.data_path(image_id, key), "rb") as f:
            return f.read()


class ContainerStore(_JSONStore):
    def __init__(self, container_dir: str, volatile_dir: str) -> None:
        super().__init__(
            os.path.join(volatile_dir, "containers.lock"),
            {"stable": os.path.join(container_dir, "containers.json"),
             "volatile": os.path.join(volatile_dir, "volatile-containers.json")},
            read_only=False,  # the lock is taken like upstream's (read-write file), only for reading
        )

    def _encode(self, subset: list[Record]) -> bytes:
        raise StoreError("containers are not written by this implementation")

    def by_id(self, record_id: str) -> Record | None:
        return next((r for r in self.records if r["id"] == record_id), None)


class Store:
    """One store, opened (and its directories created) as upstream's GetStore."""

    def __init__(self, options: StoreOptions) -> None:
        if options.image_store:
            raise StoreError("the imagestore option is not supported by this implementation of containers-storage")
        self.options = options
        self.graph_root = os.path.abspath(options.graph_root)
        self.run_root = os.path.abspath(options.run_root)
        self.graph_options = list(options.driver_options)
        try:
            os.makedirs(self.run_root, 0o700, exist_ok=True)
            os.makedirs(self.graph_root, 0o700, exist_ok=True)
            self.graph_lock = get_lock_file(os.path.join(self.graph_root, "storage.lock"))
            get_lock_file(os.path.join(self.graph_root, "userns.lock"))
            name = choose_driver(options.driver, self.graph_root, options.driver_priority)
            self.driver: Driver = new_driver(name, self.graph_root, self.graph_options)
            self.driver_name = name
            prefix = name + "-"
            image_dir = os.path.join(self.graph_root, prefix + "images")
            os.makedirs(image_dir, 0o700, exist_ok=True)
            self.images = ImageStore(image_dir, read_only=False)
            container_dir = os.path.join(self.graph_root, prefix + "containers")
            run_containers = os.path.join(self.run_root, prefix + "containers")
            os.makedirs(container_dir, 0o700, exist_ok=True)
            os.makedirs(run_containers, 0o700, exist_ok=True)
            self.containers = ContainerStore(container_dir, run_containers if options.transient_store else container_dir)
            os.makedirs(os.path.join(self.run_root, prefix + "locks"), 0o700, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{e.strerror.lower() if e.strerror else e}: {e.filename}") from None
        self._layers: LayerStore | None = None
        self.ro_images = self._additional(ImageStore, "images")
        self._ro_layers: list[LayerStore] | None = None

    def _additional(self, kind: type[ImageStore], suffix: str) -> list[ImageStore]:
        out = []
        for store in self.driver.additional_stores:
            path = os.path.join(store, f"{self.driver_name}-{suffix}")
            try:
                out.append(kind(path, read_only=True))
            except OSError as e:
                log.debug(f"Ignoring additional image store {path}: {e}")
        return out

    @property
    def layers(self) -> LayerStore:
        if self._layers is None:
            prefix = self.driver_name + "-"
            layer_dir = os.path.join(self.graph_root, prefix + "layers")
            run_layers = os.path.join(self.run_root, prefix + "layers")
            os.makedirs(layer_dir, 0o700, exist_ok=True)
            os.makedirs(run_layers, 0o700, exist_ok=True)
            get_lock_file(os.path.join(run_layers, "mountpoints.lock"))
            self._layers = LayerStore(layer_dir, run_layers if self.options.transient_store else layer_dir, False)
        return self._layers

    @property
    def ro_layers(self) -> list[LayerStore]:
        if self._ro_layers is None:
            self._ro_layers = []
            for store in self.driver.additional_stores:
                path = os.path.join(store, f"{self.driver_name}-layers")
                try:
                    self._ro_layers.append(LayerStore(path, path, read_only=True))
                except OSError as e:
                    log.debug(f"Ignoring additional layer store {path}: {e}")
        return self._ro_layers

    # --- identity ---------------------------------------------------------------------
    def spec(self, with_options: bool = True) -> str:
        text = f"{self.driver_name}@{self.graph_root}+{self.run_root}"
        if with_options and self.graph_options:
            text += ":" + ",".join(self.graph_options)
        return f"[{text}]"

    # --- images -----------------------------------------------------------------------
    def image(self, key: str) -> Record | None:
        """``store.Image``: by ID, name or unique ID prefix, the writable store first."""
        with self.images.reading():
            found = self.images.get(key)
            if found is not None:
                return dict(found)
            local_ids = set(self.images._by_id)
        for ro in self.ro_images:
            with ro.reading():
                found = ro.get(key)
                if found is not None and found["id"] not in local_ids:
                    return dict(found, **{"read-only": True})
        return None

    def images_by_digest(self, digest: str) -> list[Record]:
        out: list[Record] = []
        with self.images.reading():
            out.extend(dict(r) for r in self.images.by_digest(digest))
        for ro in self.ro_images:
            with ro.reading():
                out.extend(dict(r, **{"read-only": True}) for r in ro.by_digest(digest))
        return out

    def image_big_data(self, image: Record, key: str) -> bytes:
        stores = self.ro_images if image.get("read-only") else [self.images]
        for st in stores:
            with st.reading():
                if st.by_id(image["id"]) is None:
                    continue
                try:
                    return st.big_data(image["id"], key)
                except FileNotFoundError:
                    raise
                except OSError as e:
                    raise StoreError(f"open {st.data_path(image['id'], key)}: {(e.strerror or str(e)).lower()}") from None
        raise StoreError(f'locating image with ID "{image["id"]}": image not known')

    # --- layers -----------------------------------------------------------------------
    def layer(self, key: str) -> tuple[Record, LayerStore] | None:
        for st in (self.layers, *self.ro_layers):
            with st.reading():
                found = st.get(key)
                if found is not None:
                    return dict(found), st
        return None

    def layers_by(self, field: str, digest: str) -> list[Record]:
        out: list[Record] = []
        for st in (self.layers, *self.ro_layers):
            with st.reading():
                out.extend(dict(r) for r in st.by_digest(field, digest))
        return out

    def layer_chain(self, top: str) -> list[Record]:
        """The image's layers, base first."""
        chain: list[Record] = []
        current = top
        while current:
            found = self.layer(current)
            if found is None:
                raise StoreError(f'reading layer "{current}": layer not known')
            chain.append(found[0])
            current = str(found[0].get("parent") or "")
            if len(chain) > 4096:
                raise StoreError(f'layer "{top}" has a parent loop')
        chain.reverse()
        return chain

    def open_diff(self, layer: Record, lower_ids: list[str]) -> BinaryIO:
        """The layer's uncompressed tar, rebuilt from its tar-split record and
        files; the layer store stays locked (shared) until the stream is closed."""
        from .tarsplit import TarAssembler

        found = self.layer(layer["id"])
        if found is None:
            raise StoreError(f'reading layer "{layer["id"]}": layer not known')
        _, st = found
        st.lock.acquire(exclusive=False)
        try:
            path = st.tar_split_path(layer["id"])
            try:
                record = open(path, "rb")
            except FileNotFoundError:
                raise StoreError(f'layer "{layer["id"]}" has no tar-split record ({path}): '
                                 "rebuilding its tar without one is not supported") from None
            dirs = self.driver.content_dirs(layer["id"], lower_ids)

            def open_file(name: str) -> BinaryIO:
                rel = name.lstrip("/")
                for d in dirs:
                    try:
                        return open(os.path.join(d, rel), "rb")
                    except FileNotFoundError:
                        continue
                return open(os.path.join(dirs[0], rel), "rb")

            assembler = TarAssembler(record, open_file)
        except BaseException:
            st.lock.release()
            raise
        return cast(BinaryIO, _LockedStream(assembler, st.lock))


class _LockedStream:
    def __init__(self, inner: TarAssembler, lock: LockFile) -> None:
        self._inner = inner
        self._lock: LockFile | None = lock

    def read(self, n: int = -1) -> bytes:
        try:
            return self._inner.read(n)
        except OSError as e:
            what = f"open {e.filename}" if e.filename else "reading layer"
            raise StoreError(f"{what}: {(e.strerror or str(e)).lower()}") from None
        except ValueError as e:  # a damaged tar-split record
            raise StoreError(f"rebuilding the layer's tar: {e}") from None

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None


_stores: dict[tuple[str, str, str], Store] = {}


def get_store(options: StoreOptions) -> Store:
    """The process-wide store for these roots (and driver), opened once."""
    key = (os.path.abspath(options.graph_root), os.path.abspath(options.run_root), options.driver)
    store = _stores.get(key)
    if store is None:
        store = Store(options)
        _stores[key] = store
    return store
