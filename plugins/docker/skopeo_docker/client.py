"""The registry HTTP client: connection setup ("ping"), authentication (Basic,
Bearer tokens with a per-scope cache, identity tokens, ``--registry-token``),
per-request retries, size-capped bodies and Go-like error text.

Per-request retries (below ``--retry-times``, which repeats whole operations):
a request answered 408/429/500/502/503/504, or whose connection was dropped or
reset, is sent again after an exponential back-off (``Retry-After`` in seconds
or as an HTTP date wins), at most ``RETRY_ATTEMPTS`` times in total and never
past ``RETRY_MAX_TOTAL`` seconds.  Only requests whose body can be sent again
(none, or ``bytes``) are retried here; a streamed body (a blob upload) cannot be
rewound by the client, so the destination restarts the upload instead (see
``DockerImageDestination.put_blob``).  Connection *setup* failures (refused,
DNS, TLS) are not retried per request: they rarely heal within seconds and
``--retry-times`` covers them.  A 429 (or a 503 with ``Retry-After``) also
starts a cool-down shared by every thread talking to that registry, so a
``sync`` with many images in flight slows down as a whole instead of each
thread hammering the registry until its attempts run out.

One ``httpx.Client`` (a keep-alive connection pool) is shared per registry and
TLS configuration for the whole process, and so is the ping result: inspecting
an image and then listing its tags does not reconnect or re-ping.  A
:class:`RegistryClient` holds what is specific to one use (credentials, the
repository scope, its tokens); it is thread-safe, because the copy engine moves
blobs from several threads at once.
"""

from __future__ import annotations

import base64
import email.utils
import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx

import skopeo
from skopeo import log
from skopeo.auth import Credentials
from skopeo.auth import resolve as resolve_credentials
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.reference import DockerReference
from skopeo.tlsdetails import TLSDetails

from . import http11, registries_conf, tlsconfig, wwwauth
from .registry_errors import (
    MAX_ERROR_BODY_SIZE,
    RegistryError,
    UnauthorizedForCredentialsError,
    from_response,
    status_text,
)

DOCKER_HOSTNAME = "docker.io"
DOCKER_REGISTRY = "registry-1.docker.io"
MAX_AUTH_TOKEN_BODY_SIZE = 1 << 20
MAX_TAG_LIST_BODY_SIZE = 16 << 20
MINIMUM_TOKEN_LIFETIME = 60
# Per-request retries: total attempts, first delays (429 as upstream: 2 s
# doubling; 5xx and dropped connections start lower), cap per wait, and the
# total time one request may spend retrying.
RETRY_ATTEMPTS = 5
BACKOFF_INITIAL = 2.0
RETRY_INITIAL = 0.5
BACKOFF_MAX = 60.0
RETRY_MAX_TOTAL = 300.0
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CHUNK = 1 << 20

# Codes that repeating the operation will not fix (upstream's retry policy).
_NOT_RETRYABLE_CODES = ("UNAUTHORIZED", "DENIED", "NAME_UNKNOWN", "MANIFEST_UNKNOWN")


class TransportError(SkopeoError):
    """The network failed (refused, reset, timed out, TLS …).  Worth repeating
    the operation (``retryable``) unless the cause is one that will not go away
    by itself (certificate problems, unknown host, HTTP spoken to HTTPS …).
    ``transient`` says the connection broke after it was established (reset,
    dropped, EOF): the request itself may be sent again at once."""

    retryable = True
    transient = False


# Reasons (as described by describe_network_error) that repeating will not fix.
_PERMANENT_NETWORK_REASONS = ("tls: ", "no such host", "server gave HTTP response to HTTPS client", "proxyconnect")
# httpx errors raised after the connection was up: the peer dropped or reset it.
_TRANSIENT_HTTPX_ERRORS = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


def mark_retryable(err: RegistryError) -> RegistryError:
    if err.code is not None:
        err.retryable = err.code not in _NOT_RETRYABLE_CODES
    else:
        err.retryable = err.status in (502, 503, 504)
    return err


def user_agent(ctx: SystemContext) -> str:
    return ctx.user_agent or f"skopeo/{skopeo.__version__}"


