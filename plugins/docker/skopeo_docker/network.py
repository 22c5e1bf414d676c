"""Network failures worded as Go words them (``Get "url": dial tcp …``),
response bodies read with a size cap, and the registry error of a failed
response, with whether repeating the operation may help."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

from skopeo import deadline
from skopeo.errors import SkopeoError

from . import http_messages as http
from . import tlsconfig, wwwauth
from .registry_errors import MAX_ERROR_BODY_SIZE, RegistryError, from_response

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
# Errors raised after the connection was up: the peer dropped or reset it.
_TRANSIENT_ERRORS = (http.ReadError, http.WriteError, http.RemoteProtocolError)


def mark_retryable(err: RegistryError) -> RegistryError:
    if err.code is not None:
        err.retryable = err.code not in _NOT_RETRYABLE_CODES
    else:
        err.retryable = err.status in (502, 503, 504)
    return err



# --- describing network failures the way Go does ---------------------------------
def _walk(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def describe_network_error(exc: BaseException, url: http.URL) -> str:
    """The text after ``Get "url": `` in Go's error for this failure."""
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    hostport = f"{host}:{port}"
    if isinstance(exc, http.ProxyError):
        return str(exc)  # worded as Go's already
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
    if isinstance(exc, http.ConnectTimeout):
        return f"dial tcp {hostport}: i/o timeout"
    if isinstance(exc, http.TimeoutException):
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
    if isinstance(exc, http.RemoteProtocolError) and "without sending" in lowered:
        return "EOF"
    return str(exc) or type(exc).__name__


def url_error(method: str, url: http.URL, exc: BaseException) -> TransportError:
    """Go's ``*url.Error`` text: ``Get "https://h/v2/": <reason>``; once
    ``--command-timeout`` has passed, whatever broke the request (its socket
    was shut down at the deadline), the reason is the context's."""
    op = method[:1].upper() + method[1:].lower()
    if deadline.expired():
        err = TransportError(f'{op} "{url}": {deadline.MESSAGE}')
        err.retryable = False
        return err
    reason = describe_network_error(exc, url)
    err = TransportError(f'{op} "{url}": {reason}')
    err.retryable = not any(p in reason for p in _PERMANENT_NETWORK_REASONS)
    err.transient = err.retryable and isinstance(exc, _TRANSIENT_ERRORS)
    return err


# --- reading bodies ----------------------------------------------------------------
def read_limited(resp: http.Response, limit: int) -> bytes:
    """The response body, refusing more than *limit* bytes (never buffers more)."""
    cl = resp.headers.get("Content-Length")
    if cl is not None and cl.isdigit() and int(cl) > limit:
        resp.close()
        raise SkopeoError(f"exceeded maximum allowed size of {limit} bytes")
    return collect(resp, resp.iter_bytes(), limit)


def collect(resp: http.Response, chunks: Iterator[bytes], limit: int) -> bytes:
    """Join *chunks* of *resp*'s body, failing past *limit* bytes; closes *resp*."""
    buf = bytearray()
    try:
        for chunk in chunks:
            buf += chunk
            if len(buf) > limit:
                raise SkopeoError(f"exceeded maximum allowed size of {limit} bytes")
    except http.TransportError as e:
        raise url_error(resp.request.method, resp.request.url, e) from None
    finally:
        resp.close()
    return bytes(buf)


def error_from(resp: http.Response) -> RegistryError:
    """The registry error for a failed response (closes it)."""
    try:
        body = read_limited(resp, MAX_ERROR_BODY_SIZE)
    except SkopeoError:
        body = b""
    challenges = wwwauth.parse(resp.headers.get_list("WWW-Authenticate"))
    return mark_retryable(from_response(resp.status_code, resp.reason_phrase, body, challenges))
