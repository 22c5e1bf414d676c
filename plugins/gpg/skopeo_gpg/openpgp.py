"""Just enough OpenPGP (RFC 4880) packet parsing to read a signed message's
payload and signer key ID *without verifying anything* — what
``untrusted-signature-dump-without-verification`` needs.  No cryptography here:
verification always goes through gpg."""

from __future__ import annotations

import bz2
import zlib
from dataclasses import dataclass

TAG_SIGNATURE = 2
TAG_ONE_PASS_SIGNATURE = 4
TAG_COMPRESSED = 8
TAG_MARKER = 10
TAG_LITERAL = 11
# Guards against decompression bombs: a signature payload is a few hundred bytes.
MAX_DECOMPRESSED = 4 * 1024 * 1024


class OpenPGPError(ValueError):
    pass


@dataclass(frozen=True)
class UntrustedMessage:
    contents: bytes
    # Uppercase 16-hex-digit key ID from the one-pass signature packet.
    short_key_id: str


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        hdr = data[pos]
        pos += 1
        if not hdr & 0x80:
            raise OpenPGPError("openpgp: invalid data: tag byte does not have MSB set")
        if hdr & 0x40:  # new format
            tag = hdr & 0x3F
            body = bytearray()
            while True:
                if pos >= len(data):
                    raise OpenPGPError("unexpected EOF")
                o1 = data[pos]
                if o1 < 192:
                    length, pos = o1, pos + 1
                elif o1 < 224:
                    if pos + 1 >= len(data):
                        raise OpenPGPError("unexpected EOF")
                    length, pos = ((o1 - 192) << 8) + data[pos + 1] + 192, pos + 2
                elif o1 == 255:
                    length, pos = int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
                else:  # partial body length: more chunks follow
                    length = 1 << (o1 & 0x1F)
                    body += data[pos + 1 : pos + 1 + length]
                    pos += 1 + length
                    continue
                body += data[pos : pos + length]
                pos += length
                break
            out.append((tag, bytes(body)))
        else:
            tag = (hdr >> 2) & 0x0F
            ltype = hdr & 3
            if ltype == 3:
                length = len(data) - pos
            else:
                n = (1, 2, 4)[ltype]
                length = int.from_bytes(data[pos : pos + n], "big")
                pos += n
            if pos + length > len(data):
                raise OpenPGPError("unexpected EOF")
            out.append((tag, data[pos : pos + length]))
            pos += length
    return out


def _decompress(body: bytes) -> bytes:
    if not body:
        raise OpenPGPError("unexpected EOF")
    algo, rest = body[0], body[1:]
    if algo == 0:
        return rest
    try:
        if algo in (1, 2):
            out = zlib.decompressobj(-15 if algo == 1 else 15).decompress(rest, MAX_DECOMPRESSED + 1)
        elif algo == 3:
            out = bz2.BZ2Decompressor().decompress(rest, MAX_DECOMPRESSED + 1)
        else:
            raise OpenPGPError(f"openpgp: unsupported feature: unknown compression algorithm: {algo}")
    except (zlib.error, OSError, EOFError) as e:
        raise OpenPGPError(f"openpgp: invalid data: {e}") from None
    if len(out) > MAX_DECOMPRESSED:
        raise OpenPGPError("compressed payload is too large")
    return out


def read_untrusted(message: bytes) -> UntrustedMessage:
    """The literal data and one-pass signer key ID of a signed message."""
    if not message:
        raise OpenPGPError("EOF")  # Go's packet reader: io.EOF before the first packet
    packets = _packets(message)
    key_id: str | None = None
    while packets:
        tag, body = packets.pop(0)
        if tag == TAG_COMPRESSED:
            packets = _packets(_decompress(body)) + packets
        elif tag == TAG_MARKER:
            continue
        elif tag == TAG_ONE_PASS_SIGNATURE:
            if len(body) < 13 or body[0] != 3:
                raise OpenPGPError("openpgp: invalid data: one-pass-signature packet")
            key_id = body[4:12].hex().upper()
        elif tag == TAG_LITERAL:
            if key_id is None:
                raise OpenPGPError("The input is not a signature")
            if len(body) < 6:
                raise OpenPGPError("unexpected EOF")
            name_len = body[1]
            return UntrustedMessage(body[2 + name_len + 4 :], key_id)
        elif tag == TAG_SIGNATURE:
            raise OpenPGPError("The input is not a signature")
        else:
            raise OpenPGPError(f"openpgp: invalid data: unexpected packet tag {tag}")
    raise OpenPGPError("unexpected EOF")
