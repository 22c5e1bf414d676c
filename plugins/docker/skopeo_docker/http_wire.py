"""HTTP/1.1 on the wire, as Go's client writes and reads it: a request's head
(Host first, Go's framing fields, fields that would split the message
refused), a response's head (status line and fields under Go's size limit,
1xx answers skipped, Go's texts for malformed answers), and how a response's
body is delimited (:func:`body_framing`, RFC 9112 §6.3) and read.  The
connections these go over are :mod:`.http11`'s."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import NamedTuple

from skopeo.golang.gojson import quote

from .http_messages import URL, LocalProtocolError, RemoteProtocolError, Request
from .http_proxies import proxy_authorization

Body = bytes | Iterator[bytes] | None


# --- writing requests ---------------------------------------------------------------------------
def request_fields(method: str, url: URL, headers: list[tuple[str, str]], content: Body,
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
        fields.extend(proxy_authorization(proxy).items())
    return fields, chunked


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def request_head(method: str, target: str, fields: list[tuple[str, str]], request: Request) -> bytes:
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


# --- reading responses -------------------------------------------------------------------------
# Go's limits: a response's head (MaxResponseHeaderBytes' default), and a line
# of chunked framing.
MAX_HEAD_BYTES = 10 << 20
MAX_CHUNK_LINE = 4096
_BROKEN = "net/http: HTTP/1.x transport connection broken: "


class Incomplete(Exception):
    """The peer closed the connection inside a message."""


class NoResponse(ConnectionResetError):
    """The peer closed the connection before the first byte of an answer (on a
    connection that was idle in the pool: the keep-alive race)."""


class Head(NamedTuple):
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


def read_head(reader: io.BufferedReader) -> Head:
    """A response's status line and header fields; 1xx interim answers (100
    Continue) are skipped as Go's client skips them."""
    lines = _HeadReader(reader)
    while True:
        line = lines.line()
        if not line:
            raise NoResponse("Server disconnected without sending a response.")
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise RemoteProtocolError(f"{_BROKEN}malformed HTTP response {quote(line.rstrip(_CRLF))}")
        fields = _read_fields(lines)
        status = int(code)
        if not 100 <= status < 200 or status == 101:
            return Head(version, status, reason.strip(), fields)


def _read_fields(lines: _HeadReader) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    while True:
        line = lines.line()
        if line in (b"\r\n", b"\n"):
            return fields
        if not line:
            raise Incomplete("incomplete header")
        if line[:1] in (b" ", b"\t") and fields:  # obsolete line folding
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.decode('latin-1').strip()}")
            continue
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise RemoteProtocolError(f"{_BROKEN}malformed MIME header line: {line.rstrip(_CRLF).decode('latin-1')}")
        fields.append((name, value.strip()))


def read_chunk_line(reader: io.BufferedReader) -> bytes:
    line = reader.readline(MAX_CHUNK_LINE + 1)
    if len(line) > MAX_CHUNK_LINE:
        raise RemoteProtocolError("header line too long")  # Go's chunked reader says so
    return line


def read_expected(reader: io.BufferedReader, size: int, left: int, what: str) -> bytes:
    """Up to *size* of the *left* bytes the framing still announces.  A read
    cut short by the peer's close returns what came (a download can resume
    after it); only a read that gets nothing reports the end."""
    data = reader.read(min(size, left))
    if not data:
        raise Incomplete(f"{what}, {left} bytes missing")
    return data


_CRLF = b"\r\n"


def body_framing(method: str, head: Head) -> tuple[int | None, bool, bool]:
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
