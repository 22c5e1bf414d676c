"""Go's encoding/json syntax errors (``gojson.syntax_error`` / ``gojson.loads``), checked
against the scanner's rules and, through files the reference tool reads, against
the reference skopeo itself."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from skopeo.golang import gojson
from skopeo.testing.fixtures import fatal_message

Run = Callable[..., subprocess.CompletedProcess[str]]

# (document, what json.Unmarshal reports)
UNMARSHAL_CASES: list[tuple[bytes, str | None]] = [
    (b"", "unexpected end of JSON input"),
    (b"  \n\t", "unexpected end of JSON input"),
    (b"{", "unexpected end of JSON input"),
    (b'{"a"', "unexpected end of JSON input"),
    (b'{"a":', "unexpected end of JSON input"),
    (b'{"a":1', "unexpected end of JSON input"),
    (b"[1,", "unexpected end of JSON input"),
    (b'"abc', "unexpected end of JSON input"),
    (b"nope", "invalid character 'o' in literal null (expecting 'u')"),
    (b"nulL", "invalid character 'L' in literal null (expecting 'l')"),
    (b"tRue", "invalid character 'R' in literal true (expecting 'r')"),
    (b"trUe", "invalid character 'U' in literal true (expecting 'u')"),
    (b"fals", "invalid character ' ' in literal false (expecting 'e')"),
    (b"fAlse", "invalid character 'A' in literal false (expecting 'a')"),
    (b"tru", "invalid character ' ' in literal true (expecting 'e')"),
    (b"{bad", "invalid character 'b' looking for beginning of object key string"),
    (b'{"a":1,}', "invalid character '}' looking for beginning of object key string"),
    (b"{'a':1}", "invalid character '\\'' looking for beginning of object key string"),
    (b"[1,]", "invalid character ']' looking for beginning of value"),
    (b"[,]", "invalid character ',' looking for beginning of value"),
    (b"x", "invalid character 'x' looking for beginning of value"),
    (b"NaN", "invalid character 'N' looking for beginning of value"),
    (b"Infinity", "invalid character 'I' looking for beginning of value"),
    (b"+1", "invalid character '+' looking for beginning of value"),
    (b".5", "invalid character '.' looking for beginning of value"),
    (b"'s'", "invalid character '\\'' looking for beginning of value"),
    (b"\xef\xbb\xbf{}", "invalid character '\u00ef' looking for beginning of value"),
    (b'{"a" 1}', "invalid character '1' after object key"),
    (b'{"a",1}', "invalid character ',' after object key"),
    (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    (b'{"a":1]', "invalid character ']' after object key:value pair"),
    (b"[1 2]", "invalid character '2' after array element"),
    (b"[1}", "invalid character '}' after array element"),
    (b"{} x", "invalid character 'x' after top-level value"),
    (b"1x", "invalid character 'x' after top-level value"),
    (b"01", "invalid character '1' after top-level value"),
    (b"[]]", "invalid character ']' after top-level value"),
    (b'"a"\x00', "invalid character '\\x00' after top-level value"),
    (b'"a\x01"', "invalid character '\\x01' in string literal"),
    (b'"a\nb"', "invalid character '\\n' in string literal"),
    (b'"a\tb"', "invalid character '\\t' in string literal"),
    (b'"a\x1fb"', "invalid character '\\x1f' in string literal"),
    (b'"\\x"', "invalid character 'x' in string escape code"),
    (b'"\\\'"', "invalid character '\\'' in string escape code"),
    (b'"\\', "invalid character ' ' in string escape code"),
    (b'"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"),
    (b'"\\u"', "invalid character '\"' in \\u hexadecimal character escape"),
    (b'"\\u12', "invalid character ' ' in \\u hexadecimal character escape"),
    (b"-", "invalid character ' ' in numeric literal"),
    (b"-a", "invalid character 'a' in numeric literal"),
    (b"--1", "invalid character '-' in numeric literal"),
    (b"1.", "invalid character ' ' after decimal point in numeric literal"),
    (b"1.e5", "invalid character 'e' after decimal point in numeric literal"),
    (b"[1.]", "invalid character ']' after decimal point in numeric literal"),
    (b"1e", "invalid character ' ' in exponent of numeric literal"),
    (b"1e+", "invalid character ' ' in exponent of numeric literal"),
    (b"1ex", "invalid character 'x' in exponent of numeric literal"),
    (b"[1E-]", "invalid character ']' in exponent of numeric literal"),
    (b"[\x7f]", "invalid character '\\x7f' looking for beginning of value"),
    (b"[\x85]", "invalid character '\\u0085' looking for beginning of value"),
    (b"[\xa0]", "invalid character '\\u00a0' looking for beginning of value"),
    (b"[\xe9]", "invalid character '\u00e9' looking for beginning of value"),
    (b"[\\]", "invalid character '\\\\' looking for beginning of value"),
    (b"[\x0b]", "invalid character '\\v' looking for beginning of value"),
    (b"[" * 10001 + b"]" * 10001, "invalid character '[' exceeded max depth"),
    # Accepted.
    (b"[" * 10000 + b"]" * 10000, None),
    (b"null", None),
    (b" true ", None),
    (b"-0.5e+10", None),
    (b"1E5", None),
    (b'{"a":[1,2,{"b":null}],"c":"\\u00e9\\n\\/"}', None),
    (b'"\xff\xfe invalid UTF-8 is fine in strings"', None),
    (b'"\x7f"', None),
    (b"{}\r\n", None),
]

# (document, what json.NewDecoder(r).Decode reports)
STREAM_CASES: list[tuple[bytes, str | None]] = [
    (b"", "EOF"),
    (b" \n", "EOF"),
    (b"{", "unexpected EOF"),
    (b"tru", "unexpected EOF"),
    (b"1.", "unexpected EOF"),
    (b"-", "unexpected EOF"),
    (b'{"a":"b', "unexpected EOF"),
    (b"nope", "invalid character 'o' in literal null (expecting 'u')"),
    (b"{bad", "invalid character 'b' looking for beginning of object key string"),
    (b'{"manifests":[1,]}', "invalid character ']' looking for beginning of value"),
    (b"1.x", "invalid character 'x' after decimal point in numeric literal"),
    (b"1ex", "invalid character 'x' in exponent of numeric literal"),
    (b"{} x", None),
    (b"{}{", None),
    (b"1.5.", None),
    (b"1x", None),
    (b"  []", None),
]


@pytest.mark.parametrize(("data", "expected"), UNMARSHAL_CASES, ids=lambda v: repr(v)[:40])
def test_syntax_error_unmarshal(data: bytes, expected: str | None) -> None:
    assert gojson.syntax_error(data) == expected
    if expected is None:
        return
    with pytest.raises(gojson.JSONSyntaxError) as info:
        gojson.loads(data)
    assert str(info.value) == expected


@pytest.mark.parametrize(("data", "expected"), STREAM_CASES, ids=lambda v: repr(v)[:40])
def test_syntax_error_stream(data: bytes, expected: str | None) -> None:
    assert gojson.syntax_error(data, stream=True) == expected
    if expected is not None:
        with pytest.raises(gojson.JSONSyntaxError, match=f"^{re.escape(expected)}$"):
            gojson.loads(data, stream=True)


@pytest.mark.parametrize(("byte", "quoted"), [
    (ord("x"), "'x'"), (ord("'"), "'\\''"), (ord('"'), "'\"'"), (ord("\\"), "'\\\\'"), (0, "'\\x00'"),
    (7, "'\\a'"), (8, "'\\b'"), (9, "'\\t'"), (10, "'\\n'"), (11, "'\\v'"), (12, "'\\f'"), (13, "'\\r'"),
    (0x1B, "'\\x1b'"), (0x20, "' '"), (0x7F, "'\\x7f'"), (0x80, "'\\u0080'"), (0x9F, "'\\u009f'"),
    (0xA0, "'\\u00a0'"), (0xA1, "'\u00a1'"), (0xAD, "'\\u00ad'"), (0xFF, "'\u00ff'"),
])
def test_quote_char(byte: int, quoted: str) -> None:
    assert gojson.quote_char(byte) == quoted


def test_loads_values() -> None:
    assert gojson.loads(b' {"a": [1, 2.5, true, null, "x"]} ') == {"a": [1, 2.5, True, None, "x"]}
    # Go replaces each byte of an invalid UTF-8 sequence by U+FFFD.
    assert gojson.loads(b'{"a":"\xff\xe2\x82A"}') == {"a": "\ufffd\ufffd\ufffdA"}
    # Lone surrogate escapes become U+FFFD; pairs are combined.
    assert gojson.loads(b'["\\ud800x", "\\ud83d\\ude00", "\\udc00"]') == ["\ufffdx", "\U0001f600", "\ufffd"]
    assert gojson.loads(b'{"k":1} trailing', stream=True) == {"k": 1}
    assert gojson.loads(b"7", stream=True) == 7


def test_loads_object_pairs_hook() -> None:
    class Duplicate(Exception):
        pass

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise Duplicate
        return dict(pairs)

    assert gojson.loads(b'{"a":{"b":1}}', object_pairs_hook=no_duplicates) == {"a": {"b": 1}}
    with pytest.raises(Duplicate):
        gojson.loads(b'{"a":1,"a":2}', object_pairs_hook=no_duplicates)


def test_loads_rejects_what_python_accepts() -> None:
    for data, expected in [
        (b"[NaN]", "invalid character 'N' looking for beginning of value"),
        (b"-Infinity", "invalid character 'I' in numeric literal"),
        (b"\xef\xbb\xbf{}", "invalid character '\u00ef' looking for beginning of value"),
        ('{"a":1}'.encode("utf-16"), "invalid character '\u00ff' looking for beginning of value"),
    ]:
        with pytest.raises(gojson.JSONSyntaxError) as info:
            gojson.loads(data)
        assert str(info.value) == expected


def test_loads_agrees_with_python_on_valid_documents() -> None:
    for doc in ({"a": [1, {"b": None}], "c": "é<>"}, [], "s", 0, -1.5e-7, True):
        data = json.dumps(doc).encode()
        assert gojson.syntax_error(data) is None
        assert gojson.loads(data) == doc


def test_quote_and_type_error() -> None:
    assert gojson.quote(b'{"a":"\x01\\"}') == '"{\\"a\\":\\"\\x01\\\\\\"}"'
    assert gojson.quote(b"\xff\xc3\xa9\xc2\x85\n") == '"\\xffé\\u0085\\n"'
    assert gojson.type_error([], "v1.Index") == "json: cannot unmarshal array into Go value of type v1.Index"
    assert gojson.type_error(True, "x") == "json: cannot unmarshal bool into Go value of type x"
    assert (gojson.type_error(1.5, "[]v1.Descriptor", "Index.manifests")
            == "json: cannot unmarshal number into Go struct field Index.manifests of type []v1.Descriptor")


# --- against the reference tool ----------------------------------------------------

def _logrus(text: str) -> str:
    """*text* as ``fatal_message`` returns it from a logrus line."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def _dir_image(path: Path, manifest: bytes) -> Path:
    path.mkdir()
    (path / "version").write_text("Directory Transport Version: 1.1\n")
    (path / "manifest.json").write_bytes(manifest)
    return path


