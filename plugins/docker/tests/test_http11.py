"""The registry client's HTTP/1.1 connections: keep-alive reuse against the real
registry, and the awkward server behaviours (dropped idle connections,
truncated bodies, answers before the request body was read, chunked encoding,
gzip, timeouts, proxies) against a scripted loopback server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from skopeo.testing.registry import Registry
from skopeo_docker import http_messages as http
from skopeo_docker.http11 import ConnectionPool, Timeouts
from skopeo_docker.http_proxies import Proxies
from skopeo_docker.http_wire import Body

Handler = Callable[[socket.socket, bytes], bool]  # returns False to close the connection


class Listener:
    """A loopback listener serving each connection (``_serve``) in its own thread."""

    def __init__(self) -> None:
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


class ScriptedServer(Listener):
    """Accepts connections; for each request (headers and any Content-Length
    body read) calls *handler* with the socket and the raw request."""

    def __init__(self, handler: Handler, read_body: bool = True) -> None:
        self.handler = handler
        self.read_body = read_body
        self.requests: list[bytes] = []
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if self.read_body:
                    while len(buf) < length:
                        buf += conn.recv(65536)
                    body, buf = buf[:length], buf[length:]
                    if b"transfer-encoding: chunked" in head.lower():
                        while not buf.endswith(b"0\r\n\r\n"):
                            buf += conn.recv(65536)
                        body, buf = buf, b""
                else:
                    body = b""
                self.requests.append(head + b"\r\n\r\n" + body)
                if not self.handler(conn, head):
                    return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Client:
    """A pool with the request helpers the tests need."""

    def __init__(self, proxies: Proxies | None = None) -> None:
        import ssl

        self.pool = ConnectionPool(ssl.create_default_context(), Timeouts(5.0, 5.0, 5.0), proxies)

    def send(self, method: str, url: str, content: Body = None, headers: list[tuple[str, str]] | None = None,
             timeouts: Timeouts | None = None) -> http.Response:
        return self.pool.send(method, http.URL(url), headers or [], content, timeouts)

    def get(self, url: str, **kwargs: object) -> http.Response:
        resp = self.send("GET", url, **kwargs)  # type: ignore[arg-type]
        resp.read()
        return resp


@pytest.fixture
def client_for() -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(proxies: Proxies | None = None) -> Client:
        c = Client(proxies)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.pool.close()


def ok(body: bytes = b"hello", close: bool = False) -> Handler:
    def answer(conn: socket.socket, head: bytes) -> bool:
        extra = b"Connection: close\r\n" if close else b""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body))
        return not close
    return answer


def test_keep_alive_with_the_registry(registry: Registry, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for()
    base = f"http://{registry.host}"
    for _ in range(3):
        assert client.get(f"{base}/v2/").status_code == 200
        # An unread error body and a HEAD are drained, so the connection stays.
        resp = client.send("GET", f"{base}/v2/none/manifests/latest")
        assert resp.status_code == 404
        resp.close()
        resp = client.send("HEAD", f"{base}/v2/none/blobs/sha256:{'0' * 64}")
        assert resp.status_code == 404
        resp.close()
    assert sum(len(v) for v in client.pool._idle.values()) == 1


def test_dropped_idle_connection_is_replaced(client_for) -> None:  # type: ignore[no-untyped-def]
    server = ScriptedServer(ok(b"x"))
    server.handler = lambda conn, head: (conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"), False)[1]
    client = client_for()
    # Each answer claims keep-alive but the server closes: every request after
    # the first finds a dead idle connection and must silently use a new one.
    for _ in range(4):
        assert client.get(server.url).read() == b"x"
    assert server.connections == 4
    server.close()


def test_truncated_body_is_an_error(client_for) -> None:  # type: ignore[no-untyped-def]
    def short(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"a" * 40)
        conn.shutdown(socket.SHUT_RDWR)
        return False

    server = ScriptedServer(short)
    with pytest.raises(http.RemoteProtocolError, match="incomplete"):
        client_for().get(server.url)
    server.close()


def test_early_answer_to_a_streamed_upload(client_for) -> None:  # type: ignore[no-untyped-def]
    """A server refusing an upload before reading it (413, 401...) and closing:
    its answer is returned, not a broken-pipe error."""
    def refuse(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.shutdown(socket.SHUT_WR)
        return False

    server = ScriptedServer(refuse, read_body=False)

    def body() -> Iterator[bytes]:
        for _ in range(64):
            yield b"z" * 1024 * 1024

    resp = client_for().send("PUT", server.url, content=body())
    assert resp.status_code == 413
    server.close()


def test_chunked_both_ways(client_for) -> None:  # type: ignore[no-untyped-def]
    def chunked(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        return True

    server = ScriptedServer(chunked)
    client = client_for()
    resp = client.send("POST", server.url, content=iter([b"abc", b"", b"defg"]))
    assert resp.read() == b"hello world"
    assert server.requests[0].endswith(b"\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    server.close()


def test_connection_errors_are_transport_errors(client_for) -> None:  # type: ignore[no-untyped-def]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = client_for()
    with pytest.raises(http.ConnectError, match="refused"):
        client.get(f"http://127.0.0.1:{port}/")
    silent = ScriptedServer(lambda conn, head: True)  # reads the request, never answers
    with pytest.raises(http.ReadTimeout):
        client.get(silent.url, timeouts=Timeouts(5.0, 0.3, 5.0))
    silent.close()


def test_registry_clients_keep_no_cookies() -> None:
    """As containers/image's http.Client (no cookie jar): a Set-Cookie from a
    registry (or a load balancer in front of it) is never sent back."""
    from skopeo_docker.pools import PoolSet

    def answer(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\nContent-Length: 2\r\n\r\nok")
        return True

    server = ScriptedServer(answer)
    pools = PoolSet()
    try:
        client = pools.pool(f"127.0.0.1:{server.port}", "", True).connections
        for _ in range(2):
            resp = client.send("GET", http.URL(f"{server.url}/v2/"), [])
            assert resp.status_code == 200 and resp.headers["set-cookie"].startswith("session=")
            resp.read()
        assert len(server.requests) == 2
        assert b"cookie:" not in server.requests[1].lower(), server.requests[1]
    finally:
        pools.close()
        server.close()


def test_request_framing_as_go(client_for) -> None:  # type: ignore[no-untyped-def]
    """What goes on the wire is what Go's client sends: Host first, a bodiless
    PUT says Content-Length: 0, a GET no length, gzip accepted unless the
    caller says otherwise; no Connection header, no cookies."""
    server = ScriptedServer(ok(b""))
    c = client_for()
    c.send("PUT", f"{server.url}/a?x=1").close()
    c.send("GET", f"{server.url}/b").close()
    c.send("PUT", f"{server.url}/c", content=b"abc", headers=[("Content-Type", "application/octet-stream")]).close()
    c.send("GET", f"{server.url}/d", headers=[("Accept-Encoding", "identity")]).close()
    put_empty, get, put, identity = server.requests
    assert put_empty.startswith(b"PUT /a?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port), put_empty
    assert b"\r\nContent-Length: 0\r\n" in put_empty
    assert b"content-length" not in get.lower()
    assert b"\r\nAccept-Encoding: gzip\r\n" in get
    assert b"connection:" not in get.lower() and b"cookie" not in get.lower()
    assert put.endswith(b"\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n"
                        b"Accept-Encoding: gzip\r\n\r\nabc"), put
    assert identity.lower().count(b"accept-encoding") == 1 and b"Accept-Encoding: identity" in identity
    assert server.connections == 1
    server.close()


def test_gzip_bodies_are_decoded_unless_read_raw(client_for) -> None:  # type: ignore[no-untyped-def]
    import gzip

    data = b'{"tags": ["v1"]}' * 100
    packed = gzip.compress(data)

    def answer(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(packed), packed))
        return True

    server = ScriptedServer(answer)
    c = client_for()
    assert c.get(server.url).read() == data
    assert b"".join(c.send("GET", server.url).iter_raw()) == packed  # blobs: the bytes as stored
    server.close()


@pytest.mark.parametrize(("no_proxy", "host", "port", "proxied"), [
    ("", "registry.example", 443, True),
    ("", "localhost", 5000, False),
    ("", "127.0.0.1", 5000, False),
    ("", "127.3.4.5", 5000, False),
    ("", "::1", 5000, False),
    ("*", "registry.example", 443, False),
    ("registry.example", "registry.example", 443, False),
    ("registry.example", "a.registry.example", 443, False),
    ("example", "registry.example", 443, False),
    (".registry.example", "registry.example", 443, True),
    (".registry.example", "a.registry.example", 443, False),
    ("*.registry.example", "a.registry.example", 443, False),
    ("other.example", "registry.example", 443, True),
    ("gistry.example", "registry.example", 443, True),
    ("registry.example:5000", "registry.example", 443, True),
    ("registry.example:5000", "registry.example", 5000, False),
    ("10.0.0.0/8", "10.1.2.3", 443, False),
    ("10.0.0.0/8", "11.1.2.3", 443, True),
    ("10.1.2.3", "10.1.2.3", 443, False),
    ("10.1.2.3", "10.1.2.4", 443, True),
    (" Other.example , REGISTRY.example ", "registry.example", 443, False),
])
def test_proxy_choice_as_go(no_proxy: str, host: str, port: int, proxied: bool) -> None:
    """Go's httpproxy rules: loopback never proxied; NO_PROXY entries."""
    proxies = Proxies("http://proxy.example:3128", "http://proxy.example:3128", no_proxy)
    url = http.URL(f"https://[{host}]:{port}/v2/" if ":" in host else f"https://{host}:{port}/v2/")
    assert (proxies.for_url(url) is not None) == proxied


