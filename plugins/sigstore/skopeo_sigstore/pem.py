"""PEM blocks found as Go's ``encoding/pem.Decode`` finds them.

Hand-written because upstream's decisions depend on Go's exact rules: a
``BEGIN`` line is searched for anywhere (at the start or after a newline), a
malformed block is skipped and the search goes on, headers (``Key: value``
lines) are read, only spaces and tabs are removed from the body before Go's
base64 decoding (which skips CR/LF itself), and the bytes after the block are
returned, so callers can tell "trailing data" or read the next block."""

from __future__ import annotations

from typing import NamedTuple

from skopeo.golang import gojson

_START = b"\n-----BEGIN "
_END = b"\n-----END "
_DASHES = b"-----"


class Block(NamedTuple):
    type: str
    headers: dict[str, str]
    bytes: bytes


def _line(data: bytes) -> tuple[bytes, bytes]:
    """(first line without its line ending and trailing blanks, the rest)."""
    i = data.find(b"\n")
    if i < 0:
        return data.rstrip(b" \t"), b""
    end = i - 1 if i > 0 and data[i - 1 : i] == b"\r" else i
    return data[:end].rstrip(b" \t"), data[i + 1 :]


def decode(data: bytes) -> tuple[Block | None, bytes]:
    """The first PEM block of *data* and what follows it; (None, data) if none."""
    rest = data
    while True:
        if rest.startswith(_START[1:]):
            rest = rest[len(_START) - 1 :]
        else:
            i = rest.find(_START)
            if i < 0:
                return None, data
            rest = rest[i + len(_START) :]
        type_line, rest = _line(rest)
        if not type_line.endswith(_DASHES):
            continue
        type_line = type_line[: -len(_DASHES)]
        headers: dict[str, str] = {}
        while True:
            if not rest:
                return None, data
            line, following = _line(rest)
            key, colon, value = line.partition(b":")
            if not colon:
                break
            headers[key.strip().decode("latin-1")] = value.strip().decode("latin-1")
            rest = following
        if not headers and rest.startswith(_END[1:]):
            end, trailer_start = 0, len(_END) - 1
        else:
            end = rest.find(_END)
            trailer_start = end + len(_END)
        if end < 0:
            continue
        trailer = rest[trailer_start:]
        trailer_len = len(type_line) + len(_DASHES)
        if len(trailer) < trailer_len:
            continue
        rest_of_end_line, trailer = trailer[trailer_len:], trailer[:trailer_len]
        if not trailer.startswith(type_line) or not trailer.endswith(_DASHES):
            continue
        if _line(rest_of_end_line)[0]:
            continue
        try:
            der = gojson.decode_base64(rest[:end].replace(b" ", b"").replace(b"\t", b""))
        except ValueError:
            continue
        return Block(type_line.decode("latin-1"), headers, der), _line(rest[end + len(_END) - 1 :])[1]


def encode(kind: str, der: bytes) -> bytes:
    """Go's ``pem.EncodeToMemory`` of a block without headers."""
    import base64

    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("".join(f"{line}\n" for line in [f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"])).encode()
