"""The part of Go's ``text/template`` that users put in ``--format``: field
chains, pipelines, ``if``/``else``/``range``/``with``/``end``, variables, and the
functions containers/common registers (``json``, ``join``, ``index``, ``lower``,
``upper``, ``title``, ``split``, ``len``, ``printf``, ``pad``, ``truncate``).
Values print as Go prints them (``[a b]``, ``map[k:v]``, ``<no value>``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import SkopeoError
from .imageconfig import GoTime


class TemplateError(SkopeoError):
    pass


def go_str(value: Any) -> str:
    """Format a value the way ``fmt.Print`` (``%v``) does."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, GoTime):
        return value.json
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_jsonable(v) for v in value]
    return value


def _truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str | list | tuple | dict):
        return bool(value)
    return True


def _printf(fmt: str, *args: Any) -> str:
    out, i, argi = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%" and i + 1 < len(fmt):
            verb = fmt[i + 1]
            i += 2
            if verb == "%":
                out.append("%")
                continue
            arg = args[argi] if argi < len(args) else None
            argi += 1
            if verb == "q":
                out.append(json.dumps(go_str(arg), ensure_ascii=False))
            elif verb == "d":
                out.append(str(int(arg)) if arg is not None else "%!d(MISSING)")
            else:
                out.append(go_str(arg))
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _json_fn(value: Any) -> str:
    from .gojson import marshal_no_html_escape

    return marshal_no_html_escape(_to_jsonable(value))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": _json_fn,
    "join": lambda items, sep: sep.join(go_str(i) for i in (items or [])),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: go_str(s).title(),
    "split": lambda s, sep: go_str(s).split(sep),
    "len": lambda v: len(v) if v is not None else 0,
    "printf": _printf,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "pad": lambda s, left, right: " " * int(left) + go_str(s) + " " * int(right),
    "truncate": lambda s, n: go_str(s)[: int(n)],
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "not": lambda a: not _truthy(a),
    "and": lambda *a: next((x for x in a if not _truthy(x)), a[-1] if a else None),
    "or": lambda *a: next((x for x in a if _truthy(x)), a[-1] if a else None),
}


def _index(value: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(value, dict):
            value = value.get(k)
        elif isinstance(value, list | tuple):
            value = value[int(k)]
        else:
            raise TemplateError(f"can't index item of type {type(value).__name__}")
    return value


FUNCTIONS["index"] = _index

# --- parsing ---------------------------------------------------------------------
_ACTION_RE = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<num>-?\d+)
      | (?P<assign>:=)
      | (?P<pipe>\|)
      | (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<comma>,)
      | (?P<field>(?:\$[A-Za-z0-9_]*|\.)?(?:\.[A-Za-z0-9_]+)+|\.|\$[A-Za-z0-9_]*)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X,
)


@dataclass
class _Node:
    kind: str  # text, action, if, range, with
    text: str = ""
    pipeline: list[Any] = field(default_factory=list)
    decl: list[str] = field(default_factory=list)
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


def _tokenize(src: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    src = src.strip()
    while pos < len(src):
        m = _TOKEN_RE.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"template: unexpected {src[pos:]!r} in command")
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
    return out


def _parse_pipeline(tokens: list[tuple[str, str]]) -> tuple[list[str], list[Any]]:
    decl: list[str] = []
    if any(k == "assign" for k, _ in tokens):
        while tokens and tokens[0][0] != "assign":
            kind, val = tokens.pop(0)
            if kind == "field" and val.startswith("$"):
                decl.append(val)
            elif kind != "comma":
                raise TemplateError("template: bad variable declaration")
        tokens.pop(0)
    commands: list[Any] = [[]]
    stack: list[list[Any]] = []
    for kind, val in tokens:
        if kind == "pipe":
            commands.append([])
        elif kind == "lparen":
            stack.append(commands)
            commands = [[]]
        elif kind == "rparen":
            inner = commands
            commands = stack.pop()
            commands[-1].append(("sub", inner))
        else:
            commands[-1].append((kind, val))
    return decl, commands


def parse(src: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[_Node, list[_Node]]] = []
    current = root
    pos = 0
    for m in _ACTION_RE.finditer(src):
        text = src[pos : m.start()]
        if m.group(1):
            text = text.rstrip()
        if text:
            current.append(_Node("text", text))
        pos = m.end()
        if m.group(3):
            rest = src[pos:]
            stripped = rest.lstrip()
            pos += len(rest) - len(stripped)
        body = m.group(2).strip()
        if body.startswith("/*"):
            continue
        word = body.split(None, 1)[0] if body else ""
        rest_src = body[len(word):]
        if word in ("if", "range", "with"):
            node = _Node(word)
            node.decl, node.pipeline = _parse_pipeline(_tokenize(rest_src))
            current.append(node)
            stack.append((node, current))
            current = node.body
        elif word == "else":
            if not stack:
                raise TemplateError("template: unexpected {{else}}")
            node, parent = stack[-1]
            if rest_src.strip().startswith("if"):
                # {{else if X}} is {{else}}{{if X}} … sharing the same {{end}}.
                inner = _Node("if")
                inner.decl, inner.pipeline = _parse_pipeline(_tokenize(rest_src.strip()[2:]))
                node.orelse.append(inner)
                stack[-1] = (inner, parent)
                current = inner.body
            else:
                current = node.orelse
        elif word == "end":
            if not stack:
                raise TemplateError("template: unexpected {{end}}")
            node, current = stack.pop()
        else:
            node = _Node("action")
            node.decl, node.pipeline = _parse_pipeline(_tokenize(body))
            current.append(node)
    if stack:
        raise TemplateError("template: unexpected EOF")
    tail = src[pos:]
    if tail:
        current.append(_Node("text", tail))
    return root


