import pytest

from skopeo import gojson
from skopeo.gotemplate import GoTime, TemplateError, render
from skopeo.imageconfig import go_time_json, go_time_string


def test_go_escaping() -> None:
    assert gojson.marshal({"a": "<&>\u2028é"}) == '{"a":"\\u003c\\u0026\\u003e\\u2028é"}'.encode()
    assert gojson.marshal_indent({"a": [], "b": {}, "c": None}) == '{\n    "a": [],\n    "b": {},\n    "c": null\n}\n'


def test_time_formats() -> None:
    assert go_time_json("2026-11-27T09:50:24.559599787Z") == "2026-11-27T09:50:24.559599787Z"
    assert go_time_json("2026-11-27T09:50:24.500000000+00:00") == "2026-11-27T09:50:24.5Z"
    assert go_time_json("2026-11-27T09:50:24+02:00") == "2026-11-27T09:50:24+02:00"
    assert go_time_string("2026-11-27T09:50:24.559599787Z") == "2026-11-27 09:50:24.559599787 +0000 UTC"


DATA = {
    "Name": "",
    "Digest": "sha256:abc",
    "RepoTags": ["v1", "v2"],
    "Created": GoTime("2026-11-27T09:50:24.559599787Z"),
    "Labels": {"a": "1", "b": "2"},
    "Env": None,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Name}}|{{.RepoTags}}|{{.Created}}", "|[v1 v2]|2026-11-27 09:50:24.559599787 +0000 UTC\n"),
        ("{{.Labels}}", "map[a:1 b:2]\n"),
        ("{{index .Labels \"a\"}}", "1\n"),
        ("{{range .RepoTags}}{{.}},{{end}}", "v1,v2,\n"),
        ("{{range $k, $v := .Labels}}{{$k}}={{$v}} {{end}}", "a=1 b=2 \n"),
        ("{{if .Env}}env{{else}}noenv{{end}}", "noenv\n"),
        ("{{if .Name}}n{{else if .Digest}}d{{else}}x{{end}}", "d\n"),
        ("{{json .Labels}}", '{"a":"1","b":"2"}\n'),
        ("{{join .RepoTags \",\"}}", "v1,v2\n"),
        ("{{.Digest | upper}}", "SHA256:ABC\n"),
        ("{{.Env}}", "<no value>\n"),
        ("a\\tb\\n", "a\tb\n"),
        ("{{len .RepoTags}}", "2\n"),
        ('{{printf "%s-%d" .Digest 3}}', "sha256:abc-3\n"),
        ("{{- .Digest -}} x", "sha256:abcx\n"),
    ],
)
def test_templates(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


def test_template_errors() -> None:
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        render("{{.Nope}}", DATA)
    with pytest.raises(TemplateError, match='function "bogus" not defined'):
        render("{{bogus .Name}}", DATA)
    with pytest.raises(TemplateError, match="unexpected EOF"):
        render("{{if .Name}}", DATA)
