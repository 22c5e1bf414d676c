"""JSON the way Go's ``encoding/json`` writes it, so our output is byte-compatible
with the reference tool: ``<``, ``>``, ``&``, U+2028 and U+2029 are escaped, other
non-ASCII is written raw, and indentation is ``json.MarshalIndent(v, "", "    ")``.

And JSON the way Go reads it: ``loads`` accepts what Go accepts and fails with
Go's words (``syntax_error``), ``type_error`` and ``quote`` give the texts of
Go's type errors and ``%q``, which upstream's messages embed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _go_escape(text: str) -> str:
    # These characters can only occur inside JSON strings, never in the syntax,
    # so translating the whole document is equivalent to escaping every string.
    return text.translate(_GO_ESCAPES)


def marshal(value: Any) -> bytes:
    """Compact form (Go ``json.Marshal``); dict insertion order is the field order."""
    return _go_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":"))).encode()


def marshal_indent(value: Any) -> str:
    """Pretty form used by ``inspect`` and friends, with the trailing newline skopeo adds."""
    return _go_escape(json.dumps(value, ensure_ascii=False, indent=4)) + "\n"


# --- Reading: Go's acceptance rules and error text -------------------------------
#
# Go's encoding/json is stricter than Python's json in some ways (no NaN or
# Infinity, no byte-order mark, no UTF-16/32 input) and laxer in one (invalid UTF-8
# inside strings is accepted and replaced by U+FFFD, byte by byte), and it reports
# errors in its own words, which users see in skopeo's messages.  ``syntax_error``
# reproduces the decisions and text of Go's scanner (encoding/json/scanner.go);
# ``loads`` parses with Python's fast parser and asks ``syntax_error`` for the text
# when it fails.  The one known difference: Python gives up on nesting deeper than
# its recursion limit (about 1000 levels) where Go allows 10000.

_MAX_DEPTH = 10000  # Go's maxNestingDepth
_SPACE = frozenset(b" \t\r\n")
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = frozenset(b'bfnrt\\/"')
_LITERALS = {ord("t"): "true", ord("f"): "false", ord("n"): "null"}
_GO_CONTROL_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}

# Scanner states (what the next byte may be).
(_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _AFTER_VALUE, _AFTER_TOP, _STRING,
 _ESCAPE, _HEX_ESCAPE, _MINUS, _INT, _ZERO, _POINT, _FRACTION, _EXP, _EXP_SIGN,
 _EXP_DIGITS, _LITERAL) = range(18)
# What an open container expects next.
_OBJECT_KEY, _OBJECT_VALUE, _ARRAY = range(3)


def quote_char(c: int) -> str:
    """A byte as Go's encoding/json quotes it in an error: ``'x'``, ``'\\''``,
    ``'"'``, ``'\\x01'``, ``'\\n'``, ``'\\u0085'``; a byte above 0x7f stands for the
    code point of the same number (Go converts the byte, not a UTF-8 sequence)."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    if c == 0x5C:
        return "'\\\\'"
    if c in _GO_CONTROL_ESCAPES:
        return f"'{_GO_CONTROL_ESCAPES[c]}'"
    if c < 0x20 or c == 0x7F:
        return f"'\\x{c:02x}'"
    if c < 0x7F or (c >= 0xA1 and c != 0xAD):  # strconv.IsPrint for U+0000..U+00FF
        return f"'{chr(c)}'"
    return f"'\\u{c:04x}'"


