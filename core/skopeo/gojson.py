"""JSON the way Go's ``encoding/json`` writes it, so our output is byte-compatible
with the reference tool: ``<``, ``>``, ``&``, U+2028 and U+2029 are escaped, other
non-ASCII is written raw, and indentation is ``json.MarshalIndent(v, "", "    ")``."""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _go_escape(text: str) -> str:
    # These characters can only occur inside JSON strings, never in the syntax,
    # so translating the whole document is equivalent to escaping every string.
    return text.translate(_GO_ESCAPES)


def marshal(value: Any) -> bytes:
    """Compact form (Go ``json.Marshal``); dict insertion order is the field order."""
    return _go_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":"))).encode()


def marshal_indent(value: Any) -> str:
    """Pretty form used by ``inspect`` and friends, with the trailing newline skopeo adds."""
    return _go_escape(json.dumps(value, ensure_ascii=False, indent=4)) + "\n"


def marshal_no_html_escape(value: Any) -> str:
    """Compact form without HTML escaping, as the ``json`` template function writes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace(
        "\u2028", "\\u2028"
    ).replace("\u2029", "\\u2029")
