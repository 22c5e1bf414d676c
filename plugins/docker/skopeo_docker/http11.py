"""An httpx transport over the standard library's ``http.client``: a thread-safe
keep-alive pool of HTTP/1.1 connections.

Why not httpx's default transport (httpcore + h11)?  Every registry command
would import it: ~14 ms of start-up on a command that Go finishes in 15 ms,
while ``http.client`` is already loaded by httpx itself.  Its response parsing
and body reads are also C-buffered rather than h11's pure-Python state machine.
httpx stays the client API (requests, redirects, auth flows, headers, URLs);
this module only moves bytes.  With a proxy in the environment the registry
client keeps httpx's own transport, which knows CONNECT tunnels and SOCKS.

The errors raised are httpx's (``ConnectError``, ``ReadTimeout``,
``RemoteProtocolError``...), with the ``OSError``/``ssl`` cause chained, so
callers cannot tell the transports apart.

``--command-timeout`` (:mod:`skopeo.deadline`): every open connection is shut
down when the deadline passes, which wakes up the threads blocked on it, and
body reads are bounded by the time left; a body that ends then is not taken
for a complete one.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import httpx

from skopeo import deadline

# Large reads: fewer trips through Python per byte.  Copying the bench's
# 625 MB layer between two local registries took 1.10 s of CPU with 256 KiB
# reads and 0.84 s with 1 MiB (wall 2.58 → 2.53 s; the registries' ingest
# bounds it), against 1.06 s for upstream main.
READ_SIZE = 1024 * 1024
MAX_IDLE_PER_HOST = 32
# Unread response bodies up to this size are drained to keep the connection.
DRAIN_MAX = 64 * 1024

_Key = tuple[str, str, int]

# Every connection of the process, for the deadline's abort.
_connections: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
_connections_lock = threading.Lock()


def _shut_down_all() -> None:
    """At --command-timeout's deadline: shut every connection down (a blocked
    recv or send returns at once; a TLS handshake in progress is bounded by
    its timeout instead, its socket not being reachable yet)."""
    with _connections_lock:
        conns = list(_connections)
    for conn in conns:
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


deadline.on_expiry(_shut_down_all)


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None, float | None]:
    t: dict[str, Any] = request.extensions.get("timeout") or {}
    return t.get("connect"), t.get("read"), t.get("write")


def _is_dropped(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection the server has closed (or sent junk on)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _Body(httpx.SyncByteStream):
    """A response body; the connection goes back to the pool once it is read to
    the end, and is closed if the reader gives up early."""

    def __init__(self, pool: ConnectionPool, key: _Key, conn: http.client.HTTPConnection,
                 resp: http.client.HTTPResponse, request: httpx.Request) -> None:
        self._pool = pool
        self._key = key
        self._conn: http.client.HTTPConnection | None = conn
        self._resp = resp
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        resp = self._resp
        _, read_timeout, _ = _timeouts(self._request)
        timed = deadline.remaining() is not None
        try:
            while True:
                if timed:
                    self._bound_read(read_timeout)
                chunk = resp.read(READ_SIZE)
                if not chunk:
                    break
                yield chunk
            if timed and deadline.expired():
                # Shut down at the deadline: an end that is not the body's.
                self._discard()
                raise httpx.ReadError(deadline.MESSAGE, request=self._request)
        except http.client.IncompleteRead as e:
            self._discard()
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body: {e!r}", request=self._request
            ) from e
        except TimeoutError as e:
            self._discard()
            raise httpx.ReadTimeout(str(e) or "timed out", request=self._request) from e
        except (OSError, http.client.HTTPException) as e:
            self._discard()
            raise httpx.ReadError(str(e) or type(e).__name__, request=self._request) from e
        # http.client returns b"" at an early EOF of a Content-Length body.
        if resp.length:
            missing = resp.length
            self._discard()
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body: incomplete, {missing} bytes missing",
                request=self._request,
            )

    def _bound_read(self, read_timeout: float | None) -> None:
        """The next read waits no longer than the time --command-timeout leaves."""
        deadline.check()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            conn.sock.settimeout(deadline.timeout(read_timeout))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        resp = self._resp
        if not resp.isclosed() and not resp.will_close and resp.length is not None and resp.length <= DRAIN_MAX:
            # A HEAD, an empty body, or a short error body nobody read: finish it
            # so the connection can be used again (reconnecting costs more).
            try:
                resp.read()
            except (OSError, http.client.HTTPException):
                pass
        if resp.isclosed() and not resp.will_close:
            self._pool.release(self._key, conn)
        else:
            resp.close()
            conn.close()

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        self._resp.close()
        if conn is not None:
            conn.close()


class ConnectionPool(httpx.BaseTransport):
    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    # --- the pool -------------------------------------------------------------------
    def _checkout(self, key: _Key) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if not _is_dropped(conn):
                    return conn
                conn.close()
        return None

    def release(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE_PER_HOST:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for c in conns:
            c.close()

    def _connect(self, key: _Key, request: httpx.Request) -> http.client.HTTPConnection:
        scheme, host, port = key
        connect_timeout, _, _ = _timeouts(request)
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=connect_timeout, context=self._ssl_context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        conn._create_connection = _create_connection  # type: ignore[attr-defined]
        with _connections_lock:
            _connections.add(conn)
        try:
            conn.connect()
        except TimeoutError as e:
            conn.close()
            raise httpx.ConnectTimeout(str(e) or "timed out", request=request) from e
        except OSError as e:  # refused, DNS, TLS handshake (ssl.SSLError is an OSError)
            conn.close()
            raise httpx.ConnectError(str(e), request=request) from e
        sock = conn.sock
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    # --- one request ------------------------------------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'.", request=request)
        key: _Key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        # A body that is bytes can be sent again; a streamed one only if unread.
        replayable = isinstance(request.stream, httpx.ByteStream)
        while True:
            conn = self._checkout(key)
            reused = conn is not None
            if conn is None:
                conn = self._connect(key, request)
            try:
                resp = self._exchange(conn, request)
            except _StaleConnection as e:
                conn.close()
                if reused and (replayable or not e.body_started):
                    continue  # the server closed it while idle: a fresh connection, once per idle one
                raise e.error from e.error.__cause__
            except BaseException:
                conn.close()
                raise
            break
        headers = [(k, v) for k, v in resp.getheaders()]
        return httpx.Response(
            resp.status,
            headers=headers,
            stream=_Body(self, key, conn, resp, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": resp.reason.encode("latin-1", "replace")},
            request=request,
        )

    def _exchange(self, conn: http.client.HTTPConnection, request: httpx.Request) -> http.client.HTTPResponse:
        _, read_timeout, write_timeout = _timeouts(request)
        url = request.url
        target = url.raw_path.decode("ascii")
        sent_anything = False
        try:
            if conn.sock is not None:
                conn.sock.settimeout(write_timeout)
            conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name, value)
            chunked = request.headers.get("Transfer-Encoding", "").lower() == "chunked"
            conn.endheaders()
            sent_anything = True
            for chunk in request.stream:  # type: ignore[union-attr]
                if not chunk:
                    continue
                if chunked:
                    conn.send(b"%X\r\n%b\r\n" % (len(chunk), chunk))
                else:
                    conn.send(chunk)
            if chunked:
                conn.send(b"0\r\n\r\n")
        except TimeoutError as e:
            raise httpx.WriteTimeout(str(e) or "timed out", request=request) from e
        except OSError as e:
            if not sent_anything:
                stale = httpx.WriteError(str(e), request=request)
                stale.__cause__ = e
                raise _StaleConnection(stale, body_started=False) from e
            # The server may have answered early (a 401 or 413 before reading the
            # whole body) and closed: its answer explains more than the write error.
            try:
                return self._response(conn, request, read_timeout)
            except httpx.TransportError:
                raise httpx.WriteError(str(e), request=request) from e
        try:
            return self._response(conn, request, read_timeout)
        except (httpx.RemoteProtocolError, httpx.ReadError) as e:
            if isinstance(e.__cause__, (ConnectionResetError, BrokenPipeError)):
                # Closed or reset without a byte of answer (http.client's
                # RemoteDisconnected is a ConnectionResetError): when the
                # connection was idle in the pool, the keep-alive race.
                raise _StaleConnection(e, body_started=True) from e
            raise

    @staticmethod
    def _response(conn: http.client.HTTPConnection, request: httpx.Request,
                  read_timeout: float | None) -> http.client.HTTPResponse:
        try:
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout)
            return conn.getresponse()
        except TimeoutError as e:
            raise httpx.ReadTimeout(str(e) or "timed out", request=request) from e
        except http.client.RemoteDisconnected as e:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request) from e
        except http.client.HTTPException as e:
            raise httpx.RemoteProtocolError(str(e) or type(e).__name__, request=request) from e
        except OSError as e:
            raise httpx.ReadError(str(e), request=request) from e


def _create_connection(address: tuple[str, int], *args: Any) -> socket.socket:
    """socket.create_connection, with an ASCII host name passed as bytes: a str
    goes through Python's "idna" codec first, whose import (stringprep,
    unicodedata) costs ~2 ms of every command's start-up."""
    host, port = address
    if host.isascii():
        return socket.create_connection((host.encode(), port), *args)  # type: ignore[arg-type]
    return socket.create_connection(address, *args)


class _StaleConnection(Exception):
    """Carries the error of a request that failed before the server answered
    anything, which a fresh connection may not hit."""

    def __init__(self, error: httpx.TransportError, body_started: bool) -> None:
        super().__init__(str(error))
        self.error = error
        # Whether the request body (which may be a one-shot stream) was read.
        self.body_started = body_started