def syntax_error(data: bytes, *, stream: bool = False) -> str | None:
    """The text Go's encoding/json reports for the first syntax error in *data*, or
    None when Go accepts it.

    With ``stream=False`` this is ``json.Unmarshal``: the whole of *data* must be
    one value, surrounded only by whitespace; a value cut short gives ``unexpected
    end of JSON input`` (or, when the missing byte would already be wrong, the error
    Go's scanner reports for a space there, e.g. ``invalid character ' ' in literal
    true (expecting 'e')`` for ``tru``).  With ``stream=True`` this is
    ``json.NewDecoder(r).Decode``: only the first value is read and what follows it
    is ignored; empty (or all-whitespace) input gives ``EOF`` and a value cut short
    gives ``unexpected EOF``.  Other errors read ``invalid character 'x' <context>``
    with Go's contexts.  Bytes that are not UTF-8 are accepted inside strings, as Go
    does.
    """
    stack: list[int] = []
    state = _VALUE
    literal = ""  # the keyword being read in _LITERAL state
    matched = 0  # how many of its letters were seen
    hex_left = 0  # digits still expected in _HEX_ESCAPE state
    done = False  # the top-level value is complete

    def step(c: int) -> str | None:
        """Consume byte *c*; return an error context when it is wrong."""
        nonlocal state, literal, matched, hex_left, done
        while True:  # states that end a token hand the byte on to the next state
            if state == _STRING:
                if c == 0x22:
                    state = _AFTER_VALUE
                elif c == 0x5C:
                    state = _ESCAPE
                elif c < 0x20:
                    return "in string literal"
                return None
            if state == _AFTER_VALUE and not stack:
                state, done = _AFTER_TOP, True
                continue
            if state in (_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _AFTER_VALUE) and c in _SPACE:
                return None
            if state == _VALUE_OR_CLOSE:
                state = _AFTER_VALUE if c == 0x5D else _VALUE
                continue
            if state == _KEY_OR_CLOSE:
                if c == 0x7D:
                    stack[-1] = _OBJECT_VALUE
                    state = _AFTER_VALUE
                else:
                    state = _KEY
                continue
            if state == _VALUE:
                if c in (0x7B, 0x5B):
                    stack.append(_OBJECT_KEY if c == 0x7B else _ARRAY)
                    if len(stack) > _MAX_DEPTH:
                        return "exceeded max depth"
                    state = _KEY_OR_CLOSE if c == 0x7B else _VALUE_OR_CLOSE
                elif c == 0x22:
                    state = _STRING
                elif c == 0x2D:
                    state = _MINUS
                elif c == 0x30:
                    state = _ZERO
                elif c in _DIGITS:
                    state = _INT
                elif c in _LITERALS:
                    state, literal, matched = _LITERAL, _LITERALS[c], 1
                else:
                    return "looking for beginning of value"
                return None
            if state == _KEY:
                if c != 0x22:
                    return "looking for beginning of object key string"
                state = _STRING
                return None
            if state == _AFTER_VALUE:
                top = stack[-1]
                if top == _OBJECT_KEY:
                    if c != 0x3A:
                        return "after object key"
                    stack[-1], state = _OBJECT_VALUE, _VALUE
                elif top == _OBJECT_VALUE:
                    if c == 0x2C:
                        stack[-1], state = _OBJECT_KEY, _KEY
                    elif c == 0x7D:
                        stack.pop()
                    else:
                        return "after object key:value pair"
                elif c == 0x2C:
                    state = _VALUE
                elif c == 0x5D:
                    stack.pop()
                else:
                    return "after array element"
                if not stack and state == _AFTER_VALUE:
                    state, done = _AFTER_TOP, True
                return None
            if state == _AFTER_TOP:
                return None if c in _SPACE else "after top-level value"
            if state == _ESCAPE:
                if c in _SIMPLE_ESCAPES:
                    state = _STRING
                elif c == 0x75:
                    state, hex_left = _HEX_ESCAPE, 4
                else:
                    return "in string escape code"
                return None
            if state == _HEX_ESCAPE:
                if c not in _HEX:
                    return "in \\u hexadecimal character escape"
                hex_left -= 1
                if not hex_left:
                    state = _STRING
                return None
            if state == _LITERAL:
                want = ord(literal[matched])
                if c != want:
                    return f"in literal {literal} (expecting {quote_char(want)})"
                matched += 1
                if matched == len(literal):
                    state = _AFTER_VALUE
                return None
            if state == _MINUS:
                if c not in _DIGITS:
                    return "in numeric literal"
                state = _ZERO if c == 0x30 else _INT
                return None
            if state == _INT and c in _DIGITS:
                return None
            if state in (_INT, _ZERO):
                if c == 0x2E:
                    state = _POINT
                    return None
                state = _EXP if c in (0x65, 0x45) else _AFTER_VALUE
                if state == _EXP:
                    return None
                continue
            if state == _POINT:
                if c not in _DIGITS:
                    return "after decimal point in numeric literal"
                state = _FRACTION
                return None
            if state == _FRACTION:
                if c in _DIGITS:
                    return None
                state = _EXP if c in (0x65, 0x45) else _AFTER_VALUE
                if state == _EXP:
                    return None
                continue
            if state == _EXP:
                state = _EXP_SIGN
                if c in (0x2B, 0x2D):
                    return None
                continue
            if state == _EXP_SIGN:
                if c not in _DIGITS:
                    return "in exponent of numeric literal"
                state = _EXP_DIGITS
                return None
            # _EXP_DIGITS
            if c in _DIGITS:
                return None
            state = _AFTER_VALUE
            continue

    for c in data:
        context = step(c)
        if stream and done:
            # The decoder stops at the end of the first value, whatever follows.
            return None
        if context is not None:
            return f"invalid character {quote_char(c)} {context}"
    if done:
        return None
    # At the end Go feeds the scanner one space: it completes a number or a
    # literal's last state, or reveals what was missing.
    context = step(0x20)
    if done:
        return None
    if stream:
        return "unexpected EOF" if any(c not in _SPACE for c in data) else "EOF"
    if context is not None:
        return f"invalid character {quote_char(0x20)} {context}"
    return "unexpected end of JSON input"


