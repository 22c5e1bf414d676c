"""Strict parsing of ``sigstoreSigned`` policy requirements (with their ``fulcio``
and ``pki`` objects), in containers/image's order, so that a file with several
mistakes reports the one upstream reports.

Upstream decodes the keys of the object in the order they are written (a
``fulcio`` or ``pki`` object is checked completely when it is decoded), then
``signedIdentity``, then applies the key sources in a fixed order (where an
empty ``keyPaths`` list, or a ``null`` one, is an error), then checks how they
combine.  The texts, typos included (``rekorPublickeyPaths``), are upstream's."""

from __future__ import annotations

import functools
from typing import Any

from .golang import gojson
from .policy import _identity_matcher, _InvalidPolicy

_STRING, _STRINGS, _BYTES, _BYTES_LIST = "string", "[]string", "[]uint8", "[][]uint8"
# Key sources and Rekor key sources: (field, Go type), in the order upstream applies them.
_KEY_FIELDS = (("keyPath", _STRING), ("keyPaths", _STRINGS), ("keyData", _BYTES), ("keyDatas", _BYTES_LIST))
_REKOR_FIELDS = (("rekorPublicKeyPath", _STRING), ("rekorPublicKeyPaths", _STRINGS),
                 ("rekorPublicKeyData", _BYTES), ("rekorPublicKeyDatas", _BYTES_LIST))
# The name each list field has in upstream's "contains no entries" message.
_EMPTY_LIST_NAME = {"keyPaths": "keyPaths", "keyDatas": "keyDatas",
                    "rekorPublicKeyPaths": "rekorPublickeyPaths", "rekorPublicKeyDatas": "rekorPublickeyDatas"}
_FULCIO_FIELDS = {"caPath": _STRING, "caData": _BYTES, "oidcIssuer": _STRING, "subjectEmail": _STRING}
_PKI_FIELDS = {"caRootsPath": _STRING, "caRootsData": _BYTES, "caIntermediatesPath": _STRING,
               "caIntermediatesData": _BYTES, "subjectEmail": _STRING, "subjectHostname": _STRING}
_REKOR_NAMES = "rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas"


def decode(value: Any, go_type: str) -> Any:
    """*value* as Go decodes it into *go_type* (None for null); raises
    _InvalidPolicy with Go's text when it does not fit."""
    try:
        return gojson.decode_as(value, go_type)
    except ValueError as e:
        raise _InvalidPolicy(str(e)) from None


def _object(value: Any, fields: dict[str, str]) -> dict[str, Any]:
    """The decoded fields of a strictly parsed JSON object."""
    try:
        return gojson.strict_object(value, {k: functools.partial(gojson.decode_as, go_type=t) for k, t in fields.items()})
    except ValueError as e:
        raise _InvalidPolicy(str(e)) from None


def parse_fulcio(value: Any) -> None:
    f = _object(value, _FULCIO_FIELDS)
    if f.get("caPath") and f.get("caData") is not None:
        raise _InvalidPolicy("caPath and caData cannot be used simultaneously")
    if not f.get("caPath") and f.get("caData") is None:
        raise _InvalidPolicy("At least one of caPath and caData must be specified")
    if not f.get("oidcIssuer"):
        raise _InvalidPolicy("oidcIssuer not specified")
    if not f.get("subjectEmail"):
        raise _InvalidPolicy("subjectEmail not specified")


def parse_pki(value: Any) -> None:
    p = _object(value, _PKI_FIELDS)
    if p.get("caRootsPath") and p.get("caRootsData") is not None:
        raise _InvalidPolicy("caRootsPath and caRootsData cannot be used simultaneously")
    if not p.get("caRootsPath") and p.get("caRootsData") is None:
        raise _InvalidPolicy("At least one of caRootsPath and caRootsData must be specified")
    if p.get("caIntermediatesPath") and p.get("caIntermediatesData") is not None:
        raise _InvalidPolicy("caIntermediatesPath and caIntermediatesData cannot be used simultaneously")
    if not p.get("subjectEmail") and not p.get("subjectHostname"):
        raise _InvalidPolicy("At least one of subjectEmail, subjectHostname must be specified")


_TOP_FIELDS = {"type": _STRING, **dict(_KEY_FIELDS), **dict(_REKOR_FIELDS)}


def _sources(req: dict[str, Any], decoded: dict[str, Any], fields: tuple[tuple[str, str], ...]) -> int:
    """How many of *fields* give keys, applying them as upstream's options do."""
    count = 0
    for name, go_type in fields:
        if name not in req:
            continue
        value = decoded[name]
        if go_type in (_STRINGS, _BYTES_LIST):
            if not value:
                raise _InvalidPolicy(f'"{_EMPTY_LIST_NAME[name]}" contains no entries')
            count += 1
        elif value:
            count += 1
        elif go_type == _BYTES and value is not None:  # keyData "" is present (an empty []byte)
            count += 1
    return count


def parse_sigstore_signed(req: dict[str, Any]) -> None:
    """Validate a ``sigstoreSigned`` requirement (raises _InvalidPolicy)."""
    decoded: dict[str, Any] = {}
    for key, value in req.items():
        if key == "fulcio":
            parse_fulcio(value)
        elif key == "pki":
            parse_pki(value)
        elif key == "signedIdentity":
            pass
        elif key in _TOP_FIELDS:
            decoded[key] = decode(value, _TOP_FIELDS[key])
        else:
            raise _InvalidPolicy(f'Unknown key "{key}"')
    if "signedIdentity" in req:
        _identity_matcher(req["signedIdentity"])
    sources = _sources(req, decoded, _KEY_FIELDS)
    rekor = _sources(req, decoded, _REKOR_FIELDS)
    sources += ("fulcio" in req) + ("pki" in req)
    if sources != 1:
        raise _InvalidPolicy("exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified")
    if rekor > 1:
        raise _InvalidPolicy(f"at most one of {_REKOR_NAMES} can be used simultaneously")
    if "fulcio" in req and rekor == 0:
        raise _InvalidPolicy(f"At least one of {_REKOR_NAMES} must be specified if fulcio is used")
    if "pki" in req and rekor > 0:
        raise _InvalidPolicy(f"{_REKOR_NAMES} are not supported for pki")
