"""Diagnostics on stderr in logrus' format (:mod:`skopeo.golang.logrus`), as
the reference tool writes them."""

from __future__ import annotations

import sys
import threading

from .golang.logrus import DEBUG as DEBUG
from .golang.logrus import ERROR as ERROR
from .golang.logrus import FATAL as FATAL
from .golang.logrus import INFO as INFO
from .golang.logrus import WARNING as WARNING
from .golang.logrus import format_line

level = INFO
_lock = threading.Lock()


def emit(lvl: int, msg: str, **fields: str) -> None:
    if lvl < level:
        return
    stream = sys.stderr
    line = format_line(lvl, msg, fields, tty=stream.isatty())
    with _lock:
        stream.write(line + "\n")
        stream.flush()


def debug(msg: str, **fields: str) -> None:
    if level <= DEBUG:
        emit(DEBUG, msg, **fields)


def info(msg: str, **fields: str) -> None:
    emit(INFO, msg, **fields)


def warning(msg: str, **fields: str) -> None:
    emit(WARNING, msg, **fields)


def error(msg: str, **fields: str) -> None:
    emit(ERROR, msg, **fields)


def fatal(msg: str) -> None:
    emit(FATAL, msg)
