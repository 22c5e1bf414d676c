"""The registry client's HTTP/1.1 connections, on sockets: a thread-safe
keep-alive pool per registry, proxies from the environment as Go's
``http.ProxyFromEnvironment``, and the messages of :mod:`.http_messages`.

Why not httpx (and httpcore + h11 under it), or ``http.client``?  Start-up:
every registry command would import them, ~20 ms for httpx and ~7 ms for
``http.client`` (its header parser is the ``email`` package) on a command
that Go finishes in ~30 ms, and ``http.client`` parses every response's
header through ``email.feedparser``.  What is needed is small: a request
head written at once, a status line and header fields read with the C
buffered reader, and the body delimited by RFC 9112's rules
(:func:`body_framing`).  What Go's client does that matters here is done the
same way: ``Host`` first, ``Accept-Encoding: gzip`` unless the caller says
otherwise (and gzip bodies decoded), ``Content-Length: 0`` on a bodiless
POST/PUT/PATCH, chunked uploads when the length is unknown, 1xx answers
skipped, Go's texts for malformed answers, no cookie jar, no redirects
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
import io
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
from skopeo.golang.gojson import quote

from .http_messages import (
    URL,
    ConnectError,
    ConnectTimeout,
    Headers,
    LocalProtocolError,
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


# --- reading responses ------------------------------------------------------------------------
# Go's limits: a response's head (MaxResponseHeaderBytes' default), and a line
# of chunked framing.
MAX_HEAD_BYTES = 10 << 20
MAX_CHUNK_LINE = 4096
_BROKEN = "net/http: HTTP/1.x transport connection broken: "


class _Incomplete(Exception):
    """The peer closed the connection inside a message."""


class _NoResponse(ConnectionResetError):
    """The peer closed the connection before the first byte of an answer (on a
    connection that was idle in the pool: the keep-alive race)."""


class _Head(NamedTuple):
    version: str
    status: int
    reason: str
    fields: list[tuple[str, str]]


class _HeadReader:
    """The lines of a response's head, within Go's limit on their total size."""

    def __init__(self, reader: io.BufferedReader) -> None:
        self._reader = reader
        self._left = MAX_HEAD_BYTES

    def line(self) -> bytes:
        line = self._reader.readline(self._left + 1)
        self._left -= len(line)
        if self._left < 0:
            raise RemoteProtocolError(f"net/http: server response headers exceeded {MAX_HEAD_BYTES} bytes; aborted")
        return line


def read_head(reader: io.BufferedReader) -> _Head:
    """A response's status line and header fields; 1xx interim answers (100
    Continue) are skipped as Go's client skips them."""
    lines = _HeadReader(reader)
    while True:
        line = lines.line()
        if not line:
            raise _NoResponse("Server disconnected without sending a response.")
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise RemoteProtocolError(f"{_BROKEN}malformed HTTP response {quote(line.rstrip(_CRLF))}")
        fields = _read_fields(lines)
        status = int(code)
        if not 100 <= status < 200 or status == 101:
            return _Head(version, status, reason.strip(), fields)


def _read_fields(lines: _HeadReader) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    while True:
        line = lines.line()
        if line in (b"\r\n", b"\n"):
            return fields
        if not line:
            raise _Incomplete("incomplete header")
        if line[:1] in (b" ", b"\t") and fields:  # obsolete line folding
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.decode('latin-1').strip()}")
            continue
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise RemoteProtocolError(f"{_BROKEN}malformed MIME header line: {line.rstrip(_CRLF).decode('latin-1')}")
        fields.append((name, value.strip()))


def _read_chunk_line(reader: io.BufferedReader) -> bytes:
    line = reader.readline(MAX_CHUNK_LINE + 1)
    if len(line) > MAX_CHUNK_LINE:
        raise RemoteProtocolError("header line too long")  # Go's chunked reader says so
    return line


def _read_expected(reader: io.BufferedReader, size: int, left: int, what: str) -> bytes:
    """Up to *size* of the *left* bytes the framing still announces.  A read
    cut short by the peer's close returns what came (a download can resume
    after it); only a read that gets nothing reports the end."""
    data = reader.read(min(size, left))
    if not data:
        raise _Incomplete(f"{what}, {left} bytes missing")
    return data


_CRLF = b"\r\n"


