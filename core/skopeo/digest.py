"""Content digests (``algo:hex``): validation, computation and a reader that
verifies a stream while it is being read."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from .errors import DigestMismatchError, InvalidReferenceError

if TYPE_CHECKING:
    from .transport import BlobStream

# Algorithms we can compute, with the length of their hex encoding (go-digest's).
ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
CANONICAL = "sha256"

_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_HEX_RE = re.compile(r"[a-f0-9]+")


def validate(digest: str) -> str:
    """Return *digest* if it is a well-formed digest of a known algorithm, else
    fail with go-digest's words (Digest.Validate).

    Digests end up in file names and URLs, so they are checked before any use.
    """
    algo, sep, encoded = digest.partition(":")
    if not algo or not sep or not encoded:
        raise InvalidReferenceError("invalid checksum digest format")
    length = ALGORITHMS.get(algo)
    if length is None:
        if not _DIGEST_RE.fullmatch(digest):
            raise InvalidReferenceError("invalid checksum digest format")
        raise InvalidReferenceError("unsupported digest algorithm")
    if len(encoded) != length:
        raise InvalidReferenceError("invalid checksum digest length")
    if not _HEX_RE.fullmatch(encoded):
        raise InvalidReferenceError("invalid checksum digest format")
    return digest


# go-digest's ``Parse`` (what upstream reports for a digest typed by a user:
# ``skopeo layers``, the image proxy) is its ``Validate``.
parse = validate


def is_digest(text: str) -> bool:
    try:
        validate(text)
    except InvalidReferenceError:
        return False
    return True


def split(digest: str) -> tuple[str, str]:
    """``sha256:abc`` → ``("sha256", "abc")`` after validation."""
    algo, _, hexpart = validate(digest).partition(":")
    return algo, hexpart


def hasher(digest_or_algo: str) -> hashlib._Hash:
    algo = digest_or_algo.partition(":")[0]
    if algo not in ALGORITHMS:
        raise InvalidReferenceError(f"unsupported digest algorithm {algo!r}")
    return hashlib.new(algo)


def of_bytes(data: bytes, algo: str = CANONICAL) -> str:
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


class VerifyingReader:
    """Wraps a stream; hashes and counts everything read, and raises at EOF when the
    digest or size differs from what was expected.  Readers downstream therefore
    never see the end of a corrupt blob as a clean end of file.

    With ``expected_digest=None`` it only computes (``digest`` property after EOF).
    """

    def __init__(
        self,
        stream: BlobStream,
        expected_digest: str | None,
        expected_size: int = -1,
        algo: str = CANONICAL,
        what: str = "blob",
    ) -> None:
        self._stream = stream
        self.expected_digest = expected_digest
        self.expected_size = expected_size
        self._hash = hasher(expected_digest or algo)
        self.size = 0
        self._what = what
        self.done = False

    @property
    def digest(self) -> str:
        return f"{self._hash.name}:{self._hash.hexdigest()}"

    def read(self, n: int = -1) -> bytes:
        if self.done:
            return b""
        data = self._stream.read(n)
        if data:
            self._hash.update(data)
            self.size += len(data)
            if self.expected_size >= 0 and self.size > self.expected_size:
                name = f"{self._what} {self.expected_digest}" if self.expected_digest else self._what
                raise DigestMismatchError(f"{name} is larger than its expected size {self.expected_size}")
            if n is None or n < 0:
                self._finish()
            return data
        self._finish()
        return b""

    def _finish(self) -> None:
        self.done = True
        # The digest first: a truncated or altered blob is reported as upstream
        # reports it, the size only when the descriptor's size alone is wrong.
        if self.expected_digest is not None and self.digest != self.expected_digest:
            raise DigestMismatchError(
                f"Digest did not match, expected {self.expected_digest}, got {self.digest}",
                expected=self.expected_digest, actual=self.digest,
            )
        if self.expected_size >= 0 and self.size != self.expected_size:
            raise DigestMismatchError(
                f"{self._what} {self.expected_digest}: size mismatch, expected {self.expected_size} bytes, got {self.size}"
            )

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