# --- describing network failures the way Go does ---------------------------------
def _walk(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def describe_network_error(exc: BaseException, url: httpx.URL) -> str:
    """The text after ``Get "url": `` in Go's error for this failure."""
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    hostport = f"{host}:{port}"
    texts = " | ".join(str(e) for e in _walk(exc))
    lowered = texts.lower()
    for e in _walk(exc):
        alert = tlsconfig.alert_text(e)
        if alert:
            return alert
        if isinstance(e, ssl.SSLCertVerificationError):
            reason = (e.verify_message or str(e)).lower()
            if "hostname mismatch" in reason or "ip address mismatch" in reason:
                return f"tls: failed to verify certificate: x509: certificate is not valid for {host}"
            if "expired" in reason or "not yet valid" in reason:
                return "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
            return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"dial tcp {hostport}: i/o timeout"
    if isinstance(exc, httpx.TimeoutException):
        return "net/http: timeout awaiting response headers"
    if "wrong_version_number" in lowered or "wrong version number" in lowered or "record layer failure" in lowered:
        return "http: server gave HTTP response to HTTPS client"
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or "no address associated" in lowered
        or "temporary failure in name resolution" in lowered
        or "name does not resolve" in lowered
    ):
        return f"dial tcp: lookup {host}: no such host"
    if "connection refused" in lowered:
        return f"dial tcp {hostport}: connect: connection refused"
    if "network is unreachable" in lowered:
        return f"dial tcp {hostport}: connect: network is unreachable"
    if "no route to host" in lowered:
        return f"dial tcp {hostport}: connect: no route to host"
    if "connection reset" in lowered:
        return f"read tcp {hostport}: read: connection reset by peer"
    if "incomplete" in lowered or "peer closed" in lowered or "complete message body" in lowered:
        return "unexpected EOF"
    if isinstance(exc, httpx.RemoteProtocolError) and "without sending" in lowered:
        return "EOF"
    if isinstance(exc, httpx.ProxyError):
        return f"proxyconnect tcp: {exc}"
    return str(exc) or type(exc).__name__


def url_error(method: str, url: httpx.URL, exc: BaseException) -> TransportError:
    """Go's ``*url.Error`` text: ``Get "https://h/v2/": <reason>``."""
    op = method[:1].upper() + method[1:].lower()
    reason = describe_network_error(exc, url)
    err = TransportError(f'{op} "{url}": {reason}')
    err.retryable = not any(p in reason for p in _PERMANENT_NETWORK_REASONS)
    err.transient = err.retryable and isinstance(exc, _TRANSIENT_HTTPX_ERRORS)
    return err


# --- reading bodies ----------------------------------------------------------------
def read_limited(resp: httpx.Response, limit: int) -> bytes:
    """The response body, refusing more than *limit* bytes (never buffers more)."""
    cl = resp.headers.get("Content-Length")
    if cl is not None and cl.isdigit() and int(cl) > limit:
        resp.close()
        raise SkopeoError(f"exceeded maximum allowed size of {limit} bytes")
    return _collect(resp, resp.iter_bytes(), limit)


def _collect(resp: httpx.Response, chunks: Iterator[bytes], limit: int) -> bytes:
    """Join *chunks* of *resp*'s body, failing past *limit* bytes; closes *resp*."""
    buf = bytearray()
    try:
        for chunk in chunks:
            buf += chunk
            if len(buf) > limit:
                raise SkopeoError(f"exceeded maximum allowed size of {limit} bytes")
    except httpx.TransportError as e:
        raise url_error(resp.request.method, resp.request.url, e) from None
    finally:
        resp.close()
    return bytes(buf)


def error_from(resp: httpx.Response) -> RegistryError:
    """The registry error for a failed response (closes it)."""
    try:
        body = read_limited(resp, MAX_ERROR_BODY_SIZE)
    except SkopeoError:
        body = b""
    challenges = wwwauth.parse(resp.headers.get_list("WWW-Authenticate"))
    return mark_retryable(from_response(resp.status_code, resp.reason_phrase, body, challenges))


# --- process-wide connection pools ---------------------------------------------------
class _Ping(NamedTuple):
    scheme: str
    challenges: list[wwwauth.Challenge]
    supports_signatures: bool


class _Pool:
    """The shared HTTP client of one registry and TLS setup, and its ping result."""

    __slots__ = ("client", "lock", "ping")

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.ping: _Ping | None = None


