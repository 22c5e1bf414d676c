"""Error types.  Every failure a user can hit is one of these; the CLI is the only
place that turns them into text and an exit status."""

from __future__ import annotations


class SkopeoError(Exception):
    """A failure with a message a user can act on and a stable exit status."""

    exit_code = 1
    # Whether repeating the whole operation may succeed (network trouble, 5xx …).
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def wrap(self, prefix: str) -> SkopeoError:
        """Return the same kind of error with ``prefix: `` in front of the message,
        so the exit status survives the context added by each layer."""
        err = type(self).__new__(type(self))
        SkopeoError.__init__(err, f"{prefix}: {self.message}")
        err.__dict__.update({k: v for k, v in self.__dict__.items() if k != "message"})
        err.message = f"{prefix}: {self.message}"
        return err


class UsageError(SkopeoError):
    """Wrong arguments or flag combinations."""


class InvalidReferenceError(SkopeoError):
    """An image name or a part of it does not follow its grammar."""


class ImageNotFoundError(SkopeoError):
    """The input image does not exist (upstream exits 2 for these since 1.16)."""

    exit_code = 2


class ManifestError(SkopeoError):
    """A manifest that cannot be parsed or does not fit what is asked of it."""


class DigestMismatchError(SkopeoError):
    """Content whose digest or size is not what its descriptor promised."""

    def __init__(self, message: str, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class PolicyError(SkopeoError):
    """A trust policy that cannot be loaded, or that rejects an image."""


class UnsupportedError(SkopeoError):
    """An operation the transport or format does not support."""


class PluginError(SkopeoError):
    """A plugin that is missing, broken or implements hooks we do not know."""


class NotLoggedInError(SkopeoError):
    """``login --get-login`` or ``logout`` for a key with no stored credentials."""


class InvalidCredentialsError(SkopeoError):
    """The registry refused the credentials ``login`` was given or found
    (``logging into "KEY": invalid username/password``)."""


class ManifestTypeRejectedError(SkopeoError):
    """Raised by a destination that does not accept a manifest type, so the
    copy engine can try the next candidate format."""


class UploadInterruptedError(SkopeoError):
    """A destination consumed part of a blob stream it cannot rewind and then
    failed for a reason that may go away (connection reset, 5xx, 429 …).  The
    copy engine reacts by re-opening the source blob and calling ``put_blob``
    again; nothing of the failed attempt is visible at the destination."""

    retryable = True


class SyncError(SkopeoError):
    """A sync in which images failed.  ``result`` (a ``skopeo.sync.SyncResult``)
    says what became of every image; without keep-going the message and the
    exit status are the first failure's (its error is ``__cause__``)."""

    def __init__(self, message: str, result: object = None, cause: SkopeoError | None = None) -> None:
        super().__init__(message)
        self.result = result
        if cause is not None:
            self.exit_code = cause.exit_code
            self.__cause__ = cause
