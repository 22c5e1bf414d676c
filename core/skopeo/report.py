"""containers/common's ``report`` package as upstream skopeo's ``inspect
--format`` uses it (``report.New(stdout, "skopeo inspect").Parse(OriginUser,
format)``, executed over a one-element list, then flushed):

* its template functions (``DefaultFuncs``): ``join``, ``json``, ``lower``,
  ``pad``, ``split``, ``title``, ``truncate``, ``upper``, with Go's semantics
  (``strings.Title``'s word rule, byte-wise ``truncate``, simple case mappings,
  the panics a bad argument causes, reported as Go reports them);
* the format rules: ``json``/``{{json}}`` mean the JSON output (``IsJSON``),
  ``\\t``/``\\n`` escapes, a trailing newline, ``{{range .}}…{{end -}}`` around
  a format that has no such range (``EnforceRange``), and when the escapes make
  the format unparsable, the format as typed;
* ``table …`` formats: every space becomes a tab and the output goes through a
  ``tabwriter`` (minimum width 12, padding 2) that is flushed at the end.

skopeo 1.9.3 had none of this (no functions, a never-flushed tabwriter for every
format); upstream main is followed here."""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal
from typing import Any

from .golang.gotemplate import (
    MISSING,
    TEMPLATE_NAME,
    FuncError,
    GoFunc,
    GoStruct,
    Template,
    TemplateError,
    tabwriter_unflushed,
)
from .golang.gotime import GoTime

TABLE_PREFIX = "table "
# Go's regexp \s is [\t\n\f\r ].
_IS_JSON = re.compile(r"[\t\n\f\r ]*(json|\{\{[\t\n\f\r ]*json\.?[\t\n\f\r ]*\}\})[\t\n\f\r ]*")
_HAS_RANGE = re.compile(r"\{\{[\t\n\f\r ]*range[\t\n\f\r ]*\.[\t\n\f\r ]*\}\}.*\{\{[\t\n\f\r ]*end[\t\n\f\r ]*-?[\t\n\f\r ]*\}\}",
                        re.S)
_MAX_REPEAT = 1 << 30  # Go would try to allocate it; we refuse


def is_json(fmt: str) -> bool:
    """``report.IsJSON``: ``json``, ``{{json}}`` or ``{{ json. }}`` (not ``{{json .}}``)."""
    return _IS_JSON.fullmatch(fmt) is not None


def normalize_format(fmt: str) -> str:
    """``report.NormalizeFormat``."""
    if fmt.startswith(TABLE_PREFIX):
        out = []
        i = 0
        while i < len(fmt):  # strings.NewReplacer("table ", "", `\t`, "\t", " ", "\t", `\n`, "\n")
            if fmt.startswith(TABLE_PREFIX, i):
                i += len(TABLE_PREFIX)
            elif fmt.startswith(("\\t", "\\n"), i):
                out.append("\t" if fmt[i + 1] == "t" else "\n")
                i += 2
            else:
                out.append("\t" if fmt[i] == " " else fmt[i])
                i += 1
        text = "".join(out)
    else:
        text = fmt.replace("\\t", "\t").replace("\\n", "\n")
    return text if text.endswith("\n") else text + "\n"


def enforce_range(fmt: str) -> str:
    """``report.EnforceRange``."""
    return fmt if _HAS_RANGE.search(fmt) else "{{range .}}" + fmt + "{{end -}}"


def parse(fmt: str) -> tuple[Template, bool]:
    """``Formatter.Parse(OriginUser, fmt)``: the template and whether it is a table."""
    table = fmt.startswith(TABLE_PREFIX)
    if table:
        normalized = "{{range .}}" + normalize_format(fmt) + "{{end -}}"
        typed = "{{range .}}" + fmt[len(TABLE_PREFIX):] + "{{end -}}"
    else:
        normalized = enforce_range(normalize_format(fmt))
        typed = enforce_range(fmt)
    try:
        return Template.parse(normalized, TEMPLATE_NAME, FUNCS), table
    except TemplateError:
        # "{{printf "\n"}}": the escapes broke it; the format as typed decides.
        return Template.parse(typed, TEMPLATE_NAME, FUNCS), table


def render(fmt: str, data: Any) -> str:
    """What ``skopeo inspect --format FMT`` prints for *data*.  Raises
    :class:`TemplateError`; after an execution error its ``partial`` is what
    reached stdout first."""
    template, table = parse(fmt)
    try:
        out = template.execute([data], "[]interface {}")
    except TemplateError as e:
        if table:
            e.partial = tabwriter_unflushed(e.partial, 12, 2, flush=True)
        raise
    return tabwriter_unflushed(out, 12, 2, flush=True) if table else out