class _Cooldown:
    """When a registry last asked us to slow down: every request to that host,
    from any thread or client, waits until the time has passed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0

    def extend(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self) -> float:
        """Sleep until the cool-down is over; the seconds slept."""
        slept = 0.0
        while True:
            with self._lock:
                remaining = self._until - time.monotonic()
            if remaining <= 0:
                return slept
            time.sleep(remaining)
            slept += remaining


_cooldowns_lock = threading.Lock()
_cooldowns: dict[str, _Cooldown] = {}


def _cooldown(host: str) -> _Cooldown:
    with _cooldowns_lock:
        c = _cooldowns.get(host)
        if c is None:
            c = _cooldowns[host] = _Cooldown()
        return c


_pools_lock = threading.Lock()
_pools: dict[tuple[str, str, bool, TLSDetails | None], _Pool] = {}


_LOOPBACK_PATTERNS = ("all://localhost", "all://127.0.0.1", "all://[::1]")


def _environment_proxies() -> bool:
    import urllib.request

    return any(k in ("http", "https", "all") for k in urllib.request.getproxies())


def _tune_httpcore() -> None:
    """httpcore reads HTTP/1.1 bodies 64 KiB at a time; blobs stream measurably
    faster (~15%) with 256 KiB reads.  A private knob, so only set if present."""
    try:
        from httpcore._sync.http11 import HTTP11Connection
    except ImportError:  # pragma: no cover - another httpcore layout
        return
    if getattr(HTTP11Connection, "READ_NUM_BYTES", 0) < http11.READ_SIZE:
        HTTP11Connection.READ_NUM_BYTES = http11.READ_SIZE


def _pool(host: str, cert_dir: str, skip_verify: bool, tls_details: TLSDetails | None = None) -> _Pool:
    key = (host, cert_dir, skip_verify, tls_details)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            ssl_context = tlsconfig.ssl_context(cert_dir, skip_verify, tls_details)
            options: dict[str, Any] = {}
            if _environment_proxies():
                # HTTP(S)_PROXY / NO_PROXY as Go's ProxyFromEnvironment: httpx's own
                # transport, which tunnels through proxies.
                # Like Go, never for loopback hosts.
                _tune_httpcore()
                options.update(verify=ssl_context, trust_env=True, mounts=dict.fromkeys(_LOOPBACK_PATTERNS),
                               limits=httpx.Limits(max_connections=None, max_keepalive_connections=32))
            else:
                options.update(transport=http11.ConnectionPool(ssl_context), trust_env=False)
            client = httpx.Client(
                follow_redirects=False,
                timeout=httpx.Timeout(connect=30.0, read=300.0, write=300.0, pool=None),
                **options,
            )
            # Go sends no Accept header unless asked; the manifest GETs send their own.
            del client.headers["Accept"]
            pool = _Pool(client)
            _pools[key] = pool
    return pool


def close_all() -> None:
    """Close every pooled connection (tests; the process exit does it otherwise)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for p in pools:
        p.client.close()


class Scope(NamedTuple):
    resource_type: str
    remote_name: str
    actions: str

    def __str__(self) -> str:
        return f"{self.resource_type}:{self.remote_name}:{self.actions}"

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        parts = text.split(":")
        return cls(*parts) if len(parts) == 3 else None


class _Token(NamedTuple):
    token: str
    expires: float


