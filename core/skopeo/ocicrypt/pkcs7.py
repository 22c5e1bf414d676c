"""The ``pkcs7`` key wrapper: the layer's private options in a CMS
EnvelopedData for each recipient certificate, as ocicrypt writes it with
smallstep's pkcs7: the content encrypted with AES-128-GCM, the content key
with RSA PKCS#1 v1.5 (``rsaEncryption``).

Hand-written DER (on cryptography's RSA and AES) on purpose: cryptography's
PKCS7 decrypts only AES-CBC content, and Go's pkcs7 encodes the GCM
parameters in its own way (a GCMParameters SEQUENCE, whose nonce is tagged
[4], inside a primitive element tagged 16) that it also expects when decrypting; a general ASN.1
library would neither write nor read that.  Decryption also takes AES-CBC and
a properly encoded GCMParameters, as other CMS producers write them."""

from __future__ import annotations

import os
from typing import Any

from ..errors import SkopeoError
from .config import DecryptConfig, EncryptConfig, Parameters
from .keys import parse_certificate, parse_private_key

OID_DATA = "1.2.840.113549.1.7.1"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_RSA = "1.2.840.113549.1.1.1"
OID_RSA_OAEP = "1.2.840.113549.1.1.7"
OID_AES128_GCM = "2.16.840.1.101.3.4.1.6"
OID_AES256_GCM = "2.16.840.1.101.3.4.1.46"
OID_AES128_CBC = "2.16.840.1.101.3.4.1.2"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"

SEQUENCE, SET, INTEGER, OCTET_STRING, OID = 0x30, 0x31, 0x02, 0x04, 0x06


class DERError(SkopeoError):
    pass


# --- DER ------------------------------------------------------------------------
def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def der_int(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8 or 1, "big", signed=True)
    return tlv(INTEGER, raw)


