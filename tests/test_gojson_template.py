import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from skopeo import manifest as mf
from skopeo.golang import gojson
from skopeo.golang.gotemplate import GoTime, TemplateError, render, tabwriter_unflushed
from skopeo.golang.gotime import go_time_json, go_time_string
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import OCILayoutWriter, gzip_bytes, random_layer_tar

Run = Callable[..., CompletedProcess[str]]


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
        ("{{.Digest | printf \"%q\"}}", '"sha256:abc"\n'),
        ("{{.RepoTags | len}}", "2\n"),
        ("{{.Env}}", "<no value>\n"),
        ("a\\tb\\nc", "a       b\nc\n"),
        ("table {{.Digest}}", "sha256:abc\n"),
        ("{{len .RepoTags}}", "2\n"),
        ('{{printf "%s-%d" .Digest 3}}', "sha256:abc-3\n"),
        ("{{- .Digest -}} x", "sha256:abcx\n"),
    ],
)
def test_templates(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


def test_template_errors() -> None:
    with pytest.raises(TemplateError, match=r"can't evaluate field Nope in type interface \{\}"):
        render("{{.Digest.Nope}}", DATA)
    assert render("{{.Nope}}", DATA) == "<no value>\n"  # a map: a missing key is no error
    with pytest.raises(TemplateError, match='function "bogus" not defined'):
        render("{{bogus .Name}}", DATA)
    with pytest.raises(TemplateError, match="unexpected EOF"):
        render("{{if .Name}}", DATA)
    # containers/common's extra functions are not available to skopeo inspect.
    with pytest.raises(TemplateError, match='function "json" not defined'):
        render("{{json .Labels}}", DATA)


def test_partial_output_before_an_execution_error() -> None:
    with pytest.raises(TemplateError) as exc:
        render("x\\n{{.Digest.Nope}}", DATA)
    assert exc.value.partial == "x\n"
    assert str(exc.value) == ('template: skopeo inspect:2:9: executing "skopeo inspect" at <.Digest.Nope>: '
                              "can't evaluate field Nope in type interface {}")


def test_tabwriter_is_never_flushed() -> None:
    assert tabwriter_unflushed("a\tb\n") == ""
    assert tabwriter_unflushed("a\tb\nlonger-than-8\tz\nq\n") == "a              b\nlonger-than-8  z\nq\n"
    assert tabwriter_unflushed("x\nno newline") == "x\n"


def _write_image(path: Path, config: dict[str, Any]) -> str:
    w = OCILayoutWriter(str(path))
    layer = w.blob(gzip_bytes(random_layer_tar(1)))
    cfg = w.blob(json.dumps(config).encode())
    m = mf.ImageManifest(mf.OCI_MANIFEST, b"", mf.Descriptor(mf.OCI_CONFIG, cfg.digest, cfg.size),
                         [mf.Descriptor(mf.layer_media_type("oci", "gzip"), layer.digest, layer.size)],
                         {"mediaType": mf.OCI_MANIFEST})
    written = w.blob(m.serialize())
    written.media_type = mf.OCI_MANIFEST
    w.tag(written, "t")
    return f"oci:{path}:t"


RICH_CONFIG: dict[str, Any] = {
    "created": "2026-01-02T03:04:05.5+02:00", "author": "me", "architecture": "arm64", "variant": "v8",
    "os": "linux", "os.version": "10.0", "os.features": ["win32k"],
    "config": {"User": "root", "ExposedPorts": {"80/tcp": {}, "443/tcp": {}}, "Env": ["A=1"], "Entrypoint": ["/e"],
               "Cmd": ["c"], "Volumes": {"/data": {}}, "WorkingDir": "/w", "Labels": {"b": "2", "a": "1"},
               "StopSignal": "SIGTERM", "ArgsEscaped": True},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
    "history": [{"created": "2026-01-02T03:04:05Z", "created_by": "x", "comment": "c", "author": "a",
                 "empty_layer": True}, {}],
}
BARE_CONFIG: dict[str, Any] = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}

