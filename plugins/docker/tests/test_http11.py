"""The http.client transport under the registry client: keep-alive reuse against
the real registry, and the awkward server behaviours (dropped idle connections,
truncated bodies, answers before the request body was read, chunked encoding,
timeouts) against a scripted loopback server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from skopeo.testing.registry import Registry
from skopeo_docker.http11 import ConnectionPool

Handler = Callable[[socket.socket, bytes], bool]  # returns False to close the connection


class ScriptedServer:
    """Accepts connections; for each request (headers and any Content-Length
    body read) calls *handler* with the socket and the raw request."""

    def __init__(self, handler: Handler, read_body: bool = True) -> None:
        self.handler = handler
        self.read_body = read_body
        self.connections = 0
        self.requests: list[bytes] = []
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

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def client_for() -> Iterator[Callable[[], httpx.Client]]:
    import ssl

    clients: list[httpx.Client] = []

    def make() -> httpx.Client:
        c = httpx.Client(transport=ConnectionPool(ssl.create_default_context()), timeout=httpx.Timeout(5.0))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def ok(body: bytes = b"hello", close: bool = False) -> Handler:
    def answer(conn: socket.socket, head: bytes) -> bool:
        extra = b"Connection: close\r\n" if close else b""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body))
        return not close
    return answer


def test_keep_alive_with_the_registry(registry: Registry, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for()
    pool: ConnectionPool = client._transport  # type: ignore[assignment]
    base = f"http://{registry.host}"
    for _ in range(3):
        assert client.get(f"{base}/v2/").status_code == 200
        # An unread error body and a HEAD are drained, so the connection stays.
        with client.stream("GET", f"{base}/v2/none/manifests/latest") as resp:
            assert resp.status_code == 404
        assert client.head(f"{base}/v2/none/blobs/sha256:{'0' * 64}").status_code == 404
    assert sum(len(v) for v in pool._idle.values()) == 1


def test_dropped_idle_connection_is_replaced(client_for) -> None:  # type: ignore[no-untyped-def]
    server = ScriptedServer(ok(b"x"))
    server.handler = lambda conn, head: (conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"), False)[1]
    client = client_for()
    # Each answer claims keep-alive but the server closes: every request after
    # the first finds a dead idle connection and must silently use a new one.
    for _ in range(4):
        assert client.get(server.url).content == b"x"
    assert server.connections == 4
    server.close()


def test_truncated_body_is_an_error(client_for) -> None:  # type: ignore[no-untyped-def]
    def short(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"a" * 40)
        conn.shutdown(socket.SHUT_RDWR)
        return False

    server = ScriptedServer(short)
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete"):
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

    resp = client_for().put(server.url, content=body())
    assert resp.status_code == 413
    server.close()


def test_chunked_both_ways(client_for) -> None:  # type: ignore[no-untyped-def]
    def chunked(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        return True

    server = ScriptedServer(chunked)
    client = client_for()
    resp = client.post(server.url, content=iter([b"abc", b"", b"defg"]))
    assert resp.content == b"hello world"
    assert server.requests[0].endswith(b"\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    server.close()


def test_connection_errors_are_httpx_errors(client_for) -> None:  # type: ignore[no-untyped-def]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = client_for()
    with pytest.raises(httpx.ConnectError, match="refused"):
        client.get(f"http://127.0.0.1:{port}/")
    silent = ScriptedServer(lambda conn, head: True)  # reads the request, never answers
    with pytest.raises(httpx.ReadTimeout):
        client.get(silent.url, timeout=httpx.Timeout(5.0, read=0.3))
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
        client = pools.pool(f"127.0.0.1:{server.port}", "", True).client
        for _ in range(2):
            resp = client.get(f"{server.url}/v2/")
            assert resp.status_code == 200 and resp.headers["set-cookie"].startswith("session=")
        assert len(server.requests) == 2
        assert b"cookie:" not in server.requests[1].lower(), server.requests[1]
        assert not client.cookies
    finally:
        pools.close()
        server.close()