def test_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    assert Proxies.from_environment() is None
    monkeypatch.setenv("https_proxy", "lower:1")
    monkeypatch.setenv("HTTPS_PROXY", "upper:2")  # upper case first, a bare host:port is HTTP
    proxies = Proxies.from_environment()
    assert proxies is not None
    assert str(proxies.for_url(http.URL("https://r.example/v2/"))) == "http://upper:2"
    assert proxies.for_url(http.URL("http://r.example/v2/")) is None
    monkeypatch.setenv("HTTP_PROXY", "http://p:3")
    monkeypatch.setenv("REQUEST_METHOD", "GET")  # CGI: HTTP_PROXY is not trusted (httpoxy)
    proxies = Proxies.from_environment()
    assert proxies is not None and proxies.for_url(http.URL("http://r.example/v2/")) is None


class ConnectProxy(Listener):
    """An HTTP proxy that only tunnels (CONNECT), always to 127.0.0.1 (so a
    name only it "resolves" reaches a local registry); records each CONNECT."""

    def __init__(self, answer: bytes = b"HTTP/1.1 200 Connection established\r\n\r\n") -> None:
        self.heads: list[bytes] = []
        self.answer = answer
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                conn.close()
                return
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        self.heads.append(head)
        port = int(head.split(b" ")[1].rpartition(b":")[2])
        conn.sendall(self.answer)
        if not self.answer.startswith(b"HTTP/1.1 200 "):
            conn.close()  # refused (or no answer at all)
            return
        upstream = socket.create_connection(("127.0.0.1", port))
        upstream.sendall(rest)

        def pipe(a: socket.socket, b: socket.socket) -> None:
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream)


