"""``WWW-Authenticate`` parsing, following the tokenizer upstream uses (one
challenge per header line, lower-cased scheme and parameter names)."""

from __future__ import annotations

from collections.abc import Iterable

_SEPARATORS = set(' \t"(),/:;<=>?@[]\\{}')
_SPACE = set(" \t\r\n")

Challenge = tuple[str, dict[str, str]]


def _is_token(ch: str) -> bool:
    o = ord(ch)
    return o < 128 and o > 31 and o != 127 and ch not in _SEPARATORS


def _skip_space(s: str) -> str:
    i = 0
    while i < len(s) and s[i] in _SPACE:
        i += 1
    return s[i:]


def _token(s: str) -> tuple[str, str]:
    i = 0
    while i < len(s) and _is_token(s[i]):
        i += 1
    return s[:i], s[i:]


def _token_or_quoted(s: str) -> tuple[str, str]:
    if not s.startswith('"'):
        return _token(s)
    out: list[str] = []
    i = 1
    while i < len(s):
        ch = s[i]
        if ch == '"':
            return "".join(out), s[i + 1:]
        if ch == "\\":
            i += 1
            if i >= len(s):
                break
            ch = s[i]
        out.append(ch)
        i += 1
    return "", ""


def parse_one(header: str) -> Challenge | None:
    scheme, rest = _token(header)
    if not scheme:
        return None
    params: dict[str, str] = {}
    rest = "," + _skip_space(rest)
    while rest.startswith(","):
        key, rest = _token(_skip_space(rest[1:]))
        if not key or not rest.startswith("="):
            break
        value, rest = _token_or_quoted(rest[1:])
        if not value:
            break
        params[key.lower()] = value
        rest = _skip_space(rest)
    return scheme.lower(), params


def parse(headers: Iterable[str]) -> list[Challenge]:
    out: list[Challenge] = []
    for h in headers:
        c = parse_one(h)
        if c is not None:
            out.append(c)
    return out