class JSONSyntaxError(ValueError):
    """A document Go's encoding/json rejects; ``str()`` is Go's error text."""


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity, -Infinity: not JSON, Go refuses them


def _decode_utf8_like_go(data: bytes) -> str:
    """UTF-8 with each byte of an invalid sequence replaced by U+FFFD, as Go's
    decoder does (Python's "replace" would merge some sequences into one)."""
    parts: list[str] = []
    pos = 0
    while True:
        try:
            parts.append(data[pos:].decode("utf-8"))
            return "".join(parts)
        except UnicodeDecodeError as e:
            parts.append(data[pos : pos + e.start].decode("utf-8") + "\ufffd")
            pos += e.start + 1


def _replace_surrogates(value: Any) -> Any:
    # Python keeps a lone \ud800 escape as a surrogate; Go decodes it to U+FFFD.
    if isinstance(value, str):
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def _parse(decoder: json.JSONDecoder, text: str, stream: bool) -> Any:
    if stream:
        value, end = decoder.raw_decode(text, len(text) - len(text.lstrip(" \t\r\n")))
        if isinstance(value, (int, float)) and not isinstance(value, bool) and end < len(text):
            # Python stops a number where Go's scanner still reads it ("1.x", "1e").
            # The scanner stops right after the number, so this costs little.
            error = syntax_error(text.encode(), stream=True)
            if error is not None:
                raise JSONSyntaxError(error)
    else:
        value = decoder.decode(text)
    return _replace_surrogates(value) if "\\u" in text else value


