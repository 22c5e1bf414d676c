"""Go's ``text/template`` as skopeo's ``inspect --format`` uses it, with the
semantics of the Go upstream main is built with (1.27: ranges over integers,
``{{else with}}``, comparison errors naming their types …).

:class:`Template` parses and executes a template with the built-in functions
(``and``, ``or``, ``not``, ``len``, ``index``, ``slice``, ``print``,
``printf``, ``println``, ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``,
``html``, ``js``, ``urlquery``, ``call``) plus a function map of
:class:`GoFunc` (typed as Go checks arguments); :mod:`skopeo.report` adds
containers/common's functions and wraps the user's format as upstream does.
The lexer, parser and evaluator report errors with Go's wording and positions,
values print as ``fmt.Print`` prints them, and output written before an
execution error is kept.  :func:`tabwriter_unflushed` is Go's ``tabwriter``.

Data is Python values with Go types attached: :class:`GoStruct` carries the Go
type of each field; plain ``dict`` data behaves like ``map[string]interface {}``.
``*time.Time`` values are :class:`~skopeo.golang.gotime.GoTime`.

Not implemented: ``{{define}}``/``{{block}}`` (fail to parse), complex numbers,
and most methods (``digest.Digest``'s and a few of ``time.Time``'s exist)."""

from __future__ import annotations

import html as _html
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..errors import SkopeoError
from . import gojson
from .gotime import GoTime

TEMPLATE_NAME = "skopeo inspect"


class TemplateError(SkopeoError):
    """A parse or execution error; *partial* is what reached stdout before it."""

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class GoFunc:
    """A function added to a template's function map, with its Go signature:
    arguments are checked and converted as ``text/template`` does (``string``,
    ``int``, ``[]string``, ``interface {}``); *call* gets the Python values and
    raises :class:`FuncError` for an error (or a Go panic) it returns."""

    params: tuple[str, ...]
    result: str
    call: Callable[..., Any]


class FuncError(Exception):
    """An error returned by a :class:`GoFunc`, reported as ``error calling NAME: …``."""


class _Missing:
    """Go's invalid ``reflect.Value`` (a missing map key, an unset interface)."""

    def __repr__(self) -> str:
        return "<invalid>"


MISSING: Any = _Missing()


@dataclass
class GoStruct:
    """A Go struct value: its type name and its fields (name, Go type, value) in
    order; *json*, when set, is what encoding/json makes of it (as Python data)."""

    type: str
    fields: list[tuple[str, str, Any]]
    json: Any = None
    embedded: tuple[str, ...] = ()  # embedded struct fields, whose fields are promoted

    def field(self, name: str) -> tuple[str, Any] | None:
        for fname, ftype, value in self.fields:
            if fname == name:
                return ftype, value
        for fname, _ftype, value in self.fields:
            if fname in self.embedded and isinstance(value, GoStruct):
                found = value.field(name)
                if found is not None:
                    return found
        return None


# --- Go types and fmt ------------------------------------------------------------
def _split_map(t: str) -> tuple[str, str]:
    depth = 0
    for i, c in enumerate(t[3:], 3):
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return t[4:i], t[i + 1:]
    return "string", "interface {}"


def _elem_type(t: str) -> str:
    if t.startswith("[]"):
        return t[2:]
    if t.startswith("map["):
        return _split_map(t)[1]
    if t == "string":
        return "uint8"
    return "interface {}"


def dynamic_type(value: Any) -> str:
    """The Go type a Python value stands for when no static type is known."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoTime):
        return "*time.Time"
    if isinstance(value, GoStruct):
        return value.type
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "interface {}"


def _go_float(f: float) -> str:
    """``strconv.FormatFloat(f, 'g', -1, 64)`` as ``%v`` prints it."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits))
    x = len(ds) + exp - 1
    neg = "-" if sign else ""
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if exp >= 0:
        return neg + ds + "0" * exp
    point = len(ds) + exp
    if point > 0:
        return neg + ds[:point] + "." + ds[point:]
    return neg + "0." + "0" * -point + ds


def go_str(value: Any, t: str = "") -> str:
    """Format a value the way ``fmt.Print`` (``%v``) does; *t* is its Go type."""
    if value is MISSING:
        return "<invalid reflect.Value>"
    if value is None:
        if t.startswith("[]"):
            return "[]"
        if t.startswith("map["):
            return "map[]"
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, GoTime | int | str):
        return str(value)
    if isinstance(value, GoStruct):
        return "{" + " ".join(go_str(v, ft) for _, ft, v in value.fields) + "}"
    if isinstance(value, list | tuple):
        et = _elem_type(t) if t else ""
        return "[" + " ".join(go_str(v, et) for v in value) + "]"
    if isinstance(value, dict):
        if t == "struct {}":
            return "{}"
        et = _elem_type(t) if t else ""
        return "map[" + " ".join(f"{go_str(k)}:{go_str(value[k], et)}" for k in sorted(value)) + "]"
    return str(value)


def go_quote(s: str) -> str:
    """``strconv.Quote`` (bytes that were not UTF-8 in argv come back as ``\\xNN``)."""
    return gojson.quote(s.encode("utf-8", "surrogateescape"))


def _rune(r: str) -> str:
    """``%#U``."""
    return f"U+{ord(r):04X} '{r}'" if r.isprintable() else f"U+{ord(r):04X}"


# --- lexer -----------------------------------------------------------------------
EOF, ERROR, TEXT, LDELIM, RDELIM, SPACE = "EOF", "error", "text", "{{", "}}", "space"
FIELD, VARIABLE, IDENT, DOT, NUMBER, STRING, RAWSTRING, CHARCONST, BOOL, NIL = (
    "field", "variable", "identifier", ".", "number", "string", "rawstring", "char", "bool", "nil")
CHAR, PIPE, LPAREN, RPAREN, ASSIGN, DECLARE = "charitem", "|", "(", ")", "=", ":="
KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"}
_SPACES = " \t\r\n"


@dataclass
class _Item:
    typ: str
    val: str
    pos: int
    line: int

    def __str__(self) -> str:
        if self.typ == EOF:
            return "EOF"
        if self.typ == ERROR:
            return self.val
        if self.typ in KEYWORDS or self.typ == NIL:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or unicodedata.category(c) == "Nd" if c else False


_NUMBER_RE = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]*)?"
    r"|0[bB][01_]*|0[oO][0-7_]*"
    r"|[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]*)?)i?"
)


def _quoted_end(src: str, start: int) -> int:
    """Index of the quote closing the string or character constant opened at
    *start* (backslash escapes skipped); -1 if a newline or the end comes first."""
    quote, p = src[start], start + 1
    while p < len(src) and src[p] != "\n":
        if src[p] == "\\":
            if p + 1 >= len(src) or src[p + 1] == "\n":
                return -1
            p += 2
        elif src[p] == quote:
            return p
        else:
            p += 1
    return -1


