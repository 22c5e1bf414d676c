"""The HTTP messages the registry client sends and receives: URLs, headers,
responses with streamed bodies, and the transport errors.

Why not httpx's?  Importing httpx costs ~20 ms (its URL parser with idna,
cookie jars, multipart encoders, content decoders pulling in zstandard and
``platform``, ``urllib.request``) on every registry command, which upstream
finishes in ~30 ms altogether; the registry client uses none of it beyond
these few types (requests go out through :mod:`.http11`).  The names and
behaviour follow httpx's (``TransportError``, ``ReadTimeout``,
``Response.iter_raw``...), so the code reads the same.
"""

from __future__ import annotations

import urllib.parse
import zlib
from collections.abc import Iterable, Iterator
from typing import Protocol, overload

from skopeo.errors import SkopeoError

_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidURL(SkopeoError):
    """A URL that cannot be parsed (one error line, like any other failure)."""


class URL:
    """An absolute http(s) URL.  ``str()`` gives it back as written (Go prints
    URLs that way in its errors); ``port`` is None when absent or the scheme's
    default, so origins compare equal either way."""

    __slots__ = ("_parts", "host", "port", "scheme")

    def __init__(self, url: str) -> None:
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as e:  # a bad port or IPv6 literal (URLs from manifests and headers are untrusted)
            raise InvalidURL(f'parse "{url}": {e}') from None
        self._parts = parts._replace(fragment="")
        self.scheme = parts.scheme.lower()
        self.host = (parts.hostname or "").lower()
        self.port = None if port == _DEFAULT_PORTS.get(self.scheme) else port

    @property
    def netloc(self) -> str:
        """host[:port] as written, without user information (the Host header)."""
        return self._parts.netloc.rpartition("@")[2]

    @property
    def path(self) -> str:
        return urllib.parse.unquote(self._parts.path)

    @property
    def query(self) -> bytes:
        return self._parts.query.encode("ascii", "replace")

    @property
    def raw_path(self) -> bytes:
        """The request target of an origin-form request: path and query."""
        target = self._parts.path or "/"
        if self._parts.query:
            target += "?" + self._parts.query
        return target.encode("ascii", "replace")

    @property
    def userinfo(self) -> tuple[str, str] | None:
        """(user, password) written in the URL (proxy URLs), percent-decoded."""
        if self._parts.username is None:
            return None
        return urllib.parse.unquote(self._parts.username), urllib.parse.unquote(self._parts.password or "")

    def effective_port(self) -> int:
        return self.port or _DEFAULT_PORTS.get(self.scheme, 0)

    def join(self, reference: str) -> URL:
        """*reference* (a Location header, say) resolved against this URL."""
        return URL(urllib.parse.urljoin(str(self), reference))

    def copy_with(self, query: bytes) -> URL:
        return URL(urllib.parse.urlunsplit(self._parts._replace(query=query.decode("ascii"))))

    def __str__(self) -> str:
        return urllib.parse.urlunsplit(self._parts)

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URL) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class Headers:
    """Header fields in order, names compared case-insensitively."""

    __slots__ = ("raw",)

    def __init__(self, items: Iterable[tuple[str, str]] | dict[str, str] = ()) -> None:
        self.raw: list[tuple[str, str]] = list(items.items() if isinstance(items, dict) else items)

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """The field's values joined with ", " (as httpx), or *default*."""
        values = self.get_list(name)
        return ", ".join(values) if values else default

    def get_list(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for k, v in self.raw if k.lower() == lowered]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self.raw)

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


class Request:
    """What was sent: the method and URL (error texts and redirects need them)."""

    __slots__ = ("method", "url")

    def __init__(self, method: str, url: URL) -> None:
        self.method = method
        self.url = url


class BodyStream(Protocol):
    """A response body as it arrives; closing it gives the connection back (or drops it)."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        if self._data:
            yield self._data

    def close(self) -> None:
        pass


class Response:
    """A response whose body is streamed: read it once, with :meth:`iter_raw`
    (the bytes as sent), :meth:`iter_bytes` (gzip/deflate content-encoding
    undone) or :meth:`read`; then (or instead) :meth:`close`."""

    def __init__(self, status_code: int, headers: Headers | Iterable[tuple[str, str]] | dict[str, str] = (),
                 content: bytes = b"", request: Request | None = None, stream: BodyStream | None = None,
                 reason_phrase: str = "") -> None:
        self.status_code = status_code
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.request = request if request is not None else Request("GET", URL("http://localhost/"))
        self.reason_phrase = reason_phrase
        self._stream: BodyStream = stream if stream is not None else _Bytes(content)
        self._content: bytes | None = None
        self._consumed = False

    def iter_raw(self) -> Iterator[bytes]:
        """The body as received, chunk by chunk; the response closes at its end."""
        if self._consumed:
            return
        self._consumed = True
        try:
            yield from self._stream
        finally:
            self._stream.close()

    def iter_bytes(self) -> Iterator[bytes]:
        """The body with its Content-Encoding (gzip, deflate) undone."""
        decoder = _decoder(self.headers.get("Content-Encoding", ""))
        if decoder is None:
            yield from self.iter_raw()
            return
        for chunk in self.iter_raw():
            try:
                out = decoder.decompress(chunk)
            except zlib.error as e:
                raise DecodingError(str(e), request=self.request) from e
            if out:
                yield out
        tail = decoder.flush()
        if tail:
            yield tail

    def read(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_bytes())
        return self._content

    def close(self) -> None:
        self._consumed = True
        self._stream.close()

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


def _decoder(encoding: str) -> zlib._Decompress | None:
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


# --- errors (httpx's names and hierarchy) -----------------------------------------------------
class TransportError(Exception):
    """The exchange failed below HTTP: connecting, sending or receiving."""

    def __init__(self, message: str, *, request: Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class WriteTimeout(TimeoutException):
    pass


class NetworkError(TransportError):
    pass


class ConnectError(NetworkError):
    pass


class ReadError(NetworkError):
    pass


class WriteError(NetworkError):
    pass


class ProtocolError(TransportError):
    pass


class LocalProtocolError(ProtocolError):
    """A request that cannot be sent as asked (a header that would split it)."""


class RemoteProtocolError(ProtocolError):
    pass


class DecodingError(ProtocolError):
    pass


class ProxyError(TransportError):
    pass


class UnsupportedProtocol(TransportError):
    pass
