"""The proxy's loop: one request per packet read from the socket the client
passed (``--sockfd``), one reply per request with pipe read ends attached as
``SCM_RIGHTS``; an end of file or ``Shutdown`` ends it."""

from __future__ import annotations

import os
import socket

from .. import log
from ..errors import SkopeoError
from ..golang.oserror import os_error_text
from . import protocol
from .handler import Handler, Result

# What Go's net.FileConn makes of a socket that is not AF_UNIX.
_GO_CONN_TYPES = {socket.SOCK_STREAM: "*net.TCPConn", socket.SOCK_DGRAM: "*net.UDPConn"}


def open_socket(fd: int) -> socket.socket:
    """The client's socket, checked as upstream does (``net.FileConn``)."""
    try:
        copy = os.dup(fd)
    except OSError as e:
        raise SkopeoError(f"file file+net sock: fcntl: {os_error_text(e)}") from None
    try:
        sock = socket.socket(fileno=copy)
    except OSError as e:
        os.close(copy)
        raise SkopeoError(f"file file+net sock: getsockopt: {os_error_text(e)}") from None
    if sock.family != socket.AF_UNIX:
        kind = _GO_CONN_TYPES.get(sock.type) if sock.family in (socket.AF_INET, socket.AF_INET6) else None
        sock.close()
        if kind is None:
            raise SkopeoError("file file+net sock: protocol not supported")
        raise SkopeoError(f"expected unix connection, got {kind}")
    return sock


def handle(handler: Handler, packet: bytes) -> tuple[bytes, tuple[int, ...]] | None:
    """The reply (and fds to pass) to one request packet; None for Shutdown."""
    try:
        request = protocol.decode_request(packet)
    except protocol.ProtocolError as e:
        return protocol.encode_reply(error=e), ()
    log.debug(f"Executing method {request.method}")
    if request.method == "Shutdown":
        return None
    method = handler.methods.get(request.method)
    try:
        if method is None:
            raise protocol.ProtocolError(f"unknown method: {request.method}")
        result = method(request.args)
    except SkopeoError as e:
        return protocol.encode_reply(error=e), ()
    except OSError as e:  # pipe() failing: out of descriptors …
        return protocol.encode_reply(error=SkopeoError(os_error_text(e))), ()
    except Exception as e:  # a bug (ours or a plugin's): answered, the proxy keeps serving
        import traceback

        log.debug("".join(traceback.format_exception(e)))
        return protocol.encode_reply(error=SkopeoError(f"internal error: {type(e).__name__}: {e}")), ()
    return _encode(result), result.fds


def _encode(result: Result) -> bytes:
    return protocol.encode_reply(result.value, result.pipeid)


def serve(handler: Handler, sock: socket.socket) -> None:
    """Answer requests until the client closes the socket or sends Shutdown."""
    datagram = sock.type == socket.SOCK_DGRAM
    try:
        while True:
            try:
                packet = sock.recv(protocol.MAX_MESSAGE_SIZE)
            except OSError as e:
                raise SkopeoError(f"reading socket: {os_error_text(e)}") from None
            if not packet and not datagram:
                return
            answer = handle(handler, packet)
            if answer is None:
                log.debug("terminating")
                return
            reply, fds = answer
            log.debug(f"Sending reply: {reply.decode(errors='replace')} fds={list(fds)}")
            try:
                _send(sock, reply, fds)
            finally:
                for fd in fds:
                    os.close(fd)
    finally:
        handler.close()
        sock.close()


def _send(sock: socket.socket, reply: bytes, fds: tuple[int, ...]) -> None:
    try:
        if fds:
            sent = socket.send_fds(sock, [reply], list(fds))
        else:
            sent = sock.send(reply)
    except OSError as e:
        raise SkopeoError(f"writing to socket: {os_error_text(e)}") from None
    if sent != len(reply):
        raise SkopeoError("writing to socket: short write")
