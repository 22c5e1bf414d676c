"""Go's ``time.Duration``: ``time.ParseDuration`` and ``Duration.String()``."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
# Nanoseconds per unit.
_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}


class DurationError(ValueError):
    """Go's error text for a duration it cannot parse (``time: …``)."""


def _time_quote(text: str) -> str:
    """The time package's own quoting: bytes outside printable ASCII as \\xNN."""
    out = []
    for ch in text:
        if " " <= ch < "\x80":  # Go: below utf8.RuneSelf, DEL included
            out.append("\\" + ch if ch in '"\\' else ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))
    return '"' + "".join(out) + '"'


def parse_duration(text: str) -> float:
    """Go ``time.ParseDuration`` → seconds: numbers with units, repeated, on
    int64 nanoseconds."""
    invalid = DurationError(f"time: invalid duration {_time_quote(text)}")
    body = text[1:] if text[:1] in ("-", "+") else text
    sign = -1 if text.startswith("-") else 1
    if body == "0":
        return 0.0
    if not body:
        raise invalid
    pos, total = 0, 0
    while pos < len(body):
        part = _DURATION_PART.match(body, pos)
        assert part is not None  # every group may be empty
        whole, fraction, unit = part.group(1), part.group(2) or "", part.group(3)
        if not whole and not fraction:
            raise invalid
        if not unit:
            raise DurationError(f"time: missing unit in duration {_time_quote(text)}")
        if unit not in _UNITS:
            raise DurationError(f"time: unknown unit {_time_quote(unit)} in duration {_time_quote(text)}")
        nanos = int(whole or 0) * _UNITS[unit] + int(int(fraction or 0) * _UNITS[unit] / 10 ** len(fraction))
        total += nanos
        if total > 1 << 63 or (total == 1 << 63 and sign > 0):
            raise invalid
        pos = part.end()
    return sign * total / 1e9


def format_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()`` for the values we print."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text
