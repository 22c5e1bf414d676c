"""The registry client's HTTP/1.1 connections, on sockets: a thread-safe
keep-alive pool per registry (and proxy), requests sent and answers read as
:mod:`.http_wire` writes and reads them, proxies as :mod:`.http_proxies`
chooses them (HTTPS tunnelled with CONNECT), and the messages of
:mod:`.http_messages`.

Why not httpx (and httpcore + h11 under it), or ``http.client``?  Start-up:
every registry command would import them, ~20 ms for httpx and ~7 ms for
``http.client`` (its header parser is the ``email`` package, which also
parses every response's head slowly) on a command that Go finishes in
~30 ms.  What Go's client does that matters here is done the same way: no
cookie jar, no redirects (callers follow them, deciding about credentials),
a stale keep-alive connection replaced once, an early answer to an upload
(a 401 or 413 before the body was read) reported rather than the broken
pipe.

``--command-timeout`` (:mod:`skopeo.deadline`): every open connection is shut
down when the deadline passes, which wakes up the threads blocked on it, and
body reads are bounded by the time left; a body that ends then is not taken
for a complete one.
"""

from __future__ import annotations

import io
import select
import socket
import ssl
import threading
import weakref
from collections.abc import Iterator
from typing import Any, NamedTuple

from skopeo import deadline

from .http_messages import (
    URL,
    ConnectError,
    ConnectTimeout,
    Headers,
    ProxyError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    Request,
    Response,
    TransportError,
    UnsupportedProtocol,
    WriteError,
    WriteTimeout,
)
from .http_proxies import Proxies, TunnelFailed, proxy_authorization, proxy_failure
from .http_wire import (
    Body,
    Head,
    Incomplete,
    NoResponse,
    body_framing,
    read_chunk_line,
    read_expected,
    read_head,
    request_fields,
    request_head,
)

# Large reads: fewer trips through Python per byte.  Copying the bench's
# 625 MB layer between two local registries took 1.10 s of CPU with 256 KiB
# reads and 0.84 s with 1 MiB (wall 2.58 → 2.53 s; the registries' ingest
# bounds it), against 1.06 s for upstream main.
READ_SIZE = 1024 * 1024
MAX_IDLE_PER_HOST = 32
# Unread response bodies up to this size are drained to keep the connection.
DRAIN_MAX = 64 * 1024

# Request bodies up to this size go out in the same send as the request's head.
COALESCE_MAX = 64 * 1024

# scheme, host, port, and the proxy's URL ("" when direct)
_Key = tuple[str, str, int, str]


class Timeouts(NamedTuple):
    """Seconds to connect, and for each read and write to make progress (None: no limit)."""

    connect: float | None
    read: float | None
    write: float | None


# Every connection of the process, for the deadline's abort.
_connections: weakref.WeakSet[socket.socket] = weakref.WeakSet()
_connections_lock = threading.Lock()


def _shut_down_all() -> None:
    """At --command-timeout's deadline: shut every connection down (a blocked
    recv or send returns at once; a TLS handshake in progress is bounded by
    its timeout instead, its socket not being reachable yet)."""
    with _connections_lock:
        socks = list(_connections)
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


deadline.on_expiry(_shut_down_all)


