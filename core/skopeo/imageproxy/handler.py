"""The proxy's methods and state (open images, active pipes), as upstream's
``pkg/json-proxy`` handler: the same argument checks in the same order, the
same replies, data streamed through pipes by worker threads.

A pipe's write end stays open until the client calls FinishPipe, which waits
for the worker and reports what went wrong while streaming (a short or corrupt
blob, the client closing its end).  GetRawBlob instead closes both of its pipes
when done and writes an error, if any, on the second one."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from .. import log
from ..digest import parse as parse_digest
from ..errors import SkopeoError
from ..golang import gojson
from ..golang.oserror import os_error_text
from ..transport import BlobInfo
from . import protocol
from .images import ProxyImage, open_image
from .protocol import ProtocolError, parse_string, parse_uint64

if TYPE_CHECKING:
    from ..context import SystemContext
    from ..policy import PolicyContext

COPY_CHUNK = 256 * 1024
PIPE_BUFFER = 1 << 20


class Result(NamedTuple):
    """What a method returns: the reply's value, the pipe id and the read ends
    of pipes passed to the client (closed here once sent)."""

    value: Any = None
    pipeid: int = 0
    fds: tuple[int, ...] = ()


class _Pipe:
    """A data pipe: its write end and the worker filling it."""

    def __init__(self, write_fd: int) -> None:
        self.write_fd = write_fd
        self.error: SkopeoError | None = None
        self.thread: threading.Thread | None = None


def _pipe() -> tuple[int, int]:
    """A pipe with a 1 MiB buffer where Linux allows it (fewer wake-ups per
    blob than the default 64 KiB)."""
    read_fd, write_fd = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BUFFER)
    except OSError:
        pass  # over /proc/sys/fs/pipe-max-size, or not Linux: the default size
    return read_fd, write_fd


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        raise protocol.PipeClosedError() from None


def _as_error(e: BaseException) -> SkopeoError:
    if isinstance(e, SkopeoError):
        return e
    if isinstance(e, OSError):
        return SkopeoError(os_error_text(e))
    log.debug(f"unexpected error in a pipe worker: {e!r}")
    return SkopeoError(str(e) or type(e).__name__)


def _blob_size_arg(size: int) -> int:
    """The uint64 size argument as the int64 upstream passes to GetBlob."""
    return size - 2**64 if size >= 2**63 else size


class Handler:
    def __init__(self, system_context: Callable[[], SystemContext],
                 policy_context: Callable[[], PolicyContext]) -> None:
        self._new_system_context = system_context
        self._new_policy_context = policy_context
        self.ctx: SystemContext | None = None  # set once Initialize succeeds
        self.policy: PolicyContext | None = None
        self.images: dict[int, ProxyImage] = {}
        self.serial = 0
        self.pipes: dict[int, _Pipe] = {}
        self.methods: dict[str, Callable[[list[Any]], Result]] = {
            "Initialize": self.initialize,
            "OpenImage": self.open_image,
            "OpenImageOptional": self.open_image_optional,
            "CloseImage": self.close_image,
            "GetManifest": self.get_manifest,
            "GetConfig": self.get_config,
            "GetFullConfig": self.get_full_config,
            "GetBlob": self.get_blob,
            "GetRawBlob": self.get_raw_blob,
            "GetLayerInfo": self.get_layer_info,
            "GetLayerInfoPiped": self.get_layer_info_piped,
            "FinishPipe": self.finish_pipe,
        }

    def close(self) -> None:
        for image in self.images.values():
            image.close()
        self.images.clear()

    # --- helpers ---------------------------------------------------------------------
    def _initialized(self) -> SystemContext:
        if self.ctx is None:
            raise ProtocolError("client error: must invoke Initialize")
        return self.ctx

    def _image(self, value: Any) -> ProxyImage:
        image_id = parse_uint64(value)
        if image_id == protocol.SENTINEL_IMAGE_ID:
            raise ProtocolError("invalid imageid value of zero")
        image = self.images.get(image_id)
        if image is None:
            raise ProtocolError(f"no image {image_id}")
        return image

    def _start(self, pipe: _Pipe, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except BaseException as e:  # reported by FinishPipe
                pipe.error = _as_error(e)

        pipe.thread = threading.Thread(target=run, name=f"proxy-pipe-{pipe.write_fd}", daemon=True)
        pipe.thread.start()

    def _new_pipe(self) -> tuple[int, _Pipe]:
        read_fd, write_fd = _pipe()
        pipe = _Pipe(write_fd)
        self.pipes[write_fd] = pipe
        return read_fd, pipe

    def _return_bytes(self, value: Any, data: bytes) -> Result:
        read_fd, pipe = self._new_pipe()
        self._start(pipe, lambda: _write_all(pipe.write_fd, data))
        return Result(value, pipe.write_fd, (read_fd,))

    # --- methods ---------------------------------------------------------------------
    def initialize(self, args: list[Any]) -> Result:
        if args:
            raise ProtocolError("invalid request, expecting zero arguments")
        if self.ctx is not None:
            raise ProtocolError("already initialized")
        ctx = self._new_system_context()
        self.policy = self._new_policy_context()
        self.ctx = ctx
        return Result(protocol.PROTOCOL_VERSION)

    def _open(self, args: list[Any], allow_not_found: bool) -> Result:
        ctx = self._initialized()
        if len(args) != 1:
            raise ProtocolError("invalid request, expecting one argument")
        name = args[0]
        if not isinstance(name, str):
            raise ProtocolError(f"expecting string imageref, not {protocol.go_type(name)}")
        assert self.policy is not None
        image = open_image(name, ctx, self.policy, allow_not_found)
        if image is None:
            return Result(protocol.SENTINEL_IMAGE_ID)
        self.serial += 1
        self.images[self.serial] = image
        return Result(self.serial)

    def open_image(self, args: list[Any]) -> Result:
        return self._open(args, False)

    def open_image_optional(self, args: list[Any]) -> Result:
        return self._open(args, True)

    def close_image(self, args: list[Any]) -> Result:
        self._initialized()
        if len(args) != 1:
            raise ProtocolError("invalid request, expecting one argument")
        image_id = parse_uint64(args[0])
        image = self._image(args[0])
        image.close()
        del self.images[image_id]
        return Result()

    def get_manifest(self, args: list[Any]) -> Result:
        self._initialized()
        if len(args) != 1:
            raise ProtocolError("invalid request, expecting one argument")
        digest, data = self._image(args[0]).oci_manifest()
        return self._return_bytes(digest, data)

    def get_full_config(self, args: list[Any]) -> Result:
        self._initialized()
        if len(args) != 1:
            raise ProtocolError("invalid request, expecting: [imgid]")
        return self._return_bytes(None, gojson.marshal(self._image(args[0]).oci_config()))

    def get_config(self, args: list[Any]) -> Result:
        """Only the ``config`` member of the OCI config (upstream's historical mistake)."""
        self._initialized()
        if len(args) != 1:
            raise ProtocolError("invalid request, expecting: [imgid]")
        config = self._image(args[0]).oci_config().get("config") or {}
        return self._return_bytes(None, gojson.marshal(config))

    def get_blob(self, args: list[Any]) -> Result:
        """The blob through a pipe; its digest and size are checked as it
        streams and reported by FinishPipe."""
        self._initialized()
        if len(args) != 3:
            raise ProtocolError(f"found {len(args)} args, expecting (imgid, digest, size)")
        image = self._image(args[0])
        digest = parse_string(args[1], "expecting string blobid")
        size = parse_uint64(args[2])
        parse_digest(digest)
        stream, blob_size = image.src.get_blob(BlobInfo(digest, _blob_size_arg(size)))
        try:
            read_fd, pipe = self._new_pipe()
        except BaseException:
            stream.close()
            raise

        def stream_verified() -> None:
            import hashlib

            hasher = hashlib.new(digest.partition(":")[0])
            written = 0
            try:
                while chunk := stream.read(COPY_CHUNK):
                    hasher.update(chunk)
                    _write_all(pipe.write_fd, chunk)
                    written += len(chunk)
            finally:
                stream.close()
            error = None
            if written != _blob_size_arg(size):
                error = SkopeoError(f"expected {size} bytes in blob, got {written}")
            if f"{digest.partition(':')[0]}:{hasher.hexdigest()}" != digest:
                error = SkopeoError(f"corrupted blob, expecting {digest}")
            if error is not None:
                raise error

        self._start(pipe, stream_verified)
        return Result(blob_size, pipe.write_fd, (read_fd,))

    def get_raw_blob(self, args: list[Any]) -> Result:
        """The blob unverified, through a data pipe and an error pipe, both
        closed when done (no FinishPipe)."""
        self._initialized()
        if len(args) != 2:
            raise ProtocolError(f"found {len(args)} args, expecting (imgid, digest)")
        image = self._image(args[0])
        digest = parse_string(args[1], "expecting string blobid")
        parse_digest(digest)
        stream, blob_size = image.src.get_blob(BlobInfo(digest, -1))
        try:
            data_r, data_w = _pipe()
        except BaseException:
            stream.close()
            raise
        try:
            err_r, err_w = os.pipe()
        except BaseException:
            for fd in (data_r, data_w):
                os.close(fd)
            stream.close()
            raise
        threading.Thread(target=_copy_raw, args=(stream, data_w, err_w), name=f"proxy-raw-{data_w}",
                         daemon=True).start()
        return Result(blob_size, 0, (data_r, err_r))

    def _layers(self, args: list[Any]) -> list[dict[str, Any]]:
        self._initialized()
        if len(args) != 1:
            raise ProtocolError(f"found {len(args)} args, expecting (imgid)")
        return self._image(args[0]).layer_infos()

    def get_layer_info(self, args: list[Any]) -> Result:
        """Deprecated: the list inline, which may not fit in a packet."""
        return Result(self._layers(args))

    def get_layer_info_piped(self, args: list[Any]) -> Result:
        return self._return_bytes(None, gojson.marshal(self._layers(args)))

    def finish_pipe(self, args: list[Any]) -> Result:
        """Wait for the pipe's worker, close the write end, report its error."""
        if not args:
            # Upstream indexes args[0] unchecked and crashes; we answer instead.
            raise ProtocolError("invalid request, expecting one argument")
        pipeid = parse_uint64(args[0]) % 2**32  # upstream keeps a uint32
        pipe = self.pipes.get(pipeid)
        if pipe is None:
            raise ProtocolError(f"finishpipe: no active pipe {pipeid}")
        if pipe.thread is not None:
            pipe.thread.join()
        log.debug("Completed pipe goroutine")
        os.close(pipe.write_fd)
        del self.pipes[pipeid]
        if pipe.error is not None:
            raise pipe.error
        return Result()


def _copy_raw(stream: BinaryIO | io.BytesIO, data_fd: int, error_fd: int) -> None:
    """GetRawBlob's worker: the blob as it is, then an error (if any) as JSON on
    the error pipe; both pipes closed at the end."""
    try:
        try:
            while chunk := stream.read(COPY_CHUNK):
                _write_all(data_fd, chunk)
        finally:
            stream.close()
    except BaseException as e:
        log.debug(f"Sending error to client: {e}")
        try:
            _write_all(error_fd, protocol.encode_pipe_error(_as_error(e)))
        except SkopeoError:
            pass  # the client closed the error pipe too
    finally:
        os.close(data_fd)
        os.close(error_fd)