def test_https_through_a_connect_proxy(tls_registry: Registry, oci_image: str, skopeo,  # type: ignore[no-untyped-def]
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY: a CONNECT tunnel (with the proxy's credentials), TLS inside it
    to the registry; a proxy that cannot be reached fails with Go's text."""
    import base64
    import json

    from skopeo.testing.fixtures import fatal_message

    assert skopeo("copy", "--dest-tls-verify=false", oci_image, f"docker://{tls_registry.host}/p/x:v1").returncode == 0
    digest = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{tls_registry.host}/p/x:v1").stdout)["Digest"]
    proxy = ConnectProxy()
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:pa%3Ass@127.0.0.1:{proxy.port}")
    host = f"registry.tunnel.test:{tls_registry.port}"
    proc = skopeo("inspect", "--tls-verify=false", f"docker://{host}/p/x:v1")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Digest"] == digest
    # As Go writes it: HTTP/1.1, Host, Go's User-Agent, the proxy's credentials.
    assert proxy.heads and all(h == f"CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n"
                               f"User-Agent: Go-http-client/1.1\r\nProxy-Authorization: Basic ".encode()
                               + base64.b64encode(b"user:pa:ss") for h in proxy.heads), proxy.heads
    proxy.close()

    gone = socket.socket()
    gone.bind(("127.0.0.1", 0))
    closed_port = gone.getsockname()[1]
    gone.close()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port}")
    proc = skopeo("inspect", f"docker://{host}/p/x:v1")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).endswith(
        f'pinging container registry {host}: Get "https://{host}/v2/": '
        f"proxyconnect tcp: dial tcp 127.0.0.1:{closed_port}: connect: connection refused"), proc.stderr


