"""Plugin commands declared with typer, run by skopeo's command line: pflag's
grammar (optional-value booleans, ``--flag=false``, slices, durations, global
flags after the command), cobra's help and errors, typer's ways of ending a
command, and the typer features that are refused (in-process, through the
same ``main`` as the console script)."""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
import typer

from skopeo import plugins
from skopeo.cli import main
from skopeo.cli.invocation import Invocation
from skopeo.hookspecs import hookimpl


class Color(enum.Enum):
    red = "red"
    blue = "blue"


calls: list[dict[str, Any]] = []
app = typer.Typer()


@app.command("demo", short_help="A demo command", epilog="skopeo demo a b")
def demo(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(metavar="NAME...")],
    tls_verify: Annotated[bool | None, typer.Option(help="require HTTPS")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Say less")] = False,
    count: Annotated[int, typer.Option(help="How many")] = 1,
    color: Annotated[Color, typer.Option(help="Which color")] = Color.red,
    tag: Annotated[list[str] | None, typer.Option(help="Tags")] = None,
    timeout: Annotated[datetime.timedelta | None, typer.Option(help="How long")] = None,
    token: Annotated[str | None, typer.Option(envvar="DEMO_TOKEN", help="A token")] = None,
) -> None:
    """Demonstrate a plugin command."""
    invocation: Invocation = ctx.obj
    calls.append({"names": names, "tls_verify": tls_verify, "quiet": quiet, "count": count, "color": color,
                  "tag": tag, "timeout": timeout, "token": token, "debug": invocation.globals.debug})
    if "exit3" in names:
        raise typer.Exit(3)
    invocation.write("done\n")


bad_app = typer.Typer()


@bad_app.command("bad")
def bad(level: Annotated[int, typer.Option(callback=lambda v: v)] = 0) -> None:
    """Uses a typer callback, which skopeo's grammar cannot run."""


class DemoPlugin:
    def __init__(self, *apps: Any) -> None:
        self.apps = apps

    @hookimpl
    def register_commands(self, register: Callable[[Any], None]) -> None:
        for a in self.apps:
            register(a)


@pytest.fixture(autouse=True)
def demo_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DEMO_TOKEN", raising=False)
    install(app)
    calls.clear()
    yield
    plugins.set_manager(None)


def install(*apps: Any) -> None:
    pm = plugins.new_manager(load_entry_points=False)
    pm.register(DemoPlugin(*apps), name="demo-plugin")
    plugins.set_manager(pm)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    match = re.search(r'level=fatal msg="((?:[^"\\]|\\.)*)"', err)
    return code, out, match.group(1).replace('\\"', '"') if match else err


def test_values_in_pflag_grammar(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(capsys, "demo", "a", "b", "--tls-verify", "-q", "--count=2", "--tag", "x,y", "--tag=z",
               "--color", "blue", "--timeout", "1m30s", "--debug") == (0, "done\n", "")
    assert calls[-1] == {"names": ["a", "b"], "tls_verify": True, "quiet": True, "count": 2, "color": Color.blue,
                         "tag": ["x", "y", "z"], "timeout": datetime.timedelta(seconds=90), "token": None,
                         "debug": True}
    # Unset: the declared defaults; an optional-value boolean says False only when told.
    run(capsys, "demo", "a")
    assert calls[-1] | {"names": None} == {"names": None, "tls_verify": None, "quiet": False, "count": 1,
                                           "color": Color.red, "tag": None, "timeout": None, "token": None,
                                           "debug": False}
    run(capsys, "demo", "--tls-verify=false", "--quiet=false", "a")
    assert (calls[-1]["tls_verify"], calls[-1]["quiet"]) == (False, False)
    monkeypatch.setenv("DEMO_TOKEN", "from-env")
    run(capsys, "demo", "a")
    assert calls[-1]["token"] == "from-env"
    run(capsys, "demo", "a", "--token", "flag")
    assert calls[-1]["token"] == "flag"


def test_errors_are_cobras(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "demo") == (1, "", "requires at least 1 arg(s), only received 0")
    assert run(capsys, "demo", "a", "--count=abc") == (
        1, "", 'invalid argument "abc" for "--count" flag: strconv.ParseInt: parsing "abc": invalid syntax')
    assert run(capsys, "demo", "a", "--color", "green") == (
        1, "", 'invalid argument "green" for "--color" flag: must be one of red, blue')
    code, _, message = run(capsys, "demo", "a", "--nosuch")
    assert (code, message) == (1, "unknown flag: --nosuch")
    assert calls == []
    # typer.Exit(code) ends the command with that status.
    assert run(capsys, "demo", "exit3")[0] == 3


def test_help_is_cobras(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--help")
    assert code == 0
    # skopeo's own template (upstream's usage and example lines are not indented).
    assert out.startswith("Demonstrate a plugin command.\n\nUsage:\nskopeo demo [command options] NAME...\n\n"
                          "Examples:\nskopeo demo a b\n\nFlags:\n")
    assert re.search(r"\n      --tls-verify\s+require HTTPS\n", out)
    assert re.search(r"\n  -q, --quiet\s+Say less\n", out)
    assert re.search(r'\n      --color string\s+Which color \(default "red"\)\n', out)
    # Listed among skopeo's commands, with its short help.
    code, out, _ = run(capsys, "--help")
    assert re.search(r"\n  demo\s+A demo command\n", out)


def test_unsupported_typer_features_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """When the command is built: to run it, or for help (which builds every command)."""
    install(app, bad_app)
    refused = ("command 'bad' of plugin 'demo-plugin', parameter 'level': typer's callback= is not supported by "
               "skopeo's command line")
    assert run(capsys, "bad") == (1, "", refused)
    assert run(capsys, "--help") == (1, "", refused)
    assert run(capsys, "demo", "a") == (0, "done\n", "")
