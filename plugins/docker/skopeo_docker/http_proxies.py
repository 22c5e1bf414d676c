"""Proxies from the environment, as Go's ``http.ProxyFromEnvironment`` and
its ``httpproxy`` package choose them, with their credentials and Go's texts
for a proxy that cannot be reached or does not open a tunnel."""

from __future__ import annotations

import base64
import ipaddress
import os
import socket

from .http_messages import URL


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


def proxy_authorization(proxy: URL) -> dict[str, str]:
    userinfo = proxy.userinfo
    if userinfo is None:
        return {}
    return {"Proxy-Authorization": "Basic " + base64.b64encode(":".join(userinfo).encode()).decode()}


def proxy_failure(e: OSError, host: str, port: int) -> str:
    """Go's text for a proxy that could not be reached or did not open the
    tunnel (the status text of its answer to CONNECT)."""
    text = str(e)
    if isinstance(e, TunnelFailed):
        return text
    if isinstance(e, ConnectionRefusedError):
        return f"proxyconnect tcp: dial tcp {host}:{port}: connect: connection refused"
    if isinstance(e, socket.gaierror):
        return f"proxyconnect tcp: dial tcp: lookup {host}: no such host"
    return f"proxyconnect tcp: {text}"


class TunnelFailed(OSError):
    """The proxy did not open the tunnel: its status text, or what broke its answer."""
