"""Go templates as ``skopeo inspect --format`` runs them: upstream main's
(containers/common ``report``: its functions, ``{{range .}}…{{end -}}``
around the format, tables through a flushed tabwriter; Go 1.27's
``text/template``).  The command-line cases compare with outputs recorded from
upstream main (``tests/data/inspect_format_upstream.json``) and, when it is
built here, with upstream main itself.  To record again:
``python tests/test_gojson_template.py --record``."""

import json
import sys
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from samples import HELLO_OCI as SAMPLE_LAYOUT
from skopeo import manifest as mf
from skopeo.golang import gojson
from skopeo.golang.gotemplate import GoTime, TemplateError, tabwriter_unflushed
from skopeo.golang.gotime import go_time_json, go_time_string
from skopeo.report import render
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import OCILayoutWriter, gzip_bytes, random_layer_tar
from skopeo.testing.require import DEFAULT_UPSTREAM, find_upstream_main

Run = Callable[..., CompletedProcess[str]]
UPSTREAM = find_upstream_main() or DEFAULT_UPSTREAM
RECORDED = Path(__file__).parent / "data" / "inspect_format_upstream.json"


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
        ("{{with .Name}}n{{else with .Digest}}{{.}}{{end}}", "sha256:abc\n"),
        ("{{.Digest | printf \"%q\"}}", '"sha256:abc"\n'),
        ("{{.RepoTags | len}}", "2\n"),
        ("{{.Env}}", "<no value>\n"),
        ("a\\tb\\nc", "a\tb\nc\n"),  # no tabwriter outside tables
        ("table {{.Digest}}", "sha256:abc\n"),
        ("table {{.Digest}}\\t{{len .RepoTags}}\\nlonger-than-12\\tz", "sha256:abc      2\nlonger-than-12  z\n"),
        ("{{len .RepoTags}}", "2\n"),
        ('{{printf "%s-%d" .Digest 3}}', "sha256:abc-3\n"),
        ("{{- .Digest -}} x", "sha256:abcx\n"),
        ("{{range .}}{{.Digest}}{{end}}!", "sha256:abc!\n"),  # a range over the list already: not wrapped
        ("{{range 3}}{{.}}{{end}}", "012\n"),
        ("{{json .Labels}} {{upper .Digest}} {{join (split \"v1,v2\" \",\") \"+\"}}", '{"a":"1","b":"2"} SHA256:ABC v1+v2\n'),
        # map[string]interface {} data: a list is a []interface {}, not the []string join wants
        ('{{join .RepoTags "+"}}', None),
        ('{{printf "\\n"}}', "\n"),  # the escape makes it unparsable: the format as typed
    ],
)
def test_templates(template: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(TemplateError, match=r"wrong type for value; expected \[\]string; got \[\]interface \{\}$"):
            render(template, DATA)
    else:
        assert render(template, DATA) == expected


def test_template_errors() -> None:
    with pytest.raises(TemplateError, match=r"can't evaluate field Nope in type interface \{\}"):
        render("{{.Digest.Nope}}", DATA)
    assert render("{{.Nope}}", DATA) == "<no value>\n"  # a map: a missing key is no error
    with pytest.raises(TemplateError, match='function "bogus" not defined'):
        render("{{bogus .Name}}", DATA)
    with pytest.raises(TemplateError, match="unexpected EOF"):
        render("{{if .Name}}", DATA)


def test_partial_output_before_an_execution_error() -> None:
    with pytest.raises(TemplateError) as exc:
        render("x\\n{{.Digest.Nope}}", DATA)
    assert exc.value.partial == "x\n"
    assert str(exc.value) == ('template: skopeo inspect:2:9: executing "skopeo inspect" at <.Digest.Nope>: '
                              "can't evaluate field Nope in type interface {}")
    with pytest.raises(TemplateError) as exc:
        render("table {{.Digest}}\\t{{.Digest.Nope}}", DATA)
    assert exc.value.partial == "sha256:abc"  # flushed: a cell ended by a tab is not padded at the end


def test_tabwriter() -> None:
    assert tabwriter_unflushed("a\tb\n") == ""
    assert tabwriter_unflushed("a\tb\nlonger-than-8\tz\nq\n") == "a              b\nlonger-than-8  z\nq\n"
    assert tabwriter_unflushed("x\nno newline") == "x\n"
    assert tabwriter_unflushed("a\tb\n", 12, flush=True) == "a           b\n"
    assert tabwriter_unflushed("x\nno newline\tz", 12, flush=True) == "x\nno newline  z"
    assert tabwriter_unflushed("a\t", 12, flush=True) == "a"


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


FUNCTION_FORMATS = [
    "{{.Name}}", "{{json .}}", "{{json .Labels}}", "{{ json .Labels }}", "json", "{{json}}", "{{ json. }}",
    "{{.Labels | json}}", '{{join .Layers ","}}', '{{join .RepoTags ","}}', "{{lower .Architecture}}",
    "{{upper .Os}}", '{{title "hello world foo-bar"}}', '{{split "a,b,c" ","}}', "{{truncate .Digest 10}}",
    "{{pad .Os 2 3}}|", '{{pad "" 2 3}}|', "{{upper .Digest}}", "{{.Digest | upper}}", '{{truncate "abc" -1}}',
    '{{pad "x" -1 0}}', "{{join .Env 3}}", "{{json .Created}}", "{{json .LayersData}}", "table {{.Name}} {{.Os}}",
    "table {{.Os}}\\t{{.Architecture}}", "{{range .}}{{.Os}}{{end}}", "{{.Os}}\\t{{.Architecture}}",
    "{{.Os}}\\n{{.Architecture}}", '{{printf "%s\\n" .Os}}', '{{"a\\nb"}}', "{{range .Layers}}{{.}} {{end}}",
    '{{index .Labels "example"}}', "{{nope .Os}}", "{{.Nope}}", "{{json .Nope}}", '{{split .Os ""}}',
    '{{len (split "a,b" ",")}}', '{{join (split "a,b" ",") "-"}}', "{{title .Os}}", "{{lower 3}}", "{{json 3 4}}",
    "{{upper}}", "{{json .Config}}", "{{json .RootFS}}", "{{json .History}}", "{{json .Config.Labels}}",
    "{{range .History}}{{json .}}{{end}}", '{{title "ǆemal ßtraße ᾀ"}}|{{upper "ᾀ ß ǆ ŉ"}}|{{lower "İSTANBUL ǅ"}}',
    '{{truncate "héllo" 2}}|{{truncate "héllo" 10}}|{{truncate "" 0}}',
    '{{split "a.b.c" "."}}{{split "" ","}}{{split "héé" ""}}', '{{join (split "a b" " ") ","}}{{join .Layers 1}}',
    '{{json 1.5}} {{json 3.0}} {{json 1e21}} {{json 0.0000001}} {{json 1e20}} {{json true}} {{json nil}} '
    '{{json "a<b>&\u2028"}}', '{{pad "a" 0 0}}|{{pad .Os 1 0}}|', '{{title "hello_world foo.bar 3x àb"}}',
    "table {{.Architecture}}\\t{{.Os}}\\n{{.Os}}\\t{{.Architecture}}", 'table {{.Architecture}} {{.Os}} {{"with space"}}',
    "table {{json .Labels}} x", "{{range .}}{{json .}}{{end}}", "{{ range . }}{{.Architecture}}{{ end -}} tail",
    "{{range .}}x{{end}} {{range .}}y{{end}}", "{{upper .Architecture | lower}}",
    '{{.Architecture | printf "%s-%s" "x"}}', "{{split .Architecture}}", '{{truncate .Architecture "x"}}',
    "{{pad .Architecture 1.5 2}}", "{{join .Env}}", '{{join nil ","}}', "{{lower nil}}", "{{json .Nope.Deeper}}",
    "table", "table x", " table {{.Os}}", "{{.Os}}\\n\\n", "\\t{{.Os}}\\t", '{{printf "%s\\t%s" .Os .Os}}', '{{"x\\ty"}}',
    "{{.Platform}}", "{{json .Platform}}", "{{.Platform.OS}}", "{{.OS}} {{.Architecture}} {{.Variant}}",
    # Go 1.27's text/template
    "{{range 3}}{{.}}{{end}}", "{{range $i, $e := 3}}{{$i}}{{$e}}{{end}}", "{{range $i := 3}}{{$i}}{{end}}",
    "{{range -1}}x{{else}}none{{end}}", "{{range .Architecture}}{{.}}{{end}}", "{{eq .Labels .Labels}}",
    '{{eq .Digest "x"}}', "{{eq .Digest 1}}", '{{lt .Digest "x"}}', "{{lt .Layers 1}}", "{{lt 1 1.5}}",
    "{{eq 1 1.0}}", "{{len 3}}", "{{index 3 1}}", '{{slice "abc" 1 2}}', "{{slice .Layers 1}}", "{{print 1.0 2}}",
    '{{printf "%v|%s|%d" .Created .Os 3}}', "{{.Created.Nope}}", "{{break}}", "{{continue}}",
    "{{range .Layers}}{{continue}}{{end}}", "{{eq}}", "{{ne 1}}", "{{and}}", "{{or 1}}", "{{not}}", "{{call .Os}}",
    "{{.Os | call}}", "{{html .Labels}}", '{{js "<a>\'"}}', '{{urlquery "a b&c"}}', '{{printf "%q" .Labels}}',
    "{{with $x := 1}}{{$x}}{{else with 2}}{{.}}{{end}}", "{{if 0}}a{{else if 1}}b{{end}}",
    "{{.Labels.example | len}}", '{{index .Labels "example" "x"}}', "{{$}}", "{{$.Os}}", "{{eq .Os nil}}",
    "{{eq nil nil}}", "{{lt nil 1}}", "{{(1)}}", "{{1 2}}", '{{"a" | printf "%s%s" "b"}}', "{{index .Layers -1}}",
    "{{index .Layers 1.5}}", '{{le "a" "b"}} {{ge 2 1}} {{gt 1.5 2}}', "{{len .Created}}",
    "{{range .Created}}x{{end}}", '{{printf "%d" .Os}}', '{{printf "%s" 1.5}}',
    '{{printf "%x" "hi"}} {{printf "%5.2f|%-4d|%04d" 3.14159 7 7}}', "{{print nil}} {{print .Nope}}",
    "{{.Layers.x}}", '{{template "x"}}', '{{define "x"}}d{{end}}{{template "x"}}', '{{printf "%q" .Layers}}',
    '{{printf "%q|%d|%x" .Layers .Layers .Env}}', '{{printf "%5q" .Os}}', '{{printf "%d" .LayersData}}',
]


def _cases() -> list[tuple[str, ...]]:
    """(image, inspect arguments…): "sample" is samples/hello-oci, "rich" and
    "bare" the images _write_image makes of RICH_CONFIG and BARE_CONFIG."""
    cases = [("sample", "--format", f) for f in INSPECT_FORMATS + FUNCTION_FORMATS]
    cases += [(image, "--config", "--format", f) for f in CONFIG_FORMATS for image in ("sample", "rich", "bare")]
    # (upstream prints the address of its config for "{{$}}")
    cases += [("rich", "--config", "--format", f) for f in FUNCTION_FORMATS if f != "{{$}}"]
    cases += [(image, "--format", "{{.Created}}|{{.Labels}}|{{.Env}}|{{.Architecture}}|{{.Os}}|{{.Created.Year}}")
              for image in ("rich", "bare")]
    return cases


def _images(directory: Path) -> dict[str, str]:
    return {"sample": f"oci:{SAMPLE_LAYOUT}:hello", "rich": _write_image(directory / "rich", RICH_CONFIG),
            "bare": _write_image(directory / "bare", BARE_CONFIG)}


def _outcome(returncode: int, stdout: str, stderr: str) -> list[Any]:
    return [returncode, stdout, fatal_message(stderr) if returncode else stderr]


def _run_ours(policy: Path, args: list[str]) -> list[Any]:
    """Our CLI in this process (fast), stdout kept as bytes as upstream writes them."""
    import contextlib
    import io

    from skopeo.cli import main

    out, err = io.BytesIO(), io.StringIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape", write_through=True)
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(err):
        code = main(["--policy", str(policy), "inspect", *args])
    return _outcome(code, out.getvalue().decode("utf-8", "surrogateescape"), err.getvalue())


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


@pytest.fixture(scope="module")
def format_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _images(tmp_path_factory.mktemp("format-images"))


@pytest.mark.parametrize("case", _cases(), ids=lambda c: "|".join(c))
def test_inspect_format_as_upstream(case: tuple[str, ...], recorded: dict[str, Any], format_images: dict[str, str],
                                    policy_file: Path) -> None:
    image, *args = case
    assert _run_ours(policy_file, [*args, format_images[image]]) == recorded[json.dumps(case)]


@pytest.mark.requires("upstream-main")
def test_recorded_outputs_are_upstreams(recorded: dict[str, Any], format_images: dict[str, str],
                                        policy_file: Path) -> None:
    assert _record(format_images, policy_file) == recorded


def _record(images: dict[str, str], policy: Path) -> dict[str, Any]:
    import subprocess

    out = {}
    for case in _cases():
        image, *args = case
        proc = subprocess.run([UPSTREAM, "--policy", str(policy), "inspect", *args, images[image]],
                              capture_output=True, text=True, errors="surrogateescape")
        out[json.dumps(case)] = _outcome(proc.returncode, proc.stdout, proc.stderr)
    return out


if __name__ == "__main__" and "--record" in sys.argv:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        policy_path = Path(tmp) / "policy.json"
        policy_path.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
        RECORDED.parent.mkdir(exist_ok=True)
        RECORDED.write_text(json.dumps(_record(_images(Path(tmp)), policy_path), indent=1) + "\n")