def _lex(src: str) -> list[_Item]:
    items: list[_Item] = []
    pos = 0
    line = 1

    def emit(typ: str, start: int, end: int, start_line: int) -> None:
        items.append(_Item(typ, src[start:end], start, start_line))

    def error(msg: str, start: int, start_line: int) -> list[_Item]:
        items.append(_Item(ERROR, msg, start, start_line))
        return items

    def right_delim_at(p: int) -> tuple[bool, bool]:
        if p + 1 < len(src) and src[p] in _SPACES and src[p + 1] == "-" and src.startswith("}}", p + 2):
            return True, True
        return src.startswith("}}", p), False

    def at_terminator(p: int) -> bool:
        if p >= len(src):
            return True
        return src[p] in _SPACES or src[p] in ".,|:)(" or src.startswith("}}", p)

    while True:
        # text
        x = src.find("{{", pos)
        if x < 0:
            if pos < len(src):
                emit(TEXT, pos, len(src), line)
                line += src.count("\n", pos)
            items.append(_Item(EOF, "", len(src), line))
            return items
        after = x + 2
        trim_left = after + 1 < len(src) and src[after] == "-" and src[after + 1] in _SPACES
        end = x
        if trim_left:
            end = len(src[pos:x].rstrip(_SPACES)) + pos
        if end > pos:
            emit(TEXT, pos, end, line)
        line += src.count("\n", pos, x)
        marker = 2 if trim_left else 0
        if src.startswith("/*", after + marker):
            start_line = line
            p = after + marker + 2
            close = src.find("*/", p)
            if close < 0:
                return error("unclosed comment", x, start_line)
            p = close + 2
            delim, trim = right_delim_at(p)
            if not delim:
                return error("comment ends before closing delimiter", x, start_line)
            line += src.count("\n", after, p)
            p += (2 if trim else 0) + 2
            if trim:
                p = len(src) - len(src[p:].lstrip(_SPACES)) if src[p:].strip(_SPACES) else len(src)
                line += src.count("\n", close, p)
            pos = p
            continue
        items.append(_Item(LDELIM, "{{", x, line))
        pos = after + marker
        line += src.count("\n", after, pos)
        depth = 0
        # inside action
        while True:
            delim, trim = right_delim_at(pos)
            if delim:
                if depth:
                    return error("unclosed left paren", pos, line)
                if trim:
                    pos += 2
                items.append(_Item(RDELIM, "}}", pos, line))
                pos += 2
                if trim:
                    rest = src[pos:]
                    stripped = rest.lstrip(_SPACES)
                    line += rest[: len(rest) - len(stripped)].count("\n")
                    pos += len(rest) - len(stripped)
                break
            if pos >= len(src):
                return error("unclosed action", pos, line)
            start, start_line = pos, line
            c = src[pos]
            if c in _SPACES:
                p = pos
                while p < len(src) and src[p] in _SPACES:
                    p += 1
                n = p - pos
                if src.startswith("-}}", p):
                    # " -}}": the last space belongs to the trim marker.
                    p -= 1
                    if n == 1:
                        continue  # on the space of " -}}"
                line += src.count("\n", pos, p)
                emit(SPACE, pos, p, start_line)
                pos = p
                continue
            if c == "=":
                emit(ASSIGN, pos, pos + 1, line)
                pos += 1
            elif c == ":":
                if src[pos + 1: pos + 2] != "=":
                    return error("expected :=", start, start_line)
                emit(DECLARE, pos, pos + 2, line)
                pos += 2
            elif c == "|":
                emit(PIPE, pos, pos + 1, line)
                pos += 1
            elif c == '"':
                p = _quoted_end(src, pos)
                if p < 0:
                    return error("unterminated quoted string", start, start_line)
                emit(STRING, pos, p + 1, line)
                pos = p + 1
            elif c == "`":
                p = src.find("`", pos + 1)
                if p < 0:
                    return error("unterminated raw quoted string", start, start_line)
                emit(RAWSTRING, pos, p + 1, line)
                line += src.count("\n", pos, p)
                pos = p + 1
            elif c == "'":
                p = _quoted_end(src, pos)
                if p < 0:
                    return error("unterminated character constant", start, start_line)
                emit(CHARCONST, pos, p + 1, line)
                pos = p + 1
            elif c in "$." and not (c == "." and pos + 1 < len(src) and src[pos + 1].isdigit()):
                p = pos + 1
                if at_terminator(p):
                    emit(VARIABLE if c == "$" else DOT, pos, p, line)
                    pos = p
                    continue
                while p < len(src) and _alnum(src[p]):
                    p += 1
                if not at_terminator(p):
                    return error(f"bad character {_rune(src[p])}", start, start_line)
                emit(VARIABLE if c == "$" else FIELD, pos, p, line)
                pos = p
            elif c in "+-." or c.isdigit():
                m = _NUMBER_RE.match(src, pos)
                p = m.end() if m else pos
                if p < len(src) and _alnum(src[p]):
                    return error(f"bad number syntax: {go_quote(src[pos:p + 1])}", start, start_line)
                emit(NUMBER, pos, p, line)
                pos = p
            elif _alnum(c):
                p = pos
                while p < len(src) and _alnum(src[p]):
                    p += 1
                if not at_terminator(p):
                    return error(f"bad character {_rune(src[p])}", start, start_line)
                word = src[pos:p]
                if word in KEYWORDS:
                    typ = word
                elif word == "nil":
                    typ = NIL
                elif word in ("true", "false"):
                    typ = BOOL
                else:
                    typ = IDENT
                emit(typ, pos, p, line)
                pos = p
            elif c == "(":
                emit(LPAREN, pos, pos + 1, line)
                depth += 1
                pos += 1
            elif c == ")":
                if depth == 0:  # (Go before 1.22 emitted the paren first: "unexpected ")" in command")
                    return error("unexpected right paren", start, start_line)
                emit(RPAREN, pos, pos + 1, line)
                depth -= 1
                pos += 1
            elif ord(c) < 0x80 and c.isprintable():
                emit(CHAR, pos, pos + 1, line)
                pos += 1
            else:
                return error(f"unrecognized character in action: {_rune(c)}", start, start_line)


# --- parse tree ------------------------------------------------------------------
@dataclass
class _Node:
    pos: int

    def __str__(self) -> str:
        return ""


@dataclass
class _Text(_Node):
    text: str = ""


@dataclass
class _Field(_Node):
    ident: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass
class _Variable(_Node):
    ident: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass
class _Identifier(_Node):
    name: str = ""

    def __str__(self) -> str:
        return self.name


