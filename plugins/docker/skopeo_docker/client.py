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
``upload.BlobUploader.upload``).  Connection *setup* failures (refused,
DNS, TLS) are not retried per request: they rarely heal within seconds and
``--retry-times`` covers them.  A 429 (or a 503 with ``Retry-After``) also
starts a cool-down shared by every thread talking to that registry, so a
``sync`` with many images in flight slows down as a whole instead of each
thread hammering the registry until its attempts run out.

One :class:`.http11.ConnectionPool` (keep-alive connections) is shared per registry and
TLS configuration for the whole process (or a :class:`skopeo.session.Session`),
and so is the ping result: inspecting
an image and then listing its tags does not reconnect or re-ping.  A
:class:`RegistryClient` holds what is specific to one use (credentials, the
repository scope, its tokens); it is thread-safe, because the copy engine moves
blobs from several threads at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC

import skopeo
from skopeo import deadline, log
from skopeo.auth import Credentials
from skopeo.auth import resolve as resolve_credentials
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.reference import DockerReference
from skopeo.retry import Attempts, Backoff

from . import registries_conf, tlsconfig, wwwauth
from .authorization import Authenticator, Scope, TokenStore
from .http11 import ConnectionPool, Timeouts
from .http_messages import URL, RemoteProtocolError, Response
from .http_messages import TransportError as HTTPTransportError
from .network import TransportError, collect, error_from, url_error
from .pools import CONNECT_TIMEOUT, READ_TIMEOUT, Ping, cooldown, pool
from .registry_errors import UnauthorizedForCredentialsError, status_text

DOCKER_HOSTNAME = "docker.io"
DOCKER_REGISTRY = "registry-1.docker.io"
MAX_TAG_LIST_BODY_SIZE = 16 << 20
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


def user_agent(ctx: SystemContext) -> str:
    return ctx.user_agent or f"skopeo/{skopeo.__version__}"


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
        self.scope = scope
        self.skip_verify = skip_verify
        # certs.d is looked up by the user-visible name (docker.io, not registry-1).
        self.cert_dir = tlsconfig.cert_dir_for(registry, ctx.cert_dir)
        self.user_agent = user_agent(ctx)
        self._pool = pool(ctx, self.host, self.cert_dir, skip_verify, ctx.tls_details)
        self._cooldown = cooldown(self.host)
        # Outside a session, tokens are this client's own (as upstream's per-source client).
        tokens = None if ctx.resources is None else ctx.resources.get("skopeo_docker.tokens", TokenStore)
        self._auth = Authenticator(creds, ctx.registry_token or "", scope, self._send_retrying, tokens, self.host)
        self._warned: set[str] = set()
        # Separate from the token lock: warnings are logged while a token is fetched.
        self._warned_lock = threading.Lock()

    # --- connection setup -----------------------------------------------------------
    @property
    def http(self) -> ConnectionPool:
        return self._pool.connections

    @property
    def pinged(self) -> bool:
        """Whether the registry was pinged already (through the shared pool)."""
        return self._pool.ping is not None

    def ping(self) -> Ping:
        pool = self._pool
        if pool.ping is not None:
            return pool.ping
        with pool.lock:
            if pool.ping is None:
                pool.ping = self._do_ping()
        return pool.ping

    def _ping_once(self, scheme: str) -> Ping:
        url = URL(f"{scheme}://{self.host}/v2/")
        resp = self._send_retrying("GET", url, [], None, None)
        log.debug(f"Ping {url} status {resp.status_code}")
        if resp.status_code not in (200, 401):
            raise error_from(resp)
        challenges = wwwauth.parse(resp.headers.get_list("WWW-Authenticate"))
        supports = resp.headers.get("X-Registry-Supports-Signatures") == "1"
        resp.close()
        return Ping(scheme, challenges, supports)

    def _do_ping(self) -> Ping:
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

    def url(self, path: str) -> URL:
        return URL(f"{self.ping().scheme}://{self.host}{path}")

    # --- sending ----------------------------------------------------------------------
    def _send(
        self,
        method: str,
        url: URL,
        headers: list[tuple[str, str]],
        content: bytes | Iterator[bytes] | None,
        authorization: str | None,
    ) -> Response:
        """Send one request; the body is left unread (streamed) so callers can cap
        or stream it."""
        hdrs: list[tuple[str, str]] = [("Docker-Distribution-API-Version", "registry/2.0"), *headers]
        hdrs.append(("User-Agent", self.user_agent))
        if authorization:
            hdrs.append(("Authorization", authorization))
        timeouts = None
        if deadline.remaining() is not None:  # --command-timeout: no wait past it
            if deadline.expired():
                raise url_error(method, url, deadline.DeadlineExceeded())
            timeouts = Timeouts(deadline.timeout(CONNECT_TIMEOUT), deadline.timeout(READ_TIMEOUT),
                                deadline.timeout(READ_TIMEOUT))
        log.debug(f"{method} {url}")
        try:
            resp = self.http.send(method, url, hdrs, content, timeouts)
        except HTTPTransportError as e:
            raise url_error(method, url, e) from None
        except SkopeoError as e:
            # Reading the body to send failed; at --command-timeout's deadline
            # it is the request that failed, as Go's transport reports it.
            if deadline.expired():
                raise url_error(method, url, e) from None
            raise
        self._log_warnings(resp)
        return resp

    def _log_warnings(self, resp: Response) -> None:
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
        path_or_url: str | URL,
        headers: list[tuple[str, str]] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        auth: bool = True,
        extra_scope: Scope | None = None,
        preload: int | None = None,
    ) -> Response:
        """Send a request (body streamed unread: use :func:`read_limited` or
        ``iter_bytes``).  A path is resolved against the registry.

        Failures worth repeating are retried here (see the module docstring)
        when *content* can be sent again.  With *preload*, a 2xx body is read
        (at most *preload* bytes) before returning, so a body cut short is
        retried too; the response then holds it in memory."""
        ping = self.ping()
        url = path_or_url if isinstance(path_or_url, URL) else self.url(path_or_url)
        headers = headers or []
        replayable = content is None or isinstance(content, bytes)
        sent = 0
        attempts = Attempts(_retry_policy())
        reauthenticated = False
        while True:
            self._cooldown.wait()
            authorization, cache_key = self._auth.authorization(ping.challenges, extra_scope) if auth else (None, None)
            try:
                resp = self._send(method, url, headers, content, authorization)
                sent += 1
                if preload is not None and 200 <= resp.status_code < 300:
                    resp = _preloaded(resp, preload)
            except TransportError as e:
                sent += 1
                if not (replayable and e.transient and _wait_after_error(e, attempts)):
                    raise
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
                    self._auth.forget(cache_key)
                    resp.close()
                    continue
            if resp.status_code not in RETRY_STATUSES or not replayable:
                return resp
            if not self._wait_after_status(resp, method, url, attempts):
                return resp

    def _wait_after_status(self, resp: Response, method: str, url: URL, attempts: Attempts) -> bool:
        """After a retryable status: close *resp* and sleep (honouring
        Retry-After) before the next retry; False when attempts or time are
        exhausted (the caller then returns *resp* as it is)."""
        # 429 backs off from a longer first wait, as upstream.
        initial = BACKOFF_INITIAL if resp.status_code == 429 else None
        delay = attempts.next_delay(initial, lambda backoff: _retry_after(resp, backoff))
        left = deadline.remaining()
        if delay is None or (left is not None and delay >= left):
            return False  # past --command-timeout's deadline: this answer is the last
        resp.close()
        if resp.status_code == 429 or "Retry-After" in resp.headers:
            # Everybody talking to this registry waits, not only this thread.
            self._cooldown.extend(delay)
        # Upstream retries only a 429, logged at debug level; our other retries
        # are not worth a line of a default run's output either.
        log.debug(
            f"{method} {url}: {resp.status_code} {status_text(resp.status_code)}, "
            f"retrying in {delay:g}s ({attempts.retries}/{RETRY_ATTEMPTS - 1})"
        )
        deadline.sleep(delay)  # cut short at the deadline: the next request says so
        return True

    def _send_retrying(
        self, method: str, url: URL, headers: list[tuple[str, str]], content: bytes | None,
        authorization: str | None,
    ) -> Response:
        """:meth:`_send` with the same retries as :meth:`request` (token requests;
        the last failed response is returned)."""
        attempts = Attempts(_retry_policy())
        while True:
            self._cooldown.wait()
            try:
                resp = self._send(method, url, headers, content, authorization)
            except TransportError as e:
                if not (e.transient and _wait_after_error(e, attempts)):
                    raise
                continue
            if resp.status_code not in RETRY_STATUSES:
                return resp
            if not self._wait_after_status(resp, method, url, attempts):
                return resp

    def wait_cooldown(self) -> None:
        """Wait while the registry asked for a pause (before restarting an upload)."""
        self._cooldown.wait()


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


