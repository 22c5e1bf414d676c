"""``skopeo standalone-sign`` (see :mod:`skopeo.cli.standalone`)."""

from .standalone import SIGN as COMMAND

__all__ = ["COMMAND"]
