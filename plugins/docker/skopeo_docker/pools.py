"""State per registry: one :class:`.http11.ConnectionPool` (keep-alive connections)
per registry and TLS configuration, with its ping result, for the process or
for each :class:`skopeo.session.Session` (closed with it: see
:mod:`skopeo.resources`), and the cool-down a registry asked for (429,
``Retry-After``), shared by every thread of the process."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, NamedTuple

from skopeo import deadline, resources
from skopeo.tlsdetails import TLSDetails

from . import http11, tlsconfig, wwwauth
from .http_proxies import Proxies

if TYPE_CHECKING:
    from skopeo.context import SystemContext

# Seconds a connection may take to open, and a read or write to make progress
# (--command-timeout shortens both to the time left).
CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 300.0


class Ping(NamedTuple):
    scheme: str
    challenges: list[wwwauth.Challenge]
    supports_signatures: bool


class Pool:
    """The shared connections of one registry and TLS setup, and its ping result."""

    __slots__ = ("connections", "lock", "ping")

    def __init__(self, connections: http11.ConnectionPool) -> None:
        self.connections = connections
        self.lock = threading.Lock()
        self.ping: Ping | None = None


class Cooldown:
    """When a registry last asked us to slow down: every request to that host,
    from any thread or client, waits until the time has passed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0

    def extend(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self) -> float:
        """Sleep until the cool-down is over (or --command-timeout passes); the
        seconds slept."""
        slept = 0.0
        while True:
            with self._lock:
                remaining = self._until - time.monotonic()
            if remaining <= 0:
                return slept
            if not deadline.sleep(remaining):
                return slept
            slept += remaining


_cooldowns_lock = threading.Lock()
_cooldowns: dict[str, Cooldown] = {}


def cooldown(host: str) -> Cooldown:
    with _cooldowns_lock:
        c = _cooldowns.get(host)
        if c is None:
            c = _cooldowns[host] = Cooldown()
        return c


class PoolSet:
    """The pools of one session (or of the process), by registry and TLS setup."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[tuple[str, str, bool, TLSDetails | None], Pool] = {}

    def pool(self, host: str, cert_dir: str, skip_verify: bool, tls_details: TLSDetails | None = None) -> Pool:
        key = (host, cert_dir, skip_verify, tls_details)
        with self._lock:
            found = self._pools.get(key)
            if found is None:
                found = self._pools[key] = Pool(_new_connections(cert_dir, skip_verify, tls_details))
        return found

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for p in pools:
            p.connections.close()


def _new_connections(cert_dir: str, skip_verify: bool, tls_details: TLSDetails | None) -> http11.ConnectionPool:
    """Connections as containers/image's http.Client makes them: the TLS setup
    of certs.d and registries.conf, proxies from the environment, no cookie
    jar (a Set-Cookie is never sent back), redirects left to the caller."""
    ssl_context = tlsconfig.ssl_context(cert_dir, skip_verify, tls_details)
    return http11.ConnectionPool(ssl_context, http11.Timeouts(CONNECT_TIMEOUT, READ_TIMEOUT, READ_TIMEOUT),
                                 Proxies.from_environment())


_KEY = "skopeo_docker.pools"


def pools_for(ctx: SystemContext) -> PoolSet:
    """The pools *ctx*'s session (or the process) holds."""
    return resources.of(ctx).get(_KEY, PoolSet)


def pool(ctx: SystemContext, host: str, cert_dir: str, skip_verify: bool, tls_details: TLSDetails | None = None) -> Pool:
    return pools_for(ctx).pool(host, cert_dir, skip_verify, tls_details)


def close_all() -> None:
    """Close every connection the process's pools hold (tests; the process
    exit does it otherwise; a session closes its own)."""
    found = resources.PROCESS.peek(_KEY)
    if found is not None:
        found.close()