def read(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """(tag, contents, position after) of the element at *pos*."""
    try:
        tag = data[pos]
        length = data[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4:
                raise DERError("asn1: structure error: length too large")
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
    except IndexError:
        raise DERError("asn1: syntax error: data truncated") from None
    if pos + length > len(data):
        raise DERError("asn1: syntax error: data truncated")
    return tag, data[pos:pos + length], pos + length


def items(content: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, contents, whole encoding) of each element in *content*."""
    out = []
    pos = 0
    while pos < len(content):
        tag, body, end = read(content, pos)
        out.append((tag, body, content[pos:end]))
        pos = end
    return out


def oid_text(body: bytes) -> str:
    if not body:
        raise DERError("asn1: syntax error: zero length OBJECT IDENTIFIER")
    parts = [body[0] // 40, body[0] % 40]
    value = 0
    for b in body[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


# --- EnvelopedData ---------------------------------------------------------------
def envelope(plaintext: bytes, certificates: list[Any]) -> bytes:
    """ContentInfo{envelopedData} for *certificates*, as smallstep's pkcs7.Encrypt
    with ContentEncryptionAlgorithm = AES128GCM."""
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = os.urandom(16)
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext, None)  # ciphertext || 16-byte tag, as Go's Seal
    # Go's aesGCMParameters: the nonce tagged [4] (implicit), then the ICV length.
    gcm_parameters = tlv(SEQUENCE, tlv(0x84, nonce) + der_int(16))
    algorithm = tlv(SEQUENCE, der_oid(OID_AES128_GCM) + tlv(0x10, gcm_parameters))
    encrypted_content_info = tlv(SEQUENCE, der_oid(OID_DATA) + algorithm
                                 + tlv(0xA0, tlv(OCTET_STRING, sealed)))
    recipients = b""
    for cert in certificates:
        public = cert.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise SkopeoError("pkcs7: only supports RSA keys")
        issuer_and_serial = tlv(SEQUENCE, _issuer_der(cert) + der_int(cert.serial_number))
        encrypted_key = public.encrypt(key, padding.PKCS1v15())
        recipients += tlv(SEQUENCE, der_int(0) + issuer_and_serial + tlv(SEQUENCE, der_oid(OID_RSA))
                          + tlv(OCTET_STRING, encrypted_key))
    enveloped = tlv(SEQUENCE, der_int(0) + tlv(SET, recipients) + encrypted_content_info)
    return tlv(SEQUENCE, der_oid(OID_ENVELOPED_DATA) + tlv(0xA0, enveloped))


def _issuer_der(cert: Any) -> bytes:
    """The certificate's issuer Name exactly as encoded in it (Go's RawIssuer)."""
    from cryptography.hazmat.primitives import serialization

    tbs = items(read(cert.public_bytes(serialization.Encoding.DER))[1])[0][1]
    fields = items(tbs)
    if fields and fields[0][0] == 0xA0:  # explicit version
        fields = fields[1:]
    return fields[2][2]  # serial, signature algorithm, issuer


def open_envelope(packet: bytes, cert: Any, private_key: Any) -> bytes:
    """The content of an EnvelopedData for *cert*'s recipient (pkcs7.Parse + Decrypt)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    tag, body, _ = read(packet)
    ci = items(body)
    if tag != SEQUENCE or len(ci) < 2 or ci[0][0] != OID:
        raise DERError("asn1: structure error: not a ContentInfo")
    if oid_text(ci[0][1]) != OID_ENVELOPED_DATA:
        raise SkopeoError("pkcs7: cannot decrypt data: only data of type EnvelopedData is supported")
    env = items(read(ci[1][1])[1])
    if len(env) < 3:
        raise DERError("asn1: structure error: not an EnvelopedData")
    recipients = items(env[1][1])
    want_issuer, want_serial = _issuer_der(cert), cert.serial_number
    encrypted_key = None
    key_algorithm = ""
    for _, recipient, _ in recipients:
        fields = items(recipient)
        ias = items(fields[1][1])
        serial = int.from_bytes(ias[1][1], "big", signed=True)
        if ias[0][2] == want_issuer and serial == want_serial:
            key_algorithm = oid_text(items(fields[2][1])[0][1])
            encrypted_key = fields[3][1]
            break
    if encrypted_key is None:
        raise SkopeoError("pkcs7: no enveloped recipient for provided certificate")
    if key_algorithm == OID_RSA_OAEP:
        key = private_key.decrypt(encrypted_key, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    else:
        key = private_key.decrypt(encrypted_key, padding.PKCS1v15())
    eci = items(env[2][1])
    algorithm = items(eci[1][1])
    alg_oid = oid_text(algorithm[0][1])
    content = eci[2][1] if len(eci) > 2 else b""
    if eci[2][0] == 0xA0:  # constructed [0] holding OCTET STRING(s)
        content = b"".join(part[1] for part in items(content))
    return _decrypt_content(alg_oid, algorithm[1] if len(algorithm) > 1 else None, key, content)


def _decrypt_content(alg_oid: str, params: tuple[int, bytes, bytes] | None, key: bytes, content: bytes) -> bytes:
    from cryptography.hazmat.primitives import padding as sympadding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if params is None:
        raise DERError("asn1: structure error: missing algorithm parameters")
    if alg_oid in (OID_AES128_GCM, OID_AES256_GCM):
        seq = params[1] if params[0] == 0x10 else params[2]  # Go's quirk, or a proper SEQUENCE
        fields = items(read(seq)[1])
        nonce = fields[0][1]
        return AESGCM(key).decrypt(nonce, content, None)
    if alg_oid in (OID_AES128_CBC, OID_AES256_CBC):
        iv = params[1]
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(content) + decryptor.finalize()
        unpadder = sympadding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    raise SkopeoError("pkcs7: cannot decrypt data: only DES, DES-EDE3, AES-256-CBC, AES-128-GCM, AES-128-CBC and "
                      "AES-256-GCM supported")


class PKCS7KeyWrapper:
    annotation_id = "org.opencontainers.image.enc.keys.pkcs7"

    def wrap_keys(self, ec: EncryptConfig, opts: bytes) -> bytes | None:
        certs = [parse_certificate(data, "PKCS7") for data in ec.parameters.get("x509s", [])]
        if not certs:
            return None
        return envelope(opts, certs)

    def unwrap_key(self, dc: DecryptConfig, packet: bytes) -> bytes:
        private_keys = self.private_keys(dc.parameters)
        if not private_keys:
            raise SkopeoError("no private keys found for PKCS7 decryption")
        passwords = dc.parameters.get("privkeys-passwords", [])
        if len(passwords) != len(private_keys):
            raise SkopeoError("private key password array length must be same as that of private keys")
        certs = [parse_certificate(data, "PKCS7") for data in dc.parameters.get("x509s", [])]
        if not certs:
            raise SkopeoError("no x509 certificates found needed for PKCS7 decryption")
        try:
            read(packet)
        except DERError as e:
            raise SkopeoError(f"could not parse PKCS7 packet: {e.message}") from None
        for data, password in zip(private_keys, passwords, strict=True):
            key = parse_private_key(data, password or None, "PKCS7")
            for cert in certs:
                try:
                    return open_envelope(packet, cert, key)
                except Exception:  # any failure: try the next certificate, as upstream
                    continue
        raise SkopeoError("PKCS7: No suitable private key found for decryption")

    def no_possible_keys(self, params: Parameters) -> bool:
        return not self.private_keys(params)

    def private_keys(self, params: Parameters) -> list[bytes]:
        return params.get("privkeys", [])