def _retry_policy() -> Backoff:
    """Per-request retries (read at each request, so tests can shorten them)."""
    return Backoff(RETRY_ATTEMPTS, RETRY_INITIAL, maximum=BACKOFF_MAX, budget=RETRY_MAX_TOTAL)


def _wait_after_error(e: TransportError, attempts: Attempts) -> bool:
    """Sleep before retrying a request whose connection broke; False when the
    attempts or the time are spent."""
    delay = attempts.next_delay()
    if delay is None:
        return False
    log.debug(f"{e}: retrying in {delay:g}s ({attempts.retries}/{RETRY_ATTEMPTS - 1})")
    return deadline.sleep(delay)


def _insufficient_scope(resp: Response) -> Scope | None:
    for scheme, params in wwwauth.parse(resp.headers.get_list("WWW-Authenticate")):
        if scheme == "bearer" and params.get("error") == "insufficient_scope" and params.get("scope"):
            parsed = Scope.parse(params["scope"])
            if parsed is None:
                log.error(f"Failed to parse the authentication scope from the given challenge: {params['scope']}")
            return parsed
    return None


def _preloaded(resp: Response, limit: int) -> Response:
    """*resp* with its (still encoded) body read into memory, at most *limit*
    bytes; a broken connection raises :class:`TransportError` (transient)."""
    cl = resp.headers.get("Content-Length")
    if cl is not None and cl.isdigit() and int(cl) > limit:
        return resp  # read_limited reports the size; nothing to preload
    buf = collect(resp, resp.iter_raw(), limit)
    if cl is not None and cl.isdigit() and len(buf) != int(cl):
        raise url_error(resp.request.method, resp.request.url, RemoteProtocolError("unexpected EOF: incomplete"))
    return Response(resp.status_code, resp.headers, content=bytes(buf), request=resp.request,
                    reason_phrase=resp.reason_phrase)


def _retry_after(resp: Response, fallback: float) -> float:
    after = resp.headers.get("Retry-After", "").strip()
    if not after:
        return fallback
    if after.isdigit():
        return float(after)
    import email.utils  # ~4 ms of start-up for a header rarely seen

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

