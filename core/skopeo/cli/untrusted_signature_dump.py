"""``skopeo untrusted-signature-dump-without-verification`` (see :mod:`skopeo.cli.standalone`)."""

from .standalone import DUMP as COMMAND

__all__ = ["COMMAND"]
