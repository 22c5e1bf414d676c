"""Regular expressions written for Go's ``regexp`` package (RE2 syntax), as
``sync``'s ``images-by-tag-regex`` takes them, compiled with Python's ``re``.

Python's engine accepts what RE2 accepts for tag patterns (classes, groups,
repetition, anchors); what RE2 refuses is refused here with RE2's words
(``error parsing regexp: missing closing ]: `[```) for the common mistakes.
Perl-only constructs RE2 lacks (look-around, back-references) are refused as
RE2 does.  Hand-written: no library reproduces RE2's error texts."""

from __future__ import annotations

import re

from ..errors import SkopeoError

_UNSUPPORTED_PERL = re.compile(r"\(\?(?:[=!]|<[=!])|\\[1-9]")


def compile_go(pattern: str) -> re.Pattern[str]:
    """*pattern* compiled; SkopeoError with RE2's text when RE2 would refuse it."""
    m = _UNSUPPORTED_PERL.search(pattern)
    if m:
        what = m.group(0)
        if what.startswith("\\"):
            raise _error("invalid escape sequence", what)
        raise _error("invalid or unsupported Perl syntax", what)
    try:
        return re.compile(pattern)
    except re.error as e:
        raise _translate(e, pattern) from None


def _error(code: str, expr: str) -> SkopeoError:
    return SkopeoError(f"error parsing regexp: {code}: `{expr}`")


def _translate(e: re.error, pattern: str) -> SkopeoError:
    msg, pos = e.msg, e.pos or 0
    if msg.startswith("unterminated character set"):
        return _error("missing closing ]", pattern[pos:])
    if msg.startswith("missing ), unterminated subpattern"):
        return _error("missing closing )", pattern)
    if msg.startswith("unbalanced parenthesis"):
        return _error("unexpected )", pattern)
    if msg.startswith("nothing to repeat"):
        return _error("missing argument to repetition operator", pattern[pos : pos + 1])
    if msg.startswith("multiple repeat"):
        return _error("invalid nested repetition operator", pattern[pos - 1 : pos + 1])
    if msg.startswith("bad escape"):
        return _error("invalid escape sequence", pattern[pos : pos + 2])
    if msg.startswith("bad character range"):
        return _error("invalid character class range", msg.split("range ", 1)[-1].split(" ", 1)[0])
    return SkopeoError(f"error parsing regexp: {msg}: `{pattern}`")