class RegistryClient:
    """Requests to one registry on behalf of one repository scope."""

    def __init__(
        self,
        ctx: SystemContext,
        registry: str,
        creds: Credentials,
        scope: Scope | None,
        skip_verify: bool,
    ) -> None:
        self.ctx = ctx
        # The name users see (docker.io) and the host we connect to.
        self.registry_name = registry
        self.host = DOCKER_REGISTRY if registry == DOCKER_HOSTNAME else registry
        self.creds = creds
        self.registry_token = ctx.registry_token or ""
        self.scope = scope
        self.skip_verify = skip_verify
        # certs.d is looked up by the user-visible name (docker.io, not registry-1).
        self.cert_dir = tlsconfig.cert_dir_for(registry, ctx.cert_dir)
        self.user_agent = user_agent(ctx)
        self._pool = _pool(self.host, self.cert_dir, skip_verify, ctx.tls_details)
        self._cooldown = _cooldown(self.host)
        self._tokens: dict[str, _Token] = {}
        self._token_lock = threading.Lock()
        self._warned: set[str] = set()
        # Separate from the token lock: warnings are logged while a token is fetched.
        self._warned_lock = threading.Lock()

    # --- connection setup -----------------------------------------------------------
    @property
    def http(self) -> httpx.Client:
        return self._pool.client

    def ping(self) -> _Ping:
        pool = self._pool
        if pool.ping is not None:
            return pool.ping
        with pool.lock:
            if pool.ping is None:
                pool.ping = self._do_ping()
        return pool.ping

    def _ping_once(self, scheme: str) -> _Ping:
        url = httpx.URL(f"{scheme}://{self.host}/v2/")
        resp = self._send_retrying("GET", url, [], None, None)
        log.debug(f"Ping {url} status {resp.status_code}")
        if resp.status_code not in (200, 401):
            raise error_from(resp)
        challenges = wwwauth.parse(resp.headers.get_list("WWW-Authenticate"))
        supports = resp.headers.get("X-Registry-Supports-Signatures") == "1"
        resp.close()
        return _Ping(scheme, challenges, supports)

    def _do_ping(self) -> _Ping:
        try:
            return self._ping_once("https")
        except SkopeoError as first:
            err: SkopeoError = first
            log.debug(f"Ping https://{self.host}/v2/ err {first}")
            if self.skip_verify:
                try:
                    return self._ping_once("http")
                except SkopeoError as second:
                    err = second
            wrapped = err.wrap(f"pinging container registry {self.host}")
            raise wrapped from None

    @property
    def supports_signatures(self) -> bool:
        return self.ping().supports_signatures

    def url(self, path: str) -> httpx.URL:
        return httpx.URL(f"{self.ping().scheme}://{self.host}{path}")

    # --- sending ----------------------------------------------------------------------
    def _send(
        self,
        method: str,
        url: httpx.URL,
        headers: list[tuple[str, str]],
        content: Any,
        authorization: str | None,
    ) -> httpx.Response:
        """Send one request; the body is left unread (streamed) so callers can cap
        or stream it."""
        hdrs: list[tuple[str, str]] = [("Docker-Distribution-API-Version", "registry/2.0"), *headers]
        hdrs.append(("User-Agent", self.user_agent))
        if authorization:
            hdrs.append(("Authorization", authorization))
        request = self.http.build_request(method, url, headers=hdrs, content=content)
        log.debug(f"{method} {url}")
        try:
            resp = self.http.send(request, stream=True)
        except httpx.TransportError as e:
            raise url_error(method, url, e) from None
        self._log_warnings(resp)
        return resp

    def _log_warnings(self, resp: httpx.Response) -> None:
        for header in resp.headers.get_list("Warning"):
            text = _parse_warning(header)
            if not text:
                log.debug(f"Ignored Warning: header from registry: {header!r}")
                continue
            with self._warned_lock:
                if text in self._warned:
                    continue
                self._warned.add(text)
            log.warning(f'Warning from registry (first encountered at "{resp.request.url}"): "{text}"')

    def request(
        self,
        method: str,
        path_or_url: str | httpx.URL,
        headers: list[tuple[str, str]] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        auth: bool = True,
        extra_scope: Scope | None = None,
        preload: int | None = None,
    ) -> httpx.Response:
        """Send a request (body streamed unread: use :func:`read_limited` or
        ``iter_bytes``).  A path is resolved against the registry.

        Failures worth repeating are retried here (see the module docstring)
        when *content* can be sent again.  With *preload*, a 2xx body is read
        (at most *preload* bytes) before returning, so a body cut short is
        retried too; the response then holds it in memory."""
        ping = self.ping()
        url = path_or_url if isinstance(path_or_url, httpx.URL) else self.url(path_or_url)
        headers = headers or []
        replayable = content is None or isinstance(content, bytes)
        sent = 0
        retries = 0
        deadline = time.monotonic() + RETRY_MAX_TOTAL
        reauthenticated = False
        while True:
            self._cooldown.wait()
            authorization, cache_key = self._authorization(ping, extra_scope) if auth else (None, None)
            try:
                resp = self._send(method, url, headers, content, authorization)
                sent += 1
                if preload is not None and 200 <= resp.status_code < 300:
                    resp = _preloaded(resp, preload)
            except TransportError as e:
                sent += 1
                if not (replayable and e.transient):
                    raise
                retries += 1
                delay = self._retry_delay(retries, RETRY_INITIAL, deadline)
                if delay is None:
                    raise
                log.info(f"{e}: retrying in {delay:g}s ({retries}/{RETRY_ATTEMPTS - 1})")
                time.sleep(delay)
                continue
            if resp.status_code == 401 and auth and replayable:
                retry_scope = _insufficient_scope(resp)
                if sent == 1 and retry_scope is not None:
                    # The registry says which scope it wants: get a token for it, once.
                    log.debug("Detected insufficient_scope error, will retry request with updated scope")
                    resp.close()
                    extra_scope = retry_scope
                    continue
                if cache_key is not None and not reauthenticated:
                    # A cached token may have been revoked or expired early: fetch a new one, once.
                    reauthenticated = True
                    with self._token_lock:
                        self._tokens.pop(cache_key, None)
                    resp.close()
                    continue
            if resp.status_code not in RETRY_STATUSES or not replayable:
                return resp
            retries += 1
            if not self._wait_after_status(resp, method, url, retries, deadline):
                return resp

    def _wait_after_status(self, resp: httpx.Response, method: str, url: httpx.URL, retries: int, deadline: float) -> bool:
        """After a retryable status: close *resp* and sleep (honouring
        Retry-After) before retry number *retries*; False when attempts or time
        are exhausted (the caller then returns *resp* as it is)."""
        initial = BACKOFF_INITIAL if resp.status_code == 429 else RETRY_INITIAL
        delay = self._retry_delay(retries, initial, deadline, resp)
        if delay is None:
            return False
        resp.close()
        if resp.status_code == 429 or "Retry-After" in resp.headers:
            # Everybody talking to this registry waits, not only this thread.
            self._cooldown.extend(delay)
        log.info(
            f"{method} {url}: {resp.status_code} {status_text(resp.status_code)}, "
            f"retrying in {delay:g}s ({retries}/{RETRY_ATTEMPTS - 1})"
        )
        time.sleep(delay)
        return True

    @staticmethod
    def _retry_delay(retries: int, initial: float, deadline: float, resp: httpx.Response | None = None) -> float | None:
        """Seconds to wait before retry number *retries* (1-based), or None when
        the attempts or the time budget are exhausted."""
        if retries >= RETRY_ATTEMPTS:
            return None
        backoff = min(initial * (2 ** (retries - 1)), BACKOFF_MAX)
        delay = min(_retry_after(resp, backoff), BACKOFF_MAX) if resp is not None else backoff
        if time.monotonic() + delay > deadline:
            return None
        return delay

    def _send_retrying(
        self, method: str, url: httpx.URL, headers: list[tuple[str, str]], content: bytes | None,
        authorization: str | None,
    ) -> httpx.Response:
        """:meth:`_send` with the same retries as :meth:`request` (token requests;
        the last failed response is returned)."""
        retries = 0
        deadline = time.monotonic() + RETRY_MAX_TOTAL
        while True:
            self._cooldown.wait()
            try:
                resp = self._send(method, url, headers, content, authorization)
            except TransportError as e:
                retries += 1
                delay = self._retry_delay(retries, RETRY_INITIAL, deadline) if e.transient else None
                if delay is None:
                    raise
                log.info(f"{e}: retrying in {delay:g}s ({retries}/{RETRY_ATTEMPTS - 1})")
                time.sleep(delay)
                continue
            if resp.status_code not in RETRY_STATUSES:
                return resp
            retries += 1
            if not self._wait_after_status(resp, method, url, retries, deadline):
                return resp

    def wait_cooldown(self) -> None:
        """Wait while the registry asked for a pause (before restarting an upload)."""
        self._cooldown.wait()

    # --- authentication -----------------------------------------------------------------
    def _authorization(self, ping: _Ping, extra_scope: Scope | None) -> tuple[str | None, str | None]:
        """(Authorization header value, token cache key if a cached bearer token was used)."""
        if not ping.challenges:
            return None, None
        names = []
        for scheme, params in ping.challenges:
            names.append(scheme)
            if scheme == "basic":
                raw = f"{self.creds.username}:{self.creds.password}".encode()
                return "Basic " + base64.b64encode(raw).decode(), None
            if scheme == "bearer":
                if self.registry_token:
                    return f"Bearer {self.registry_token}", None
                key = str(extra_scope) if extra_scope is not None else ""
                return f"Bearer {self._bearer_token(params, extra_scope, key)}", key
            log.debug(f"no handler for {scheme} authentication")
        log.info(
            f"None of the challenges sent by server ({', '.join(names)}) are supported, "
            "trying an unauthenticated request anyway"
        )
        return None, None

    def _bearer_token(self, params: dict[str, str], extra_scope: Scope | None, key: str) -> str:
        # One lock: concurrent blob threads wait for a single token fetch.
        with self._token_lock:
            cached = self._tokens.get(key)
            if cached is not None and time.time() < cached.expires:
                return cached.token
            scopes = [s for s in (self.scope, extra_scope) if s is not None]
            token = self.fetch_token(params, scopes)
            self._tokens[key] = token
            return token.token

    def fetch_token(self, params: dict[str, str], scopes: list[Scope]) -> _Token:
        realm = params.get("realm")
        if not realm:
            raise SkopeoError("missing realm in bearer auth challenge")
        query: list[tuple[str, str]] = []
        service = params.get("service", "")
        scope_values = [str(s) for s in scopes if s.resource_type and s.remote_name and s.actions]
        if self.creds.identity_token:
            form: list[tuple[str, str]] = []
            if service:
                form.append(("service", service))
            form.extend(("scope", s) for s in scope_values)
            form += [
                ("grant_type", "refresh_token"),
                ("refresh_token", self.creds.identity_token),
                ("client_id", "containers/image"),
            ]
            body = urllib.parse.urlencode(sorted(form, key=lambda kv: kv[0])).encode()
            url = httpx.URL(realm)
            headers = [("Content-Type", "application/x-www-form-urlencoded")]
            resp = self._send_retrying("POST", url, headers, body, None)
            context = "Trying to obtain access token"
        else:
            parsed = urllib.parse.urlsplit(realm)
            query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
            if self.creds.username:
                query.append(("account", self.creds.username))
            if service:
                query.append(("service", service))
            query.extend(("scope", s) for s in scope_values)
            # Go's url.Values.Encode(): keys sorted, values in insertion order.
            encoded = urllib.parse.urlencode(sorted(query, key=lambda kv: kv[0]))
            url = httpx.URL(urllib.parse.urlunsplit(parsed._replace(query=encoded)))
            authorization = None
            if self.creds.username and self.creds.password:
                raw = f"{self.creds.username}:{self.creds.password}".encode()
                authorization = "Basic " + base64.b64encode(raw).decode()
            resp = self._send_retrying("GET", url, [], None, authorization)
            context = "Requesting bearer token"
        if resp.status_code == 429:
            resp.close()
            raise TransportError("too many requests to registry")
        if resp.status_code == 401:
            err = error_from(resp)
            raise UnauthorizedForCredentialsError(
                f"unable to retrieve auth token: invalid username/password: {err.message}",
                code=err.code,
                status=401,
            )
        if resp.status_code != 200:
            resp.close()
            raise TransportError(
                f"{context}: received unexpected HTTP status: {resp.status_code} {status_text(resp.status_code)}"
            )
        blob = read_limited(resp, MAX_AUTH_TOKEN_BODY_SIZE)
        try:
            obj = json.loads(blob)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            sample = blob[:50].decode("utf-8", "replace")
            raise SkopeoError(f'decoding bearer token (last URL "{url}", body start {sample!r}): {e}') from None
        token = obj.get("token") or obj.get("access_token") or ""
        expires_in = obj.get("expires_in")
        if not isinstance(expires_in, int) or expires_in < MINIMUM_TOKEN_LIFETIME:
            expires_in = MINIMUM_TOKEN_LIFETIME
        issued = time.time()
        issued_at = obj.get("issued_at")
        if isinstance(issued_at, str) and issued_at:
            try:
                issued = datetime.fromisoformat(issued_at.replace("Z", "+00:00")).timestamp()
            except ValueError:
                pass
        return _Token(str(token), issued + expires_in)

    # --- helpers used by sources, destinations and login ---------------------------------
    def check_auth(self) -> None:
        """``GET /v2/`` with the credentials (login); raises on rejection."""
        resp = self.request("GET", "/v2/")
        if resp.status_code != 200:
            err = error_from(resp)
            if resp.status_code == 401:
                raise UnauthorizedForCredentialsError(
                    f"unable to retrieve auth token: invalid username/password: {err.message}",
                    code=err.code,
                    status=401,
                )
            raise err
        resp.close()


