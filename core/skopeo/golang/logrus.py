"""logrus' text formatter, as the reference tool's diagnostics look:
``time="…" level=warning msg="…"`` when stderr is not a terminal,
``WARN[0000] …`` when it is."""

from __future__ import annotations

import time

DEBUG, INFO, WARNING, ERROR, FATAL = 10, 20, 30, 40, 50
_NAMES = {DEBUG: "debug", INFO: "info", WARNING: "warning", ERROR: "error", FATAL: "fatal"}
_SHORT = {DEBUG: "DEBU", INFO: "INFO", WARNING: "WARN", ERROR: "ERRO", FATAL: "FATA"}

# The TTY format counts seconds from the start of the process.
_start = time.monotonic()


def _quote(value: str) -> str:
    """logrus' needsQuoting: plain when it can be (an empty value too), else Go's %q."""
    if all(c.isascii() and (c.isalnum() or c in "-._/@^+") for c in value):
        return value
    from .gojson import quote

    return quote(value.encode("utf-8", "surrogateescape"))


def format_line(lvl: int, msg: str, fields: dict[str, str] | None = None, tty: bool = False) -> str:
    fields = fields or {}
    if tty:
        extra = "".join(f" {k}={_quote(str(v))}" for k, v in fields.items())
        secs = int(time.monotonic() - _start)
        return f"{_SHORT[lvl]}[{secs:04d}] {msg}{extra}"
    from datetime import datetime

    now = datetime.now().astimezone().replace(microsecond=0).isoformat()
    if now.endswith("+00:00"):
        now = now[:-6] + "Z"
    line = f'time="{now}" level={_NAMES[lvl]} msg={_quote(msg)}'
    line += "".join(f" {k}={_quote(str(v))}" for k, v in fields.items())
    return line