@dataclass
class _Literal(_Node):
    """Dot, nil, bool, number and string nodes: *text* as written, *value* as evaluated."""

    kind: str = ""
    text: str = ""
    value: Any = None

    def __str__(self) -> str:
        return self.text


@dataclass
class _Command(_Node):
    args: list[_Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


@dataclass
class _Pipe(_Node):
    decl: list[_Variable] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[_Command] = field(default_factory=list)

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(str(d) for d in self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


@dataclass
class _Chain(_Node):
    node: _Node | None = None
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        s = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return s + "".join("." + f for f in self.fields)


@dataclass
class _Action(_Node):
    pipe: _Pipe | None = None

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass
class _Control(_Node):
    """``if``, ``range``, ``with``, ``break``, ``continue``, ``template``, ``end``, ``else``."""

    kind: str = ""
    pipe: _Pipe | None = None
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] | None = None
    name: str = ""

    def __str__(self) -> str:
        if self.kind == "template":
            return "{{template " + go_quote(self.name) + (f" {self.pipe}" if self.pipe else "") + "}}"
        if self.kind in ("end", "else", "break", "continue"):
            return "{{" + self.kind + "}}"
        return "{{" + self.kind + " " + str(self.pipe) + "}}"


BUILTINS = {"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println",
            "urlquery", "eq", "ge", "gt", "le", "lt", "ne"}


class _Parser:
    def __init__(self, src: str, name: str, funcs: Mapping[str, GoFunc] | None = None) -> None:
        self.src = src
        self.name = name
        self.funcs = funcs or {}
        self.items = _lex(src)
        self.i = 0
        self.last = 0  # the furthest item read (Go's token[0])
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0

    # token stream
    def next(self) -> _Item:
        item = self.items[min(self.i, len(self.items) - 1)]
        self.i += 1
        self.last = max(self.last, self.i - 1)
        return item

    def peek(self) -> _Item:
        item = self.next()
        self.i -= 1
        return item

    def next_non_space(self) -> _Item:
        while True:
            item = self.next()
            if item.typ != SPACE:
                return item

    def peek_non_space(self) -> _Item:
        item = self.next_non_space()
        self.i -= 1
        return item

    def errorf(self, msg: str) -> TemplateError:
        line = self.items[min(self.last, len(self.items) - 1)].line
        return TemplateError(f"template: {self.name}:{line}: {msg}")

    def unexpected(self, item: _Item, context: str) -> TemplateError:
        if item.typ == ERROR:
            extra = ""
            if self.action_line and self.action_line != item.line:
                extra = f" in action started at {self.name}:{self.action_line}"
                if item.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            return self.errorf(f"{item}{extra}")
        return self.errorf(f"unexpected {item} in {context}")

    def expect(self, typ: str, context: str) -> _Item:
        item = self.next_non_space()
        if item.typ != typ:
            raise self.unexpected(item, context)
        return item

    # grammar
    def parse(self) -> list[_Node]:
        root: list[_Node] = []
        while self.peek().typ != EOF:
            if self.peek().typ == LDELIM:
                self.next()
                nxt = self.next_non_space()
                if nxt.typ == "define":
                    raise self.errorf("unexpected <define> in command")
                self.i -= 1
                while self.items[self.i].typ != LDELIM:
                    self.i -= 1
            n = self.text_or_action()
            if isinstance(n, _Control) and n.kind in ("end", "else"):
                raise self.errorf(f"unexpected {n}")
            root.append(n)
        return root

    def text_or_action(self) -> _Node:
        item = self.next_non_space()
        if item.typ == TEXT:
            return _Text(item.pos, item.val)
        if item.typ == LDELIM:
            self.action_line = item.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(item, "input")

    def item_list(self) -> tuple[list[_Node], _Node]:
        nodes: list[_Node] = []
        while self.peek_non_space().typ != EOF:
            n = self.text_or_action()
            if isinstance(n, _Control) and n.kind in ("end", "else"):
                return nodes, n
            nodes.append(n)
        raise self.errorf("unexpected EOF")

    def action(self) -> _Node:
        item = self.next_non_space()
        if item.typ in ("if", "range", "with"):
            return self.control(item.typ)
        if item.typ == "else":
            peek = self.peek_non_space()
            if peek.typ in ("if", "with"):  # {{else with}}: Go 1.23
                return _Control(peek.pos, "else", name=peek.typ)
            tok = self.expect(RDELIM, "else")
            return _Control(tok.pos, "else")
        if item.typ == "end":
            tok = self.expect(RDELIM, "end")
            return _Control(tok.pos, "end")
        if item.typ in ("break", "continue"):
            tok = self.next_non_space()
            if tok.typ != RDELIM:
                raise self.unexpected(tok, f"{{{{{item.typ}}}}}")
            if not self.range_depth:
                raise self.errorf(f"{{{{{item.typ}}}}} outside {{{{range}}}}")
            return _Control(item.pos, item.typ)
        if item.typ == "template":
            tok = self.next_non_space()
            if tok.typ not in (STRING, RAWSTRING):
                raise self.unexpected(tok, "template clause")
            name = self._unquote(tok)
            pipe = None
            if self.next_non_space().typ != RDELIM:
                self.i -= 1
                pipe = self.pipeline("template clause", RDELIM)
            return _Control(tok.pos, "template", pipe=pipe, name=name)
        if item.typ in ("block", "define"):
            raise self.unexpected(item, "command")
        self.i -= 1
        first = self.peek()
        return _Action(first.pos, self.pipeline("command", RDELIM))

    def control(self, kind: str) -> _Control:
        saved_vars = len(self.vars)
        try:
            pipe = self.pipeline(kind, RDELIM)
            if kind == "range":
                self.range_depth += 1
            body, nxt = self.item_list()
            if kind == "range":
                self.range_depth -= 1
            node = _Control(pipe.pos, kind, pipe=pipe, body=body)
            assert isinstance(nxt, _Control)
            if nxt.kind == "else":
                if nxt.name and nxt.name == kind:
                    self.next_non_space()  # the "if" or "with"
                    node.orelse = [self.control(kind)]
                    return node
                if nxt.name:  # {{else if}} only continues an {{if}}, {{else with}} a {{with}}
                    raise self.unexpected(self.next_non_space(), "input")
                node.orelse, nxt2 = self.item_list()
                assert isinstance(nxt2, _Control)
                if nxt2.kind != "end":
                    raise self.errorf(f"expected end; found {nxt2}")
            return node
        finally:
            del self.vars[saved_vars:]

    def pipeline(self, context: str, end: str) -> _Pipe:
        token = self.peek_non_space()
        pipe = _Pipe(token.pos)
        while True:
            v = self.peek_non_space()
            if v.typ != VARIABLE:
                break
            save = self.i
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.typ in (ASSIGN, DECLARE):
                pipe.is_assign = nxt.typ == ASSIGN
                self.next_non_space()
                pipe.decl.append(_Variable(v.pos, [v.val]))
                self.vars.append(v.val)
            elif nxt.typ == CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(_Variable(v.pos, [v.val]))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (VARIABLE, RDELIM, RPAREN):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            else:
                self.i = save
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                if not pipe.cmds:
                    raise self.errorf(f"missing value for {context}")
                for i, c in enumerate(pipe.cmds[1:]):
                    a = c.args[0]
                    if isinstance(a, _Literal):
                        raise self.errorf(f"non executable command in pipeline stage {i + 2}")
                return pipe
            if token.typ in (BOOL, CHARCONST, DOT, FIELD, IDENT, NUMBER, NIL, RAWSTRING, STRING, VARIABLE, LPAREN):
                self.i -= 1
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def command(self) -> _Command:
        cmd = _Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == SPACE:
                continue
            if token.typ in (RDELIM, RPAREN):
                self.i -= 1
            elif token.typ != PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == FIELD:
            chain = _Chain(self.peek().pos, node)
            while self.peek().typ == FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, _Field):
                return _Field(chain.pos, node.ident + chain.fields)
            if isinstance(node, _Variable):
                return _Variable(chain.pos, node.ident + chain.fields)
            if isinstance(node, _Literal):
                raise self.errorf(f"unexpected . after term {go_quote(str(node))}")
            return chain
        return node

    def _unquote(self, item: _Item) -> str:
        if item.typ == RAWSTRING:
            return item.val[1:-1]
        try:
            return _go_unquote(item.val)
        except ValueError:
            raise self.errorf("invalid syntax") from None

    def term(self) -> _Node | None:
        token = self.next_non_space()
        if token.typ == IDENT:
            if token.val not in BUILTINS and token.val not in self.funcs:
                raise self.errorf(f"function {go_quote(token.val)} not defined")
            return _Identifier(token.pos, token.val)
        if token.typ == DOT:
            return _Literal(token.pos, "dot", ".")
        if token.typ == NIL:
            return _Literal(token.pos, "nil", "nil")
        if token.typ == VARIABLE:
            if token.val not in self.vars:
                raise self.errorf(f"undefined variable {go_quote(token.val)}")
            return _Variable(token.pos, [token.val])
        if token.typ == FIELD:
            return _Field(token.pos, [token.val[1:]])
        if token.typ == BOOL:
            return _Literal(token.pos, "bool", token.val, token.val == "true")
        if token.typ in (NUMBER, CHARCONST):
            return _Literal(token.pos, "number", token.val, self._number(token))
        if token.typ == LPAREN:
            return self.pipeline("parenthesized pipeline", RPAREN)
        if token.typ in (STRING, RAWSTRING):
            return _Literal(token.pos, "string", token.val, self._unquote(token))
        self.i -= 1
        return None

    def _number(self, token: _Item) -> int | float:
        text = token.val
        if token.typ == CHARCONST:
            try:
                s = _go_unquote('"' + text[1:-1].replace('"', '\\"') + '"') if text != "'\"'" else '"'
            except ValueError:
                s = ""
            if len(s) != 1:
                raise self.errorf(f"malformed character constant: {text}")
            return ord(s)
        clean = text.replace("_", "")
        try:
            return int(clean, 0)
        except ValueError:
            pass
        try:
            if clean.lower().startswith(("0x", "+0x", "-0x")):
                return float.fromhex(clean)
            return float(clean)
        except ValueError:
            raise self.errorf(f"illegal number syntax: {go_quote(text)}") from None