def _insufficient_scope(resp: httpx.Response) -> Scope | None:
    for scheme, params in wwwauth.parse(resp.headers.get_list("WWW-Authenticate")):
        if scheme == "bearer" and params.get("error") == "insufficient_scope" and params.get("scope"):
            parsed = Scope.parse(params["scope"])
            if parsed is None:
                log.error(f"Failed to parse the authentication scope from the given challenge: {params['scope']}")
            return parsed
    return None


def _preloaded(resp: httpx.Response, limit: int) -> httpx.Response:
    """*resp* with its (still encoded) body read into memory, at most *limit*
    bytes; a broken connection raises :class:`TransportError` (transient)."""
    cl = resp.headers.get("Content-Length")
    if cl is not None and cl.isdigit() and int(cl) > limit:
        return resp  # read_limited reports the size; nothing to preload
    buf = _collect(resp, resp.iter_raw(), limit)
    if cl is not None and cl.isdigit() and len(buf) != int(cl):
        raise url_error(resp.request.method, resp.request.url, httpx.RemoteProtocolError("unexpected EOF: incomplete"))
    return httpx.Response(resp.status_code, headers=resp.headers, content=bytes(buf), request=resp.request,
                          extensions=resp.extensions)


def _retry_after(resp: httpx.Response, fallback: float) -> float:
    after = resp.headers.get("Retry-After", "").strip()
    if not after:
        return fallback
    if after.isdigit():
        return float(after)
    try:
        when = email.utils.parsedate_to_datetime(after)
    except (TypeError, ValueError):
        return fallback
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when.timestamp() - time.time()
    return delta if delta > 0 else fallback


