"""docs/api.md's examples, run in order in one namespace against a real
registry (REGISTRY) and the sample layout (SAMPLE), in an empty directory.
An example for a library skopeo does not depend on (``# needs: tqdm``) runs
when that library is installed; otherwise it is compiled, and every event
and field it names is checked against skopeo.events.  The page's event table
is checked against the event classes too."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from skopeo import events
from skopeo.testing.registry import Registry

PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)


def needs(code: str) -> str | None:
    first = code.splitlines()[0]
    return first.removeprefix("# needs:").strip() if first.startswith("# needs:") else None


def event_names_used(code: str) -> tuple[set[str], set[str]]:
    """(``events.X`` names, ``event.y`` attribute names) in *code*."""
    classes, fields = set(), set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "events":
                classes.add(node.attr)
            elif node.value.id == "event":
                fields.add(node.attr)
    return classes, fields


def all_event_classes() -> dict[str, type[events.Event]]:
    return {name: cls for name, cls in vars(events).items()
            if isinstance(cls, type) and issubclass(cls, events.Event) and cls is not events.Event}


def test_the_examples_run(registry: Registry, sample_layout: Path, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    conf = tmp_path / "registries.conf"
    conf.write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    namespace: dict[str, Any] = {"REGISTRY": registry.host, "SAMPLE": str(sample_layout)}
    ran = 0
    for n, code in enumerate(blocks()):
        library = needs(code)
        if library is not None and importlib.util.find_spec(library) is None:
            compile(code, f"docs/api.md example {n}", "exec")
            classes, fields = event_names_used(code)
            known = all_event_classes()
            assert classes <= set(known) | {"fan_out", "serialized"}, f"example {n}: {classes - set(known)}"
            assert fields <= {f for cls in known.values() for f in cls._fields}, f"example {n}: unknown event fields"
            continue
        exec(compile(code, f"docs/api.md example {n}", "exec"), namespace)
        ran += 1
    assert ran >= 8
    out = capsys.readouterr().out
    assert "blob sha256:" in out and "done: sha256:" in out  # the callback consumer printed
    assert "copied sha256:" in out  # the mirroring script reported


def test_the_event_table_lists_every_event_with_its_fields() -> None:
    rows = re.findall(r"^\| `(\w+)` \|([^|]*)\|", PAGE.read_text(), re.M)
    table = {name: [f.strip(" `") for f in fields.split(",") if f.strip()] for name, fields in rows
             if name in all_event_classes()}
    assert set(table) == set(all_event_classes())
    for name, cls in all_event_classes().items():
        assert table[name] == list(cls.__match_args__), name
