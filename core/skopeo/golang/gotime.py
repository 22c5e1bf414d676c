"""Go's ``time.Time`` as skopeo prints it: ``MarshalJSON`` (RFC 3339 with
nanoseconds) and ``String()`` (templates)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from ..errors import ManifestError

# The zero time.Time, as encoding/json writes it.
ZERO_TIME_JSON = "0001-01-01T00:00:00Z"

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


def go_time_json(value: str) -> str:
    """RFC 3339 with nanoseconds as Go's ``time.Time.MarshalJSON`` writes it."""
    m = _TIME_RE.match(value)
    if not m:
        raise ManifestError(f"parsing time {json.dumps(value)} as RFC3339")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    frac = (frac or "")[:9].rstrip("0")
    zone = "Z" if zone in ("Z", "z", "+00:00", "-00:00") else zone
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}{'.' + frac if frac else ''}{zone}"


def go_time_string(value: str) -> str:
    """``time.Time.String()``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    m = _TIME_RE.match(go_time_json(value))
    assert m is not None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    if zone == "Z":
        tz = "+0000 UTC"
    else:
        off = zone.replace(":", "")
        tz = f"{off} {off}"
    return f"{y}-{mo}-{d} {h}:{mi}:{s}{'.' + frac if frac else ''} {tz}"


class GoTime:
    """A timestamp that prints like Go's ``time.Time.String()`` (templates) and
    marshals as RFC 3339 (JSON)."""

    def __init__(self, rfc3339: str) -> None:
        self.json = go_time_json(rfc3339)

    def __str__(self) -> str:
        return go_time_string(self.json)


def unix_time_json(seconds: float | None) -> str:
    """``time.Unix(…).UTC()`` marshalled: RFC 3339 in UTC, nanoseconds kept;
    None is the zero time."""
    if seconds is None:
        return ZERO_TIME_JSON
    whole = int(seconds // 1)
    nanos = round((seconds - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    stamp = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{nanos:09d}".rstrip("0")
    return f"{stamp}{'.' + frac if frac else ''}Z"


def local_unix_time_json(ts: int) -> str:
    """``time.Unix(ts, 0)`` marshalled by encoding/json: RFC 3339 in local time."""
    text = datetime.fromtimestamp(ts).astimezone().isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --- time.Time in SQLite, as github.com/mattn/go-sqlite3 stores and reads it -----------------------
_SQLITE_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?([+-]\d{2}:\d{2})?)?)?$"
)


def sqlite_time_text(ns: int) -> str:
    """A ``time.Time`` of *ns* nanoseconds since the epoch, in the local time
    zone, as go-sqlite3 binds it: ``2006-01-02 15:04:05.999999999-07:00``
    (trailing zeros of the fraction dropped)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    local = datetime.fromtimestamp(seconds).astimezone()
    frac = f"{nanos:09d}".rstrip("0")
    offset = local.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    return f"{local:%Y-%m-%d %H:%M:%S}{'.' + frac if frac else ''}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_sqlite_time(value: object) -> int:
    """Nanoseconds since the epoch of a TIMESTAMP column value as go-sqlite3
    reads it: text in one of its layouts (no offset: UTC; a trailing ``Z``
    ignored) or an integer (Unix seconds, or milliseconds when that large);
    0 (Go's zero time, oldest of all) for anything else."""
    if isinstance(value, int):
        return value * 1_000_000 if abs(value) > 10**12 else value * 1_000_000_000
    if not isinstance(value, str):
        return 0
    m = _SQLITE_TIME_RE.match(value.removesuffix("Z"))
    if not m:
        return 0
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        stamp = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=UTC)
    except ValueError:
        return 0
    seconds = int(stamp.timestamp())
    if zone:
        sign = -1 if zone[0] == "-" else 1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 1_000_000_000 + int((frac or "0")[:9].ljust(9, "0"))
