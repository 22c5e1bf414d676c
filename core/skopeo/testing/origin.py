"""A second origin for credential-scoping tests: a plain HTTP server on loopback
standing for a CDN, an object store a registry redirects blob downloads to, or
the host of a foreign layer's ``urls``.  It serves blobs by digest from a
directory laid out like an OCI layout's ``blobs/`` (``<algo>/<hex>``) and
records every request with its headers, so a test can count the
``Authorization`` headers that reached it (there must be none: CVE-2020-15157).

Any path ending in ``…<algo>:<hex>`` (``/v2/ns/app/blobs/sha256:…``,
``/cdn/sha256:…``) is answered with that blob, or 404."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_DIGEST_AT_END = re.compile(r"([a-z0-9]+):([a-f0-9]{32,})$")


@dataclass
class OriginServer:
    """Serves ``blobs/<algo>/<hex>`` of *blobs* on *host* (any loopback address:
    ``127.0.0.2`` is another host than the registry's ``127.0.0.1``)."""

    blobs: Path
    host: str = "127.0.0.1"
    port: int = 0
    # (method, path, {header name (lower case): value}) of every request, in order.
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> OriginServer:
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                origin._record(self)
                path = self.path.split("?", 1)[0]
                m = _DIGEST_AT_END.search(path)
                blob = origin.blobs / m.group(1) / m.group(2) if m else None
                if blob is None or not blob.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                size = blob.stat().st_size
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                with open(blob, "rb") as f:
                    while chunk := f.read(1 << 20):
                        self.wfile.write(chunk)

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _record(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append((handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def authorization_headers(self) -> list[str]:
        """Every ``Authorization`` value received (credentials that leaked here)."""
        with self._lock:
            return [h["authorization"] for _, _, h in self.requests if "authorization" in h]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
