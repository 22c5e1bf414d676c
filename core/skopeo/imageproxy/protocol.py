"""The wire format of the image proxy, as pure functions: decoding a request
packet, checking arguments, encoding a reply.  Every text is upstream's
(containers/common ``pkg/json-proxy``), including what Go's ``encoding/json``
says about a malformed request.

Upstream main is built with a Go whose ``encoding/json`` runs on the v2
implementation; where its texts differ from the Go of skopeo 1.9.3 that
:mod:`skopeo.gojson` follows, this module follows main (a byte that is not
ASCII is quoted ``'\\xff'`` in a syntax error; an out-of-range number names its
JSON path)."""

from __future__ import annotations

import codecs
import json
import math
import re
import sys
from typing import Any, NamedTuple

from ..errors import SkopeoError
from ..golang import gojson

PROTOCOL_VERSION = "0.2.8"
MAX_MESSAGE_SIZE = 32 * 1024  # larger packets are truncated, as upstream's read buffer does
MAX_JSON_INTEGER = float(2**53 - 1)  # ECMAScript's Number.MAX_SAFE_INTEGER
SENTINEL_IMAGE_ID = 0  # "no such image" from OpenImageOptional

# Reply error codes (new in 0.2.8).
EPIPE = "EPIPE"
RETRYABLE = "retryable"
OTHER = "other"


class ProtocolError(SkopeoError):
    """A request the proxy answers with an error (bad JSON, bad arguments …)."""


class PipeClosedError(SkopeoError):
    """The client closed its end of a data pipe before reading it all."""

    def __init__(self) -> None:
        # Go names the write end of an os.Pipe "|1".
        super().__init__("write |1: broken pipe")


class Request(NamedTuple):
    method: str
    args: list[Any]


# --- decoding a request ----------------------------------------------------------
_REQUEST_TYPE = "jsonproxy.request"


