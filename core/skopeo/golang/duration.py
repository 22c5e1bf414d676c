"""Go's ``time.Duration``: ``time.ParseDuration`` and ``Duration.String()``."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class DurationError(ValueError):
    """Go's error text for a duration it cannot parse (``time: …``)."""


def parse_duration(text: str) -> float:
    """Go ``time.ParseDuration`` → seconds: a number and a unit, repeated."""

    def fail(reason: str) -> DurationError:
        return DurationError(f'time: {reason} "{text}"')

    if text == "0":
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in "+-" else text
    if not body:
        raise fail("invalid duration")
    pos, total = 0, 0.0
    while pos < len(body):
        part = _DURATION_PART.match(body, pos)
        assert part is not None  # every group may be empty
        whole, fraction, unit = part.group(1), part.group(2), part.group(3)
        if not whole and not fraction:
            raise fail("invalid duration")
        if not unit:
            raise fail("missing unit in duration")
        if unit not in _UNITS:
            raise DurationError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(f"{whole or 0}.{fraction or 0}") * _UNITS[unit]
        pos = part.end()
    return sign * total


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