def _parse_warning(header: str) -> str:
    """The text of a ``Warning: 299 - "text"`` header, or "" if malformed."""
    prefix, suffix = '299 - "', '"'
    if not header.startswith(prefix) or not header.endswith(suffix) or len(header) < len(prefix) + 1:
        return ""
    body = header[len(prefix):-1]
    out = []
    escaped = False
    for ch in body:
        if ord(ch) == 0x7F or (ord(ch) < 0x20 and ch != "\t"):
            return ""
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == '"':
            return ""
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "" if escaped else "".join(out)


# --- building clients for references -------------------------------------------------------
def new_client(
    ctx: SystemContext,
    ref: DockerReference,
    actions: str,
    endpoint_insecure: bool | None = None,
) -> RegistryClient:
    """A client for *ref*'s registry with the ``repository:<path>:<actions>`` scope.

    TLS verification: registries.conf ``insecure`` for the reference (or the mirror
    endpoint's setting), overridden by an explicit ``--tls-verify``."""
    conf = registries_conf.load(ctx)
    reg = conf.find_registry(ref.name)
    skip_verify = False
    if reg is not None:
        if reg.blocked:
            raise conf.blocked_error(reg)
        skip_verify = reg.insecure
    if endpoint_insecure is not None:
        skip_verify = endpoint_insecure
    if ctx.tls_verify is not None:
        skip_verify = not ctx.tls_verify
    try:
        creds = resolve_credentials(ctx, ref.domain, ref.name)
    except SkopeoError as e:
        raise e.wrap("getting username and password") from None
    scope = Scope("repository", ref.path, actions) if actions else None
    return RegistryClient(ctx, ref.domain, creds, scope, skip_verify)


def new_registry_client(ctx: SystemContext, registry: str, creds: Credentials) -> RegistryClient:
    """A client for a whole registry (login): no repository scope."""
    conf = registries_conf.load(ctx)
    reg = conf.find_registry(registry)
    skip_verify = False
    if reg is not None:
        if reg.blocked:
            raise conf.blocked_error(reg)
        skip_verify = reg.insecure
    if ctx.tls_verify is not None:
        skip_verify = not ctx.tls_verify
    return RegistryClient(ctx, registry, creds, None, skip_verify)


def without_explicit_credentials(ctx: SystemContext) -> SystemContext:
    """*ctx* minus command-line credentials: they must not be sent to a mirror
    on another host."""
    return replace(ctx, username=None, password=None, registry_token=None, identity_token=None)

