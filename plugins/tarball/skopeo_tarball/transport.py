"""``tarball:FILE[:FILE…]``: an image made of layer files, read-only.

Each file (``-`` is standard input) becomes one layer, exactly as given: its
bytes are the blob, compressed or not.  The manifest (OCI) and the config are
built when the source is opened, as upstream's ``tarball`` transport builds
them: the config holds the running OS and architecture, the newest file's
modification time, one history entry ``imported from tarball`` per layer and
the diffIDs of the decompressed content.

Deliberate differences from upstream:

* A file whose (decompressed) content is not a tar archive is refused with
  Go's ``archive/tar`` wording; upstream makes a layer of any file, which no
  runtime can unpack.
* Standard input is spooled to an unlinked temporary file rather than held in
  memory, and read once even when ``-`` is named several times (upstream reads
  it again for each ``-`` and so gets nothing the second time).
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING

from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError, SkopeoError, UnsupportedError
from skopeo.golang import gojson
from skopeo.golang.oserror import path_error_text
from skopeo.transport import ImageDestination, ImageReference, Transport

if TYPE_CHECKING:
    from .source import TarballSource

SEPARATOR = ":"
STDIN = "-"
CHUNK = 1 << 20


class TarballTransport(Transport):
    name = "tarball"
    path_references = True
    # Upstream's delete removes the layer files.
    deletes_images = True

    def parse_reference(self, text: str) -> TarballReference:
        filenames = text.split(SEPARATOR)
        stdin: IO[bytes] | None = None
        for name in filenames:
            if name == STDIN:
                if stdin is None:
                    stdin = _spool_stdin()
                continue
            try:
                open(name, "rb").close()
            except IsADirectoryError:
                pass  # Go opens a directory; reading it fails later (see the source)
            except OSError as e:
                raise InvalidReferenceError(f"error opening {quote_name(name)}: {path_error_text('open', name, e)}") from None
        return TarballReference(self, filenames, stdin)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        raise InvalidReferenceError('tarball: does not support any scopes except the default "" one')


def quote_name(name: str) -> str:
    return gojson.quote(os.fsencode(name))


def _spool_stdin() -> IO[bytes]:
    import tempfile

    tmp = tempfile.TemporaryFile(dir=SystemContext().tmp_directory(), prefix="tarball-stdin-")
    try:
        while chunk := sys.stdin.buffer.read(CHUNK):
            tmp.write(chunk)
        tmp.flush()
    except OSError as e:
        tmp.close()
        raise InvalidReferenceError(f"error buffering stdin: {e.strerror or e}") from None
    return tmp


class TarballReference(ImageReference):
    def __init__(self, transport: TarballTransport, filenames: list[str], stdin: IO[bytes] | None) -> None:
        super().__init__(transport)
        self.filenames = filenames
        self.stdin = stdin

    def string_within_transport(self) -> str:
        return SEPARATOR.join(self.filenames)

    def policy_configuration_identity(self) -> str:
        return ""

    def policy_configuration_namespaces(self) -> list[str]:
        return []

    def new_image_source(self, ctx: SystemContext) -> TarballSource:
        from .source import TarballSource  # hashing, codecs, tarfile: only when used

        return TarballSource(self)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        raise UnsupportedError('"tarball:" locations can only be read from, not written to')

    def delete_image(self, ctx: SystemContext) -> None:
        # Upstream's behaviour: "deleting" the image removes its files.
        for name in self.filenames:
            try:
                os.remove(name)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise SkopeoError(f"error removing {quote_name(name)}: {path_error_text('remove', name, e)}") from None