# --- the functions ----------------------------------------------------------------
def _simple_case(c: str, mapped: str, special: dict[str, str]) -> str:
    """Go maps one rune to one rune (Unicode's simple mappings); Python's full
    mappings may give several, and then Go keeps the rune or uses *special*."""
    return mapped if len(mapped) == 1 else special.get(c, c)


# Runes whose full uppercase/titlecase is several runes but whose simple mapping exists.
_GREEK_IOTA_SUBSCRIPT = {
    **{chr(c): chr(c + 8) for r in (0x1F80, 0x1F90, 0x1FA0) for c in range(r, r + 8)},
    "\u1fb3": "\u1fbc", "\u1fc3": "\u1fcc", "\u1ff3": "\u1ffc",
}
_LOWER_SPECIAL = {"\u0130": "i"}


def _upper(s: str) -> str:
    return "".join(_simple_case(c, c.upper(), _GREEK_IOTA_SUBSCRIPT) for c in s)


def _lower(s: str) -> str:
    return "".join(_simple_case(c, c.lower(), _LOWER_SPECIAL) for c in s)


def _is_separator(c: str) -> bool:
    """strings.Title's word boundary."""
    if c <= "\x7f":
        return not (c.isascii() and (c.isalnum() or c == "_"))
    if c.isalpha() or unicodedata.category(c) == "Nd":
        return False
    return c.isspace()


def _title(s: str) -> str:
    """strings.Title: the first letter of every word in title case."""
    out = []
    prev = " "
    for c in s:
        out.append(_simple_case(c, c.title(), _GREEK_IOTA_SUBSCRIPT) if _is_separator(prev) else c)
        prev = c
    return "".join(out)


def _go_bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _truncate(source: str, length: int) -> str:
    """The first *length* bytes (a rune may be cut, as in Go)."""
    data = _go_bytes(source)
    if len(data) < length:
        return source
    if length < 0:
        raise FuncError(f"runtime error: slice bounds out of range [:{length}]")
    return data[:length].decode("utf-8", "surrogateescape")


def _repeat_spaces(count: int) -> str:
    if count < 0:
        raise FuncError("strings: negative Repeat count")
    if count > _MAX_REPEAT:
        raise FuncError("strings: Repeat output length overflow")
    return " " * count


def _pad(source: str, prefix: int, suffix: int) -> str:
    if source == "":
        return source
    return _repeat_spaces(prefix) + source + _repeat_spaces(suffix)


def _split(s: str, sep: str) -> list[str]:
    return list(s) if sep == "" else s.split(sep)


def _join(elems: list[str] | None, sep: str) -> str:
    return sep.join(elems or [])


# --- json ----------------------------------------------------------------------------
def json_value(value: Any) -> Any:
    """*value* (template data) as Go's encoding/json sees it, in Python terms:
    a struct its ``json`` form (or its fields), a map with sorted keys, a time
    as RFC 3339."""
    if value is MISSING or value is None:
        return None
    if isinstance(value, GoStruct):
        if value.json is not None:
            return value.json
        return {name: json_value(v) for name, _t, v in value.fields}
    if isinstance(value, GoTime):
        return value.json
    if isinstance(value, dict):
        return {k: json_value(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def _go_float(f: float) -> str:
    """strconv's shortest form as encoding/json writes a float64."""
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError("json: unsupported value")
    magnitude = abs(f)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return repr(f).replace("e-0", "e-")
    text = format(Decimal(repr(f)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def encode_json(value: Any) -> str:
    """encoding/json's compact form without HTML escaping (``SetEscapeHTML(false)``)
    of a :func:`json_value` result."""
    if isinstance(value, str):
        # A byte that is not UTF-8 (from argv) is written as U+FFFD, as Go does.
        text = json.dumps(re.sub("[\udc80-\udcff]", "\ufffd", value), ensure_ascii=False)
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if value is None or isinstance(value, bool | int):
        return json.dumps(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{encode_json(k)}:{encode_json(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(encode_json(v) for v in value) + "]"


def _json(value: Any) -> str:
    """``json``: the encoding, trimmed; an unsupported value gives nothing
    (upstream ignores the encoder's error)."""
    try:
        return encode_json(json_value(value)).strip()
    except ValueError:
        return ""


FUNCS: dict[str, GoFunc] = {
    "join": GoFunc(("[]string", "string"), "string", _join),
    "json": GoFunc(("interface {}",), "string", _json),
    "lower": GoFunc(("string",), "string", _lower),
    "pad": GoFunc(("string", "int", "int"), "string", _pad),
    "split": GoFunc(("string", "string"), "[]string", _split),
    "title": GoFunc(("string",), "string", _title),
    "truncate": GoFunc(("string", "int"), "string", _truncate),
    "upper": GoFunc(("string",), "string", _upper),
}
