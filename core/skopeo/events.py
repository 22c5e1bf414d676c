"""Progress as events: what a copy or a sync is doing, as typed values.

The copy engine and ``sync`` never write text.  They call an event
*consumer*, any callable taking one :class:`Event` (``Consumer``); the
command line's lines and bars are one such consumer
(:class:`skopeo.progress.Progress`), a program's own bar (rich, tqdm, a web
page) is another.  See docs/api.md for examples.

Every event is a small read-only value with a ``repr``, equality and
``_asdict()``, matched with ``match``/``case`` (positional patterns follow the
fields' order) or ``isinstance``.  Two fields end every event:

* ``copy_id``: which copy it belongs to (a number unique in the process,
  announced by :class:`CopyStarted`), so that one consumer can follow the
  parallel copies of a sync (0 for sync's own events);
* ``instance``: the index of the list instance it belongs to when a whole
  list is copied (``multi_arch="all"``; instances are copied several at once,
  so their events interleave), else None.

Delivery: a consumer is called from the threads that do the work, but never
by two threads at once (:func:`serialized`); it should return quickly.  An
exception it raises ends the operation and reaches the caller (a way to
cancel a copy).  Blob byte counts (:class:`BlobProgress`) come at most every
``PROGRESS_BYTES`` bytes or ``PROGRESS_SECONDS`` seconds of a blob's
transfer; :class:`BlobDone` carries the final count.

The events are plain slotted classes, not dataclasses or NamedTuples: two
dozen of those cost ~2 ms at every ``skopeo copy``'s start, these 0.4 ms.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

# A BlobProgress event at most every this many bytes, or this many seconds, of one blob.
PROGRESS_BYTES = 1 << 20
PROGRESS_SECONDS = 0.2


class Event:
    """What every event has: its fields (``_fields``, in order), the copy and
    list instance it belongs to."""

    __slots__ = ("copy_id", "instance")
    _fields: ClassVar[tuple[str, ...]] = ("copy_id", "instance")
    # Each event's own fields, in order (its __slots__, as ruff wants those sorted).
    __match_args__: ClassVar[tuple[str, ...]] = ()
    copy_id: int
    instance: int | None

    def __init_subclass__(cls) -> None:
        cls._fields = cls.__match_args__ + Event._fields

    def _asdict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._fields}

    def _replace(self, **changes: Any) -> Any:
        """A copy of this event with *changes* (field names and values)."""
        new = object.__new__(type(self))
        for name in self._fields:
            object.__setattr__(new, name, changes[name] if name in changes else getattr(self, name))
        return new

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self._fields)

    def __hash__(self) -> int:
        return hash((type(self), *(getattr(self, n) for n in self._fields)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"


# --- one copy ---------------------------------------------------------------------------
class CopyStarted(Event):
    """A copy begins (before either end is opened)."""

    __match_args__ = ("source", "destination")
    __slots__ = __match_args__
    source: str
    destination: str

    def __init__(self, source: str, destination: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.source = source
        self.destination = destination
        self.copy_id = copy_id
        self.instance = instance


class CopyDone(Event):
    """A copy ended well; *digest* is the manifest written (or found, when
    *skipped*), *bytes_copied* the blob bytes read from the source."""

    __match_args__ = ("digest", "mime", "skipped", "bytes_copied")
    __slots__ = __match_args__
    digest: str
    mime: str
    skipped: bool
    bytes_copied: int

    def __init__(self, digest: str, mime: str, skipped: bool, bytes_copied: int, copy_id: int = 0, instance: int | None = None) -> None:
        self.digest = digest
        self.mime = mime
        self.skipped = skipped
        self.bytes_copied = bytes_copied
        self.copy_id = copy_id
        self.instance = instance


class CopyFailed(Event):
    """A copy ended with an error (the one the call raises)."""

    __match_args__ = ("error",)
    __slots__ = __match_args__
    error: str

    def __init__(self, error: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.error = error
        self.copy_id = copy_id
        self.instance = instance


class ImageSkipped(Event):
    """The destination already holds this manifest (sync's skip of unchanged images)."""

    __match_args__ = ("digest",)
    __slots__ = __match_args__
    digest: str

    def __init__(self, digest: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.digest = digest
        self.copy_id = copy_id
        self.instance = instance


class GettingSignatures(Event):
    """The source's signatures are read, of an image or (*list*) of a manifest list."""

    __match_args__ = ("list",)
    __slots__ = __match_args__
    list: bool

    def __init__(self, list: bool = False, copy_id: int = 0, instance: int | None = None) -> None:
        self.list = list
        self.copy_id = copy_id
        self.instance = instance


class CheckingSignatureSupport(Event):
    """The source has signatures: can the destination store them?"""

    __match_args__ = ()
    __slots__ = __match_args__

    def __init__(self, copy_id: int = 0, instance: int | None = None) -> None:
        self.copy_id = copy_id
        self.instance = instance


class BlobStarted(Event):
    """A layer's transfer begins: *index* is its place in the manifest, *size*
    its size if known (else -1); *blob_id* names it in the events that follow."""

    __match_args__ = ("blob_id", "digest", "size", "index")
    __slots__ = __match_args__
    blob_id: int
    digest: str
    size: int
    index: int

    def __init__(self, blob_id: int, digest: str, size: int, index: int, copy_id: int = 0, instance: int | None = None) -> None:
        self.blob_id = blob_id
        self.digest = digest
        self.size = size
        self.index = index
        self.copy_id = copy_id
        self.instance = instance


class BlobProgress(Event):
    """Bytes of a layer read so far (from 0 again if the transfer restarted)."""

    __match_args__ = ("blob_id", "digest", "copied", "size")
    __slots__ = __match_args__
    blob_id: int
    digest: str
    copied: int
    size: int

    def __init__(self, blob_id: int, digest: str, copied: int, size: int, copy_id: int = 0, instance: int | None = None) -> None:
        self.blob_id = blob_id
        self.digest = digest
        self.copied = copied
        self.size = size
        self.copy_id = copy_id
        self.instance = instance


class BlobDone(Event):
    """A layer is stored: *copied* bytes read from the source; *stored_digest*
    the blob as the destination has it (another digest when it was
    (de)compressed or encrypted)."""

    __match_args__ = ("blob_id", "digest", "copied", "size", "stored_digest")
    __slots__ = __match_args__
    blob_id: int
    digest: str
    copied: int
    size: int
    stored_digest: str

    def __init__(self, blob_id: int, digest: str, copied: int, size: int, stored_digest: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.blob_id = blob_id
        self.digest = digest
        self.copied = copied
        self.size = size
        self.stored_digest = stored_digest
        self.copy_id = copy_id
        self.instance = instance


class BlobSkipped(Event):
    """A layer the destination already has (in this or another compression,
    *stored_digest*): nothing is transferred."""

    __match_args__ = ("digest", "size", "index", "stored_digest")
    __slots__ = __match_args__
    digest: str
    size: int
    index: int
    stored_digest: str

    def __init__(self, digest: str, size: int, index: int, stored_digest: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.digest = digest
        self.size = size
        self.index = index
        self.stored_digest = stored_digest
        self.copy_id = copy_id
        self.instance = instance


class CopyingConfig(Event):
    """The config blob is stored (right before the manifest)."""

    __match_args__ = ("digest", "size")
    __slots__ = __match_args__
    digest: str
    size: int

    def __init__(self, digest: str, size: int, copy_id: int = 0, instance: int | None = None) -> None:
        self.digest = digest
        self.size = size
        self.copy_id = copy_id
        self.instance = instance


class WritingManifest(Event):
    """A manifest (or, with *list*, a manifest list) is about to be written;
    when the destination refuses a format, the next one is tried: once per try."""

    __match_args__ = ("list",)
    __slots__ = __match_args__
    list: bool

    def __init__(self, list: bool = False, copy_id: int = 0, instance: int | None = None) -> None:
        self.list = list
        self.copy_id = copy_id
        self.instance = instance


class ManifestWritten(Event):
    """A manifest (or a manifest list) is stored."""

    __match_args__ = ("digest", "mime", "list")
    __slots__ = __match_args__
    digest: str
    mime: str
    list: bool

    def __init__(self, digest: str, mime: str, list: bool = False, copy_id: int = 0, instance: int | None = None) -> None:
        self.digest = digest
        self.mime = mime
        self.list = list
        self.copy_id = copy_id
        self.instance = instance


class CreatingSignature(Event):
    """A new signature is made; *message* says with what."""

    __match_args__ = ("message",)
    __slots__ = __match_args__
    message: str

    def __init__(self, message: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.message = message
        self.copy_id = copy_id
        self.instance = instance


class StoringSignatures(Event):
    """*count* signatures are stored with the image (or, with *list*, the list)."""

    __match_args__ = ("count", "list")
    __slots__ = __match_args__
    count: int
    list: bool

    def __init__(self, count: int, list: bool = False, copy_id: int = 0, instance: int | None = None) -> None:
        self.count = count
        self.list = list
        self.copy_id = copy_id
        self.instance = instance


class ImageDone(Event):
    """An image (the top-level one or an instance of a list) is written, signatures included."""

    __match_args__ = ("digest", "mime")
    __slots__ = __match_args__
    digest: str
    mime: str

    def __init__(self, digest: str, mime: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.digest = digest
        self.mime = mime
        self.copy_id = copy_id
        self.instance = instance



# --- manifest lists ---------------------------------------------------------------------
class CopyingInstances(Event):
    """*count* of the list's *total* instances will be copied (0 with ``index-only``)."""

    __match_args__ = ("count", "total")
    __slots__ = __match_args__
    count: int
    total: int

    def __init__(self, count: int, total: int, copy_id: int = 0, instance: int | None = None) -> None:
        self.count = count
        self.total = total
        self.copy_id = copy_id
        self.instance = instance


class InstanceStarted(Event):
    """Instance *index* (0-based) of *total* begins; its own events carry ``instance=index``."""

    __match_args__ = ("index", "total", "digest")
    __slots__ = __match_args__
    index: int
    total: int
    digest: str

    def __init__(self, index: int, total: int, digest: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.index = index
        self.total = total
        self.digest = digest
        self.copy_id = copy_id
        self.instance = instance


class InstanceDone(Event):
    """Instance *index* is written, as *new_digest* (its digest in the written list)."""

    __match_args__ = ("index", "digest", "new_digest")
    __slots__ = __match_args__
    index: int
    digest: str
    new_digest: str

    def __init__(self, index: int, digest: str, new_digest: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.index = index
        self.digest = digest
        self.new_digest = new_digest
        self.copy_id = copy_id
        self.instance = instance


class InstanceFailed(Event):
    """Instance *index* failed (or was stopped because another one failed)."""

    __match_args__ = ("index", "error")
    __slots__ = __match_args__
    index: int
    error: str

    def __init__(self, index: int, error: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.index = index
        self.error = error
        self.copy_id = copy_id
        self.instance = instance


class ListDone(Event):
    """The manifest list is written, its signatures included."""

    __match_args__ = ("digest", "mime")
    __slots__ = __match_args__
    digest: str
    mime: str

    def __init__(self, digest: str, mime: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.digest = digest
        self.mime = mime
        self.copy_id = copy_id
        self.instance = instance



# --- sync -------------------------------------------------------------------------------
class SyncImageStarted(Event):
    """Image *index* (0-based) of *total* of a sync starts copying."""

    __match_args__ = ("index", "total", "source", "destination")
    __slots__ = __match_args__
    index: int
    total: int
    source: str
    destination: str

    def __init__(self, index: int, total: int, source: str, destination: str, copy_id: int = 0, instance: int | None = None) -> None:
        self.index = index
        self.total = total
        self.source = source
        self.destination = destination
        self.copy_id = copy_id
        self.instance = instance


class SyncImageDone(Event):
    """Image *index* of a sync ended: *status* is ``"copied"``, ``"skipped"``
    (already at the destination) or ``"failed"`` (*error* says why)."""

    __match_args__ = ("index", "total", "source", "destination", "status", "digest", "error")
    __slots__ = __match_args__
    index: int
    total: int
    source: str
    destination: str
    status: str
    digest: str
    error: str

    def __init__(self, index: int, total: int, source: str, destination: str, status: str, digest: str = "", error: str = "", copy_id: int = 0, instance: int | None = None) -> None:
        self.index = index
        self.total = total
        self.source = source
        self.destination = destination
        self.status = status
        self.digest = digest
        self.error = error
        self.copy_id = copy_id
        self.instance = instance



# Anything that takes events.
Consumer = Callable[[Event], None]


# --- delivery ---------------------------------------------------------------------------
class _Serialized:
    """A consumer called by one thread at a time."""

    __slots__ = ("consumer", "lock")

    def __init__(self, consumer: Consumer, lock: threading.Lock | None = None) -> None:
        self.consumer = consumer
        self.lock = lock if lock is not None else threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.consumer(event)


def serialized(consumer: Consumer, lock: threading.Lock | None = None) -> Consumer:
    """*consumer*, called by one thread at a time (itself if it already is);
    with *lock*, by one thread at a time of all those that share it."""
    if isinstance(consumer, _Serialized) and (lock is None or consumer.lock is lock):
        return consumer
    return _Serialized(consumer, lock)


def fan_out(*consumers: Consumer | None) -> Consumer | None:
    """One consumer calling each of *consumers* (None ones left out) in turn."""
    present = [c for c in consumers if c is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def each(event: Event) -> None:
        for c in present:
            c(event)

    return each


_copy_ids = itertools.count(1)
_blob_ids = itertools.count(1)


def new_copy_id() -> int:
    return next(_copy_ids)


def new_blob_id() -> int:
    return next(_blob_ids)


class Emitter:
    """Where one copy sends its events: the consumer, one call at a time, with
    ``copy_id`` and ``instance`` filled in.  ``active`` is False when nobody
    listens (then nothing is built)."""

    __slots__ = ("active", "consumer", "copy_id", "instance")

    def __init__(self, consumer: Consumer | None, copy_id: int = 0, instance: int | None = None) -> None:
        # The consumer, serialized: pass it on to share the one-at-a-time rule.
        self.consumer = serialized(consumer) if consumer is not None else None
        self.active = consumer is not None
        self.copy_id = copy_id
        self.instance = instance

    def __call__(self, event: Event) -> None:
        if self.consumer is not None:
            event.copy_id = self.copy_id
            event.instance = self.instance
            self.consumer(event)

    def for_instance(self, index: int) -> Emitter:
        """The same consumer, for the events of list instance *index*."""
        return Emitter(self.consumer, self.copy_id, index)


class BlobCounter:
    """The bytes of one layer transfer, counted as they are read
    (``progress.CountingReader``), sent as :class:`BlobProgress` events at
    most every ``PROGRESS_BYTES`` or ``PROGRESS_SECONDS``."""

    __slots__ = ("_emit", "_next_bytes", "_next_time", "blob_id", "copied", "digest", "size")

    def __init__(self, emit: Emitter, digest: str, size: int) -> None:
        self._emit = emit
        self.blob_id = new_blob_id()
        self.digest = digest
        self.size = size
        self.copied = 0
        self._next_bytes = PROGRESS_BYTES
        self._next_time = 0.0

    def started(self, index: int) -> None:
        self._emit(BlobStarted(self.blob_id, self.digest, self.size, index))
        self._next_time = time.monotonic() + PROGRESS_SECONDS

    def restart(self, size: int) -> None:
        """A (new) transfer of the blob begins: from 0, *size* now known."""
        self.size = size
        self.copied = 0
        self._next_bytes = PROGRESS_BYTES
        if self._emit.active:
            self._emit(BlobProgress(self.blob_id, self.digest, 0, size))

    def add(self, n: int) -> None:
        self.copied += n
        if not self._emit.active:
            return
        if self.copied >= self._next_bytes or (n and time.monotonic() >= self._next_time):
            self._next_bytes = self.copied + PROGRESS_BYTES
            self._next_time = time.monotonic() + PROGRESS_SECONDS
            self._emit(BlobProgress(self.blob_id, self.digest, self.copied, self.size))

    def done(self, stored_digest: str) -> None:
        self._emit(BlobDone(self.blob_id, self.digest, self.copied, self.size, stored_digest))
