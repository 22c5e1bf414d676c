"""containers/storage's lock files (``pkg/lockfile``): a whole-file POSIX record
lock (``fcntl(F_SETLKW)``, shared for readers, exclusive for writers) on a file
whose first 64 bytes name the last writer.  Every writer replaces that token
before it rewrites the data the lock protects, so any process (ours, podman,
buildah) that remembers the token it last saw knows whether to reload.

POSIX locks belong to the process and vanish when any descriptor of the file is
closed, so a lock file is opened once while the process holds it (by any number
of threads sharing it, or one thread exclusively, upstream's ``rwMutex``).
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

LAST_WRITER_ID_SIZE = 64

_registry: dict[str, LockFile] = {}
_registry_lock = threading.Lock()
_counter = 0


def new_last_write() -> bytes:
    """(time, per-process counter, pid, random): unique across processes and
    namespaces, 64 bytes as every version of containers/storage writes."""
    global _counter
    _counter += 1
    return struct.pack("<QQI", time.time_ns() & (2**64 - 1), _counter, os.getpid() & 0xFFFFFFFF) + os.urandom(44)


class LockFile:
    """One lock file: shared holdings by any number of threads, or one
    exclusive holding (re-entrant in its thread, which may also nest shared
    holdings inside it)."""

    def __init__(self, path: str, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self._cond = threading.Condition()
        self._fd = -1
        self._shared = 0  # shared holdings (all threads)
        self._owner: int | None = None  # thread holding it exclusively
        self._depth = 0  # nesting of the exclusive holder

    @contextmanager
    def locked(self, exclusive: bool) -> Iterator[LockFile]:
        self.acquire(exclusive)
        try:
            yield self
        finally:
            self.release()

    def acquire(self, exclusive: bool) -> None:
        if exclusive and self.read_only:
            raise RuntimeError(f"can't take write lock on read-only lock file {self.path}")
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            if exclusive:
                self._cond.wait_for(lambda: self._owner is None and self._shared == 0)
                self._fd = _lock(self.path, self.read_only, fcntl.LOCK_EX)
                self._owner, self._depth = me, 1
                return
            self._cond.wait_for(lambda: self._owner is None)
            if self._shared == 0:
                self._fd = _lock(self.path, self.read_only, fcntl.LOCK_SH)
            self._shared += 1

    def release(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth -= 1
                if self._depth:
                    return
                self._owner = None
            else:
                self._shared -= 1
                if self._shared:
                    return
            os.close(self._fd)  # closing drops the POSIX lock
            self._fd = -1
            self._cond.notify_all()

    @property
    def held_exclusively(self) -> bool:
        return self._owner == threading.get_ident()

    def last_write(self) -> bytes:
        """The current writer token (possibly empty: no write yet); lock held."""
        assert self._fd >= 0, "lock not held"
        return os.pread(self._fd, LAST_WRITER_ID_SIZE, 0)

    def record_write(self) -> bytes:
        """Replace the token; done before the protected data is written, so a
        crash in between still makes every reader reload."""
        assert self._fd >= 0 and self.held_exclusively, "lock not held for writing"
        token = new_last_write()
        if os.pwrite(self._fd, token, 0) != len(token):
            raise OSError(28, "no space left on device")
        return token


def _lock(path: str, read_only: bool, how: int) -> int:
    fd = _open_lock(path, read_only)
    try:
        fcntl.lockf(fd, how)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_lock(path: str, read_only: bool) -> int:
    flags = os.O_CREAT | os.O_CLOEXEC | (os.O_RDONLY if read_only else os.O_RDWR)
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        return os.open(path, flags, 0o644)


def get_lock_file(path: str, read_only: bool = False) -> LockFile:
    """The process-wide lock object for *path* (created, with its parent
    directory, when missing)."""
    path = os.path.abspath(path)
    with _registry_lock:
        lock = _registry.get(path)
        if lock is None:
            os.close(_open_lock(path, read_only))
            lock = LockFile(path, read_only)
            _registry[path] = lock
        elif lock.read_only != read_only:
            kind = "read-only" if read_only else "read-write"
            raise RuntimeError(f'lock "{path}" is not a {kind} lock')
        return lock