def _go_unquote(s: str) -> str:
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        raise ValueError(s)
    body = s[1:-1]
    out: list[str] = []
    i = 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
              "'": "'"}
    while i < len(body):
        c = body[i]
        if c == "\n" or c == '"':
            raise ValueError(s)
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1: i + 2]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e in ("x", "u", "U"):
            n = {"x": 2, "u": 4, "U": 8}[e]
            h = body[i + 2: i + 2 + n]
            if len(h) != n or not all(ch in "0123456789abcdefABCDEF" for ch in h):
                raise ValueError(s)
            out.append(chr(int(h, 16)))
            i += 2 + n
        elif e and e in "01234567":
            o = body[i + 1: i + 4]
            if len(o) != 3 or not all(ch in "01234567" for ch in o):
                raise ValueError(s)
            out.append(chr(int(o, 8)))
            i += 4
        else:
            raise ValueError(s)
    return "".join(out)


# --- execution -------------------------------------------------------------------
TV = tuple[Any, str]  # a value and its Go type


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _ExecError(Exception):
    pass


def _truth(value: Any) -> bool:
    if value is MISSING or value is None or value is False:
        return False
    if isinstance(value, GoStruct | GoTime) or value is True:
        return True
    return bool(value)


def _kind(tv: TV) -> str:
    v = tv[0]
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return ""


def _method(value: Any, t: str, name: str) -> Callable[[], TV] | None:
    if t == "digest.Digest" and isinstance(value, str):
        algo, _, enc = value.partition(":")
        table: dict[str, TV] = {"Algorithm": (algo, "digest.Algorithm"), "Encoded": (enc, "string"),
                                "Hex": (enc, "string"), "String": (value, "string")}
        if name in table:
            result = table[name]
            return lambda: result
    if t in ("*time.Time", "time.Time") and name in _TIME_METHODS:
        def call() -> TV:
            if value is None:
                raise _ExecError(f"value method time.Time.{name} called using nil *Time pointer")
            return _TIME_METHODS[name](value)
        return call
    return None


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def _time_parts(t: GoTime) -> list[int]:
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(?:\.(\d+))?", t.json)
    assert m is not None
    parts = [int(x) for x in m.groups()[:6]]
    parts.append(int((m.group(7) or "").ljust(9, "0")))
    return parts


def _unix(t: GoTime) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(re.sub(r"\.\d+", "", t.json).replace("Z", "+00:00")).timestamp())


_TIME_METHODS: dict[str, Callable[[GoTime], TV]] = {
    "Year": lambda t: (_time_parts(t)[0], "int"),
    "Month": lambda t: (_MONTHS[_time_parts(t)[1] - 1], "time.Month"),
    "Day": lambda t: (_time_parts(t)[2], "int"),
    "Hour": lambda t: (_time_parts(t)[3], "int"),
    "Minute": lambda t: (_time_parts(t)[4], "int"),
    "Second": lambda t: (_time_parts(t)[5], "int"),
    "Nanosecond": lambda t: (_time_parts(t)[6], "int"),
    "Unix": lambda t: (_unix(t), "int64"),
    "String": lambda t: (str(t), "string"),
}


