"""containers/common's report package as skopeo.report ports it: each function
and each format rule against a table of what Go gives (values checked with
upstream main; the CLI comparison is in test_gojson_template.py)."""

from __future__ import annotations

import pytest

from skopeo import report
from skopeo.golang.gotemplate import FuncError, GoStruct
from skopeo.golang.gotime import GoTime


def call(name: str, *args: object) -> object:
    return report.FUNCS[name].call(*args)


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("lower", ("ÀBC İ ǅ",), "àbc i ǆ"),
    ("upper", ("àbc ß ǆ ŉ ᾀ ᾈ",), "ÀBC ß Ǆ ŉ ᾈ ᾈ"),
    ("title", ("hello world foo-bar",), "Hello World Foo-Bar"),
    ("title", ("hello_world foo.bar 3x àb ǆemal ßtraße ᾀ",), "Hello_world Foo.Bar 3x Àb ǅemal ßtraße ᾈ"),
    ("title", ("a\u00a0b\u3000c",), "A\u00a0B\u3000C"),
    ("truncate", ("héllo", 2), "h\udcc3"),  # a rune cut in half, as Go slices bytes
    ("truncate", ("héllo", 10), "héllo"),
    ("truncate", ("abc", 3), "abc"),
    ("truncate", ("", 0), ""),
    ("pad", ("x", 2, 1), "  x "),
    ("pad", ("", 2, 1), ""),
    ("split", ("a,b,,c", ","), ["a", "b", "", "c"]),
    ("split", ("héé", ""), ["h", "é", "é"]),
    ("split", ("", ","), [""]),
    ("join", (["a", "b"], "+"), "a+b"),
    ("join", (None, "+"), ""),
    ("json", ({"b": "<&>", "a": [1, None, True]},), '{"a":[1,null,true],"b":"<&>"}'),
    ("json", ("\u2028\U0001f600\n",), '"\\u2028\U0001f600\\n"'),
    ("json", ("a\udcff",), '"a\ufffd"'),
    ("json", (1.5,), "1.5"),
    ("json", (3.0,), "3"),
    ("json", (1e20,), "100000000000000000000"),
    ("json", (1e21,), "1e+21"),
    ("json", (1e-7,), "1e-7"),
    ("json", (float("nan"),), ""),
    ("json", (None,), "null"),
    ("json", (GoTime("2026-01-02T03:04:05.10Z"),), '"2026-01-02T03:04:05.1Z"'),
    ("json", (GoStruct("x.T", [("A", "string", "a"), ("B", "map[string]string", {"z": "1", "y": "2"})]),),
     '{"A":"a","B":{"y":"2","z":"1"}}'),
    ("json", (GoStruct("x.T", [("A", "string", "a")], json={"renamed": 1}),), '{"renamed":1}'),
])
def test_functions(name: str, args: tuple[object, ...], expected: object) -> None:
    assert call(name, *args) == expected


@pytest.mark.parametrize(("name", "args", "error"), [
    ("truncate", ("abc", -1), "runtime error: slice bounds out of range [:-1]"),
    ("pad", ("x", -1, 0), "strings: negative Repeat count"),
    ("pad", ("x", 0, -2), "strings: negative Repeat count"),
    ("pad", ("x", 1 << 40, 0), "strings: Repeat output length overflow"),
])
def test_function_panics(name: str, args: tuple[object, ...], error: str) -> None:
    with pytest.raises(FuncError) as info:
        call(name, *args)
    assert str(info.value) == error


@pytest.mark.parametrize(("fmt", "expected"), [
    ("json", True), (" json ", True), ("{{json}}", True), ("{{ json. }}", True), ("\t{{json.}}\n", True),
    ("{{json .}}", False), ("{{ json . }}", False), ("JSON", False), ("json x", False), ("\vjson", False),
])
def test_is_json(fmt: str, expected: bool) -> None:
    assert report.is_json(fmt) is expected


@pytest.mark.parametrize(("fmt", "expected"), [
    ("{{.Os}}", "{{.Os}}\n"),
    ("a\\tb\\nc\n", "a\tb\nc\n"),
    ("table {{.Os}} {{.Arch}}\\t{{ .X }}", "{{.Os}}\t{{.Arch}}\t{{\t.X\t}}\n"),
    ("table a table b", "a\tb\n"),
    (" table x", " table x\n"),
])
def test_normalize_format(fmt: str, expected: str) -> None:
    assert report.normalize_format(fmt) == expected


@pytest.mark.parametrize(("fmt", "wrapped"), [
    ("{{.Os}}", True),
    ("{{range .}}{{.Os}}{{end}}", False),
    ("{{ range . }}x{{ end -}}", False),
    ("a {{range .}}\n{{.Os}}\n{{end}} b", False),
    ("{{range .Layers}}{{.}}{{end}}", True),
    ("{{range .}}{{.Os}}", True),
])
def test_enforce_range(fmt: str, wrapped: bool) -> None:
    assert (report.enforce_range(fmt) != fmt) is wrapped
    if wrapped:
        assert report.enforce_range(fmt) == "{{range .}}" + fmt + "{{end -}}"
