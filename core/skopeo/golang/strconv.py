"""Go's ``strconv`` as flags and references parse numbers and booleans, with
Go's error texts (``strconv.ParseInt: parsing "x": invalid syntax``)."""

from __future__ import annotations

import re

_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})
_ATOI_RE = re.compile(r"[+-]?[0-9]+")
# Base 0's octal: a leading 0 and octal digits (underscores between them).
_GO_OCTAL_RE = re.compile(r"[+-]?0_?[0-7]+(?:_[0-7]+)*")
_INT_LIMIT = 1 << 63  # int64 and uint64 bounds


class NumError(ValueError):
    """Go's ``*strconv.NumError`` text: the value quoted as ``strconv.Quote`` does."""

    def __init__(self, func: str, value: str, reason: str = "invalid syntax") -> None:
        from .gojson import quote

        super().__init__(f"strconv.{func}: parsing {quote(value.encode('utf-8', 'surrogateescape'))}: {reason}")


def parse_bool(value: str) -> bool:
    """``strconv.ParseBool``."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise NumError("ParseBool", value)


def parse_int(value: str, unsigned: bool = False) -> int:
    """``strconv.ParseInt``/``ParseUint`` with base 0 (``0x1f``, ``0o17``,
    ``017``, ``1_000``) on 64 bits."""
    func = "ParseUint" if unsigned else "ParseInt"
    try:
        if not value.isascii() or value != value.strip():  # Python's int() is more lenient than Go
            raise ValueError(value)
        if unsigned and value[:1] in ("+", "-"):
            raise ValueError(value)
        number = int(value.replace("_", ""), 8) if _GO_OCTAL_RE.fullmatch(value) else int(value, 0)
    except ValueError:
        raise NumError(func, value) from None
    if (not unsigned and not -_INT_LIMIT <= number < _INT_LIMIT) or (unsigned and number >= 2 * _INT_LIMIT):
        raise NumError(func, value, "value out of range")
    return number


def atoi(value: str) -> int:
    """``strconv.Atoi``: decimal, within int64."""
    if not _ATOI_RE.fullmatch(value):
        raise NumError("Atoi", value)
    number = int(value)
    if not -_INT_LIMIT <= number < _INT_LIMIT:
        raise NumError("Atoi", value, "value out of range")
    return number