INSPECT_FORMATS = [
    '{{"abc}}', "{{'a}}", '{{"a\\"b"}}', "{{'\\''}}", '{{"a\nb"}}',
    "{{.Name", "{{.Name}", "{{if .Name}}x", "{{range .Layers}}x", "a{{end}}", "{{.Name | nosuch}}", "{{.Nope}}",
    "x\n{{.Nope}}", "x{{.Nope}}", "{{.Name.Foo}}", "{{index .Labels 1}}", "{{$.Foo}}", "{{.RepoTags.Foo}}",
    "{{.Created.Foo}}", "{{.Digest.Foo}}", "{{range .Layers}}{{.Foo}}{{end}}", "{{len}}", "{{len 1 2}}",
    "{{.Os 1}}", "{{index .Layers 5}}", "{{index .RepoTags 0}}", "{{nil}}", "{{}}", "{{range}}{{end}}", "{{$x}}",
    "{{if}}{{end}}", "{{eq .Os 1}}", "{{lt .Os 1}}", "{{.Labels.x | len}}", "{{len .Labels.x}}",
    "{{index .Labels.x 1}}", "{{printf 1}}", "{{.Os | .Architecture}}", "{{1 | len}}", "{{(.Os).Foo}}",
    '{{"x".Foo}}', '{{"abc', "{{.Os)}}", "{{(.Os}}", "{{.Os | 1}}", "{{.Os}}{{/* x", '{{template "x"}}',
    '{{define "x"}}{{end}}', "{{with $x := .Os}}{{$x}}{{end}}{{$x}}", "{{json .Labels}}", "{{.Created.Year 1}}",
    # output
    "{{.Created}}|{{.Labels}}|{{.Env}}|{{.RepoTags}}|{{.Tag}}|{{.Name}}", "{{.Created.Year}} {{.Created.Month}}",
    "{{.Digest.Encoded}} {{.Digest.Algorithm}}", "{{.Labels.foo}} {{.Labels.Foo.Bar}}", "{{else}}",
    "{{with .Labels}}{{.Foo}}{{end}}", "{{not .Labels.x}}", '{{print .Labels.x 1 2 "a" "b"}}',
    '{{printf "%d %s %v" .Os}}', '{{printf "%s" .Os 1}}', '{{index .Labels "zz"}}|{{index .Os 0}}',
    '{{eq .Os "linux" "x"}}', "{{or .Name .Os}}", "{{and .Name .Os}}", '{{html "<a>"}}',
    "{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}", "{{range $i, $e := .Layers}}{{$i}}{{$e}}{{end}}",
    "{{range .Layers}}{{break}}{{end}}", "{{3.0}} {{1e6}} {{0x10}} {{'a'}} {{1e21}} {{0.0001}} {{0.00001}}",
    "a\\tb", "a\\tb\\nc", "table {{.Os}}\\t{{.Architecture}}", "table {{.Os}}", '{{"a\\tb"}}',
    "{{.Os}}\\t{{.Architecture}}\\nlonger-than-8\\tz\\nq", "{{/* c */}}x", "{{- .Os -}} x",
]

CONFIG_FORMATS = [
    "{{.Architecture}}", "{{.architecture}}", "{{.OS}} {{.Config.Env}}", "{{.Created}}", "{{.}}", "{{.Config}}",
    "{{.RootFS}}", "{{.History}}", "{{.OSFeatures}}|{{.OSVersion}}|{{.Variant}}|{{.Author}}",
    "{{.Config.ArgsEscaped}} {{.Config.ExposedPorts}} {{.Config.Volumes}} {{.Config.Labels}}",
    "{{.Config.User}}|{{.Config.WorkingDir}}|{{.Config.StopSignal}}|{{.Config.Entrypoint}}|{{.Config.Cmd}}",
    "{{range $k, $v := .Config.Volumes}}{{$k}}={{$v}};{{end}}", '{{index .Config.ExposedPorts "80/tcp"}}',
    "{{range .History}}{{.Created}}|{{.CreatedBy}}|{{.Author}}|{{.Comment}}|{{.EmptyLayer}};{{end}}",
    "{{.RootFS.DiffIDs}} {{.RootFS.Type}}", "{{(index .RootFS.DiffIDs 0).Encoded}}", "{{.Created.Year}}",
    "{{if .Created}}y{{else}}n{{end}}", '{{printf "%v %T" .History .Config}}', "{{.Name",
    "x\n{{.Nope}}", "{{.Config.Nope}}", "{{range .History}}{{.Nope}}{{end}}", "{{.RootFS.Nope}}", "{{$.Foo}}",
    "{{.Created.Foo}}", "{{index .Config.Labels 1}}", "{{.History.Foo}}", "a\\tb\\nc",
]


def _same(ours: CompletedProcess[str], theirs: CompletedProcess[str]) -> None:
    assert ours.returncode == theirs.returncode, (ours.stderr, theirs.stderr)
    assert ours.stdout == theirs.stdout
    if theirs.returncode:
        assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)


@pytest.mark.oracle
@pytest.mark.parametrize("fmt", INSPECT_FORMATS)
def test_inspect_format_matches_reference(run_skopeo: Run, oracle: Run, sample_layout: Path, fmt: str) -> None:
    ref = f"oci:{sample_layout}:hello"
    _same(run_skopeo("inspect", "--format", fmt, ref), oracle("inspect", "--format", fmt, ref))


@pytest.mark.oracle
@pytest.mark.parametrize("config", [RICH_CONFIG, BARE_CONFIG], ids=["rich", "bare"])
@pytest.mark.parametrize("fmt", CONFIG_FORMATS)
def test_inspect_config_format_matches_reference(run_skopeo: Run, oracle: Run, tmp_path: Path, fmt: str,
                                                 config: dict[str, Any]) -> None:
    ref = _write_image(tmp_path / "img", config)
    _same(run_skopeo("inspect", "--config", "--format", fmt, ref), oracle("inspect", "--config", "--format", fmt, ref))


@pytest.mark.oracle
@pytest.mark.parametrize("config", [RICH_CONFIG, BARE_CONFIG], ids=["rich", "bare"])
def test_inspect_format_values_match_reference(run_skopeo: Run, oracle: Run, tmp_path: Path,
                                               config: dict[str, Any]) -> None:
    ref = _write_image(tmp_path / "img", config)
    fmt = "{{.Created}}|{{.Labels}}|{{.Env}}|{{.Architecture}}|{{.Os}}|{{.Created.Year}}"
    _same(run_skopeo("inspect", "--format", fmt, ref), oracle("inspect", "--format", fmt, ref))


@pytest.mark.oracle
@pytest.mark.parametrize("fmt", CONFIG_FORMATS)
def test_inspect_config_format_sample_matches_reference(run_skopeo: Run, oracle: Run, sample_layout: Path,
                                                        fmt: str) -> None:
    ref = f"oci:{sample_layout}:hello"
    _same(run_skopeo("inspect", "--config", "--format", fmt, ref),
          oracle("inspect", "--config", "--format", fmt, ref))