@pytest.mark.parametrize(("url", "text"), [
    ("http://h:abc/x", "parse \"http://h:abc/x\": Port could not be cast to integer value as 'abc'"),
    ("https://h:99999/", 'parse "https://h:99999/": Port out of range 0-65535'),
    ("http://[::1/x", 'parse "http://[::1/x": Invalid IPv6 URL'),
])
def test_unparsable_urls_are_one_error(url: str, text: str) -> None:
    """URLs come from manifests (foreign layers), headers and challenges: a bad
    one is a SkopeoError (one error line), never a traceback."""
    from skopeo.errors import SkopeoError

    with pytest.raises(SkopeoError) as e:
        http.URL(url)
    assert str(e.value) == text


def test_urls_as_written_with_origins_compared_by_effective_port() -> None:
    url = http.URL("https://Reg.Example:443/v2/app/blobs/uploads/x?_state=a%3D#frag")
    assert str(url) == "https://Reg.Example:443/v2/app/blobs/uploads/x?_state=a%3D"  # as Go prints it
    assert (url.scheme, url.host, url.port, url.netloc) == ("https", "reg.example", None, "Reg.Example:443")
    assert url.raw_path == b"/v2/app/blobs/uploads/x?_state=a%3D"
    assert str(url.join("/v2/app/blobs/uploads/y?_state=b")) == "https://Reg.Example:443/v2/app/blobs/uploads/y?_state=b"
    assert str(url.join("https://cdn.example/blob")) == "https://cdn.example/blob"
    assert str(url.copy_with(query=b"digest=sha256%3Aab")) == "https://Reg.Example:443/v2/app/blobs/uploads/x?digest=sha256%3Aab"
    v6 = http.URL("http://[::1]:5000/v2/")
    assert (v6.host, v6.port, v6.netloc, v6.effective_port()) == ("::1", 5000, "[::1]:5000", 5000)


# --- reading answers: the head and the body's framing, as tables ---------------------------------
def _head(raw: bytes):  # type: ignore[no-untyped-def]
    import io

    from skopeo_docker.http_wire import read_head

    return read_head(io.BufferedReader(io.BytesIO(raw)))  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "status", "reason", "fields"), [
    (b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n", 200, "OK", [("A", "1")]),
    (b"HTTP/1.0 404 Not Found\r\n\r\n", 404, "Not Found", []),
    (b"HTTP/1.1 204\r\n\r\n", 204, "", []),  # no reason phrase
    (b"HTTP/1.1 200 OK\nA:  spaced  \n\n", 200, "OK", [("A", "spaced")]),  # bare LF, OWS trimmed
    (b"HTTP/1.1 200 OK\r\nA: one\r\n two\r\n\r\n", 200, "OK", [("A", "one two")]),  # obsolete folding
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nB: 2\r\n\r\n", 201, "Created", [("B", "2")]),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 101, "Switching Protocols", []),
])
def test_answer_heads(raw: bytes, status: int, reason: str, fields: list[tuple[str, str]]) -> None:
    head = _head(raw)
    assert (head.status, head.reason, head.fields) == (status, reason, fields)


