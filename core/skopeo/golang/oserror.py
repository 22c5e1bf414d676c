"""Go's texts for operating-system errors: users' scripts grep for them."""

from __future__ import annotations


def os_error_text(err: OSError) -> str:
    """The reason of *err* as Go prints an errno: ``no such file or directory``."""
    return err.strerror.lower() if err.strerror else str(err)


def path_error_text(op: str, path: str, err: OSError) -> str:
    """Go's ``*os.PathError`` text, ``open PATH: no such file or directory``."""
    return f"{op} {path}: {os_error_text(err)}"
