"""Rekor signed entry timestamps (SETs), verified offline as containers/image's
``VerifyRekorSET`` does it: the SET annotation (``dev.sigstore.cosign/bundle``)
is ``{"SignedEntryTimestamp": base64 ECDSA signature, "Payload": {"body",
"integratedTime", "logIndex", "logID"}}``; the signature covers the SHA-256 of
the RFC 8785 canonical JSON of Payload; body is a base64 ``hashedrekord``
v0.0.1 entry whose public key (or certificate), signature and payload hash must
be the ones of the sigstore signature.  The integrated time is returned.

JSON is decoded with Go's rules where upstream's texts depend on them: strict
objects (unknown, duplicate and missing keys) for the SET and its payload,
encoding/json's lenient, case-insensitive matching for the hashedrekord body.
Canonicalization is the rfc8785 package; cyberphone's canonicalizer, which
upstream uses, also refuses duplicate keys, checked here first.

One deliberate difference: for an unsupported hashedrekord version upstream
prints a Go pointer (``(*string)(0xc…)``); we print the version."""

from __future__ import annotations

import datetime
import functools
import hashlib
from typing import Any

from skopeo.golang import gojson
from skopeo.signature import InvalidSignatureError

from . import pem

HASHEDREKORD_VERSION = "0.0.1"
_KIND_STRUCT = 'struct { Kind string "json:\\"kind\\"" }'  # the Go type upstream decodes "kind" into


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers its first duplicate key."""

    duplicate: str | None = None


def _object_hook(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        if key in obj and obj.duplicate is None:
            obj.duplicate = key
        obj[key] = value
    return obj


def _fail(message: str) -> InvalidSignatureError:
    return InvalidSignatureError(message)


def _strict_object(data: bytes, fields: dict[str, str]) -> dict[str, Any]:
    """``json.Unmarshal`` into a type whose UnmarshalJSON is
    ParanoidUnmarshalJSONObjectExactFields: exactly *fields* (name → Go type)."""
    try:  # Unmarshal checks the syntax of the whole input first
        value = gojson.loads(data, object_pairs_hook=_object_hook)
        out = gojson.strict_object(value, {k: functools.partial(_typed, go_type=t) for k, t in fields.items()})
    except ValueError as e:
        raise _fail(str(e)) from None
    if isinstance(value, _Object) and value.duplicate is not None:
        raise _fail(f'Duplicate key "{value.duplicate}"')
    for key in fields:
        if key not in value:
            raise _fail(f'Key "{key}" missing in a JSON object')
    return out


def _typed(value: Any, go_type: str) -> Any:
    """*value* decoded into *go_type*; "raw" keeps it as it is (json.RawMessage)."""
    if go_type == "raw":
        return value
    decoded = gojson.decode_as(value, go_type)
    return decoded if decoded is not None else {"int64": 0, "string": "", "[]uint8": b""}[go_type]


def _duplicate_in(value: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value, _Object) and value.duplicate is not None:
            return value.duplicate
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return None
    return next((d for d in map(_duplicate_in, items) if d is not None), None)


def _canonical(payload: Any) -> bytes:
    import rfc8785

    duplicate = _duplicate_in(payload)
    if duplicate is not None:
        raise _fail(f"canonicalizing Rekor SET JSON: Duplicate key: {duplicate}")

    def as_float64(v: Any) -> Any:  # the canonicalizer reads every number as a float64
        if isinstance(v, dict):
            return {k: as_float64(x) for k, x in v.items()}
        if isinstance(v, list):
            return [as_float64(x) for x in v]
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53:
            return float(v)
        return v

    return bytes(rfc8785.dumps(as_float64(payload)))


def _lenient_field(obj: dict[str, Any], name: str) -> Any:
    """encoding/json's field matching: exact or case-insensitive, the last one wins."""
    found = None
    for key, value in obj.items():
        if key == name or key.lower() == name.lower():
            found = value
    return found