# Checked with json.Unmarshal (dir: manifest.json, parsed when the image is used).
ORACLE_UNMARSHAL = [d for d, e in UNMARSHAL_CASES if e is not None and len(d) < 100 and not d.startswith(b"[")]
ORACLE_UNMARSHAL += [b"[1,]", b"[1 2]", b"[\x85]", b"[\xe9]", b"[\\]", b"[1E-]", b"[" * 10001]


@pytest.mark.oracle
def test_unmarshal_errors_match_reference(tmp_path: Path, oracle: Run) -> None:
    checked = 0
    for i, data in enumerate(ORACLE_UNMARSHAL):
        image = _dir_image(tmp_path / f"d{i}", data)
        proc = oracle("inspect", f"dir:{image}")
        assert proc.returncode == 1, (data, proc.stderr)
        theirs = fatal_message(proc.stderr)
        prefix = "Error parsing manifest for image: "
        assert theirs.startswith(prefix), (data, theirs)
        expected = gojson.syntax_error(data)
        assert expected is not None
        assert theirs == prefix + _logrus(expected), data
        checked += 1
    assert checked >= 12


@pytest.mark.oracle
def test_stream_errors_match_reference(sample_layout: Path, oracle: Run, run_skopeo: Run) -> None:
    for data, expected in STREAM_CASES:
        if expected is None:
            continue
        (sample_layout / "index.json").write_bytes(data)
        name = f"oci:{sample_layout}:hello"
        want = f'Error parsing image name "{name}": {_logrus(expected)}'
        theirs, ours = oracle("inspect", name), run_skopeo("inspect", name)
        assert (theirs.returncode, fatal_message(theirs.stderr)) == (1, want)
        assert (ours.returncode, fatal_message(ours.stderr)) == (1, want)


