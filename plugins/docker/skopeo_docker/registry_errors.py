"""Registry error responses turned into the messages upstream prints.

docker/distribution answers failures with ``{"errors":[{"code","message","detail"}]}``;
containers/image reports the first entry, and only the message when it is the
code's default text (``manifest unknown`` rather than ``manifest unknown: manifest
unknown``).  The error *code* is kept on the exception because callers branch on it
(exit status 2 for MANIFEST_UNKNOWN, manifest-type fallback for MANIFEST_INVALID,
the tag-list "disallowed" warning for DENIED)."""

from __future__ import annotations

import json

from skopeo.errors import ImageNotFoundError, SkopeoError
from skopeo.golang import gojson

# The default message of every error code docker/distribution registers.
CODE_MESSAGES = {
    "UNKNOWN": "unknown error",
    "UNSUPPORTED": "The operation is unsupported.",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "UNAVAILABLE": "service unavailable",
    "TOOMANYREQUESTS": "too many requests",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "SIZE_INVALID": "provided length did not match content length",
    "NAME_INVALID": "invalid repository name",
    "TAG_INVALID": "manifest tag did not match URI",
    "NAME_UNKNOWN": "repository name not known to registry",
    "MANIFEST_UNKNOWN": "manifest unknown",
    "MANIFEST_INVALID": "manifest invalid",
    "MANIFEST_UNVERIFIED": "manifest failed signature verification",
    "MANIFEST_BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UPLOAD_UNKNOWN": "blob upload unknown to registry",
    "BLOB_UPLOAD_INVALID": "blob upload invalid",
    "PAGINATION_NUMBER_INVALID": "invalid number of results requested",
    "RANGE_INVALID": "invalid content range",
}

# Error bodies are read at most this far (upstream iolimits.MaxErrorBodySize).
MAX_ERROR_BODY_SIZE = 1 << 20


class RegistryError(SkopeoError):
    """An error answer from a registry.  ``code`` is the errcode value (None when
    the body was not a registry error), ``status`` the HTTP status."""

    def __init__(self, message: str, code: str | None = None, status: int = 0, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.detail = detail
        # The registry's own message text (without our rewording).
        self.registry_message = ""


class ManifestUnknownError(RegistryError, ImageNotFoundError):
    """MANIFEST_UNKNOWN: the input image does not exist (exit status 2)."""


class UnauthorizedForCredentialsError(RegistryError):
    """401 from a token server or from the login check."""


def status_text(status: int) -> str:
    from http import HTTPStatus  # only for an error's text: an enum of ~60 members to build

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _make(code: str, message: str, status: int, detail: str = "") -> RegistryError:
    cls = ManifestUnknownError if code == "MANIFEST_UNKNOWN" else RegistryError
    default = CODE_MESSAGES.get(code, "unknown error")
    if message == default:
        text = message
    else:
        # errcode.Error.Error(): lower-cased code with spaces, then the message.
        text = f"{code.lower().replace('_', ' ')}: {message}"
    err = cls(text, code=code, status=status, detail=detail)
    err.registry_message = message
    return err


def parse_challenge_error(www_authenticate: list[tuple[str, dict[str, str]]]) -> tuple[str, str] | None:
    """(code, message) from a Bearer challenge's ``error`` parameter (RFC 6750)."""
    for scheme, params in www_authenticate:
        if scheme != "bearer":
            continue
        code = {"invalid_token": "UNAUTHORIZED", "insufficient_scope": "DENIED"}.get(params.get("error", ""))
        if code is None:
            continue
        return code, params.get("error_description") or CODE_MESSAGES[code]
    return None


def _parse_body(status: int, body: bytes) -> RegistryError:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        obj = None
    if isinstance(obj, dict):
        details = obj.get("details")
        if isinstance(details, str) and details:
            code = {401: "UNAUTHORIZED", 429: "TOOMANYREQUESTS"}.get(status, "UNKNOWN")
            return _make(code, details, status)
        errors = obj.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            raw_code = first.get("code")
            code = raw_code.upper() if isinstance(raw_code, str) and raw_code.upper() in CODE_MESSAGES else "UNKNOWN"
            message = first.get("message")
            if not isinstance(message, str) or not message:
                message = CODE_MESSAGES[code]
            detail = first.get("detail")
            return _make(code, message, status, json.dumps(detail) if detail is not None else "")
    if status == 401:
        # A 401 without a parseable body is still an "authentication required".
        err = _make("UNAUTHORIZED", CODE_MESSAGES["UNAUTHORIZED"], status)
        err.detail = body.decode("utf-8", "replace")
        return err
    shown = body[:50] + b"..." if len(body) > 50 else body
    return RegistryError(f"StatusCode: {status}, {gojson.quote(shown)}", code=None, status=status)


def from_response(
    status: int,
    reason: str,
    body: bytes,
    challenges: list[tuple[str, dict[str, str]]] | None = None,
) -> RegistryError:
    """The error for a failed registry response (registryHTTPResponseToError)."""
    if 400 <= status < 500:
        from_header = parse_challenge_error(challenges or [])
        if from_header is not None:
            return _make(from_header[0], from_header[1], status)
        return _parse_body(status, body)
    return RegistryError(
        f"received unexpected HTTP status: {status} {reason or status_text(status)}".rstrip(), status=status
    )


def is_manifest_invalid(err: RegistryError) -> bool:
    """Errors meaning "this registry does not take this manifest type" (try the next one)."""
    if err.code in ("MANIFEST_INVALID", "TAG_INVALID"):
        return True
    return err.code == "UNSUPPORTED" and "Invalid JSON syntax" in err.message


def is_manifest_unknown(err: SkopeoError) -> bool:
    if not isinstance(err, RegistryError):
        return False
    if err.code == "MANIFEST_UNKNOWN":
        return True
    if err.code == "UNKNOWN" and "not found" in err.registry_message.lower():
        return True
    return err.code is None and err.status == 404
