"""Go's ``strconv`` as flags and references parse numbers and booleans, with
Go's error texts (``strconv.ParseInt: parsing "x": invalid syntax``)."""

from __future__ import annotations

import re

_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})
_ATOI_RE = re.compile(r"^[+-]?[0-9]+$")
_GO_OCTAL_RE = re.compile(r"[+-]?0[0-7]+")
_MAX_INT64 = 2**63 - 1


class NumError(ValueError):
    """Go's ``*strconv.NumError`` text."""

    def __init__(self, func: str, value: str, reason: str = "invalid syntax") -> None:
        super().__init__(f'strconv.{func}: parsing "{value}": {reason}')


def parse_bool(value: str) -> bool:
    """``strconv.ParseBool``."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise NumError("ParseBool", value)


def parse_int(value: str, unsigned: bool = False) -> int:
    """``strconv.ParseInt``/``ParseUint`` with base 0 (``0x1f``, ``0o17``,
    ``017``, ``1_000``)."""
    func = "ParseUint" if unsigned else "ParseInt"
    try:
        if not value.isascii() or value != value.strip():  # Python's int() is more lenient than Go
            raise ValueError(value)
        number = int(value, 8) if _GO_OCTAL_RE.fullmatch(value) else int(value, 0)
        if unsigned and (number < 0 or value.startswith(("+", "-"))):
            raise ValueError(value)
    except ValueError:
        raise NumError(func, value) from None
    return number


def atoi(value: str) -> int:
    """``strconv.Atoi``: decimal, within int64."""
    if not _ATOI_RE.match(value):
        raise NumError("Atoi", value)
    number = int(value)
    if abs(number) > _MAX_INT64:
        raise NumError("Atoi", value, "value out of range")
    return number
