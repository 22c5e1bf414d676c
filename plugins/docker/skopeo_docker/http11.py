"""The registry client's HTTP/1.1 connections, over the standard library's
``http.client``: a thread-safe keep-alive pool per registry, proxies from the
environment as Go's ``http.ProxyFromEnvironment``, and the messages of
:mod:`.http_messages`.

Why not httpx (and httpcore + h11 under it)?  Start-up: every registry
command would import them, ~20 ms on a command that Go finishes in ~30 ms
(see :mod:`.http_messages`), while ``http.client`` parses responses and
reads bodies in C.  What Go's client does that matters here is done the
same way: ``Accept-Encoding: gzip`` unless the caller says otherwise (and
gzip bodies decoded), ``Content-Length: 0`` on a bodiless POST/PUT/PATCH,
chunked uploads when the length is unknown, no cookie jar, no redirects
(callers follow them, deciding about credentials), HTTP and HTTPS proxies
(CONNECT) from ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``, loopback hosts
always direct.

``--command-timeout`` (:mod:`skopeo.deadline`): every open connection is shut
down when the deadline passes, which wakes up the threads blocked on it, and
body reads are bounded by the time left; a body that ends then is not taken
for a complete one.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import os
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

# Large reads: fewer trips through Python per byte.  Copying the bench's
# 625 MB layer between two local registries took 1.10 s of CPU with 256 KiB
# reads and 0.84 s with 1 MiB (wall 2.58 → 2.53 s; the registries' ingest
# bounds it), against 1.06 s for upstream main.
READ_SIZE = 1024 * 1024
MAX_IDLE_PER_HOST = 32
# Unread response bodies up to this size are drained to keep the connection.
DRAIN_MAX = 64 * 1024

# scheme, host, port, and the proxy's URL ("" when direct)
_Key = tuple[str, str, int, str]
Body = bytes | Iterator[bytes] | None


class Timeouts(NamedTuple):
    """Seconds to connect, and for each read and write to make progress (None: no limit)."""

    connect: float | None
    read: float | None
    write: float | None


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


class _Body:
    """A response body; the connection goes back to the pool once it is read to
    the end, and is closed if the reader gives up early."""

    def __init__(self, pool: ConnectionPool, key: _Key, conn: http.client.HTTPConnection,
                 resp: http.client.HTTPResponse, request: Request, read_timeout: float | None) -> None:
        self._pool = pool
        self._key = key
        self._conn: http.client.HTTPConnection | None = conn
        self._resp = resp
        self._request = request
        self._read_timeout = read_timeout

    def __iter__(self) -> Iterator[bytes]:
        resp = self._resp
        timed = deadline.remaining() is not None
        try:
            while True:
                if timed:
                    self._bound_read(self._read_timeout)
                chunk = resp.read(READ_SIZE)
                if not chunk:
                    break
                yield chunk
            if timed and deadline.expired():
                # Shut down at the deadline: an end that is not the body's.
                self._discard()
                raise ReadError(deadline.MESSAGE, request=self._request)
        except http.client.IncompleteRead as e:
            self._discard()
            raise RemoteProtocolError(
                f"peer closed connection without sending complete message body: {e!r}", request=self._request
            ) from e
        except TimeoutError as e:
            self._discard()
            raise ReadTimeout(str(e) or "timed out", request=self._request) from e
        except (OSError, http.client.HTTPException) as e:
            self._discard()
            raise ReadError(str(e) or type(e).__name__, request=self._request) from e
        # http.client returns b"" at an early EOF of a Content-Length body.
        if resp.length:
            missing = resp.length
            self._discard()
            raise RemoteProtocolError(
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


class ConnectionPool:
    """Keep-alive connections by origin (and proxy), shared by every thread."""

    def __init__(self, ssl_context: ssl.SSLContext, timeouts: Timeouts, proxies: Proxies | None = None) -> None:
        self._ssl_context = ssl_context
        self.timeouts = timeouts
        self._proxies = proxies
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

    def _connect(self, key: _Key, proxy: URL | None, request: Request,
                 timeout: float | None) -> http.client.HTTPConnection:
        scheme, host, port, _ = key
        conn: http.client.HTTPConnection
        # Through a proxy: connect to it; https is tunnelled with CONNECT.
        peer_host, peer_port = (host, port) if proxy is None else (proxy.host, proxy.effective_port())
        if scheme == "https":
            conn = _HTTPSConnection(peer_host, peer_port, timeout=timeout, context=self._ssl_context)
            if proxy is not None:
                conn.set_tunnel(host, port, headers={"Host": f"{host}:{port}", **_proxy_authorization(proxy)})
        else:
            conn = http.client.HTTPConnection(peer_host, peer_port, timeout=timeout)
        conn._create_connection = _create_connection  # type: ignore[attr-defined]
        with _connections_lock:
            _connections.add(conn)
        try:
            conn.connect()
        except TimeoutError as e:
            conn.close()
            if proxy is not None:
                raise ProxyError(f"proxyconnect tcp: dial tcp {peer_host}:{peer_port}: i/o timeout",
                                 request=request) from e
            raise ConnectTimeout(str(e) or "timed out", request=request) from e
        except OSError as e:  # refused, DNS, TLS handshake (ssl.SSLError is an OSError), CONNECT refused
            conn.close()
            if proxy is not None and not isinstance(e, ssl.SSLError):
                raise ProxyError(_proxy_failure(e, peer_host, peer_port), request=request) from e
            raise ConnectError(str(e), request=request) from e
        sock = conn.sock
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

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
        fields, chunked = _request_fields(method, url, headers, content, proxy)
        # Through a plain-HTTP proxy the request names the whole URL.
        target = str(url) if proxy is not None and scheme == "http" else url.raw_path.decode("ascii")
        # A body that is bytes can be sent again; a streamed one only if unread.
        replayable = not isinstance(content, Iterator)
        while True:
            conn = self._checkout(key)
            reused = conn is not None
            if conn is None:
                conn = self._connect(key, proxy, request, timeouts.connect)
            try:
                resp = self._exchange(conn, request, target, fields, content, chunked, timeouts)
            except _StaleConnection as e:
                conn.close()
                if reused and (replayable or not e.body_started):
                    continue  # the server closed it while idle: a fresh connection, once per idle one
                raise e.error from e.error.__cause__
            except BaseException:
                conn.close()
                raise
            break
        return Response(resp.status, Headers(resp.getheaders()), request=request, reason_phrase=resp.reason,
                        stream=_Body(self, key, conn, resp, request, timeouts.read))

    def _exchange(self, conn: http.client.HTTPConnection, request: Request, target: str,
                  fields: list[tuple[str, str]], content: Body, chunked: bool,
                  timeouts: Timeouts) -> http.client.HTTPResponse:
        sent_anything = False
        try:
            if conn.sock is not None:
                conn.sock.settimeout(timeouts.write)
            conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in fields:
                conn.putheader(name, value)
            conn.endheaders()
            sent_anything = True
            for chunk in (() if content is None else (content,) if isinstance(content, bytes) else content):
                if not chunk:
                    continue
                if chunked:
                    conn.send(b"%X\r\n%b\r\n" % (len(chunk), chunk))
                else:
                    conn.send(chunk)
            if chunked:
                conn.send(b"0\r\n\r\n")
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
                return self._response(conn, request, timeouts.read)
            except TransportError:
                raise WriteError(str(e), request=request) from e
        try:
            return self._response(conn, request, timeouts.read)
        except (RemoteProtocolError, ReadError) as e:
            if isinstance(e.__cause__, (ConnectionResetError, BrokenPipeError)):
                # Closed or reset without a byte of answer (http.client's
                # RemoteDisconnected is a ConnectionResetError): when the
                # connection was idle in the pool, the keep-alive race.
                raise _StaleConnection(e, body_started=True) from e
            raise

    @staticmethod
    def _response(conn: http.client.HTTPConnection, request: Request,
                  read_timeout: float | None) -> http.client.HTTPResponse:
        try:
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout)
            return conn.getresponse()
        except TimeoutError as e:
            raise ReadTimeout(str(e) or "timed out", request=request) from e
        except http.client.RemoteDisconnected as e:
            raise RemoteProtocolError("Server disconnected without sending a response.", request=request) from e
        except http.client.HTTPException as e:
            raise RemoteProtocolError(str(e) or type(e).__name__, request=request) from e
        except OSError as e:
            raise ReadError(str(e), request=request) from e


def _request_fields(method: str, url: URL, headers: list[tuple[str, str]], content: Body,
                    proxy: URL | None) -> tuple[list[tuple[str, str]], bool]:
    """The header fields to send (Host first, framing as Go's client), and
    whether the body goes chunked."""
    fields = [("Host", url.netloc), *headers]
    names = {name.lower() for name, _ in headers}
    chunked = False
    if isinstance(content, bytes):
        if "content-length" not in names and (content or method in _BODY_METHODS):
            fields.append(("Content-Length", str(len(content))))
    elif content is None:
        if method in _BODY_METHODS and "content-length" not in names:
            fields.append(("Content-Length", "0"))
    elif "content-length" not in names:
        chunked = True
        fields.append(("Transfer-Encoding", "chunked"))
    if "accept-encoding" not in names:
        fields.append(("Accept-Encoding", "gzip"))
    if proxy is not None and url.scheme == "http":
        fields.extend(_proxy_authorization(proxy).items())
    return fields, chunked


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


# --- proxies -----------------------------------------------------------------------------------
class Proxies:
    """``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY`` (upper case first, as Go
    reads them), applied as Go's ``httpproxy`` package: loopback hosts never go
    through a proxy; a ``NO_PROXY`` entry is ``*``, an IP address, a CIDR block,
    or a domain matching itself and its subdomains (only its subdomains with a
    leading dot), each optionally with a port."""

    def __init__(self, http_proxy: str, https_proxy: str, no_proxy: str) -> None:
        self._by_scheme = {"http": _proxy_url(http_proxy), "https": _proxy_url(https_proxy)}
        self._no_proxy = [e.strip().lower() for e in no_proxy.split(",") if e.strip()]

    @staticmethod
    def from_environment() -> Proxies | None:
        """The proxies the environment names; None without any (the usual case)."""
        def env(name: str) -> str:
            return os.environ.get(name.upper()) or os.environ.get(name) or ""

        # Go ignores HTTP_PROXY in a CGI request (httpoxy).
        http_proxy = env("http_proxy") if not os.environ.get("REQUEST_METHOD") else ""
        https_proxy = env("https_proxy")
        if not (http_proxy or https_proxy):
            return None
        return Proxies(http_proxy, https_proxy, env("no_proxy"))

    def for_url(self, url: URL) -> URL | None:
        proxy = self._by_scheme.get(url.scheme)
        if proxy is None or not self._use_proxy(url.host, url.effective_port()):
            return None
        return proxy

    def _use_proxy(self, host: str, port: int) -> bool:
        if host == "localhost":
            return False
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and ip.is_loopback:
            return False
        for entry in self._no_proxy:
            if entry == "*":
                return False
            if "/" in entry:
                try:
                    if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                        return False
                except ValueError:
                    pass
                continue
            name, entry_port = _split_host_port(entry)
            if entry_port is not None and entry_port != port:
                continue
            if ip is not None:
                try:
                    if ip == ipaddress.ip_address(name):
                        return False
                except ValueError:
                    pass
                continue
            if name.startswith("*."):
                name = name[1:]
            if name.startswith("."):
                if host.endswith(name):
                    return False
            elif host == name or host.endswith("." + name):
                return False
        return True


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return entry, None


def _proxy_url(value: str) -> URL | None:
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value  # Go's rule: a bare host:port is an HTTP proxy
    return URL(value)


def _proxy_authorization(proxy: URL) -> dict[str, str]:
    userinfo = proxy.userinfo
    if userinfo is None:
        return {}
    return {"Proxy-Authorization": "Basic " + base64.b64encode(":".join(userinfo).encode()).decode()}


def _proxy_failure(e: OSError, host: str, port: int) -> str:
    """Go's text for a proxy that could not be reached or refused the tunnel
    (the status text of its answer to CONNECT)."""
    text = str(e)
    if text.startswith("Tunnel connection failed: "):
        return text[len("Tunnel connection failed: "):].partition(" ")[2] or text
    if isinstance(e, ConnectionRefusedError):
        return f"proxyconnect tcp: dial tcp {host}:{port}: connect: connection refused"
    if isinstance(e, socket.gaierror):
        return f"proxyconnect tcp: dial tcp: lookup {host}: no such host"
    return f"proxyconnect tcp: {text}"


class _HTTPSConnection(http.client.HTTPSConnection):
    """http.client's, naming the server to TLS (SNI, certificate check) as
    bytes when the name is ASCII: a str goes through the "idna" codec, whose
    import (stringprep, unicodedata) costs ~1.5 ms of a command's start-up."""

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP, and the CONNECT tunnel if any
        name = self._tunnel_host or self.host  # type: ignore[attr-defined]
        server_hostname = name.encode() if name.isascii() else name
        self.sock = self._context.wrap_socket(self.sock, server_hostname=server_hostname)  # type: ignore[attr-defined]


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
