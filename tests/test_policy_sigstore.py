"""``sigstoreSigned`` requirements are parsed as upstream main parses them: the
same error for the same file, mistakes reported in upstream's order.  The table
was taken from upstream main (skopeo 1.22.0-dev) and is replayed against it by
``test_table_matches_upstream_main`` when that binary is present."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from skopeo import policy
from skopeo.golang import gojson
from skopeo.testing.require import DEFAULT_UPSTREAM, find_upstream_main

UPSTREAM_MAIN = find_upstream_main() or DEFAULT_UPSTREAM

# (requirement, upstream's error or None when upstream accepts it)
CASES: list[tuple[dict[str, Any], str | None]] = [
    ({'type': 'sigstoreSigned', 'keyPaths': None},
     '"keyPaths" contains no entries'),
    ({'type': 'sigstoreSigned', 'keyPaths': []},
     '"keyPaths" contains no entries'),
    ({'type': 'sigstoreSigned', 'keyDatas': None},
     '"keyDatas" contains no entries'),
    ({'type': 'sigstoreSigned', 'keyDatas': []},
     '"keyDatas" contains no entries'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyPaths': []},
     '"rekorPublickeyPaths" contains no entries'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyDatas': []},
     '"rekorPublickeyDatas" contains no entries'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyPaths': None},
     '"rekorPublickeyPaths" contains no entries'),
    ({'type': 'sigstoreSigned', 'fulcio': None},
     'JSON object expected, got <nil>'),
    ({'type': 'sigstoreSigned', 'pki': None},
     'JSON object expected, got <nil>'),
    ({'type': 'sigstoreSigned', 'fulcio': {}},
     'At least one of caPath and caData must be specified'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caPath': '/c', 'oidcIssuer': 'i', 'subjectEmail': 'e'}},
     'At least one of rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas must be specified if fulcio is used'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caPath': '/c', 'oidcIssuer': 'i', 'subjectEmail': 'e', 'x': 1}, 'rekorPublicKeyPath': '/r'},
     'Unknown key "x"'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caPath': '/d', 'oidcIssuer': 'i', 'subjectEmail': 'e'}, 'rekorPublicKeyPath': '/r'},
     None),
    ({'type': 'sigstoreSigned', 'fulcio': {'caPath': '', 'caData': None, 'oidcIssuer': 'i', 'subjectEmail': 'e'}, 'rekorPublicKeyPath': '/r'},
     'At least one of caPath and caData must be specified'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': '!!', 'oidcIssuer': 'i', 'subjectEmail': 'e'}, 'rekorPublicKeyPath': '/r'},
     'json: cannot unmarshal string into Go value of type []uint8: illegal base64 data at input byte 0'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': '', 'oidcIssuer': 'i', 'subjectEmail': 'e'}, 'rekorPublicKeyPath': '/r'},
     None),
    ({'type': 'sigstoreSigned', 'fulcio': {'caPath': '/c', 'oidcIssuer': 1, 'subjectEmail': 'e'}, 'rekorPublicKeyPath': '/r'},
     'json: cannot unmarshal number into Go value of type string'),
    ({'type': 'sigstoreSigned', 'fulcio': [], 'rekorPublicKeyPath': '/r'},
     'JSON object expected, got 91'),
    ({'type': 'sigstoreSigned', 'fulcio': 'x', 'rekorPublicKeyPath': '/r'},
     'JSON object expected, got "x"'),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsPath': '/c', 'subjectEmail': 'e'}},
     None),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsPath': '/c', 'subjectEmail': 'e', 'caIntermediatesPath': '/i', 'caIntermediatesData': 'YQ=='}},
     'caIntermediatesPath and caIntermediatesData cannot be used simultaneously'),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsPath': '/c', 'caRootsData': 'YQ==', 'subjectEmail': 'e'}},
     'caRootsPath and caRootsData cannot be used simultaneously'),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsPath': '/c', 'subjectEmail': ''}},
     'At least one of subjectEmail, subjectHostname must be specified'),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsPath': '/c', 'subjectEmail': 'e', 'bogus': 1}},
     'Unknown key "bogus"'),
    ({'type': 'sigstoreSigned', 'pki': 5},
     'JSON object expected, got 5'),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsPath': '/c', 'subjectEmail': 'e'}, 'rekorPublicKeyData': 'YQ=='},
     'rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas are not supported for pki'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyPath': '/r', 'rekorPublicKeyData': 'YQ=='},
     'at most one of rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas can be used simultaneously'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyPath': ''},
     None),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyData': None},
     None),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyData': '@@'},
     'json: cannot unmarshal string into Go value of type []uint8: illegal base64 data at input byte 0'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyDatas': ['YQ==', 3]},
     'json: cannot unmarshal number into .1 of type []uint8'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyPaths': 'x'},
     'json: cannot unmarshal string into Go value of type []string'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'pki': {'caRootsPath': '/c', 'subjectEmail': 'e'}},
     'exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caPath': '/c', 'oidcIssuer': 'i', 'subjectEmail': 'e'}, 'pki': {'caRootsPath': '/c', 'subjectEmail': 'e'}},
     'exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified'),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsPath': '/c', 'subjectEmail': 'e'}, 'fulcio': {'caPath': '/c'}},
     'oidcIssuer not specified'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caPath': '/c'}, 'keyPaths': []},
     'oidcIssuer not specified'),
    ({'type': 'sigstoreSigned', 'keyPaths': [], 'fulcio': {'caPath': '/c'}},
     'oidcIssuer not specified'),
    ({'type': 'sigstoreSigned', 'keyPaths': [], 'signedIdentity': {'type': 'bogus'}},
     'Unknown policy reference match type "bogus"'),
    ({'type': 'sigstoreSigned', 'signedIdentity': {'type': 'bogus'}, 'keyPaths': []},
     'Unknown policy reference match type "bogus"'),
    ({'type': 'sigstoreSigned', 'keyPaths': [], 'rekorPublicKeyPath': '/r', 'rekorPublicKeyData': 'YQ=='},
     '"keyPaths" contains no entries'),
    ({'type': 'signedBy', 'keyType': 'GPGKeys', 'keyData': '@@'},
     'json: cannot unmarshal string into Go value of type []uint8: illegal base64 data at input byte 0'),
    ({'type': 'signedBy', 'keyType': 'GPGKeys', 'keyPaths': ['a', 1]},
     'json: cannot unmarshal number into .1 of type string'),
    ({'type': 'sigstoreSigned', 'keyPaths': ['a', 1]},
     'json: cannot unmarshal number into .1 of type string'),
    ({'type': 'sigstoreSigned', 'keyPaths': 'a'},
     'json: cannot unmarshal string into Go value of type []string'),
    ({'type': 'sigstoreSigned', 'keyDatas': 'a'},
     'json: cannot unmarshal string into Go value of type [][]uint8'),
    ({'type': 'sigstoreSigned', 'keyDatas': ['@']},
     'json: cannot unmarshal string into .0 of type []uint8: illegal base64 data at input byte 0'),
    ({'type': 'sigstoreSigned', 'keyData': 5},
     'json: cannot unmarshal number into Go value of type []uint8'),
    ({'type': 'sigstoreSigned', 'keyPath': 5},
     'json: cannot unmarshal number into Go value of type string'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a'},
     None),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyPath': 5},
     'json: cannot unmarshal number into Go value of type string'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caPath': 5}},
     'json: cannot unmarshal number into Go value of type string'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': 5}},
     'json: cannot unmarshal number into Go value of type []uint8'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': [1]}},
     'oidcIssuer not specified'),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsData': '@'}},
     'json: cannot unmarshal string into Go value of type []uint8: illegal base64 data at input byte 0'),
    ({'type': 'sigstoreSigned', 'pki': {'caIntermediatesData': '@'}},
     'json: cannot unmarshal string into Go value of type []uint8: illegal base64 data at input byte 0'),
    ({'type': 'sigstoreSigned', 'pki': {'subjectHostname': True}},
     'json: cannot unmarshal bool into Go value of type string'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caPath': '/c', 'oidcIssuer': 'i', 'subjectEmail': 'e'}, 'keyPath': '/a', 'rekorPublicKeyPath': '/r'},
     'exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified'),
    ({'type': 'sigstoreSigned', 'keyData': 'YQ==', 'keyDatas': ['YQ==']},
     'exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified'),
    ({'type': 'sigstoreSigned', 'keyData': ''},
     None),
    ({'type': 'sigstoreSigned', 'keyDatas': ['']},
     None),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyPaths': ['a'], 'rekorPublicKeyDatas': ['YQ==']},
     'at most one of rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas can be used simultaneously'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': 'YQ==', 'oidcIssuer': '', 'subjectEmail': 'e'}, 'rekorPublicKeyPath': '/r'},
     'oidcIssuer not specified'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': 'YQ==', 'oidcIssuer': 'i', 'subjectEmail': None}, 'rekorPublicKeyPath': '/r'},
     'subjectEmail not specified'),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsData': 'YQ==', 'subjectHostname': 'h', 'caIntermediatesData': None}},
     None),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsData': '', 'subjectHostname': 'h'}},
     None),
    ({'type': 'sigstoreSigned', 'pki': {'caRootsPath': '', 'subjectHostname': 'h'}},
     'At least one of caRootsPath and caRootsData must be specified'),
    ({'keyPath': '/a', 'type': 'sigstoreSigned', 'bogus': 1},
     'Unknown key "bogus"'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'signedIdentity': None},
     'Unknown policy reference match type ""'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'signedIdentity': 5},
     'json: cannot unmarshal number into Go value of type signature.prmCommon'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': [256]}},
     'json: cannot unmarshal number 256 into .0 of type uint8'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': [1.5]}},
     'json: cannot unmarshal number 1.5 into .0 of type uint8'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': ['a']}},
     'json: cannot unmarshal string into .0 of type uint8'),
    ({'type': 'sigstoreSigned', 'fulcio': {'caData': [-1]}},
     'json: cannot unmarshal number -1 into .0 of type uint8'),
    ({'type': 'sigstoreSigned', 'keyDatas': [[1, 2]]},
     None),
    ({'type': 'sigstoreSigned', 'keyDatas': [[1, 'x']]},
     'json: cannot unmarshal string into .0.1 of type uint8'),
    ({'type': 'sigstoreSigned', 'keyDatas': [5]},
     'json: cannot unmarshal number into .0 of type []uint8'),
    ({'type': 'sigstoreSigned', 'keyData': 'YW\nJj'},
     None),
    ({'type': 'sigstoreSigned', 'keyData': 'YWJ'},
     'json: cannot unmarshal string into Go value of type []uint8: illegal base64 data at input byte 0'),
    ({'type': 'sigstoreSigned', 'keyData': 'YWJj=='},
     'json: cannot unmarshal string into Go value of type []uint8: illegal base64 data at input byte 4'),
    ({'type': 'sigstoreSigned', 'keyData': 'YQ'},
     'json: cannot unmarshal string into Go value of type []uint8: illegal base64 data at input byte 0'),
    ({'type': 'sigstoreSigned', 'keyData': {}},
     'json: cannot unmarshal object into Go value of type []uint8'),
    ({'type': 'sigstoreSigned', 'keyPaths': [None]},
     None),
    ({'type': 'sigstoreSigned', 'keyDatas': [None]},
     None),
    ({'type': 'sigstoreSigned', 'keyPath': None},
     'exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified'),
    ({'type': 'sigstoreSigned', 'keyPath': '/a', 'rekorPublicKeyPaths': [1]},
     'json: cannot unmarshal number into .0 of type string'),
    ({'type': 'signedBy', 'keyType': 'GPGKeys', 'keyPath': '/a', 'signedIdentity': None},
     'Unknown policy reference match type ""'),
    ({'type': 5, 'keyPath': '/a'},
     'json: cannot unmarshal number into Go struct field prCommon.type of type signature.prTypeIdentifier'),
    ({'type': None, 'keyPath': '/a'},
     'Unknown policy requirement type ""'),
]


def _error(req: dict[str, Any]) -> str | None:
    try:
        policy.parse(json.dumps({"default": [req]}).encode())
    except policy._InvalidPolicy as e:
        return str(e)
    return None


@pytest.mark.parametrize(("req", "message"), CASES)
def test_requirement_errors(req: dict[str, Any], message: str | None) -> None:
    assert _error(req) == message


@pytest.mark.requires("upstream-main")
def test_table_matches_upstream_main(tmp_path: Path) -> None:
    policy_path = tmp_path / "policy.json"
    for req, message in CASES:
        policy_path.write_text(json.dumps({"default": [req]}))
        p = subprocess.run([UPSTREAM_MAIN, "--policy", str(policy_path), "copy", "dir:/nonexistent", f"dir:{tmp_path / 'o'}"],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r'invalid policy in \\"[^"\\]*\\": (.*)"$', p.stderr.strip())
        assert (m.group(1).replace('\\"', '"') if m else None) == message, req


@pytest.mark.parametrize(
    ("text", "decoded"),
    [("YWJj", b"abc"), ("YW\nJj", b"abc"), ("YQ==", b"a"), ("YWI=", b"ab"), ("", b""), ("YQ==\r\n", b"a"),
     ("YWJ", 0), ("YQ", 0), ("YQ=", 3), ("Y===", 1), ("YWJj==", 4), ("YQ==YQ==", 4), ("YW!j", 2), ("YWJjZA", 4)],
)
def test_go_base64(text: str, decoded: bytes | int) -> None:
    if isinstance(decoded, bytes):
        assert gojson.decode_base64(text) == decoded
    else:
        with pytest.raises(ValueError, match=f"^illegal base64 data at input byte {decoded}$"):
            gojson.decode_base64(text)
