"""Go's ``archive/tar`` error texts for what stops Python's ``tarfile``."""

from __future__ import annotations


def tar_error_text(err: Exception) -> str:
    """A cut-off archive is ``unexpected EOF``, anything else an invalid header."""
    text = str(err)
    if "truncated" in text or "end of data" in text or "unexpected end" in text:
        return "unexpected EOF"
    return "archive/tar: invalid tar header"