@pytest.mark.oracle
@pytest.mark.parametrize("data", [b"{bad", b"", b"[1,]", b'"s"', b"[]", b'{"a":1} x', b'{"a":"\x01"}'])
def test_dir_manifest_inspect_matches_reference(tmp_path: Path, oracle: Run, run_skopeo: Run, data: bytes) -> None:
    image = _dir_image(tmp_path / "img", data)
    theirs, ours = oracle("inspect", f"dir:{image}"), run_skopeo("inspect", f"dir:{image}")
    assert ours.stdout == theirs.stdout == ""
    assert (ours.returncode, fatal_message(ours.stderr)) == (theirs.returncode, fatal_message(theirs.stderr))
    # --raw does not parse the manifest.
    raw = run_skopeo("inspect", "--raw", f"dir:{image}", check=True)
    assert raw.stdout.encode() == data.decode(errors="replace").encode()


@pytest.mark.oracle
@pytest.mark.parametrize("data", [b"nope", b"", b"tru", b"{bad", b"[]", b'{"manifests":"x"}', b'{"manifests":[1]}'])
def test_oci_index_matches_reference(sample_layout: Path, tmp_path: Path, oracle: Run, run_skopeo: Run,
                                     data: bytes) -> None:
    (sample_layout / "index.json").write_bytes(data)
    for args in (["inspect", f"oci:{sample_layout}:hello"],
                 ["copy", "oci:" + str(Path(__file__).parents[1] / "samples/hello-oci") + ":hello",
                  f"oci:{sample_layout}:new"]):
        theirs, ours = oracle(*args), run_skopeo(*args)
        assert (ours.returncode, fatal_message(ours.stderr)) == (theirs.returncode, fatal_message(theirs.stderr))


