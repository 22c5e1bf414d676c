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