# --- execution -------------------------------------------------------------------
class _Exec:
    def __init__(self, root: Any, type_name: str) -> None:
        self.vars: list[dict[str, Any]] = [{"$": root}]
        self.type_name = type_name

    def lookup_var(self, name: str) -> Any:
        for scope in reversed(self.vars):
            if name in scope:
                return scope[name]
        raise TemplateError(f'template: undefined variable "{name}"')

    def field_chain(self, base: Any, chain: list[str], expr: str) -> Any:
        for name in chain:
            if isinstance(base, dict):
                if name not in base:
                    raise TemplateError(
                        f'template: executing "" at <{expr}>: can\'t evaluate field {name} in type {self.type_name}'
                    )
                base = base[name]
            elif base is None:
                return None
            else:
                raise TemplateError(
                    f'template: executing "" at <{expr}>: can\'t evaluate field {name} in type {type(base).__name__}'
                )
        return base

    def arg(self, tok: tuple[str, Any], dot: Any) -> Any:
        kind, val = tok
        if kind == "str":
            return json.loads(val) if val.startswith('"') else val[1:-1]
        if kind == "num":
            return int(val)
        if kind == "sub":
            return self.pipeline(val, dot)
        if kind == "field":
            if val == ".":
                return dot
            if val.startswith("$"):
                var, _, rest = val.partition(".")
                base = self.lookup_var(var)
                return self.field_chain(base, rest.split(".") if rest else [], val)
            return self.field_chain(dot, val[1:].split("."), val)
        if kind == "ident":
            if val in ("true", "false"):
                return val == "true"
            if val == "nil":
                return None
            fn = FUNCTIONS.get(val)
            if fn is None:
                raise TemplateError(f'template: function "{val}" not defined')
            return fn()
        raise TemplateError(f"template: unexpected {val!r}")

    def command(self, cmd: list[Any], dot: Any, piped: list[Any]) -> Any:
        if not cmd:
            raise TemplateError("template: missing value for command")
        head = cmd[0]
        if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
            fn = FUNCTIONS.get(head[1])
            if fn is None:
                raise TemplateError(f'template: function "{head[1]}" not defined')
            args = [self.arg(t, dot) for t in cmd[1:]] + piped
            try:
                return fn(*args)
            except TemplateError:
                raise
            except Exception as e:
                raise TemplateError(f"template: error calling {head[1]}: {e}") from None
        if len(cmd) > 1 or piped:
            raise TemplateError(f"template: can't give argument to non-function {head[1]}")
        return self.arg(head, dot)

    def pipeline(self, commands: list[Any], dot: Any) -> Any:
        value: Any = None
        for i, cmd in enumerate(commands):
            value = self.command(cmd, dot, [value] if i else [])
        return value

    def run(self, nodes: list[_Node], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                value = self.pipeline(node.pipeline, dot)
                if node.decl:
                    self.vars[-1][node.decl[0]] = value
                else:
                    out.append("<no value>" if value is None else go_str(value))
            elif node.kind in ("if", "with"):
                value = self.pipeline(node.pipeline, dot)
                if node.decl:
                    self.vars[-1][node.decl[0]] = value
                if _truthy(value):
                    self.run(node.body, value if node.kind == "with" else dot, out)
                else:
                    self.run(node.orelse, dot, out)
            elif node.kind == "range":
                value = self.pipeline(node.pipeline, dot)
                items: list[tuple[Any, Any]]
                if isinstance(value, dict):
                    items = [(k, value[k]) for k in sorted(value)]
                elif isinstance(value, list | tuple):
                    items = list(enumerate(value))
                elif value is None:
                    items = []
                else:
                    raise TemplateError(f"template: range can't iterate over {go_str(value)}")
                if not items:
                    self.run(node.orelse, dot, out)
                for key, item in items:
                    self.vars.append({})
                    if len(node.decl) == 1:
                        self.vars[-1][node.decl[0]] = item
                    elif len(node.decl) == 2:
                        self.vars[-1][node.decl[0]] = key
                        self.vars[-1][node.decl[1]] = item
                    self.run(node.body, item, out)
                    self.vars.pop()


def normalize_format(fmt: str) -> str:
    """containers/common's NormalizeFormat: ``\\t``/``\\n`` escapes become real
    characters and a trailing newline is added."""
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    if not fmt.endswith("\n"):
        fmt += "\n"
    return fmt


def render(fmt: str, data: Any, type_name: str = "inspect.Output") -> str:
    """Render ``--format`` *fmt* over *data* the way skopeo's report writer does."""
    table = fmt.startswith("table ")
    if table:
        fmt = fmt[len("table "):]
    nodes = parse(normalize_format(fmt))
    out: list[str] = []
    _Exec(data, type_name).run(nodes, data, out)
    text = "".join(out)
    if table:
        text = _tabulate(text)
    return text


def _tabulate(text: str) -> str:
    """Align tab-separated columns (Go's tabwriter with padding 2)."""
    rows = [line.split("\t") for line in text.split("\n")]
    widths: dict[int, int] = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell))
    return "\n".join(
        "".join(cell.ljust(widths[i] + 2) for i, cell in enumerate(row[:-1])) + row[-1] for row in rows
    )