def body_framing(method: str, head: _Head) -> tuple[int | None, bool, bool]:
    """How the body of a response is delimited (RFC 9112 §6.3): its length
    (None: chunked, or until the connection closes), whether it is chunked,
    and whether the connection closes after it."""
    tokens = {t.strip().lower() for n, v in head.fields if n.lower() == "connection" for t in v.split(",")}
    will_close = "close" in tokens or (head.version == "HTTP/1.0" and "keep-alive" not in tokens)
    if method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200:
        return 0, False, will_close
    codings = [t.strip().lower() for n, v in head.fields if n.lower() == "transfer-encoding" for t in v.split(",")]
    if codings:
        if codings[-1] == "chunked":
            return None, True, will_close
        return None, False, True
    lengths = {v.strip() for n, v in head.fields if n.lower() == "content-length"}
    if len(lengths) > 1:
        raise RemoteProtocolError("http: message cannot contain multiple Content-Length headers; got "
                                  + repr(sorted(lengths)))
    if lengths:
        value = lengths.pop()
        if not value.isdigit() or not value.isascii():
            raise RemoteProtocolError(f"bad Content-Length {quote(value.encode('latin-1'))}")
        return int(value), False, will_close
    return None, False, True


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
        except _Incomplete as e:
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
                if self._chunk_ended and _read_chunk_line(reader).strip():
                    raise RemoteProtocolError("malformed chunked encoding")
                self._chunk_ended = False
                line = _read_chunk_line(reader)
                if not line:
                    raise _Incomplete("incomplete chunked encoding")
                try:
                    self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise RemoteProtocolError("invalid byte in chunk length") from None
                if self._chunk_left < 0:
                    raise RemoteProtocolError("invalid byte in chunk length")
                if not self._chunk_left:
                    while _read_chunk_line(reader).strip():
                        pass  # trailer fields: none that matter here
                    self._done = True
                    return b""
            data = _read_expected(reader, size, self._chunk_left, "incomplete chunk")
            self._chunk_left -= len(data)
            # The CRLF after the chunk's data is checked on the next read, so
            # that the data is handed on first.
            self._chunk_ended = not self._chunk_left
            return data
        if self._remaining is None:  # until the connection closes
            data = reader.read(size)
            self._done = not data
            return data
        data = _read_expected(reader, size, self._remaining, "incomplete")
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
            except (OSError, _Incomplete, RemoteProtocolError):
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
                raise ProxyError(_proxy_failure(e, peer_host, peer_port), request=request) from e
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
        fields, chunked = _request_fields(method, url, headers, content, proxy)
        # Through a plain-HTTP proxy the request names the whole URL.
        target = str(url) if proxy is not None and scheme == "http" else url.raw_path.decode("ascii")
        head = _request_head(method, target, fields, request)
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
                  timeouts: Timeouts) -> tuple[io.BufferedReader, _Head]:
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
    def _response(sock: socket.socket, request: Request,
                  read_timeout: float | None) -> tuple[io.BufferedReader, _Head]:
        # A reader per response, as http.client: whatever a server sent past
        # the end of one answer is not taken for the start of the next.
        reader = sock.makefile("rb")
        try:
            sock.settimeout(read_timeout)
            return reader, read_head(reader)
        except BaseException as e:
            reader.close()
            if isinstance(e, TimeoutError):
                raise ReadTimeout(str(e) or "timed out", request=request) from e
            if isinstance(e, _NoResponse):
                raise RemoteProtocolError(str(e), request=request) from e
            if isinstance(e, _Incomplete):
                raise RemoteProtocolError(f"peer closed connection without sending complete message: {e}",
                                          request=request) from None
            if isinstance(e, RemoteProtocolError):
                e.request = request
                raise
            if isinstance(e, OSError):
                raise ReadError(str(e), request=request) from e
            raise


# Request bodies up to this size go out in the same send as the request's head.
COALESCE_MAX = 64 * 1024


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


def _request_head(method: str, target: str, fields: list[tuple[str, str]], request: Request) -> bytes:
    """The request line and header fields, as bytes on the wire.  A name or
    value that would split the message (a line break, a NUL) is refused, as
    Go's client refuses it."""
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in fields:
        if not name or any(c in name for c in ":\r\n\0 \t"):
            raise LocalProtocolError(f"net/http: invalid header field name {quote(name.encode())}",
                                     request=request)
        if any(c in value for c in "\r\n\0"):
            raise LocalProtocolError(f"net/http: invalid header field value for {quote(name.encode())}",
                                     request=request)
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()


def _open_tunnel(sock: socket.socket, host: str, port: int, proxy: URL) -> None:
    """CONNECT through an HTTP proxy, as Go's client asks for it; anything but
    200 is refused with the proxy's status text (Go's error)."""
    fields = [("Host", f"{host}:{port}"), ("User-Agent", "Go-http-client/1.1"),
              *_proxy_authorization(proxy).items()]
    sock.sendall(_request_head("CONNECT", f"{host}:{port}", fields, Request("CONNECT", proxy)))
    with sock.makefile("rb") as reader:
        try:
            answer = read_head(reader)
        except (_NoResponse, _Incomplete, RemoteProtocolError) as e:
            raise _TunnelRefused(str(e)) from None
    if answer.status != 200:
        raise _TunnelRefused(answer.reason or "unknown status code")


class _TunnelRefused(OSError):
    """The proxy did not open the tunnel (its status text)."""


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
    if isinstance(e, _TunnelRefused):
        return text
    if isinstance(e, ConnectionRefusedError):
        return f"proxyconnect tcp: dial tcp {host}:{port}: connect: connection refused"
    if isinstance(e, socket.gaierror):
        return f"proxyconnect tcp: dial tcp: lookup {host}: no such host"
    return f"proxyconnect tcp: {text}"


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