# The Go structs upstream decodes a hashedrekord spec into: JSON name → (Go type
# named in type errors, nested struct or "string" / "bytes").
_SPEC_STRUCT = "RekorHashedrekordV001Schema"
_SPEC_FIELDS: dict[str, tuple[str, Any]] = {
    "data": ("internal.RekorHashedrekordV001SchemaData", {
        "hash": ("internal.RekorHashedrekordV001SchemaDataHash", {
            "algorithm": ("string", "string"), "value": ("string", "string")})}),
    "signature": ("internal.RekorHashedrekordV001SchemaSignature", {
        "content": ("[]uint8", "bytes"),
        "publicKey": ("internal.RekorHashedrekordV001SchemaSignaturePublicKey", {"content": ("[]uint8", "bytes")})}),
}


def _decode_struct(value: dict[str, Any], fields: dict[str, tuple[str, Any]], path: str, errors: list[str]) -> dict[str, Any]:
    """encoding/json into nested structs: matching keys in document order, type
    errors collected (Go reports the first) while the rest is still decoded."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = next((f for f in fields if f == key), None) or next((f for f in fields if f.lower() == key.lower()), None)
        if name is None:
            continue
        go_type, kind = fields[name]
        where = f"{_SPEC_STRUCT}.{path}{name}"
        if item is None:
            out[name] = None
        elif isinstance(kind, dict):
            if isinstance(item, dict):
                out[name] = _decode_struct(item, kind, f"{path}{name}.", errors)
            else:
                errors.append(gojson.type_error(item, go_type, where))
        elif kind == "string":
            if isinstance(item, str):
                out[name] = item
            else:
                errors.append(gojson.type_error(item, go_type, where))
        else:
            try:
                out[name] = gojson.decode_bytes(item, struct_field=where)
            except ValueError as e:
                errors.append(str(e))
    return out


def _field(value: Any, *path: str) -> Any:
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _decode_json(data: bytes, what: str) -> Any:
    try:
        return gojson.loads(data)
    except ValueError as e:
        raise _fail(f"{what}: {e}") from None


def _check_type(value: Any, expected: type, go_field: str, go_type: str, what: str) -> None:
    if value is not None and not isinstance(value, expected):
        raise _fail(f"{what}: {gojson.type_error(value, go_type, go_field)}")


def _hashedrekord(body: bytes) -> dict[str, Any]:
    """The hashedrekord v0.0.1 spec of a Rekor entry body (as a plain JSON value)."""
    what = "decoding the body of a Rekor SET payload"
    entry = _decode_json(body, what)
    if entry is None:  # Go hands null to UnmarshalJSON, which finds no kind
        entry = {}
    if not isinstance(entry, dict):
        raise _fail(f"{what}: {gojson.type_error(entry, _KIND_STRUCT)}")
    kind = _lenient_field(entry, "kind")
    _check_type(kind, str, ".kind", "string", what)
    if (kind or "") != "hashedrekord":
        raise _fail(f"{what}: invalid kind value: {gojson.quote((kind or '').encode())}")
    version = _lenient_field(entry, "apiVersion")
    _check_type(version, str, ".apiVersion", "string", what)
    if version is None:
        raise _fail("missing Rekor SET Payload API version")
    if version != HASHEDREKORD_VERSION:
        raise _fail(f"unsupported Rekor SET Payload hashedrekord version {gojson.quote(version.encode())}")
    has_spec = any(k.lower() == "spec" for k in entry)
    if not has_spec:
        raise _fail("decoding hashedrekod spec: unexpected end of JSON input")
    spec = _lenient_field(entry, "spec")
    if spec is not None and not isinstance(spec, dict):
        raise _fail("decoding hashedrekod spec: " + gojson.type_error(spec, f"internal.{_SPEC_STRUCT}"))
    errors: list[str] = []
    decoded = _decode_struct(spec or {}, _SPEC_FIELDS, "", errors)
    if errors:
        raise _fail(f"decoding hashedrekod spec: {errors[0]}")
    return decoded


def _pem_payload(data: bytes, what: str) -> bytes:
    block, rest = pem.decode(data)
    if block is None:
        raise _fail(f"{what} is not in PEM format")
    if rest:
        raise _fail(f"{what} has trailing data")
    return block.bytes


def verify_set(rekor_keys: list[Any], set_json: bytes, key_or_cert_pem: bytes, b64_signature: str,
               payload: bytes) -> datetime.datetime:
    """The integrated time of a Rekor SET that proves the log has this signature
    (raises InvalidSignatureError with upstream's texts)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    fields = _strict_object(set_json, {"SignedEntryTimestamp": "[]uint8", "Payload": "raw"})
    canonical = _canonical(fields["Payload"])
    digest = hashlib.sha256(canonical).digest()
    for key in rekor_keys:
        try:
            key.verify(fields["SignedEntryTimestamp"], digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
            break
        except InvalidSignature:
            continue
    else:
        raise _fail("cryptographic signature verification of Rekor SET failed")

    try:
        entry = _strict_object(canonical, {"body": "[]uint8", "integratedTime": "int64", "logIndex": "int64",
                                           "logID": "string"})
    except InvalidSignatureError as e:
        raise _fail(f"parsing Rekor SET payload: {e.message}") from None
    spec = _hashedrekord(entry["body"])

    if _field(spec, "signature") is None:
        raise _fail('Missing "signature" field in hashedrekord')
    if _field(spec, "signature", "publicKey") is None:
        raise _fail('Missing "signature.publicKey" field in hashedrekord')
    logged_key = _pem_payload(_field(spec, "signature", "publicKey", "content") or b"", "publicKey in Rekor SET")
    ours = _pem_payload(key_or_cert_pem, "public key or cert to be matched against publicKey in Rekor SET")
    if logged_key != ours:
        raise _fail("publicKey in Rekor SET does not match")
    try:
        signature = gojson.decode_base64(b64_signature)
    except ValueError as e:
        raise _fail(f"decoding signature base64: {e}") from None
    logged_signature = _field(spec, "signature", "content") or b""
    if logged_signature != signature:
        raise _fail(f"signature in Rekor SET does not match: {gojson.quote(logged_signature)} vs. {gojson.quote(signature)}")

    if _field(spec, "data") is None:
        raise _fail('Missing "data" field in hashedrekord')
    if _field(spec, "data", "hash") is None:
        raise _fail('Missing "data.hash" field in hashedrekord')
    algorithm = _field(spec, "data", "hash", "algorithm")
    if algorithm is None:
        raise _fail('Missing "data.hash.algorithm" field in hashedrekord')
    if algorithm != "sha256":
        raise _fail(f'Unexpected "data.hash.algorithm" value {gojson.quote(algorithm.encode())}')
    value = _field(spec, "data", "hash", "value")
    if value is None:
        raise _fail('Missing "data.hash.value" field in hashedrekord')
    logged_hash = _hex(str(value))
    if logged_hash != hashlib.sha256(payload).digest():
        raise _fail("payload in Rekor SET does not match")
    return _unix_time(entry["integratedTime"])


def _unix_time(seconds: int) -> datetime.datetime:
    """Go's ``time.Unix(seconds, 0)`` in local time; beyond Python's years 1…9999
    the nearest representable moment (it is then outside any certificate's validity)."""
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC).astimezone()
    except (OverflowError, OSError, ValueError):
        edge = datetime.datetime.max if seconds > 0 else datetime.datetime.min
        return edge.replace(tzinfo=datetime.UTC)


def _hex(text: str) -> bytes:
    """Go's ``hex.DecodeString`` with its error texts."""
    data = text.encode("utf-8", "surrogateescape")
    digits = b"0123456789abcdefABCDEF"
    for i in range(0, len(data) - len(data) % 2):
        if data[i] not in digits:
            raise _fail(f'Invalid "data.hash.value" field in hashedrekord: encoding/hex: invalid byte: {_go_rune(data[i])}')
    if len(data) % 2:
        if data[-1] not in digits:
            raise _fail(f'Invalid "data.hash.value" field in hashedrekord: encoding/hex: invalid byte: {_go_rune(data[-1])}')
        raise _fail('Invalid "data.hash.value" field in hashedrekord: encoding/hex: odd length hex string')
    return bytes.fromhex(data.decode())


def _go_rune(byte: int) -> str:
    """Go's ``%#U`` of a byte taken as a rune."""
    ch = chr(byte)
    return f"U+{byte:04X} '{ch}'" if ch.isprintable() else f"U+{byte:04X}"
