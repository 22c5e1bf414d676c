"""A misbehaving loopback HTTP/1.1 proxy for fault tests: in front of a real
registry it records every request and can corrupt, truncate, cut, delay,
reset, stall, substitute or redirect what passes (:class:`Fault`); and a
listener that accepts connections and never answers."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import socketserver
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """One injected failure of :class:`FaultyProxy`, for requests whose
    ``"METHOD target"`` line matches the regex *match*, the first *times* such
    requests (None: all of them).  *action*:

    - ``"status"``: answer *status* at once (not forwarded), with
      ``Retry-After: <retry_after>`` if set and a registry error body for 4xx;
    - ``"reset"``: reset the connection (RST) instead of answering, after
      forwarding the request when *forward* is true (the registry acts on it,
      the client never learns);
    - ``"reset_body"``: reset the connection after half of the request body
      (an upload cut off mid-stream; nothing is forwarded);
    - ``"truncate"``: forward, then send only half of the response body and
      close;
    - ``"delay"``: wait *delay* seconds, then forward normally (slow registry);
    - ``"substitute"``: forward, then answer *body* instead of the registry's
      body (a manifest swapped by a man in the middle); ``Docker-Content-Digest``
      follows *header_digest*: ``"keep"`` the registry's, ``"match"`` the digest
      of *body*, ``"drop"`` it, or any other text sent as is;
    - ``"stall"``: forward, send the head and half of the body, then send
      nothing more and keep the connection open until the proxy stops (a
      registry that hangs mid-blob);
    - ``"hang"``: read the request, never answer, keep the connection open.
    - ``"corrupt"``: forward, then flip one byte in the middle of a 200 response's
      body (damaged in transit: same size, other digest);
    - ``"redirect"``: answer ``307`` with ``Location: <location>``, where
      ``{target}`` is replaced by the request target (not forwarded).
    """

    match: str
    action: str = "status"
    status: int = 503
    retry_after: str | None = None
    times: int | None = 1
    forward: bool = False
    delay: float = 0.0
    body: bytes = b""
    header_digest: str = "keep"
    location: str = ""
    hits: int = 0

    def take(self, line: str) -> bool:
        if (self.times is not None and self.hits >= self.times) or not re.search(self.match, line):
            return False
        self.hits += 1
        return True


def flip_middle_byte(data: bytes) -> bytes:
    """*data* with its middle byte inverted: what a ``corrupt`` fault delivers."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def _reset(conn: socket.socket) -> None:
    """Close with a TCP RST ("connection reset by peer") instead of a FIN."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


@dataclass
class FaultyProxy:
    """A loopback HTTP/1.1 proxy in front of a plain-HTTP registry that records
    every request.  For responses to ``GET …/blobs/…`` it can ``corrupt`` (flip a
    byte), ``truncate`` (close after half the body of full responses),
    ``truncate_all`` (also of ranged 206 responses, so resuming fails too) or
    ``drop_once`` (close mid-body on the first download of each blob only).
    ``paginate`` adds ``?n=2`` to tag-list requests so the registry pages with
    ``Link`` headers; ``deny_tags`` / ``ecr_tags`` make tag lists fail the way
    some registries do.  Each connection handles one request (``Connection: close``
    is forced) unless *keep_alive* is set: then a client's connection serves
    request after request (each forwarded on a connection of its own), as a
    registry's would, whenever the answer's length is known and no fault
    applies.  ``connections`` counts the client connections accepted (TCP
    connects).  ``faults`` adds targeted failures of any request (see
    :class:`Fault`); they are checked in order and the first that applies wins."""

    upstream_port: int
    mode: str = "none"
    faults: list[Fault] = field(default_factory=list)
    port: int = 0
    blob_requests: list[str] = field(default_factory=list)
    # (method, target, [(header, value), …]) of every request, in arrival order.
    requests: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)
    # time.monotonic() at which each request of ``requests`` arrived.
    request_times: list[float] = field(default_factory=list)
    keep_alive: bool = False
    # Client connections accepted so far.
    connections: int = 0
    _dropped: set[bytes] = field(default_factory=set)
    _server: socketserver.ThreadingTCPServer | None = None
    # Set by stop(): releases the connections held by "stall" and "hang".
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> FaultyProxy:
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with _fault_lock:
                    proxy.connections += 1
                while proxy._handle(self.rfile, self.connection) and proxy.keep_alive:
                    pass

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _handle(self, rfile: Any, conn: socket.socket) -> bool:
        """Serve one request; True when the connection may serve another
        (the answer was complete and framed by its length)."""
        if rfile.peek(1)[:1] == b"\x16":
            # A TLS ClientHello (the client tries HTTPS first): answer like a plain
            # HTTP server would, at once, instead of waiting for a request line.
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
            return False
        request_line = rfile.readline()
        if not request_line:
            return False
        headers = []
        length = 0
        while True:
            line = rfile.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name = line.split(b":", 1)[0].strip().lower()
            if name == b"connection":
                continue
            if name == b"content-length":
                length = int(line.split(b":", 1)[1])
            headers.append(line)
        chunked = b"transfer-encoding: chunked" in b"".join(h.lower() for h in headers)
        method_t, target_t = request_line.split(b" ")[:2]
        fault = self._fault(f"{method_t.decode(errors='replace')} {target_t.decode(errors='replace')}")
        if fault is not None and fault.action == "reset_body":
            self._record(method_t.decode(errors="replace"), target_t.decode(errors="replace"), [])
            if chunked:
                rfile.readline()
            else:
                rfile.read(length // 2)
            _reset(conn)
            return False
        body = rfile.read(length) if length else b""
        if chunked:
            body = self._read_chunked(rfile)
            headers = [h for h in headers if not h.lower().startswith(b"transfer-encoding")]
            headers.append(f"Content-Length: {len(body)}\r\n".encode())
        method, target = request_line.split(b" ")[:2]
        self._record(
            method.decode(errors="replace"), target.decode(errors="replace"),
            [(h.split(b":", 1)[0].decode(errors="replace"), h.split(b":", 1)[1].strip().decode(errors="replace"))
             for h in headers if b":" in h],
        )
        canned = self._canned_tag_list_error(target)
        if canned is not None:
            conn.sendall(canned)
            return False
        if fault is not None and fault.action == "status":
            conn.sendall(self._status_response(fault))
            return False
        if fault is not None and fault.action == "redirect":
            location = fault.location.replace("{target}", target.decode(errors="replace"))
            conn.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n".encode())
            return False
        if fault is not None and fault.action == "reset" and not fault.forward:
            _reset(conn)
            return False
        if fault is not None and fault.action == "delay":
            time.sleep(fault.delay)
        if fault is not None and fault.action == "hang":
            self._stopping.wait()
            return False
        paginate = self.mode == "paginate" and b"/tags/list" in target
        if paginate:
            # registry 2.8 does not page tag lists itself: ask for all, serve pages of 2.
            request_line = request_line.replace(target, target.split(b"?", 1)[0], 1)
        up = socket.create_connection(("127.0.0.1", self.upstream_port))
        try:
            up.sendall(request_line + b"".join(headers) + b"Connection: close\r\n\r\n" + body)
            parts = []
            while True:
                data = up.recv(1 << 16)
                if not data:
                    break
                parts.append(data)
            response = b"".join(parts)
        finally:
            up.close()
        ok = response.startswith(b"HTTP/1.1 200") or (self.mode == "truncate_all" and response.startswith(b"HTTP/1.1 206"))
        is_blob = method == b"GET" and b"/blobs/sha256:" in target and ok
        if is_blob:
            self.blob_requests.append(target.decode())
        head, _, payload = response.partition(b"\r\n\r\n")
        if fault is not None and fault.action == "reset":
            _reset(conn)
            return False
        if fault is not None and fault.action == "truncate":
            conn.sendall(head + b"\r\n\r\n" + payload[: len(payload) // 2])
            conn.shutdown(socket.SHUT_RDWR)
            return False
        if fault is not None and fault.action == "stall":
            conn.sendall(head + b"\r\n\r\n" + payload[: len(payload) // 2])
            self._stopping.wait()
            return False
        if fault is not None and fault.action == "substitute":
            head, payload = self._substituted(head, fault), fault.body
        if paginate and response.startswith(b"HTTP/1.1 200"):
            head, payload = self._page(target, payload)
        if is_blob and self.mode == "corrupt" and payload:
            payload = bytes([payload[0] ^ 0xFF]) + payload[1:]
        if fault is not None and fault.action == "corrupt" and response.startswith(b"HTTP/1.1 200") and payload:
            payload = flip_middle_byte(payload)
        elif is_blob and (
            self.mode in ("truncate", "truncate_all") or (self.mode == "drop_once" and target not in self._dropped)
        ):
            self._dropped.add(target)
            conn.sendall(head + b"\r\n\r\n" + payload[: len(payload) // 2])
            conn.shutdown(socket.SHUT_RDWR)
            return False
        reuse = self.keep_alive and fault is None and self._framed(head)
        if reuse:
            # The registry answered "Connection: close" to our forwarded request; the client's stays open.
            head = b"\r\n".join(h for h in head.split(b"\r\n") if not h.lower().startswith(b"connection:"))
        conn.sendall(head + b"\r\n\r\n" + payload)
        return reuse

    @staticmethod
    def _framed(head: bytes) -> bool:
        """Whether a response's end is known without closing the connection."""
        lines = [h.lower() for h in head.split(b"\r\n")[1:]]
        return any(h.startswith(b"content-length:") for h in lines) or any(
            h.startswith(b"transfer-encoding:") and b"chunked" in h for h in lines)

    @staticmethod
    def _substituted(head: bytes, fault: Fault) -> bytes:
        """*head* with the Content-Length of ``fault.body`` and its
        ``Docker-Content-Digest`` as ``fault.header_digest`` says."""
        lines = [h for h in head.split(b"\r\n")
                 if not h.lower().startswith((b"content-length:", b"docker-content-digest:"))]
        lines.append(f"Content-Length: {len(fault.body)}".encode())
        original = re.search(rb"(?im)^docker-content-digest:\s*(\S+)", head)
        if fault.header_digest == "keep":
            if original is not None:
                lines.append(b"Docker-Content-Digest: " + original.group(1))
        elif fault.header_digest == "match":
            lines.append(f"Docker-Content-Digest: sha256:{hashlib.sha256(fault.body).hexdigest()}".encode())
        elif fault.header_digest != "drop":
            lines.append(f"Docker-Content-Digest: {fault.header_digest}".encode())
        return b"\r\n".join(lines)

    def _record(self, method: str, target: str, headers: list[tuple[str, str]]) -> None:
        with _fault_lock:
            self.request_times.append(time.monotonic())
            self.requests.append((method, target, headers))

    def _fault(self, line: str) -> Fault | None:
        with _fault_lock:
            for f in self.faults:
                if f.take(line):
                    return f
        return None

    @staticmethod
    def _status_response(fault: Fault) -> bytes:
        from http import HTTPStatus

        body = b""
        if 400 <= fault.status < 500:
            code = {429: "TOOMANYREQUESTS", 408: "UNKNOWN"}.get(fault.status, "UNKNOWN")
            body = json.dumps({"errors": [{"code": code, "message": HTTPStatus(fault.status).phrase.lower()}]}).encode()
        head = f"HTTP/1.1 {fault.status} {HTTPStatus(fault.status).phrase}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        if fault.retry_after is not None:
            head += f"Retry-After: {fault.retry_after}\r\n"
        return (head + "Connection: close\r\n\r\n").encode() + body

    def _canned_tag_list_error(self, target: bytes) -> bytes | None:
        """``deny_tags``: tag lists answer 403 DENIED; ``ecr_tags``: 404 with the body
        public.ecr.aws sends (code NOT_FOUND, message "404 page not found")."""
        if b"/tags/list" not in target or self.mode not in ("deny_tags", "ecr_tags"):
            return None
        if self.mode == "deny_tags":
            status = "403 Forbidden"
            err = {"code": "DENIED", "message": "requested access to the resource is denied"}
        else:
            status = "404 Not Found"
            err = {"code": "NOT_FOUND", "message": "404 page not found"}
        body = json.dumps({"errors": [err]}).encode()
        return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n").encode() + body

    @staticmethod
    def _page(target: bytes, payload: bytes) -> tuple[bytes, bytes]:
        path, _, query = target.decode().partition("?")
        last = urllib.parse.parse_qs(query).get("last", [""])[0]
        obj = json.loads(payload)
        tags = obj.get("tags") or []
        start = tags.index(last) + 1 if last in tags else 0
        page = tags[start:start + 2]
        body = json.dumps({"name": obj.get("name"), "tags": page}).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close"
        if start + 2 < len(tags):
            # Relative URL, with the query parameters in an unusual order, as some registries send.
            head += f'\r\nLink: <{path}?n=2&last={urllib.parse.quote(page[-1])}>; rel="next"'
        return head.encode(), body

    @staticmethod
    def _read_chunked(rfile: Any) -> bytes:
        out = b""
        while True:
            size = int(rfile.readline().split(b";")[0], 16)
            if size == 0:
                rfile.readline()
                return out
            out += rfile.read(size)
            rfile.readline()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


_fault_lock = threading.Lock()


class SilentListener:
    """A port on 127.0.0.1 whose connections complete (the kernel accepts them
    into the backlog) but are never read or answered: a server that hangs
    before its first byte.  ``stop()`` closes it."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = int(self._sock.getsockname()[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._sock.close()
