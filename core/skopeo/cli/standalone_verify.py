"""``skopeo standalone-verify`` (see :mod:`skopeo.cli.standalone`)."""

from .standalone import VERIFY as COMMAND

__all__ = ["COMMAND"]
