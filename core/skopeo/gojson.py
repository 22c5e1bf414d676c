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


def marshal(value: Any, escape_html: bool = True) -> bytes:
    """Compact form (Go ``json.Marshal``); dict insertion order is the field order.
    ``escape_html=False`` is an Encoder with SetEscapeHTML(false) (U+2028 and
    U+2029 are still escaped)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not escape_html:
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
    return _go_escape(text).encode()


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

def type_error(value: Any, go_type: str, struct_field: str = "") -> str:
    """Go's ``UnmarshalTypeError`` text for a decoded JSON *value* that cannot go
    into *go_type*; *struct_field* (``"Index.manifests"``) names the field it was for."""
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
    where = f"Go struct field {struct_field}" if struct_field else "Go value"
    return f"json: cannot unmarshal {kind} into {where} of type {go_type}"


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
