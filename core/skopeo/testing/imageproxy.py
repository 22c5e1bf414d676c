"""A client of ``skopeo experimental-image-proxy``, written from the protocol
(containers-image-proxy-rs speaks the same): a ``SOCK_SEQPACKET`` socket pair,
one JSON request and one JSON reply per packet, data returned through pipes
whose read ends arrive as ``SCM_RIGHTS`` file descriptors.

Tests use it against our CLI and, when it is installed, upstream skopeo::

    with ProxyClient(skopeo_command() + ["--policy", policy]) as proxy:
        proxy.call("Initialize")
        image = proxy.call("OpenImage", "oci:layout:tag").value
        digest, manifest = proxy.call_pipe("GetManifest", image)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE = 32 * 1024  # the proxy's packet size limit


@dataclass
class Reply:
    """One decoded reply; ``fds`` are the descriptors that came with it (the
    caller owns them); ``raw`` is the packet as received."""

    success: bool
    value: Any
    pipeid: int
    error_code: str
    error: str
    raw: bytes
    fds: list[int] = field(default_factory=list)


class ProxyError(Exception):
    """A reply with ``success: false``."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.error_code}: {reply.error}")
        self.reply = reply


class ProxyClient:
    """Starts ``COMMAND experimental-image-proxy --sockfd N`` on one end of a
    socket pair; the other end is ours.  *extra* goes after the sub-command."""

    def __init__(self, command: list[str], extra: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        fd = theirs.fileno()
        self.process = subprocess.Popen(
            [*command, "experimental-image-proxy", "--sockfd", str(fd), *extra],
            pass_fds=[fd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=None if env is None else {**os.environ, **env},
        )
        theirs.close()

    # --- the wire -----------------------------------------------------------------
    def send_raw(self, payload: bytes) -> None:
        self.sock.sendmsg([payload])

    def receive(self, timeout: float = 60.0) -> Reply:
        self.sock.settimeout(timeout)
        data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_MESSAGE, 2)
        if not data:
            for fd in fds:
                os.close(fd)
            raise EOFError("the proxy closed the socket")
        obj = json.loads(data)
        return Reply(obj["success"], obj["value"], obj["pipeid"], obj["error_code"], obj["error"], data, list(fds))

    def request(self, payload: bytes) -> Reply:
        """Send *payload* as it is; the reply, failed or not."""
        self.send_raw(payload)
        return self.receive()

    def call_reply(self, method: str, *args: Any) -> Reply:
        return self.request(json.dumps({"method": method, "args": list(args)}).encode())

    def call(self, method: str, *args: Any) -> Reply:
        """A call that must succeed (raises :class:`ProxyError` otherwise)."""
        reply = self.call_reply(method, *args)
        if not reply.success:
            for fd in reply.fds:
                os.close(fd)
            raise ProxyError(reply)
        return reply

    # --- pipes --------------------------------------------------------------------
    @staticmethod
    def read_fd(fd: int) -> bytes:
        chunks: list[bytes] = []
        with os.fdopen(fd, "rb", buffering=0) as f:
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)

    def finish(self, pipeid: int) -> Reply:
        return self.call_reply("FinishPipe", pipeid)

    def read_and_finish(self, reply: Reply) -> tuple[bytes, Reply]:
        """Read the pipe of *reply* while FinishPipe runs, as the protocol wants:
        the proxy closes its write end only when FinishPipe arrives."""
        import threading

        assert len(reply.fds) == 1, reply
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(self.read_fd(reply.fds[0])))
        reader.start()
        done = self.finish(reply.pipeid)
        reader.join(60)
        assert result, "the pipe was not closed after FinishPipe"
        return result[0], done

    def call_pipe(self, method: str, *args: Any) -> tuple[Any, bytes]:
        """A call returning data through a pipe: read it all while FinishPipe
        runs (which must succeed); returns (value, data)."""
        reply = self.call(method, *args)
        data, done = self.read_and_finish(reply)
        if not done.success:
            raise ProxyError(done)
        return reply.value, data

    def call_raw_blob(self, image: int, digest: str) -> tuple[Any, bytes, bytes]:
        """GetRawBlob: (size, data, what arrived on the error pipe)."""
        reply = self.call("GetRawBlob", image, digest)
        assert len(reply.fds) == 2, reply
        data = self.read_fd(reply.fds[0])
        errors = self.read_fd(reply.fds[1])
        return reply.value, data, errors

    # --- lifetime -----------------------------------------------------------------
    def close(self, timeout: float = 30.0) -> tuple[int, str]:
        """Close our end; the proxy's exit status and its stderr."""
        self.sock.close()
        try:
            _out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _out, err = self.process.communicate()
        return self.process.returncode, err.decode(errors="replace")

    def __enter__(self) -> ProxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.close()
        else:
            self.sock.close()
            self.process.communicate()