def loads(
    data: bytes,
    *,
    stream: bool = False,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """Parse *data* as Go's ``json.Unmarshal`` into an ``interface{}`` would (or,
    with ``stream=True``, ``json.NewDecoder(r).Decode``: the first value only),
    raising :class:`JSONSyntaxError` with Go's text when Go would fail.

    Numbers keep Python's int/float distinction; only syntax is Go's.  An
    exception from *object_pairs_hook* that is not a ValueError propagates as it
    is, possibly before a syntax error later in *data* is seen."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=object_pairs_hook)
    try:
        return _parse(decoder, data.decode("utf-8"), stream)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        pass
    error = syntax_error(data, stream=stream)
    if error is not None:
        raise JSONSyntaxError(error) from None
    # Go accepts it: invalid UTF-8 in strings, or nesting deeper than Python allows.
    try:
        return _parse(decoder, _decode_utf8_like_go(data), stream)
    except RecursionError:
        raise JSONSyntaxError("exceeded max depth") from None


# --- Go's texts for type errors and %q ---------------------------------------------

def type_error(value: Any, go_type: str, struct_field: str = "", *, path: str = "", number: bool = False) -> str:
    """Go's ``UnmarshalTypeError`` text for a decoded JSON *value* that cannot go
    into *go_type*; *struct_field* (``"Index.manifests"``) names the field it was for,
    *path* (``".1"``) the array element of a value decoded on its own; *number*
    adds the number itself, as Go does when it does not fit the type."""
    if number:
        return f"json: cannot unmarshal number {value} into {path or 'Go value'} of type {go_type}"
    if isinstance(value, bool):
        kind = "bool"
    elif isinstance(value, (int, float)):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    elif isinstance(value, list):
        kind = "array"
    elif isinstance(value, dict):
        kind = "object"
    else:
        kind = "value"
    where = f"Go struct field {struct_field}" if struct_field else (path or "Go value")
    return f"json: cannot unmarshal {kind} into {where} of type {go_type}"


def token_text(value: Any) -> str:
    """``%#v`` of the first token Go's ``Decoder.Token`` reads from the JSON that
    decoded to *value*, as ``JSON object expected, got …`` messages show it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "91"  # json.Delim('[') is a rune
    if isinstance(value, dict):
        return "123"
    if isinstance(value, str):
        return quote(value.encode())
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


_BASE64_VALUES = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def decode_base64(text: str | bytes) -> bytes:
    """Go's ``base64.StdEncoding.DecodeString``: padded quanta, ``\\r``/``\\n``
    skipped anywhere, and the offset Go reports in ``illegal base64 data at input
    byte N`` (ValueError).  A port of decodeQuantum's decisions; Python's decoder
    accepts and rejects different inputs."""
    src = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    compact = src.replace(b"\n", b"").replace(b"\r", b"")
    if len(compact) % 4 == 0:  # the common, valid case: binascii in C gives Go's bytes
        import binascii

        try:
            return binascii.a2b_base64(compact, strict_mode=True)
        except (binascii.Error, ValueError):
            pass  # the port below finds Go's offset
    out = bytearray()
    si, n = 0, len(src)
    while si < n:
        quantum: list[int] = []
        while len(quantum) < 4:
            if si == n:
                if not quantum:
                    return bytes(out)
                raise ValueError(f"illegal base64 data at input byte {si - len(quantum)}")
            c = src[si]
            si += 1
            if c in _BASE64_VALUES:
                quantum.append(_BASE64_VALUES[c])
                continue
            if c in (0x0A, 0x0D):
                continue
            if c != 0x3D or len(quantum) < 2:  # not "=", or padding too early
                raise ValueError(f"illegal base64 data at input byte {si - 1}")
            if len(quantum) == 2:  # "==" expected: the second "=" must follow
                while si < n and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == n:
                    raise ValueError(f"illegal base64 data at input byte {n}")
                if src[si] != 0x3D:
                    raise ValueError(f"illegal base64 data at input byte {si - 1}")
                si += 1
            while si < n and src[si] in (0x0A, 0x0D):
                si += 1
            if si < n:
                raise ValueError(f"illegal base64 data at input byte {si}")
            break
        value = 0
        for v in [*quantum, 0, 0, 0][:4]:
            value = value << 6 | v
        out += value.to_bytes(3, "big")[: len(quantum) - 1]
    return bytes(out)


def decode_as(value: Any, go_type: str) -> Any:
    """A decoded JSON *value* as Go decodes it into *go_type* (``string``,
    ``[]string``, ``[]uint8``, ``[][]uint8``, ``int64``); None for null.
    ValueError carries Go's text."""
    if value is None:
        return None
    if go_type == "[]uint8":
        return decode_bytes(value)
    if go_type == "string":
        if not isinstance(value, str):
            raise ValueError(type_error(value, go_type))
        return value
    if go_type == "int64":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(type_error(value, go_type))
        if isinstance(value, float) or not -(2**63) <= value < 2**63:
            raise ValueError(type_error(value, go_type, number=True))
        return value
    if not isinstance(value, list):
        raise ValueError(type_error(value, go_type))
    if go_type == "[]string":
        for i, item in enumerate(value):
            if item is not None and not isinstance(item, str):  # Go leaves a null element empty
                raise ValueError(type_error(item, "string", path=f".{i}"))
        return value
    return [decode_bytes(item, "[]uint8", f".{i}") for i, item in enumerate(value)]


def strict_object(value: Any, decoders: dict[str, Callable[[Any], Any]]) -> dict[str, Any]:
    """containers/image's ``ParanoidUnmarshalJSONObject`` over a decoded JSON
    value: an object whose every key has a decoder, values decoded in the order
    written; ValueError with its texts (``JSON object expected, got …``,
    ``Unknown key "…"``)."""
    if not isinstance(value, dict):
        raise ValueError(f"JSON object expected, got {token_text(value)}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in decoders:
            raise ValueError(f'Unknown key "{key}"')
        out[key] = decoders[key](item)
    return out


def decode_bytes(value: Any, go_type: str = "[]uint8", path: str = "", struct_field: str = "") -> bytes | None:
    """A JSON value decoded into a Go ``[]byte`` (None for null): a base64 string,
    or an array of numbers 0…255.  ValueError carries Go's text (*path* and
    *struct_field* as for :func:`type_error`)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return decode_base64(value)
        except ValueError as e:
            # Upstream main's Go wraps the base64 error in the type error; the Go of
            # Debian's 1.9.3 printed it bare ("illegal base64 data at input byte N").
            where = f"Go struct field {struct_field}" if struct_field else (path or "Go value")
            raise ValueError(f"json: cannot unmarshal string into {where} of type {go_type}: {e}") from None
    if not isinstance(value, list):
        raise ValueError(type_error(value, go_type, struct_field, path=path))
    out = bytearray()
    for i, item in enumerate(value):
        where = f"{path}.{i}"
        if item is None:  # Go leaves the element zero
            out.append(0)
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            raise ValueError(type_error(item, "uint8", path=where))
        elif item != int(item) or not 0 <= item <= 255:
            raise ValueError(type_error(item, "uint8", path=where, number=True))
        else:
            out.append(int(item))
    return bytes(out)


def quote(data: bytes) -> str:
    """Go's ``%q`` of a byte string (``strconv.Quote``): printable characters as they
    are, Go's escapes for the rest, ``\\xNN`` for each byte that is not UTF-8."""
    out = ['"']
    pos = 0
    while pos < len(data):
        try:
            text = data[pos:].decode("utf-8")
            bad = -1
        except UnicodeDecodeError as e:
            text = data[pos : pos + e.start].decode("utf-8")
            bad = data[pos + e.start]
        for ch in text:
            c = ord(ch)
            if ch in ('"', "\\"):
                out.append("\\" + ch)
            elif ch.isprintable():
                out.append(ch)
            elif c in _GO_CONTROL_ESCAPES:
                out.append(_GO_CONTROL_ESCAPES[c])
            elif c < 0x20 or c == 0x7F:
                out.append(f"\\x{c:02x}")
            elif c < 0x10000:
                out.append(f"\\u{c:04x}")
            else:
                out.append(f"\\U{c:08x}")
        pos += len(text.encode("utf-8"))
        if bad >= 0:
            out.append(f"\\x{bad:02x}")
            pos += 1
    out.append('"')
    return "".join(out)


def time_text(ns: int) -> str:
    """A ``time.Time`` of *ns* nanoseconds since the epoch as ``encoding/json``
    writes it (RFC 3339, nanoseconds without trailing zeros), in the local time
    zone, as Go's ``time.Unix`` and ``FileInfo.ModTime`` give it: ``Z`` for a
    zero offset, else ``+hh:mm``."""
    from datetime import datetime

    seconds, nanos = divmod(ns, 1_000_000_000)
    local = datetime.fromtimestamp(seconds).astimezone()
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{nanos:09d}".rstrip("0")
    offset = local.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    zone = "Z" if minutes == 0 else f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{stamp}{'.' + frac if frac else ''}{zone}"