def _kind(value: Any) -> str:
    """What Go's decoder calls a JSON value in a type error."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, _Number)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _Pairs):
        return "object"
    return "array"


class _Number(str):
    """A JSON number kept as its text (to report an out-of-range one as Go does)."""


class _Pairs(list[tuple[str, Any]]):
    """A JSON object with its keys in order, duplicates included."""


def _error_offset(data: bytes, message: str) -> int:
    """Where the syntax error *message* (Go 1.9's text for *data*) occurs: the
    shortest prefix with that same error ends with the offending byte."""
    low, high = 1, len(data)
    while low < high:
        mid = (low + high) // 2
        if gojson.syntax_error(data[:mid]) == message:
            high = mid
        else:
            low = mid + 1
    return low - 1


def _quote_rune_at(data: bytes, pos: int) -> str:
    """The character at *pos* as Go 1.27 quotes it: the whole UTF-8 sequence
    when it is one, else the byte as ``\\xNN``."""
    for length in (1, 2, 3, 4):
        try:
            char = data[pos:pos + length].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if char == "'":
            return "'\\''"
        if char == '"':
            return "'\"'"
        return "'" + gojson.quote(char.encode())[1:-1] + "'"
    return f"'\\x{data[pos]:02x}'"


def _invalid_escape(data: bytes) -> str:
    """The first escape Go rejects, as Go 1.27 shows it (``\\x``, ``\\u12x"``)."""
    in_string = False
    pos = 0
    while pos < len(data):
        c = data[pos]
        if not in_string:
            in_string = c == 0x22
        elif c == 0x22:
            in_string = False
        elif c == 0x5C:
            nxt = data[pos + 1:pos + 2]
            if nxt == b"u":
                if not re.fullmatch(rb"[0-9a-fA-F]{4}", data[pos + 2:pos + 6]):
                    return data[pos:pos + 6].decode("utf-8", "replace")
            elif nxt not in (b'"', b"\\", b"/", b"b", b"f", b"n", b"r", b"t"):
                return data[pos:pos + 2].decode("utf-8", "replace")
            pos += 1
        pos += 1
    return ""


def syntax_error_text(data: bytes, message: str) -> str:
    """Go 1.27's text for the syntax error gojson reports as *message*."""
    if message.startswith("invalid character ' ' in literal") and \
            gojson.syntax_error(data, stream=True) == "unexpected EOF":
        return "unexpected end of JSON input"  # a literal cut short
    if message.endswith(" exceeded max depth"):
        return "exceeded max depth"
    if message.endswith((" in string escape code", " in \\u hexadecimal character escape")):
        return f"invalid escape sequence `{_invalid_escape(data)}` in string"
    if message.startswith("invalid character '"):
        quoted = _quote_rune_at(data, _error_offset(data, message))
        message = "invalid character " + quoted + message[message.index("' ", len("invalid character '") + 1) + 1:]
    message = message.replace(" in string literal", " in string")
    for context in (" after decimal point in numeric literal", " in exponent of numeric literal"):
        message = message.replace(context, " in numeric literal")
    return message


def _float_value(text: _Number, path: list[str | int]) -> float:
    value = float(text)
    if math.isinf(value):
        where = "request." + ".".join(str(p) for p in path)
        # Go 1.27 names the field only when the number is an object member.
        if isinstance(path[-1], str) and len(path) > 1:
            where = "Go struct field " + where
        raise ProtocolError(f"json: cannot unmarshal number {text} into {where} of type float64")
    return value


def _any(value: Any, path: list[str | int], errors: list[str]) -> Any:
    """A JSON value decoded into ``interface{}`` (numbers become float64)."""
    try:
        if isinstance(value, _Number):
            return _float_value(value, path)
    except ProtocolError as e:
        errors.append(e.message)
        return 0.0
    if isinstance(value, _Pairs):
        return {k: _any(v, [*path, k], errors) for k, v in value}
    if isinstance(value, list):
        return [_any(v, [*path, i], errors) for i, v in enumerate(value)]
    return value


def _replace_each_byte(err: UnicodeError) -> tuple[str, int]:
    # Go replaces every byte of an invalid sequence by U+FFFD (Python's
    # "replace" would merge some sequences into one).
    assert isinstance(err, UnicodeDecodeError)
    return "\ufffd", err.start + 1


_GO_REPLACE = "skopeo-imageproxy-go-replace"
codecs.register_error(_GO_REPLACE, _replace_each_byte)


def decode_request(packet: bytes) -> Request:
    """A request as Go's ``json.Unmarshal`` fills upstream's ``request`` struct:
    keys matched case-insensitively, the last duplicate winning, ``null``
    leaving a field alone, the first type error reported."""
    # Go accepts nesting up to 10000 levels; decoding recurses about twice per level.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 3 * _GO_MAX_DEPTH))
    try:
        return _decode_request(packet)
    finally:
        sys.setrecursionlimit(limit)


_GO_MAX_DEPTH = 10000


def _decode_request(packet: bytes) -> Request:
    syntax = gojson.syntax_error(packet)  # Go's grammar, its nesting limit included
    if syntax is not None:
        raise ProtocolError("invalid request: " + syntax_error_text(packet, syntax))
    text = packet.decode("utf-8", _GO_REPLACE)
    tree = json.loads(text, object_pairs_hook=_Pairs, parse_float=_Number, parse_int=_Number)
    if "\\u" in text:
        tree = _without_surrogates(tree)
    errors: list[str] = []
    method = ""
    args: list[Any] = []
    if not isinstance(tree, _Pairs):
        if tree is not None:
            errors.append(f"json: cannot unmarshal {_kind(tree)} into Go value of type {_REQUEST_TYPE}")
        tree = _Pairs()
    for key, value in tree:
        field = key.lower()
        if field == "method":
            if isinstance(value, str) and not isinstance(value, _Number):
                method = value
            elif value is not None:
                errors.append(f"json: cannot unmarshal {_kind(value)} into Go struct field request.method of type string")
        elif field == "args":
            if value is None:
                args = []
            elif isinstance(value, list) and not isinstance(value, _Pairs):
                args = [_any(v, ["args", i], errors) for i, v in enumerate(value)]
            else:
                errors.append(
                    f"json: cannot unmarshal {_kind(value)} into Go struct field request.args of type []interface {{}}"
                )
    if errors:
        raise ProtocolError("invalid request: " + errors[0])
    return Request(method, args)


def _without_surrogates(value: Any) -> Any:
    # A lone \ud800 escape decodes to U+FFFD in Go.
    if isinstance(value, _Number):
        return value
    if isinstance(value, str):
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    if isinstance(value, _Pairs):
        return _Pairs((_without_surrogates(k), _without_surrogates(v)) for k, v in value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


# --- arguments ----------------------------------------------------------------------
def go_type(value: Any) -> str:
    """``%T`` of a value decoded into ``interface{}``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


def parse_uint64(value: Any) -> int:
    """upstream's parseUint64: a JSON number within the safe-integer range,
    converted as Go converts a float64 to uint64 on amd64 (truncated; a
    negative one wraps around)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"expecting numeric, not {go_type(value)}")
    number = float(value)
    if number > MAX_JSON_INTEGER:
        raise ProtocolError(f"out of range integer for numeric {number:f}")
    whole = max(int(number), -(2**63))
    return whole % 2**64


def parse_string(value: Any, message: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(message)
    return value


# --- replies -------------------------------------------------------------------------
def error_code(err: BaseException) -> str:
    """upstream's mapProxyErrorCode."""
    if isinstance(err, (BrokenPipeError, PipeClosedError)):
        return EPIPE
    if isinstance(err, SkopeoError) and err.retryable:
        return RETRYABLE
    return OTHER


def encode_reply(value: Any = None, pipeid: int = 0, error: BaseException | None = None) -> bytes:
    """A reply packet, byte for byte as Go marshals upstream's ``reply``."""
    return gojson.marshal({
        "success": error is None,
        "value": value,
        "pipeid": pipeid,
        "error_code": "" if error is None else error_code(error),
        "error": "" if error is None else str(error),
    })


def encode_pipe_error(error: BaseException) -> bytes:
    """What GetRawBlob writes on its error pipe (a ``proxyError``)."""
    return gojson.marshal({"code": error_code(error), "message": str(error)})
