"""File helpers shared by the local transports: every file appears complete or
not at all (temporary file + fsync + rename), so an interrupted copy never
leaves a truncated blob under its final name.

Temporary files and directories are *tracked* while they exist
(:func:`track_temporary`): whatever ends the process before the code that made
them removes them (``--command-timeout``'s last resort, which leaves threads
behind) runs the exit handlers, and one of them removes what is still tracked."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from . import digest as digest_mod
from .errors import SkopeoError
from .golang.oserror import path_error_text
from .transport import BlobInfo, BlobStream

CHUNK = 1 << 20


_tracked: set[str] = set()
_tracked_lock = threading.Lock()
_exit_handler = False


def track_temporary(path: str) -> str:
    """Remember *path* (a temporary file or directory) until
    :func:`untrack_temporary`; removed at exit if still there."""
    global _exit_handler
    with _tracked_lock:
        _tracked.add(path)
        if not _exit_handler:
            import atexit

            atexit.register(remove_tracked)
            _exit_handler = True
    return path


def untrack_temporary(path: str) -> None:
    with _tracked_lock:
        _tracked.discard(path)


def remove_tracked() -> None:
    """Remove every temporary path still tracked (an exit handler)."""
    import shutil

    with _tracked_lock:
        paths = list(_tracked)
        _tracked.clear()
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            remove_quietly(path)


def temporary_file(prefix: str, directory: str) -> tuple[int, str]:
    """``tempfile.mkstemp`` in *directory*, tracked (see :func:`track_temporary`)."""
    import tempfile  # with its random module, ~0.7 ms that read-only commands skip

    fd, path = tempfile.mkstemp(prefix=prefix, dir=directory)
    return fd, track_temporary(path)


def remove_quietly(path: str) -> None:
    untrack_temporary(path)
    try:
        os.remove(path)
    except OSError:
        pass


def make_temp_dir(parent: str, prefix: str) -> str:
    """Go's ``os.MkdirTemp(parent, prefix)``, which upstream uses for its
    big-file temporary directories: the name is *prefix* and a random 32-bit
    number, the errors are Go's (``stat PARENT: …`` when *parent* is missing)."""
    import random

    for _ in range(10000):
        name = os.path.join(parent, f"{prefix}{random.getrandbits(32)}")
        try:
            os.mkdir(name, 0o700)
            return name
        except FileExistsError:
            continue
        except FileNotFoundError as e:
            if not os.path.exists(parent):
                raise SkopeoError(path_error_text("stat", parent, e)) from None
            raise SkopeoError(path_error_text("mkdir", name, e)) from None
        except OSError as e:
            raise SkopeoError(path_error_text("mkdir", name, e)) from None
    raise SkopeoError(f"mkdirtemp {os.path.join(parent, prefix)}*: file exists")
def replace_tracked(tmp: str, path: str) -> None:
    """Rename the tracked temporary *tmp* to *path*: from now on it is a result."""
    os.replace(tmp, path)
    untrack_temporary(tmp)


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = temporary_file(".tmp-", directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        replace_tracked(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def write_file(path: str, data: bytes, mode: int = 0o644) -> None:
    """Go's ``os.WriteFile``: create or truncate *path* where it is (through a
    symlink, into a device such as /dev/stdout) and write *data*.  Unlike
    :func:`write_atomic` nothing is renamed over it, and an existing file keeps
    its permissions.  Errors carry Go's ``open PATH: …`` / ``write PATH: …`` text."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    except OSError as e:
        raise SkopeoError(path_error_text("open", path, e)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as e:
        raise SkopeoError(path_error_text("write", path, e)) from None


def store_blob(
    stream: BlobStream,
    info: BlobInfo,
    tmp_dir: str,
    final_path: Callable[[str], str],
    mode: int = 0o644,
    fsync: bool = True,
) -> BlobInfo:
    """Copy *stream* to the file ``final_path(digest)``.  When ``info.digest`` is
    None the digest is computed here; otherwise the caller's verifying reader
    raises at EOF on a mismatch, before the file gets its final name."""
    fd, tmp = temporary_file(".put-blob-", tmp_dir)
    try:
        hasher = None if info.digest else digest_mod.hasher(digest_mod.CANONICAL)
        size = 0
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                if hasher is not None:
                    hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        digest = info.digest if hasher is None else f"{hasher.name}:{hasher.hexdigest()}"
        assert digest is not None
        os.chmod(tmp, mode)
        replace_tracked(tmp, final_path(digest))
    except BaseException:
        remove_quietly(tmp)
        raise
    return BlobInfo(digest, size, info.media_type, info.urls, info.annotations)