def _is_dropped(sock: socket.socket) -> bool:
    """An idle keep-alive connection the server has closed (or sent junk on)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _Body:
    """A response body; the connection goes back to the pool once it is read to
    the end, and is closed if the reader gives up early."""

    def __init__(self, pool: ConnectionPool, key: _Key, sock: socket.socket, reader: io.BufferedReader,
                 framing: tuple[int | None, bool, bool], request: Request, read_timeout: float | None) -> None:
        self._pool = pool
        self._key = key
        self._sock: socket.socket | None = sock
        self._reader = reader
        self._remaining, self._chunked, self._will_close = framing
        self._chunk_left = 0
        self._chunk_ended = False
        self._done = self._remaining == 0
        self._request = request
        self._read_timeout = read_timeout

    def __iter__(self) -> Iterator[bytes]:
        timed = deadline.remaining() is not None
        try:
            while not self._done:
                if timed:
                    self._bound_read(self._read_timeout)
                chunk = self._read(READ_SIZE)
                if timed and deadline.expired():
                    break  # what a read returned at the shutdown is not handed on
                if chunk:
                    yield chunk
        except Incomplete as e:
            self._discard()
            if timed and deadline.expired():
                raise ReadError(deadline.MESSAGE, request=self._request) from None
            raise RemoteProtocolError(
                f"peer closed connection without sending complete message body: {e}", request=self._request
            ) from None
        except TimeoutError as e:
            self._discard()
            raise ReadTimeout(str(e) or "timed out", request=self._request) from e
        except RemoteProtocolError as e:
            self._discard()
            e.request = self._request
            raise
        except OSError as e:
            self._discard()
            raise ReadError(str(e) or type(e).__name__, request=self._request) from e
        if timed and deadline.expired():
            # Shut down at the deadline: an end that is not the body's.
            self._discard()
            raise ReadError(deadline.MESSAGE, request=self._request)

    def _read(self, size: int) -> bytes:
        """Up to *size* bytes of the body (b"" only at the end)."""
        reader = self._reader
        if self._chunked:
            if not self._chunk_left:
                if self._chunk_ended and read_chunk_line(reader).strip():
                    raise RemoteProtocolError("malformed chunked encoding")
                self._chunk_ended = False
                line = read_chunk_line(reader)
                if not line:
                    raise Incomplete("incomplete chunked encoding")
                try:
                    self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise RemoteProtocolError("invalid byte in chunk length") from None
                if self._chunk_left < 0:
                    raise RemoteProtocolError("invalid byte in chunk length")
                if not self._chunk_left:
                    while read_chunk_line(reader).strip():
                        pass  # trailer fields: none that matter here
                    self._done = True
                    return b""
            data = read_expected(reader, size, self._chunk_left, "incomplete chunk")
            self._chunk_left -= len(data)
            # The CRLF after the chunk's data is checked on the next read, so
            # that the data is handed on first.
            self._chunk_ended = not self._chunk_left
            return data
        if self._remaining is None:  # until the connection closes
            data = reader.read(size)
            self._done = not data
            return data
        data = read_expected(reader, size, self._remaining, "incomplete")
        self._remaining -= len(data)
        self._done = not self._remaining
        return data

    def _bound_read(self, read_timeout: float | None) -> None:
        """The next read waits no longer than the time --command-timeout leaves."""
        deadline.check()
        if self._sock is not None:
            self._sock.settimeout(deadline.timeout(read_timeout))

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if not self._done and not self._will_close and self._remaining is not None and self._remaining <= DRAIN_MAX:
            # A HEAD, an empty body, or a short error body nobody read: finish it
            # so the connection can be used again (reconnecting costs more).
            try:
                while not self._done:
                    self._read(DRAIN_MAX)
            except (OSError, Incomplete, RemoteProtocolError):
                pass
        self._reader.close()
        if self._done and not self._will_close:
            self._pool.release(self._key, sock)
        else:
            sock.close()

    def _discard(self) -> None:
        sock, self._sock = self._sock, None
        self._reader.close()
        if sock is not None:
            sock.close()


# --- the pool ----------------------------------------------------------------------------------
class ConnectionPool:
    """Keep-alive connections by origin (and proxy), shared by every thread."""

    def __init__(self, ssl_context: ssl.SSLContext, timeouts: Timeouts, proxies: Proxies | None = None) -> None:
        self._ssl_context = ssl_context
        self.timeouts = timeouts
        self._proxies = proxies
        self._idle: dict[_Key, list[socket.socket]] = {}
        self._lock = threading.Lock()

    def _checkout(self, key: _Key) -> socket.socket | None:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                sock = idle.pop()
                if not _is_dropped(sock):
                    return sock
                sock.close()
        return None

    def release(self, key: _Key, sock: socket.socket) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE_PER_HOST:
                idle.append(sock)
                return
        sock.close()

    def close(self) -> None:
        with self._lock:
            socks = [s for idle in self._idle.values() for s in idle]
            self._idle.clear()
        for s in socks:
            s.close()

    def _connect(self, key: _Key, proxy: URL | None, request: Request, timeout: float | None) -> socket.socket:
        scheme, host, port, _ = key
        # Through a proxy: connect to it; https is tunnelled with CONNECT.
        peer_host, peer_port = (host, port) if proxy is None else (proxy.host, proxy.effective_port())
        sock: socket.socket | None = None
        try:
            sock = _create_connection((peer_host, peer_port), timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if proxy is not None:
                    _open_tunnel(sock, host, port, proxy)
                # The server's name as bytes when ASCII: a str goes through the
                # "idna" codec, whose import costs ~1.5 ms of start-up.
                server_name = host.encode() if host.isascii() else host
                sock = self._ssl_context.wrap_socket(sock, server_hostname=server_name)
        except TimeoutError as e:
            if sock is not None:
                sock.close()
            if proxy is not None:
                raise ProxyError(f"proxyconnect tcp: dial tcp {peer_host}:{peer_port}: i/o timeout",
                                 request=request) from e
            raise ConnectTimeout(str(e) or "timed out", request=request) from e
        except OSError as e:  # refused, DNS, TLS handshake (ssl.SSLError is an OSError), CONNECT refused
            if sock is not None:
                sock.close()
            if proxy is not None and not isinstance(e, ssl.SSLError):
                raise ProxyError(proxy_failure(e, peer_host, peer_port), request=request) from e
            raise ConnectError(str(e), request=request) from e
        with _connections_lock:
            _connections.add(sock)
        return sock

    # --- one request ------------------------------------------------------------------
    def send(self, method: str, url: URL, headers: list[tuple[str, str]], content: Body = None,
             timeouts: Timeouts | None = None) -> Response:
        """Send one request; the response body is left to stream (read or close it)."""
        timeouts = timeouts or self.timeouts
        request = Request(method, url)
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'.", request=request)
        proxy = self._proxies.for_url(url) if self._proxies is not None else None
        key: _Key = (scheme, url.host, url.effective_port(), str(proxy) if proxy is not None else "")
        fields, chunked = request_fields(method, url, headers, content, proxy)
        # Through a plain-HTTP proxy the request names the whole URL.
        target = str(url) if proxy is not None and scheme == "http" else url.raw_path.decode("ascii")
        head = request_head(method, target, fields, request)
        # A body that is bytes can be sent again; a streamed one only if unread.
        replayable = not isinstance(content, Iterator)
        while True:
            sock = self._checkout(key)
            reused = sock is not None
            if sock is None:
                sock = self._connect(key, proxy, request, timeouts.connect)
            try:
                reader, answer = self._exchange(sock, request, head, content, chunked, timeouts)
            except _StaleConnection as e:
                sock.close()
                if reused and (replayable or not e.body_started):
                    continue  # the server closed it while idle: a fresh connection, once per idle one
                raise e.error from e.error.__cause__
            except BaseException:
                sock.close()
                raise
            break
        try:
            framing = body_framing(method, answer)
        except RemoteProtocolError as e:
            reader.close()
            sock.close()
            e.request = request
            raise
        return Response(answer.status, Headers(answer.fields), request=request, reason_phrase=answer.reason,
                        stream=_Body(self, key, sock, reader, framing, request, timeouts.read))

    def _exchange(self, sock: socket.socket, request: Request, head: bytes, content: Body, chunked: bool,
                  timeouts: Timeouts) -> tuple[io.BufferedReader, Head]:
        sent_anything = False
        try:
            sock.settimeout(timeouts.write)
            if isinstance(content, bytes) and len(content) <= COALESCE_MAX:
                sock.sendall(head + content)  # one packet for a request and its small body
                sent_anything = True
            else:
                sock.sendall(head)
                sent_anything = True
                for chunk in (() if content is None else (content,) if isinstance(content, bytes) else content):
                    if not chunk:
                        continue
                    sock.sendall(b"%X\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except TimeoutError as e:
            raise WriteTimeout(str(e) or "timed out", request=request) from e
        except OSError as e:
            if not sent_anything:
                stale = WriteError(str(e), request=request)
                stale.__cause__ = e
                raise _StaleConnection(stale, body_started=False) from e
            # The server may have answered early (a 401 or 413 before reading the
            # whole body) and closed: its answer explains more than the write error.
            try:
                return self._response(sock, request, timeouts.read)
            except TransportError:
                raise WriteError(str(e), request=request) from e
        try:
            return self._response(sock, request, timeouts.read)
        except (RemoteProtocolError, ReadError) as e:
            if isinstance(e.__cause__, (ConnectionResetError, BrokenPipeError)):
                # Closed or reset without a byte of answer: when the connection
                # was idle in the pool, the keep-alive race.
                raise _StaleConnection(e, body_started=True) from e
            raise

    @staticmethod
    def _response(sock: socket.socket, request: Request, read_timeout: float | None) -> tuple[io.BufferedReader, Head]:
        # A reader per response, as http.client: whatever a server sent past
        # the end of one answer is not taken for the start of the next.
        reader = sock.makefile("rb")
        try:
            try:
                sock.settimeout(read_timeout)
                return reader, read_head(reader)
            except BaseException:
                reader.close()
                raise
        except TimeoutError as e:
            raise ReadTimeout(str(e) or "timed out", request=request) from e
        except NoResponse as e:  # a ConnectionResetError: before OSError
            raise RemoteProtocolError(str(e), request=request) from e
        except Incomplete as e:
            raise RemoteProtocolError(f"peer closed connection without sending complete message: {e}",
                                      request=request) from None
        except RemoteProtocolError as e:
            e.request = request
            raise
        except OSError as e:
            raise ReadError(str(e), request=request) from e


def _open_tunnel(sock: socket.socket, host: str, port: int, proxy: URL) -> None:
    """CONNECT through an HTTP proxy, as Go's client asks for it.  Anything but
    200 fails with the proxy's status text, a proxy that closes without an
    answer with ``unexpected EOF`` (Go's errors)."""
    fields = [("Host", f"{host}:{port}"), ("User-Agent", "Go-http-client/1.1"),
              *proxy_authorization(proxy).items()]
    sock.sendall(request_head("CONNECT", f"{host}:{port}", fields, Request("CONNECT", proxy)))
    with sock.makefile("rb") as reader:
        try:
            answer = read_head(reader)
        except (NoResponse, Incomplete):
            raise TunnelFailed("unexpected EOF") from None
        except RemoteProtocolError as e:
            raise TunnelFailed(str(e)) from None
    if answer.status != 200:
        raise TunnelFailed(answer.reason or "unknown status code")


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

    def __init__(self, error: TransportError, body_started: bool) -> None:
        super().__init__(str(error))
        self.error = error
        # Whether the request body (which may be a one-shot stream) was read.
        self.body_started = body_started