@pytest.mark.parametrize(("raw", "error"), [
    (b"garbage\r\n\r\n", 'malformed HTTP response "garbage"'),
    (b"HTTP/1.1 2OO OK\r\n\r\n", 'malformed HTTP response "HTTP/1.1 2OO OK"'),
    # A TLS alert: what a TLS server answers to plain HTTP (Go's well-known text).
    (b"\x15\x03\x01\x00\x02\x02\n", 'malformed HTTP response "\\x15\\x03\\x01\\x00\\x02\\x02"'),
    (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed MIME header line: no colon"),
    (b"HTTP/1.1 200 OK\r\nA : 1\r\n\r\n", "malformed MIME header line: A : 1"),
])
def test_malformed_answers_are_protocol_errors(raw: bytes, error: str) -> None:
    with pytest.raises(http.RemoteProtocolError) as e:
        _head(raw)
    assert str(e.value) == "net/http: HTTP/1.x transport connection broken: " + error


def test_a_head_is_bounded_as_go_bounds_it() -> None:
    from skopeo_docker import http_wire

    many = b"HTTP/1.1 200 OK\r\n" + b"A: 1\r\n" * 1000 + b"\r\n"  # no limit on the count (Go has none)
    assert len(_head(many).fields) == 1000
    huge = b"HTTP/1.1 200 OK\r\nA: " + b"x" * http_wire.MAX_HEAD_BYTES + b"\r\n\r\n"
    with pytest.raises(http.RemoteProtocolError) as e:
        _head(huge)
    assert str(e.value) == "net/http: server response headers exceeded 10485760 bytes; aborted"


def test_answers_cut_short_in_the_head() -> None:
    from skopeo_docker.http_wire import Incomplete, NoResponse

    with pytest.raises(NoResponse):  # nothing at all: the keep-alive race, retried on a new connection
        _head(b"")
    with pytest.raises(Incomplete):
        _head(b"HTTP/1.1 200 OK\r\nA: 1\r\n")


@pytest.mark.parametrize(("method", "raw", "framing"), [
    ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", (5, False, False)),
    ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", (0, False, False)),
    ("GET", b"HTTP/1.1 204 No Content\r\n\r\n", (0, False, False)),
    ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", (0, False, False)),
    ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n", (None, True, False)),
    ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", (None, True, False)),
    ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", (None, False, True)),  # until close
    ("GET", b"HTTP/1.1 200 OK\r\n\r\n", (None, False, True)),  # neither: until close
    ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", (3, False, False)),
    ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", (3, False, True)),
    ("GET", b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", (3, False, True)),
    ("GET", b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: Keep-Alive\r\n\r\n", (3, False, False)),
])
def test_body_framing(method: str, raw: bytes, framing: tuple[int | None, bool, bool]) -> None:
    from skopeo_docker.http_wire import body_framing

    assert body_framing(method, _head(raw)) == framing


@pytest.mark.parametrize(("raw", "error"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
     "http: message cannot contain multiple Content-Length headers; got ['3', '4']"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 'bad Content-Length "-1"'),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", 'bad Content-Length "1e3"'),
])
def test_bad_lengths_are_refused(raw: bytes, error: str) -> None:
    from skopeo_docker.http_wire import body_framing

    with pytest.raises(http.RemoteProtocolError) as e:
        body_framing("GET", _head(raw))
    assert str(e.value) == error


# --- bodies against a scripted server ------------------------------------------------------------
def test_a_cut_body_delivers_what_came_before_failing(client_for) -> None:  # type: ignore[no-untyped-def]
    """What arrived before the peer closed is handed on (a download resumes
    after it with a Range request), then the end is reported."""
    def short(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"a" * 40)
        conn.shutdown(socket.SHUT_RDWR)
        return False

    server = ScriptedServer(short)
    got = b""
    with pytest.raises(http.RemoteProtocolError, match="incomplete, 60 bytes missing"):
        for chunk in client_for().send("GET", server.url).iter_raw():
            got += chunk
    assert got == b"a" * 40
    server.close()


@pytest.mark.parametrize(("answer", "body", "error"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", b"hel", "incomplete chunk, 2 bytes missing"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"hello", "incomplete chunked encoding"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"", "invalid byte in chunk length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX\r\n", b"hi", "malformed chunked encoding"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;" + b"x" * 5000 + b"\r\n", b"", "header line too long"),
])
def test_broken_chunked_bodies(client_for, answer: bytes, body: bytes, error: str) -> None:  # type: ignore[no-untyped-def]
    def send(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(answer)
        conn.shutdown(socket.SHUT_RDWR)
        return False

    server = ScriptedServer(send)
    got = b""
    with pytest.raises(http.RemoteProtocolError, match=error):
        for chunk in client_for().send("GET", server.url).iter_raw():
            got += chunk
    assert got == body
    server.close()


def test_interim_answers_and_bodies_until_close(client_for) -> None:  # type: ignore[no-untyped-def]
    """A 100 Continue before the answer is skipped; a body without a length
    ends when the server closes, and that connection is not kept."""
    def answer(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX: y\r\n\r\n" + b"z" * 200_000)
        conn.shutdown(socket.SHUT_RDWR)
        return False

    server = ScriptedServer(answer)
    client = client_for()
    resp = client.send("GET", server.url)
    assert (resp.status_code, resp.headers["x"]) == (200, "y")
    assert resp.read() == b"z" * 200_000
    assert not any(client.pool._idle.values())
    server.close()


@pytest.mark.parametrize(("name", "value", "error"), [
    ("X-Bad", "a\r\nInjected: 1", 'net/http: invalid header field value for "X-Bad"'),
    ("X-Bad", "a\nb", 'net/http: invalid header field value for "X-Bad"'),
    ("X Bad", "a", 'net/http: invalid header field name "X Bad"'),
    ("X:Bad", "a", 'net/http: invalid header field name "X:Bad"'),
])
def test_header_fields_that_would_split_the_request_are_refused(client_for, name: str, value: str,  # type: ignore[no-untyped-def]
                                                               error: str) -> None:
    server = ScriptedServer(ok())
    with pytest.raises(http.LocalProtocolError) as e:
        client_for().send("GET", server.url, headers=[(name, value)])
    assert str(e.value) == error
    assert server.requests == []
    server.close()


@pytest.mark.parametrize(("answer", "error"), [
    (b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", "Proxy Authentication Required"),
    (b"HTTP/1.1 403\r\n\r\n", "unknown status code"),
    (b"", "unexpected EOF"),  # closed without answering
    (b"garbage\r\n\r\n", 'net/http: HTTP/1.x transport connection broken: malformed HTTP response "garbage"'),
])
def test_a_proxy_that_does_not_open_the_tunnel(client_for, answer: bytes, error: str) -> None:  # type: ignore[no-untyped-def]
    """Go's errors: the status text of the proxy's answer to CONNECT (without
    its code), ``unexpected EOF`` when it closes without one."""
    proxy = ConnectProxy(answer)
    client = client_for(Proxies("", f"http://127.0.0.1:{proxy.port}", ""))
    with pytest.raises(http.ProxyError) as e:
        client.get("https://registry.tunnel.test:5000/v2/")
    assert str(e.value) == error
    assert proxy.heads[0].startswith(b"CONNECT registry.tunnel.test:5000 HTTP/1.1\r\n")
    proxy.close()
