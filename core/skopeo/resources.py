"""What a :class:`skopeo.session.Session` keeps between calls: objects the
core and the plugins create on first use (a registry's connection pool and
ping result, bearer tokens, the credentials the providers returned) and that
live as long as the session, shared by every thread that uses it.

A transport reaches them through the context it is given:
``resources.of(ctx).get(key, factory)``.  A context that belongs to no
session (``SystemContext.resources`` is None: the command line, the
module-level functions of :mod:`skopeo.api`) gets the process's own
resources, which are never closed; plugins that must not share some state
outside a session (tokens) check ``ctx.resources`` themselves.

Keys are tuples (or strings) starting with the owner's module name, so
plugins never collide.  Values that have a ``close()`` method are closed when
the session closes, newest first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from .workers import Future

if TYPE_CHECKING:
    from .context import SystemContext

T = TypeVar("T")


class Resources:
    """Objects by key, each made once (by the first caller's factory, outside
    any lock: a slow one, such as a credential helper, holds up only the
    callers that want the same key); thread-safe."""

    def __init__(self, name: str = "session") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._values: dict[Hashable, Future[Any]] = {}
        self.closed = False

    def get(self, key: Hashable, factory: Callable[[], T]) -> T:
        """The object stored under *key*, made by *factory* if there is none
        (if it raises, nothing is stored and the error reaches the caller)."""
        with self._lock:
            found = self._values.get(key)
            if found is None:
                if self.closed:
                    raise RuntimeError(f"the {self.name} is closed")
                found = self._values[key] = Future()
                mine = True
            else:
                mine = False
        if mine:
            try:
                found.set_result(factory())
            except BaseException as e:
                with self._lock:
                    if self._values.get(key) is found:
                        del self._values[key]
                found.set_exception(e)
                raise
        return found.result()  # type: ignore[no-any-return]

    def peek(self, key: Hashable) -> Any:
        """The object stored under *key*, or None (nothing is made)."""
        with self._lock:
            found = self._values.get(key)
        return found.result() if found is not None and found.done() and found.exception() is None else None

    def drop(self, where: Callable[[Hashable], bool]) -> None:
        """Forget (without closing) every object whose key *where* accepts,
        e.g. remembered credentials after a login or a logout."""
        with self._lock:
            for key in [k for k in self._values if where(k)]:
                del self._values[key]

    def close(self) -> None:
        """Close every object that can be closed (newest first); later
        :meth:`get` calls fail."""
        with self._lock:
            futures = list(self._values.values())
            self._values.clear()
            self.closed = True
        for future in reversed(futures):
            if not future.done() or future.exception() is not None:
                continue  # still being made by another thread, or failed
            close = getattr(future.result(), "close", None)
            if callable(close):
                close()


# The process's own: never closed (pools live until the process ends, as the CLI wants).
PROCESS = Resources("process")


def of(ctx: SystemContext | None) -> Resources:
    """The resources *ctx* uses: its session's, else the process's."""
    found = ctx.resources if ctx is not None else None
    return found if found is not None else PROCESS
