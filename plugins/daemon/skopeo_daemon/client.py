"""A small Docker Engine API client: ping/version negotiation, image save and
image load, over a unix socket, plain TCP (``http://``) or TLS (``tcp://``).

httpx is imported when a client is created, never when the plugin is loaded.
Podman's Docker-compatible service speaks the same API.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import ssl
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skopeo import deadline
from skopeo.context import SystemContext
from skopeo.errors import ImageNotFoundError, SkopeoError
from skopeo.transport import BlobStream

if TYPE_CHECKING:
    import httpx

DEFAULT_HOST = "unix:///var/run/docker.sock"
# The newest API version we speak; the endpoints used here are unchanged since 1.24.
CLIENT_API_VERSION = (1, 41)
FALLBACK_API_VERSION = (1, 24)
CHUNK = 1 << 20
# Bounds how much of an error body or progress line we keep in memory.
MAX_ERROR_BODY = 64 << 10


@dataclass(frozen=True)
class Endpoint:
    host: str  # as given, for messages
    scheme: str  # "unix", "http" or "https"
    address: str  # socket path, or host:port
    source: str  # "option" or "default"


def resolve_endpoint(ctx: SystemContext) -> Endpoint:
    """The daemon to talk to: ``--*-daemon-host``, else the default socket.  As
    upstream, ``$DOCKER_HOST`` (the docker CLI's setting) is not read."""
    if ctx.daemon_host:
        host, source = ctx.daemon_host, "option"
    else:
        host, source = DEFAULT_HOST, "default"
    proto, sep, addr = host.partition("://")
    if not sep or not addr:
        raise SkopeoError(f"initializing docker engine client: unable to parse docker host `{host}`")
    if proto == "unix":
        return Endpoint(host, "unix", addr, source)
    if proto in ("tcp", "http", "https"):
        addr = addr.rstrip("/")
        if ":" not in addr.rsplit("]", 1)[-1]:
            addr += ":2376" if proto != "http" else ":2375"
        # Upstream: a tcp:// --daemon-host always uses TLS (http:// is plain).
        return Endpoint(host, "http" if proto == "http" else "https", addr, source)
    if proto == "npipe":
        raise SkopeoError("initializing docker engine client: protocol not available")
    raise SkopeoError(f"initializing docker engine client: unsupported docker host protocol {proto!r} in {host!r} "
                      "(use unix://, tcp:// or http://)")


def tls_context(ctx: SystemContext, endpoint: Endpoint) -> ssl.SSLContext:
    """Docker's naming in the cert dir: ``ca.pem``, ``cert.pem``, ``key.pem``."""
    cert_dir = ctx.cert_dir
    sslctx = ssl.create_default_context()
    if cert_dir:
        ca = os.path.join(cert_dir, "ca.pem")
        cert = os.path.join(cert_dir, "cert.pem")
        key = os.path.join(cert_dir, "key.pem")
        try:
            if os.path.exists(ca):
                sslctx = ssl.create_default_context(cafile=ca)
            if os.path.exists(cert) or os.path.exists(key):
                sslctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            raise SkopeoError(f"loading daemon TLS configuration from {cert_dir}: {e}") from None
    if ctx.tls_verify is False:
        sslctx.check_hostname = False
        sslctx.verify_mode = ssl.CERT_NONE
    if ctx.tls_details is not None:  # --tls-details applies to the daemon too, as upstream
        from skopeo.tlsdetails import apply

        apply(sslctx, ctx.tls_details)
    return sslctx


def _version_tuple(text: str) -> tuple[int, int] | None:
    major, _, minor = text.strip().partition(".")
    if major.isdigit() and minor.isdigit():
        return int(major), int(minor)
    return None


class DaemonClient:
    def __init__(self, ctx: SystemContext) -> None:
        import httpx

        self.endpoint = resolve_endpoint(ctx)
        ep = self.endpoint
        transport: httpx.HTTPTransport
        if ep.scheme == "unix":
            transport = httpx.HTTPTransport(uds=ep.address)
            base = "http://docker"
        elif ep.scheme == "http":
            transport = httpx.HTTPTransport()
            base = f"http://{ep.address}"
        else:
            transport = httpx.HTTPTransport(verify=tls_context(ctx, ep))
            base = f"https://{ep.address}"
        # No read timeout: saving or loading a big image keeps a request open for long.
        self._http = httpx.Client(base_url=base, transport=transport,
                                  timeout=httpx.Timeout(60.0, read=None, write=None))
        self._version: str | None = None

    def close(self) -> None:
        self._http.close()

    def _connection_error(self, e: Exception) -> SkopeoError:
        """The Docker client's words for a failed connection (its doRequest)."""
        import httpx

        if deadline.expired():  # --command-timeout: Go's client reports the request's context
            try:
                request: httpx.Request | None = e.request if isinstance(e, httpx.HTTPError) else None
            except RuntimeError:  # an error without its request
                request = None
            if request is not None:
                op = request.method[:1] + request.method[1:].lower()
                return SkopeoError(f'{op} "{request.url}": {deadline.MESSAGE}')
            return deadline.DeadlineExceeded()
        host = self.endpoint.host
        cause: BaseException | None = e
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__cause__ or cause.__context__
        errno_ = cause.errno if isinstance(cause, OSError) else None
        if errno_ == errno.EACCES:
            return SkopeoError(f"permission denied while trying to connect to the docker API at {host}")
        if errno_ == errno.ENOENT and self.endpoint.scheme == "unix":
            return SkopeoError(f"failed to connect to the docker API at {host}; check if the path is correct and if "
                               f"the daemon is running: dial unix {self.endpoint.address}: connect: no such file or directory")
        if self.endpoint.scheme == "unix" or errno_ == errno.ECONNREFUSED or "timed out" in str(e).lower():
            return SkopeoError(f"Cannot connect to the Docker daemon at {host}. Is the docker daemon running?")
        return SkopeoError(f"error during connect: {e}")

    @staticmethod
    def _timeout() -> Any:
        """Each request's timeouts: the client's, but none past --command-timeout's
        deadline (saving or loading has no read limit otherwise)."""
        import httpx

        if deadline.remaining() is None:
            return httpx.USE_CLIENT_DEFAULT
        return httpx.Timeout(deadline.timeout(60.0), read=deadline.timeout(None), write=deadline.timeout(None))

    # --- version negotiation ------------------------------------------------------
    def api_version(self) -> str:
        """min(server's API version, ours), asked once (``/_ping``, then ``/version``)."""
        if self._version is not None:
            return self._version
        import httpx

        server: tuple[int, int] | None = None
        try:
            resp = self._http.get("/_ping", timeout=self._timeout())
            server = _version_tuple(resp.headers.get("API-Version", ""))
            if server is None:
                resp = self._http.get("/version", timeout=self._timeout())
                if resp.status_code == 200:
                    server = _version_tuple(str(resp.json().get("ApiVersion", "")))
        except httpx.HTTPError as e:
            if not deadline.expired():
                raise self._connection_error(e) from None
            # As Go's version negotiation: the request that follows reports it.
        except ValueError:
            server = None
        chosen = min(server, CLIENT_API_VERSION) if server is not None else FALLBACK_API_VERSION
        self._version = f"v{chosen[0]}.{chosen[1]}"
        return self._version

    def _url(self, path: str) -> str:
        return f"/{self.api_version()}{path}"

    @staticmethod
    def _error_message(resp: httpx.Response, body: bytes) -> str:
        try:
            msg = json.loads(body).get("message")
        except (ValueError, AttributeError):
            msg = None
        return str(msg) if msg else (body.decode(errors="replace").strip() or resp.reason_phrase)

    # --- save ---------------------------------------------------------------------
    @contextlib.contextmanager
    def save(self, name: str) -> Iterator[BlobStream]:
        """``GET /images/{name}/get`` as a stream (a docker-archive tar); failures
        to start it are upstream's "loading image from docker engine: …"."""
        import httpx

        context = "loading image from docker engine"
        try:
            url = self._url(f"/images/{urllib.parse.quote(name, safe='/:@')}/get")
            request = self._http.stream("GET", url, timeout=self._timeout())
            resp = request.__enter__()
        except httpx.HTTPError as e:
            raise self._connection_error(e).wrap(context) from None
        except SkopeoError as e:
            raise e.wrap(context) from None
        try:
            if resp.status_code != 200:
                body = resp.read()[:MAX_ERROR_BODY]
                message = f"{context}: Error response from daemon: {self._error_message(resp, body)}"
                if resp.status_code == 404:
                    raise ImageNotFoundError(message)
                raise SkopeoError(message)
            yield _ResponseReader(resp.iter_raw(CHUNK))
        except httpx.HTTPError as e:
            raise self._connection_error(e) from None
        finally:
            request.__exit__(None, None, None)

    # --- load ---------------------------------------------------------------------
    def load(self, body: Iterator[bytes]) -> None:
        """``POST /images/load?quiet=1`` with *body* streamed (chunked); raises the
        daemon's error, which may arrive as a progress message after a 200."""
        import httpx

        try:
            with self._http.stream("POST", self._url("/images/load"), params={"quiet": "1"}, content=body,
                                   headers={"Content-Type": "application/x-tar"}, timeout=self._timeout()) as resp:
                data = b""
                for chunk in resp.iter_bytes():
                    data = (data + chunk)[-MAX_ERROR_BODY:]
                if resp.status_code != 200:
                    raise SkopeoError(f"Error response from daemon: {self._error_message(resp, data)}")
        except httpx.HTTPError as e:
            raise self._connection_error(e) from None
        for line in data.splitlines():
            try:
                msg: Any = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and (msg.get("error") or msg.get("errorDetail")):
                detail = msg.get("errorDetail") or {}
                text = msg.get("error") or (detail.get("message") if isinstance(detail, dict) else "")
                raise SkopeoError(f"Error response from daemon: {text}")


class _ResponseReader:
    """A file-like view of an iterator of chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buf += chunk
        if n < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def close(self) -> None:
        pass