class _Exec:
    def __init__(self, tree_src: str, name: str, root: TV, out: list[str],
                 funcs: Mapping[str, GoFunc] | None = None) -> None:
        self.src = tree_src
        self.name = name
        self.funcs = funcs or {}
        self.vars: list[tuple[str, TV]] = [("$", root)]
        self.node: _Node | None = None
        self.out = out

    def at(self, node: _Node) -> None:
        self.node = node

    def errorf(self, msg: str) -> TemplateError:
        node = self.node
        assert node is not None
        pos = node.pos
        text = self.src[:pos]
        nl = text.rfind("\n")
        col = pos if nl < 0 else pos - (nl + 1)
        line = 1 + text.count("\n")
        return TemplateError(f'template: {self.name}:{line}:{col}: executing "{self.name}" at <{node}>: {msg}')

    # variables
    def var(self, name: str) -> TV:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        raise self.errorf(f"undefined variable: {name}")

    def set_var(self, name: str, value: TV) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.errorf(f"undefined variable: {name}")

    # walking
    def walk(self, dot: TV, nodes: list[_Node]) -> None:
        for node in nodes:
            self.at(node)
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                assert node.pipe is not None
                val = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.print_value(node, val)
            elif isinstance(node, _Control):
                self.control(dot, node)

    def control(self, dot: TV, node: _Control) -> None:
        if node.kind == "break":
            raise _Break
        if node.kind == "continue":
            raise _Continue
        if node.kind == "template":
            raise self.errorf(f"template {go_quote(node.name)} not defined")
        mark = len(self.vars)
        try:
            assert node.pipe is not None
            val = self.pipeline(dot, node.pipe)
            if node.kind in ("if", "with"):
                if _truth(val[0]):
                    self.walk(val if node.kind == "with" else dot, node.body)
                elif node.orelse is not None:
                    self.walk(dot, node.orelse)
                return
            self.range(dot, node, val)
        finally:
            del self.vars[mark:]

    def range(self, dot: TV, node: _Control, val: TV) -> None:
        # Errors point at the last node the pipeline evaluated, as Go's do.
        value, t = val
        if isinstance(value, GoTime) or (value is None and t.startswith("*")):
            raise self.errorf(f"range can't iterate over {go_str(value, t)}")
        items: list[tuple[TV, TV]] = []
        et = _elem_type(t)
        assert node.pipe is not None
        if isinstance(value, int) and not isinstance(value, bool):  # Go 1.22
            if len(node.pipe.decl) > 1:
                raise self.errorf(f"can't use {value} to iterate over more than one variable")
            items = [((MISSING, ""), (i, t)) for i in range(value)]
        elif isinstance(value, dict):
            kt = _split_map(t)[0] if t.startswith("map[") else "string"
            items = [((k, kt), self._retype(value[k], et)) for k in sorted(value)]
        elif isinstance(value, list | tuple):
            items = [((i, "int"), self._retype(v, et)) for i, v in enumerate(value)]
        elif value is None or value is MISSING:
            items = []
        else:
            raise self.errorf(f"range can't iterate over {go_str(value, t)}")
        assert node.pipe is not None
        for key, item in items:
            mark = len(self.vars)
            if node.pipe.decl:
                if len(node.pipe.decl) > 1:
                    self._set_decl(node.pipe.decl[0].ident[0], key)
                    self._set_decl(node.pipe.decl[1].ident[0], item)
                else:
                    self._set_decl(node.pipe.decl[0].ident[0], item)
            try:
                self.walk(item, node.body)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]
        if not items and node.orelse is not None:
            self.walk(dot, node.orelse)

    def _set_decl(self, name: str, value: TV) -> None:
        self.vars.append((name, value))

    @staticmethod
    def _retype(value: Any, t: str) -> TV:
        return value, t

    def print_value(self, node: _Node, val: TV) -> None:
        self.at(node)
        value, t = val
        self.out.append("<no value>" if value is MISSING else go_str(value, t))

    # pipelines and commands
    def pipeline(self, dot: TV, pipe: _Pipe) -> TV:
        self.at(pipe)
        value: TV = (MISSING, "")
        final: TV | None = None
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, final)
            if value[1] == "interface {}":
                value = (value[0], dynamic_type(value[0]) if value[0] not in (None, MISSING) else "")
                if value[0] is None:
                    value = (MISSING, "")
            final = value
        for v in pipe.decl:
            if pipe.is_assign:
                self.set_var(v.ident[0], value)
            else:
                self.vars.append((v.ident[0], value))
        return value

    def not_a_function(self, args: list[_Node], final: TV | None) -> None:
        if len(args) > 1 or final is not None:
            raise self.errorf(f"can't give argument to non-function {args[0]}")

    def command(self, dot: TV, cmd: _Command, final: TV | None) -> TV:
        first = cmd.args[0]
        if isinstance(first, _Field):
            self.at(first)
            return self.field_chain(dot, dot, first, first.ident, cmd.args, final)
        if isinstance(first, _Chain):
            return self.chain(dot, first, cmd.args, final)
        if isinstance(first, _Identifier):
            return self.function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _Pipe):
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, first)
        if isinstance(first, _Variable):
            return self.variable(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        assert isinstance(first, _Literal)
        if first.kind == "dot":
            return dot
        if first.kind == "nil":
            raise self.errorf("nil is not a command")
        return self.literal(first)

    def literal(self, node: _Literal) -> TV:
        if node.kind == "bool":
            return node.value, "bool"
        if node.kind == "string":
            return node.value, "string"
        value = node.value
        if isinstance(value, float) and not re.search(r"[.eEpP]", node.text.lstrip("+-")[2:] if node.text.lstrip(
                "+-").lower().startswith("0x") else node.text):
            value = int(value)
        if isinstance(value, float) and value.is_integer() and node.text.lstrip("+-").lower().startswith("0x") \
                and not re.search(r"[pP.]", node.text):
            value = int(value)
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise self.errorf(f"{node.text} overflows int")
        return value, "int" if isinstance(value, int) else "float64"

    def chain(self, dot: TV, chain: _Chain, args: list[_Node], final: TV | None) -> TV:
        self.at(chain)
        assert chain.node is not None
        base = self.arg_value(dot, chain.node)
        return self.field_chain(dot, base, chain, chain.fields, args, final)

    def variable(self, dot: TV, var: _Variable, args: list[_Node], final: TV | None) -> TV:
        self.at(var)
        value = self.var(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.field_chain(dot, value, var, var.ident[1:], args, final)

    def field_chain(self, dot: TV, receiver: TV, node: _Node, ident: list[str], args: list[_Node],
                    final: TV | None) -> TV:
        for name in ident[:-1]:
            receiver = self.field(dot, name, node, [], None, receiver)
        return self.field(dot, ident[-1], node, args, final, receiver)

    def field(self, dot: TV, name: str, node: _Node, args: list[_Node], final: TV | None, receiver: TV) -> TV:
        value, t = receiver
        if value is MISSING:
            return MISSING, ""
        method = _method(value, t if t != "interface {}" else dynamic_type(value), name)
        if method is not None:
            n_args = len(args[1:]) + (1 if final is not None else 0)
            if n_args:
                raise self.errorf(f"wrong number of args for {name}: want 0 got {n_args}")
            try:
                return method()
            except _ExecError as e:
                self.at(node)
                raise self.errorf(f"error calling {name}: {e}") from None
        has_args = len(args) > 1 or final is not None
        if isinstance(value, GoStruct):
            found = value.field(name)
            if found is not None:
                if has_args:
                    raise self.errorf(f"{name} has arguments but cannot be invoked as function")
                ft, fv = found
                return fv, ft
        elif isinstance(value, dict) or (value is None and t.startswith("map[")):
            key_type = _split_map(t)[0] if t.startswith("map[") else "string"
            if key_type == "string":
                if has_args:
                    raise self.errorf(f"{name} is not a method but has arguments")
                if value is None or name not in value:
                    return MISSING, ""
                return value[name], _elem_type(t) if t.startswith("map[") else "interface {}"
        elif value is None and t.startswith("*") and not t.startswith("*time."):
            raise self.errorf(f"nil pointer evaluating {t}.{name}")
        raise self.errorf(f"can't evaluate field {name} in type {t or dynamic_type(value)}")

    # functions
    def function(self, dot: TV, ident: _Identifier, cmd: _Command, args: list[_Node], final: TV | None) -> TV:
        self.at(ident)
        name = ident.name
        rest = args[1:]
        n_in = len(rest) + (1 if final is not None else 0)
        if name in self.funcs:
            return self.call_func(dot, name, self.funcs[name], cmd, rest, final)
        fixed, variadic = _ARITY[name]
        if variadic:
            if n_in < fixed:
                raise self.errorf(f"wrong number of args for {name}: want at least {fixed} got {len(rest)}")
        elif n_in != fixed:
            raise self.errorf(f"wrong number of args for {name}: want {fixed} got {n_in}")
        if name in ("and", "or"):
            vals: TV = (MISSING, "")
            for i, a in enumerate(rest):
                vals = self.arg_value(dot, a)
                if _truth(vals[0]) != (name == "and"):
                    return vals
                if i == len(rest) - 1 and final is None:
                    return vals
            assert final is not None
            return final
        argv: list[TV] = []
        for i, a in enumerate(rest):
            if name == "printf" and i == 0:
                argv.append(self.string_arg(dot, a))
            else:
                argv.append(self.arg_value(dot, a))
        if final is not None:
            argv.append(final)
        if name == "call":
            if rest:
                callee = str(rest[0])
            else:
                assert final is not None
                callee = final[0] if isinstance(final[0], str) else f"<{final[1] or dynamic_type(final[0])} Value>"
            argv.insert(0, (callee, "string"))
        try:
            return _CALLS[name](*argv)
        except _ExecError as e:
            self.at(cmd)
            raise self.errorf(f"error calling {name}: {e}") from None

    def call_func(self, dot: TV, name: str, func: GoFunc, cmd: _Command, args: list[_Node], final: TV | None) -> TV:
        """Go's evalCall for a non-variadic function of the function map."""
        n_in = len(args) + (1 if final is not None else 0)
        if n_in != len(func.params):
            raise self.errorf(f"wrong number of args for {name}: want {len(func.params)} got {n_in}")
        argv = [self.typed_arg(dot, node, t) for node, t in zip(args, func.params, strict=False)]
        if final is not None:
            argv.append(self.validate_type(final, func.params[-1]))
        try:
            return func.call(*argv), func.result
        except FuncError as e:
            self.at(cmd)
            raise self.errorf(f"error calling {name}: {e}") from None

    def typed_arg(self, dot: TV, node: _Node, t: str) -> Any:
        """Go's evalArg: an argument converted to parameter type *t*."""
        self.at(node)
        if not isinstance(node, _Literal) or node.kind == "dot":
            return self.validate_type(self.arg_value(dot, node), t)
        if node.kind == "nil":
            if t.startswith(("[]", "map[", "*")) or t == "interface {}":
                return None
            raise self.errorf(f"cannot assign nil to {t}")
        if t == "interface {}":
            return self.literal(node)[0]
        if t == "string" and node.kind == "string":
            return node.value
        if t == "int" and node.kind == "number":
            value = self.literal(node)[0]
            if isinstance(value, int):
                return value
        expected = {"string": "string", "int": "integer"}.get(t)
        if expected is None:
            raise self.errorf(f"can't handle {node} for arg of type {t}")
        raise self.errorf(f"expected {expected}; found {node}")

    def validate_type(self, tv: TV, t: str) -> Any:
        """Go's validateType: a value passed as a parameter of type *t*."""
        value, vt = tv
        if value is MISSING:
            if t.startswith(("[]", "map[", "*")) or t == "interface {}":
                return None
            raise self.errorf(f"invalid value; expected {t}")
        if t == "interface {}":
            return value
        if vt in ("", "interface {}"):
            vt = dynamic_type(value) if value is not None else ""
        if vt == t:
            return value
        raise self.errorf(f"wrong type for value; expected {t}; got {vt or 'interface {}'}")

    def string_arg(self, dot: TV, node: _Node) -> TV:
        self.at(node)
        if isinstance(node, _Literal):
            if node.kind != "string":
                raise self.errorf(f"expected string; found {node}")
            return node.value, "string"
        value = self.arg_value(dot, node)
        if not isinstance(value[0], str) or isinstance(value[0], bool):
            if value[0] is MISSING:
                raise self.errorf("invalid value; expected string")
            raise self.errorf(f"wrong type for value; expected string; got {value[1] or dynamic_type(value[0])}")
        return value

    def arg_value(self, dot: TV, node: _Node) -> TV:
        self.at(node)
        if isinstance(node, _Literal):
            if node.kind == "dot":
                return dot
            if node.kind == "nil":
                return None, "interface {}"
            return self.literal(node)
        if isinstance(node, _Field):
            self.at(node)
            return self.field_chain(dot, dot, node, node.ident, [node], None)
        if isinstance(node, _Variable):
            return self.variable(dot, node, [node], None)
        if isinstance(node, _Pipe):
            return self.pipeline(dot, node)
        if isinstance(node, _Identifier):
            return self.function(dot, node, _Command(node.pos, [node]), [node], None)
        if isinstance(node, _Chain):
            return self.chain(dot, node, [node], None)
        raise self.errorf(f"can't handle {node} for arg")  # pragma: no cover


def _indirect(tv: TV) -> TV:
    v, t = tv
    if t == "interface {}":
        return v, dynamic_type(v) if v is not None else ""
    return tv


def _len(item: TV) -> TV:
    v, t = _indirect(item)
    if v is MISSING or (v is None and not t):
        raise _ExecError("reflect: call of reflect.Value.Type on zero Value")
    if v is None and t.startswith("*"):
        raise _ExecError("len of nil pointer")
    if isinstance(v, str | list | tuple | dict) or (v is None and (t.startswith("[]") or t.startswith("map["))):
        return len(v.encode() if isinstance(v, str) else v or ()), "int"
    raise _ExecError(f"len of type {(t or dynamic_type(v)).removeprefix('*')}")


def _index(item: TV, *indexes: TV) -> TV:
    v, t = _indirect(item)
    if v is MISSING or (v is None and not t):
        raise _ExecError("index of untyped nil")
    for index in indexes:
        iv, it = _indirect(index)
        if v is None and t.startswith("*"):
            raise _ExecError("index of nil pointer")
        if isinstance(v, list | tuple | str) or (v is None and t.startswith("[]")):
            seq: Any = v.encode() if isinstance(v, str) else v or []
            if iv is MISSING or iv is None:
                raise _ExecError("cannot index slice/array with nil")
            if not isinstance(iv, int) or isinstance(iv, bool):
                raise _ExecError(f"cannot index slice/array with type {it}")
            if iv < 0 or iv > len(seq):
                raise _ExecError(f"index out of range: {iv}")
            if iv == len(seq):
                raise _ExecError(f"reflect: {'string' if isinstance(seq, bytes) else 'slice'} index out of range")
            if isinstance(seq, bytes):
                v, t = seq[iv], "uint8"
            else:
                v, t = seq[iv], _elem_type(t)
        elif isinstance(v, dict) or (v is None and t.startswith("map[")):
            kt = _split_map(t)[0] if t.startswith("map[") else "string"
            et = _elem_type(t) if t.startswith("map[") else "interface {}"
            if iv is MISSING or iv is None:
                raise _ExecError(f"value is nil; should be of type {kt}")
            if not isinstance(iv, str):
                raise _ExecError(f"value has type {it}; should be {kt}")
            if v is not None and iv in v:
                v, t = v[iv], et
            else:
                v, t = _zero(et), et
        else:
            raise _ExecError(f"can't index item of type {t or dynamic_type(v)}")
    return v, t


def _zero(t: str) -> Any:
    if t == "string" or t == "digest.Digest":
        return ""
    if t in ("int", "int64", "uint8"):
        return 0
    if t == "bool":
        return False
    if t == "struct {}":
        return {}
    return None


def _slice(item: TV, *indexes: TV) -> TV:
    v, t = _indirect(item)
    if v is MISSING or (v is None and not t):
        raise _ExecError("slice of untyped nil")
    if len(indexes) > 3:
        raise _ExecError(f"too many slice indexes: {len(indexes)}")
    if not isinstance(v, str | list | tuple):
        raise _ExecError(f"can't slice item of type {t}")
    idx = []
    for index in indexes:
        iv, it = _indirect(index)
        if not isinstance(iv, int) or isinstance(iv, bool):
            raise _ExecError(f"cannot index slice/array with type {it}")
        if iv < 0 or iv > len(v):
            raise _ExecError(f"index out of range: {iv}")
        idx.append(iv)
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else len(v)
    if lo > hi:
        raise _ExecError(f"invalid slice index: {lo} > {hi}")
    return v[lo:hi], t


def _fmt_arg(tv: TV) -> Any:
    return None if tv[0] is MISSING else tv[0]


def _sprint(args: tuple[TV, ...], spaces: bool) -> str:
    out: list[str] = []
    prev_string = False
    for i, (v, t) in enumerate(args):
        is_string = isinstance(v, str) and v is not None
        if i > 0 and (spaces or (not is_string and not prev_string)):
            out.append(" ")
        out.append(go_str(_fmt_arg((v, t)), t))
        prev_string = is_string
    return "".join(out)


def _format_verb(verb: str, prec: str, v: Any, t: str) -> str:
    """One operand of printf; ``%!verb(type=value)`` when the verb does not fit.
    Slices and maps apply the verb to each element, as fmt does."""
    if verb in "vs" and not (verb == "s" and isinstance(v, int | float) and not isinstance(v, bool)) \
            and not (verb == "s" and isinstance(v, bool)):
        return go_str(v, t)
    if verb == "d" and isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if verb == "q" and isinstance(v, str):
        return go_quote(v)
    if verb == "t" and isinstance(v, bool):
        return go_str(v)
    if verb in "xX" and isinstance(v, str):
        return v.encode().hex().upper() if verb == "X" else v.encode().hex()
    if verb in "xX" and isinstance(v, int) and not isinstance(v, bool):
        return format(v, verb)
    if verb in "fF" and isinstance(v, float | int) and not isinstance(v, bool):
        return f"{float(v):.{int(prec) if prec else 6}f}"
    if verb == "T":
        return t
    if isinstance(v, list | tuple) and verb in "dqxXfFt":
        et = _elem_type(t)
        return "[" + " ".join(_format_verb(verb, prec, e, et or dynamic_type(e)) for e in v) + "]"
    if v is None and t.startswith(("map[", "[]")) and verb in "dqxXfFt":
        return "map[]" if t.startswith("map[") else "[]"
    if isinstance(v, GoStruct) and verb in "dqxXfFt":
        return "{" + " ".join(_format_verb(verb, prec, fv, ft) for _, ft, fv in v.fields) + "}"
    if isinstance(v, dict) and verb in "dqxXfFt":
        kt, et = _split_map(t) if t.startswith("map[") else ("string", "interface {}")
        return "map[" + " ".join(f"{_format_verb(verb, prec, k, kt)}:{_format_verb(verb, prec, v[k], et)}"
                                 for k in sorted(v)) + "]"
    return f"%!{verb}({t}={go_str(v, t)})"


def _printf(fmt: TV, *args: TV) -> TV:
    f = fmt[0]
    out: list[str] = []
    i = argi = 0
    while i < len(f):
        c = f[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        m = re.match(r"%([-+# 0]*)(\d*)(?:\.(\d*))?(.?)", f[i:], re.S)
        assert m is not None
        flags, width, prec, verb = m.groups()
        i += m.end()
        if verb == "%":
            out.append("%")
            continue
        if not verb:
            out.append("%!(NOVERB)")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        v, t = args[argi]
        argi += 1
        v = _fmt_arg((v, t))
        t = t or dynamic_type(v)
        s = _format_verb(verb, prec, v, t)
        if s.startswith(f"%!{verb}("):
            out.append(s)
            continue
        if prec and verb in "sv" and isinstance(v, str):
            s = s[: int(prec)]
        if width:
            s = s.ljust(int(width)) if "-" in flags else s.rjust(int(width), "0" if "0" in flags and verb in "dfxX"
                                                                     else " ")
        out.append(s)
    if argi < len(args):
        extra = ", ".join(f"{t or dynamic_type(v)}={go_str(_fmt_arg((v, t)), t)}" for v, t in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out), "string"


def _basic(tv: TV) -> TV:
    v, t = _indirect(tv)
    return v, t


def _eq(a: TV, *bs: TV) -> TV:
    a = _basic(a)
    ka = _kind(a)
    for b in bs:
        b = _basic(b)
        kb = _kind(b)
        if ka != kb:
            if a[0] not in (None, MISSING) and b[0] not in (None, MISSING):
                raise _ExecError(f"incompatible types for comparison: {_type_name(a)} and {_type_name(b)}")
            truth = False
        elif not ka:
            if a[0] in (None, MISSING) or b[0] in (None, MISSING):
                truth = (a[0] in (None, MISSING)) == (b[0] in (None, MISSING))
            elif isinstance(a[0], list | dict) or isinstance(b[0], list | dict):
                raise _ExecError(f"non-comparable type {go_str(b[0], b[1])}: {b[1]}")
            else:
                truth = a[0] == b[0]
        else:
            truth = a[0] == b[0]
        if truth:
            return True, "bool"
    return False, "bool"


def _type_name(tv: TV) -> str:
    return tv[1] or dynamic_type(tv[0])


def _lt(a: TV, b: TV) -> TV:
    a, b = _basic(a), _basic(b)
    ka, kb = _kind(a), _kind(b)
    if not ka or not kb:
        raise _ExecError("invalid type for comparison")
    if ka != kb:
        raise _ExecError(f"incompatible types for comparison: {_type_name(a)} and {_type_name(b)}")
    if ka == "bool":
        raise _ExecError("invalid type for comparison")
    return a[0] < b[0], "bool"


def _js(s: str) -> str:
    out = []
    for c in s:
        if c in "\\'\"<>&=":
            out.append({"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
                        "=": "\\u003D"}[c])
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _eval_args(args: tuple[TV, ...]) -> str:
    if len(args) == 1 and isinstance(args[0][0], str):
        return str(args[0][0])
    return _sprint(args, False)


_CALLS: dict[str, Callable[..., TV]] = {
    "not": lambda a: (not _truth(a[0]), "bool"),
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": lambda *a: (_sprint(a, False), "string"),
    "println": lambda *a: (_sprint(a, True) + "\n", "string"),
    "printf": _printf,
    "eq": _eq,
    "ne": lambda a, b: (not _eq(a, b)[0], "bool"),
    "lt": _lt,
    "le": lambda a, b: (_lt(a, b)[0] or _eq(a, b)[0], "bool"),
    "gt": lambda a, b: (not (_lt(a, b)[0] or _eq(a, b)[0]), "bool"),
    "ge": lambda a, b: (not _lt(a, b)[0], "bool"),
    "html": lambda *a: (_html.escape(_eval_args(a)).replace("&#x27;", "&#39;").replace("\x00", "\ufffd"), "string"),
    "js": lambda *a: (_js(_eval_args(a)), "string"),
    "urlquery": lambda *a: (urllib.parse.quote_plus(_eval_args(a), safe=""), "string"),
}


def _call(callee: TV, fn: TV, *args: TV) -> TV:
    """Our data holds no functions; *callee* names the argument (Go 1.22+)."""
    raise _ExecError(f"non-function {callee[0]} of type {fn[1] or dynamic_type(fn[0])}")


_CALLS["call"] = _call
_ARITY: dict[str, tuple[int, bool]] = {
    "and": (1, True), "or": (1, True), "not": (1, False), "len": (1, False), "index": (1, True),
    "slice": (1, True), "print": (0, True), "println": (0, True), "printf": (1, True), "eq": (1, True),
    "ne": (2, False), "lt": (2, False), "le": (2, False), "gt": (2, False), "ge": (2, False),
    "html": (0, True), "js": (0, True), "urlquery": (0, True), "call": (1, True),
}


# --- text/tabwriter ------------------------------------------------------------
def tabwriter_unflushed(text: str, minwidth: int = 8, padding: int = 2, flush: bool = False) -> str:
    """What Go's ``tabwriter.NewWriter(w, minwidth, 2, padding, ' ', 0)`` writes
    when it is never flushed: blocks of lines up to each line without a tab,
    aligned.  With *flush*, what it writes once flushed: the rest as well."""
    out: list[str] = []
    block: list[list[str]] = []
    lines = text.split("\n")
    for line in lines[:-1]:  # the text after the last newline stays buffered
        cells = line.split("\t")
        block.append(cells)
        if len(cells) == 1:
            out.append(_format_block(block, minwidth, padding))
            block = []
    if flush:
        cells = lines[-1].split("\t")
        if not cells[-1]:
            cells.pop()  # Go keeps the cell being written only if it holds text
        block.append(cells)
        out.append(_format_block(block, minwidth, padding)[:-1])  # no newline after the last line
    return "".join(out)


def _format_block(lines: list[list[str]], minwidth: int, padding: int) -> str:
    widths: list[int] = []
    buf: list[str] = []

    def write_lines(start: int, end: int) -> None:
        for cells in lines[start:end]:
            for j, cell in enumerate(cells):
                buf.append(cell)
                if j < len(widths) and j < len(cells) - 1:
                    buf.append(" " * (widths[j] - len(cell)))
            buf.append("\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "".join(buf)


@dataclass
class Template:
    """A parsed template (Go's ``template.New(name).Funcs(funcs).Parse(src)``)."""

    src: str
    name: str
    nodes: list[_Node]
    funcs: Mapping[str, GoFunc]

    @classmethod
    def parse(cls, src: str, name: str = TEMPLATE_NAME, funcs: Mapping[str, GoFunc] | None = None) -> Template:
        """Raises :class:`TemplateError` with Go's parse error."""
        funcs = dict(funcs or {})
        return cls(src, name, _Parser(src, name, funcs).parse(), funcs)

    def execute(self, data: Any, go_type: str = "interface {}") -> str:
        """The text written for *data* (of static type *go_type*); on an execution
        error, a :class:`TemplateError` whose ``partial`` is what was written."""
        out: list[str] = []
        root: TV = (data, go_type)
        try:
            _Exec(self.src, self.name, root, out, self.funcs).walk(root, self.nodes)
        except TemplateError as e:
            e.partial = "".join(out)
            raise
        return "".join(out)
