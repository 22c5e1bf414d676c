"""``skopeo experimental-image-proxy``: the JSON-over-socketpair protocol of
containers-image-proxy-rs (upstream's ``pkg/json-proxy``, protocol 0.2.8).

:mod:`.protocol` is the wire format, :mod:`.images` opens images as the proxy
does, :mod:`.handler` holds the methods and their state, :mod:`.server` the
socket loop."""

from .protocol import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION"]