@pytest.mark.oracle
@pytest.mark.parametrize("data", [b"{bad", b"", b"nope", b"[1,]", b"{}}", b'{"default":NaN}', b"  "])
def test_policy_json_matches_reference(tmp_path: Path, sample_layout: Path, data: bytes) -> None:
    policy = tmp_path / "broken-policy.json"
    policy.write_bytes(data)
    from skopeo.testing.fixtures import skopeo_command
    from skopeo.testing.require import reference_skopeo

    args = ["--policy", str(policy), "copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/out"]
    theirs = subprocess.run([reference_skopeo(), *args], capture_output=True, text=True, timeout=120)
    ours = subprocess.run([*skopeo_command(), *args], capture_output=True, text=True, timeout=120)
    assert (ours.returncode, fatal_message(ours.stderr)) == (theirs.returncode, fatal_message(theirs.stderr))
    assert "invalid policy in" in fatal_message(ours.stderr)


@pytest.mark.oracle
@pytest.mark.parametrize("data", [b"{bad", b"", b"nope", b"[]", b'{"auths":1}', b'{"credHelpers":[]}'])
def test_auth_json_matches_reference(tmp_path: Path, oracle: Run, run_skopeo: Run, data: bytes) -> None:
    auth = tmp_path / "auth.json"
    auth.write_bytes(data)
    args = ["login", "--get-login", "--authfile", str(auth), "example.com"]
    theirs, ours = oracle(*args), run_skopeo(*args)
    # Upstream main reports the one error as it is; 1.9.3 wrapped it in a multierror.
    expected = fatal_message(theirs.stderr).replace("1 error occurred:\\n\\t* ", "").removesuffix("\\n\\n")
    assert (ours.returncode, fatal_message(ours.stderr)) == (theirs.returncode, expected)
