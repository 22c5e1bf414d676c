"""Real registries for tests: CNCF distribution (``docker-registry``) started on
127.0.0.1 with a random free port and a private storage directory, optionally
with TLS (a CA and server certificate made here), htpasswd Basic auth, or Bearer
token auth backed by a small token server issuing real RS256 JWTs.  Processes are
stopped by PID.  The fault-injecting proxy in front of them is
:mod:`skopeo.testing.faults` (its names are also importable from here).

Needs ``cryptography`` (a test dependency) for TLS and tokens, and the
``docker-registry`` and ``htpasswd`` programs."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
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

# The fault-injecting proxy (re-exported: tests import it from here).
from .faults import Fault, FaultyProxy, SilentListener, flip_middle_byte  # noqa: F401

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
