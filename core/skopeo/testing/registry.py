"""Real registries for tests: CNCF distribution (``docker-registry``) started on
127.0.0.1 with a random free port and a private storage directory, optionally
with TLS (a CA and server certificate made here), htpasswd Basic auth, or Bearer
token auth backed by a small token server issuing real RS256 JWTs.  Processes are
stopped by PID.  Also a loopback TCP proxy that can corrupt, truncate or drop
blob downloads, for fault tests.

Needs ``cryptography`` (a test dependency) for TLS and tokens, and the
``docker-registry`` and ``htpasswd`` programs."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Looked up on PATH when used (a test run can hide one to see what fails).
REGISTRY_BINARY = "docker-registry"
HTPASSWD_BINARY = "htpasswd"
TOKEN_SERVICE = "test-registry"
TOKEN_ISSUER = "skopeo-test-issuer"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with status {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


# --- certificates ------------------------------------------------------------------
def _self_signed_builder(key: Any, name: str) -> Any:
    """A CA certificate builder for *key* named *name*, valid for 30 days."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )


@dataclass
class CertPair:
    cert: Path
    key: Path


@dataclass
class CA:
    """A throw-away certificate authority."""

    cert: Path
    key: Path
    _key_obj: Any = None
    _cert_obj: Any = None

    @classmethod
    def create(cls, directory: Path, name: str = "skopeo test CA") -> CA:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _self_signed_builder(key, name)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        cert_path, key_path = directory / "ca.crt", directory / "ca.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return cls(cert_path, key_path, key, cert)

    def issue(
        self,
        directory: Path,
        name: str,
        hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
        client: bool = False,
        rsa: bool = False,
    ) -> CertPair:
        """A server (or client) certificate for *hosts*, signed by this CA; written as
        ``name.cert`` / ``name.key`` (the certs.d naming for client pairs)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric import rsa as rsa_mod
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        directory.mkdir(parents=True, exist_ok=True)
        key: Any = rsa_mod.generate_private_key(65537, 2048) if rsa else ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else name)]))
            .issuer_name(self._cert_obj.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key_obj.public_key()), critical=False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key_obj, hashes.SHA256())
        cert_path, key_path = directory / f"{name}.cert", directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return CertPair(cert_path, key_path)


def self_signed(directory: Path, name: str = "selfsigned", hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> CertPair:
    """A server certificate signed by a CA nobody trusts."""
    ca = CA.create(directory / f"{name}-ca", name=f"{name} untrusted CA")
    return ca.issue(directory, name, hosts)


# --- token server (Bearer auth) ----------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    """An OAuth2-style token endpoint for registry Bearer auth: checks Basic
    credentials (or a refresh token), grants the requested scopes (``pull`` only
    for anonymous users, everything for known users unless *deny* says otherwise)
    and returns a JWT the registry verifies against ``rootcertbundle``."""

    directory: Path
    users: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    allow_anonymous_pull: bool = True
    expires_in: int = 300
    # Repositories whose access is refused to everyone (tag listing "denied" tests).
    deny: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    bundle: Path | None = None
    _server: ThreadingHTTPServer | None = None
    _key: Any = None
    _x5c: str = ""

    def start(self) -> TokenServer:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(65537, 2048)
        cert = _self_signed_builder(key, "skopeo test token signer").sign(key, hashes.SHA256())
        self.bundle = self.directory / "token-signer.crt"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._key = key
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(parsed.query)
                user = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    raw = base64.b64decode(auth[6:]).decode()
                    name, _, password = raw.partition(":")
                    if server.users.get(name) != password:
                        return self._deny()
                    user = name
                server.requests.append({"method": "GET", "path": self.path, "user": user,
                                        "scopes": params.get("scope", []), "query": parsed.query})
                self._issue(user, params.get("scope", []), params.get("service", [""])[0])

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                refresh = form.get("refresh_token", [""])[0]
                server.requests.append({"method": "POST", "path": self.path, "form": form})
                user = server.refresh_tokens.get(refresh)
                if form.get("grant_type") != ["refresh_token"] or user is None:
                    return self._deny()
                self._issue(user, form.get("scope", []), form.get("service", [""])[0], refresh=refresh)

            def _deny(self) -> None:
                body = json.dumps({"details": "incorrect username or password"}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _issue(self, user: str | None, scopes: list[str], service: str, refresh: str = "") -> None:
                access = []
                for scope in scopes:
                    parts = scope.split(":")
                    if len(parts) != 3:
                        continue
                    rtype, name, actions = parts
                    if name in server.deny:
                        granted: list[str] = []
                    elif user is None:
                        granted = ["pull"] if server.allow_anonymous_pull and "pull" in actions.split(",") else []
                    else:
                        granted = actions.split(",")
                    access.append({"type": rtype, "name": name, "actions": granted})
                token = server.make_token(user or "", access, service)
                obj: dict[str, Any] = {"token": token, "access_token": token, "expires_in": server.expires_in,
                                       "issued_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
                if refresh:
                    obj["refresh_token"] = refresh
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def make_token(self, subject: str, access: list[dict[str, Any]], service: str = TOKEN_SERVICE) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {"iss": TOKEN_ISSUER, "sub": subject, "aud": service or TOKEN_SERVICE, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


# --- the registry process ---------------------------------------------------------------
@dataclass
class Registry:
    """A running ``docker-registry``.  ``host`` is ``127.0.0.1:<port>``."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]
    tls: CertPair | None = None
    ca: CA | None = None
    users: dict[str, str] = field(default_factory=dict)
    token_server: TokenServer | None = None
    delete_enabled: bool = True

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def log(self) -> str:
        try:
            return (self.directory / "registry.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.token_server is not None:
            self.token_server.stop()
        forget_registry_state()


def forget_registry_state() -> None:
    """Drop what this process remembers about registries (pooled connections,
    blobs known present, the blob-info cache of the test session): a later
    registry may reuse this one's port."""
    pools = sys.modules.get("skopeo_docker.pools")
    blob_cache = sys.modules.get("skopeo_docker.blob_cache")
    if pools is not None:
        pools.close_all()
    if blob_cache is not None:
        blob_cache.forget()
    from .fixtures import forget_blob_info_cache

    forget_blob_info_cache()


def htpasswd_file(path: Path, users: dict[str, str]) -> Path:
    lines = []
    for user, password in users.items():
        out = subprocess.run([shutil.which(HTPASSWD_BINARY) or HTPASSWD_BINARY, "-Bbn", user, password], capture_output=True, text=True, check=True)
        lines.append(out.stdout.strip())
    path.write_text("\n".join(lines) + "\n")
    return path


def start_registry(
    directory: Path,
    *,
    tls: bool = False,
    auth: str | None = None,
    users: dict[str, str] | None = None,
    delete: bool = True,
    ca: CA | None = None,
    token_server: TokenServer | None = None,
    schema1: bool = False,
    allow_urls: tuple[str, ...] = (),
) -> Registry:
    """Start ``docker-registry``; *auth* is None, ``"htpasswd"`` or ``"token"``;
    *schema1* accepts pushes of (signed) schema1 manifests, off by default in 2.8;
    *allow_urls* are regexes of foreign-layer ``urls`` accepted in manifests
    (by default the registry refuses every manifest with ``urls``)."""
    directory.mkdir(parents=True, exist_ok=True)
    users = dict(users or ({"testuser": "testpassword"} if auth else {}))
    port = free_port()
    lines = [
        "version: 0.1",
        "log:",
        "  level: warn",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {directory / 'storage'}",
        "  delete:",
        f"    enabled: {'true' if delete else 'false'}",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        "  secret: skopeo-test-secret",
    ]
    pair = None
    if tls:
        if ca is None:
            ca = CA.create(directory / "ca")
        pair = ca.issue(directory / "server", "server")
        lines += ["  tls:", f"    certificate: {pair.cert}", f"    key: {pair.key}"]
    if auth == "htpasswd":
        path = htpasswd_file(directory / "htpasswd", users)
        lines += ["auth:", "  htpasswd:", "    realm: basic-realm", f"    path: {path}"]
    elif auth == "token":
        if token_server is None:
            token_server = TokenServer(directory / "token", users=users).start()
        else:
            token_server.users.update(users)
        assert token_server.bundle is not None
        lines += [
            "auth:",
            "  token:",
            f"    realm: {token_server.realm}",
            f"    service: {TOKEN_SERVICE}",
            f"    issuer: {TOKEN_ISSUER}",
            f"    rootcertbundle: {token_server.bundle}",
        ]
    elif auth is not None:
        raise ValueError(f"unknown auth kind {auth!r}")
    if schema1:
        lines += ["compatibility:", "  schema1:", "    enabled: true"]
    if allow_urls:
        lines += ["validation:", "  manifests:", "    urls:", "      allow:", *(f"        - {json.dumps(u)}" for u in allow_urls)]
    config = directory / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    log = open(directory / "registry.log", "wb")
    proc = subprocess.Popen(
        [shutil.which(REGISTRY_BINARY) or REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    log.close()
    try:
        wait_for_port(port, proc=proc)
    except RuntimeError:
        if proc.poll() is None:
            proc.kill()
        raise RuntimeError((directory / "registry.log").read_text(errors="replace")) from None
    return Registry(directory, port, proc, pair, ca, users, token_server, delete)


# --- a misbehaving proxy ------------------------------------------------------------------
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

RegistryFactory = Callable[..., Registry]


# --- pytest fixtures (imported by skopeo.testing.fixtures) ----------------------------------
try:
    import pytest
except ImportError:  # pragma: no cover - the module is usable without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Any:
        """``start(tls=False, auth=None|"htpasswd"|"token", users=…, delete=True, schema1=False, allow_urls=())`` →
        a running :class:`Registry`; everything started is stopped afterwards."""
        from .require import require_tool

        require_tool(REGISTRY_BINARY)
        started: list[Registry] = []

        def start(**kwargs: Any) -> Registry:
            if kwargs.get("auth") == "htpasswd":
                require_tool(HTPASSWD_BINARY)
            reg = start_registry(tmp_path_factory.mktemp("registry"), **kwargs)
            started.append(reg)
            return reg

        yield start
        for reg in started:
            reg.stop()

    @pytest.fixture
    def registry(registry_factory: RegistryFactory) -> Registry:
        """A plain-HTTP registry without authentication, deletes enabled."""
        return registry_factory()

    @pytest.fixture
    def tls_registry(registry_factory: RegistryFactory) -> Registry:
        """An HTTPS registry whose certificate is signed by ``registry.ca``."""
        return registry_factory(tls=True)

    @pytest.fixture
    def basic_auth_registry(registry_factory: RegistryFactory) -> Registry:
        """HTTPS + htpasswd Basic auth (user ``testuser`` / ``testpassword``)."""
        return registry_factory(tls=True, auth="htpasswd")

    @pytest.fixture
    def token_registry(registry_factory: RegistryFactory) -> Registry:
        """Plain HTTP + Bearer token auth (user ``testuser`` / ``testpassword``);
        ``registry.token_server`` records token requests."""
        return registry_factory(auth="token")

    @pytest.fixture
    def faulty_proxy() -> Any:
        """``make(upstream_port, mode, faults=[Fault(…)], keep_alive=False)`` → a started :class:`FaultyProxy`."""
        proxies: list[FaultyProxy] = []

        def make(upstream_port: int, mode: str = "none", faults: list[Fault] | None = None,
                 keep_alive: bool = False) -> FaultyProxy:
            p = FaultyProxy(upstream_port, mode, list(faults or []), keep_alive=keep_alive).start()
            proxies.append(p)
            return p

        yield make
        for p in proxies:
            p.stop()

    @pytest.fixture
    def silent_listener() -> Any:
        """A started :class:`SilentListener`."""
        listener = SilentListener()
        yield listener
        listener.stop()
