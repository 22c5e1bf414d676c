"""``--tls-details``: a containers-tls-details.yaml(5) file (containers/image's
``pkg/cli/basetls``): the minimum TLS version, the allowed cipher suites and
named groups, for every TLS connection the program makes.

The file is decoded as Go's yaml.v3 decodes it into ``basetls.TLSDetailsFile``
with ``KnownFields(true)`` (the first document only, unknown or repeated keys
refused, every decoding error reported with its line), so a bad file gives
upstream's message; PyYAML's libyaml parser reads the text (yaml.v3 is a port
of libyaml, so syntax errors have the same words)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import SkopeoError
from .golang.oserror import path_error_text

if TYPE_CHECKING:
    import yaml

# What upstream accepts (Go's IANA names, TLS 1.3 ones included although Go
# does not let them be configured).
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
CIPHER_SUITES = (
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    # tls.InsecureCipherSuites()
    "TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
)
NAMED_GROUPS = ("secp256r1", "secp384r1", "secp521r1", "x25519", "X25519MLKEM768")

_GO_TYPE = "basetls.TLSDetailsFile"
_FIELDS = {"minVersion": "string", "cipherSuites": "[]string", "namedGroups": "[]string"}


class TLSDetails(NamedTuple):
    """The settings of a file; None where the file sets nothing."""

    min_version: str | None = None
    cipher_suites: tuple[str, ...] | None = None
    named_groups: tuple[str, ...] | None = None


def load(path: str) -> TLSDetails | None:
    """``BaseTLSFromOptionalFile``: None without a path (the defaults), else the
    file's settings, or upstream's error."""
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        op = "read" if isinstance(e, IsADirectoryError) else "open"
        raise SkopeoError(f'reading "{path}": {path_error_text(op, path, e)}') from None
    try:
        fields = decode(data)
    except SkopeoError as e:
        raise SkopeoError(f'parsing "{path}": {e.message}') from None
    try:
        return check(fields)
    except SkopeoError as e:
        raise SkopeoError(f'parsing TLS details "{path}": {e.message}') from None


def check(fields: dict[str, Any]) -> TLSDetails:
    """``basetls.NewFromTLSDetails``: every name must be known."""
    version = fields.get("minVersion") or None
    if version is not None and version not in TLS_VERSIONS:
        raise SkopeoError(f"unrecognized TLS minimum version {_go_quote(version)}")
    suites = fields.get("cipherSuites")
    for name in suites or ():
        if name not in CIPHER_SUITES:
            raise SkopeoError(f"unrecognized TLS cipher suite {_go_quote(name)}")
    groups = fields.get("namedGroups")
    for name in groups or ():
        if name not in NAMED_GROUPS:
            raise SkopeoError(f"unrecognized TLS named group {_go_quote(name)}")
    return TLSDetails(version, None if suites is None else tuple(suites), None if groups is None else tuple(groups))


def _go_quote(text: str) -> str:
    from .golang.gojson import quote

    return quote(text.encode("utf-8", "surrogateescape"))


# --- yaml.v3 ----------------------------------------------------------------------
def decode(data: bytes) -> dict[str, Any]:
    """The fields of the first YAML document (a list is None when absent or null)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = next(iter(yaml.compose_all(data, Loader=loader)), None)
    except yaml.composer.ComposerError as e:
        if e.problem and e.problem.startswith("found undefined alias") and e.problem_mark is not None:
            name = re.match(rb"\*([^\s,\[\]{}]*)", data[e.problem_mark.index:])
            alias = name.group(1).decode("utf-8", "replace") if name else ""
            raise SkopeoError(f"yaml: unknown anchor '{alias}' referenced") from None
        raise SkopeoError("yaml: " + _syntax_error(e)) from None
    except yaml.MarkedYAMLError as e:
        raise SkopeoError("yaml: " + _syntax_error(e)) from None
    except yaml.YAMLError as e:  # a reader error: bytes that are not UTF-8 …
        raise SkopeoError(f"yaml: {getattr(e, 'reason', e)}") from None
    if root is None:
        raise SkopeoError("EOF")
    errors: list[str] = []
    fields: dict[str, Any] = {}
    if isinstance(root, yaml.MappingNode):
        _mapping(root, fields, errors)
    elif not _is_null(root):
        errors.append(_type_error(root, _GO_TYPE))
    if errors:
        raise SkopeoError("yaml: unmarshal errors:\n  " + "\n  ".join(errors))
    return fields


def _syntax_error(e: yaml.MarkedYAMLError) -> str:
    """yaml.v3's ``line N: problem`` (its lines are libyaml's, 0-based, plus one
    for scanner errors; line 0 is not shown)."""
    import yaml

    bump = 1 if isinstance(e, yaml.scanner.ScannerError) else 0
    line = 0
    if e.context_mark is not None and e.context_mark.line:
        line = e.context_mark.line + bump
    elif e.problem_mark is not None and e.problem_mark.line:
        line = e.problem_mark.line + bump
    return (f"line {line}: " if line else "") + (e.problem or "unknown problem parsing YAML content")


def _mapping(node: yaml.MappingNode, fields: dict[str, Any], errors: list[str]) -> None:
    import yaml

    seen: list[yaml.Node] = []
    duplicates = []
    for key, _value in node.value:
        for earlier in seen:
            if type(earlier) is type(key) and earlier.value == key.value:
                duplicates.append(f'line {key.start_mark.line + 1}: mapping key "{key.value}" already defined at line '
                                  f"{earlier.start_mark.line + 1}")
        seen.append(key)
    if duplicates:
        errors.extend(duplicates)
        return
    for key, value in node.value:
        name = _string(key, errors)
        if name is None:
            continue
        kind = _FIELDS.get(name)
        if kind is None:
            errors.append(f"line {key.start_mark.line + 1}: field {name} not found in type {_GO_TYPE}")
        elif kind == "string":
            fields[name] = _string(value, errors)
        elif isinstance(value, yaml.SequenceNode):
            fields[name] = [_string(item, errors) or "" for item in value.value]
        elif _is_null(value):
            fields[name] = None
        else:
            errors.append(_type_error(value, kind))


def _string(node: yaml.Node, errors: list[str]) -> str | None:
    """A node decoded into a Go string: any scalar's text (``!!binary``
    decoded), nothing for null."""
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        errors.append(_type_error(node, "string"))
        return None
    if _is_null(node):
        return None
    if node.tag == "tag:yaml.org,2002:binary":
        import base64

        return base64.b64decode(node.value).decode("utf-8", "replace")
    return str(node.value)


# yaml.v3's resolution of plain scalars (for the tag its errors name).
# (Patterns, compiled on first use: only a --tls-details file needs them.)
_INT = r"[-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)"
_FLOAT = r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
_TIMESTAMP = r"\d{4}-\d{1,2}-\d{1,2}([Tt ]\d{1,2}:\d{2}:\d{2}(\.\d*)?( ?(Z|[-+]\d{1,2}(:\d{2})?))?)?"


def _tag(node: yaml.Node) -> str:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return "!!seq"
    if isinstance(node, yaml.MappingNode):
        return "!!map"
    if getattr(node, "style", None):  # quoted, literal or folded: a string unless tagged otherwise
        return _short(node.tag)
    if node.tag not in ("tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "timestamp")):
        return _short(node.tag)  # an explicit tag
    if node.tag == "tag:yaml.org,2002:str" and _explicit_str(node):
        return "!!str"
    text = str(node.value)
    if text in ("", "~", "null", "Null", "NULL"):
        return "!!null"
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return "!!bool"
    if re.fullmatch(_INT, text):
        return "!!int"
    if re.fullmatch(_FLOAT, text):
        return "!!float"
    if re.fullmatch(_TIMESTAMP, text):
        return "!!timestamp"
    return "!!str"


def _explicit_str(node: yaml.Node) -> bool:
    # PyYAML resolves plain scalars itself; "!!str 3" has an explicit tag.
    import yaml

    implicit: str = yaml.resolver.Resolver().resolve(yaml.ScalarNode, str(node.value), (True, False))  # type: ignore[no-untyped-call]
    return implicit != node.tag


def _short(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def _is_null(node: yaml.Node) -> bool:
    return _tag(node) == "!!null"


def _type_error(node: yaml.Node, go_type: str) -> str:
    """yaml.v3's ``cannot unmarshal`` line (long values shortened)."""
    tag = _tag(node)
    value = ""
    if tag not in ("!!seq", "!!map"):
        text = str(node.value)
        value = f" `{text[:7]}...`" if len(text) > 10 else f" `{text}`"
    return f"line {node.start_mark.line + 1}: cannot unmarshal {tag}{value} into {go_type}"


# --- applying the settings to an ssl.SSLContext ------------------------------------
# Go's names → OpenSSL's (TLS 1.3 suites are not configurable, in Go as in OpenSSL).
_OPENSSL_CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
}
_OPENSSL_GROUPS = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "x25519": "X25519",
                   "X25519MLKEM768": "X25519MLKEM768"}


def apply(ctx: Any, details: TLSDetails) -> None:
    """Restrict the ``ssl.SSLContext`` *ctx* as Go's ``tls.Config`` would be.

    Where OpenSSL cannot do what Go does: a cipher list with no TLS 1.2 suite
    OpenSSL can use leaves TLS 1.3 only (Go would still offer 1.2 with no
    suite, and fail later); named groups this OpenSSL lacks (X25519MLKEM768
    before 3.5) are left out, unless none would remain."""
    import ssl
    import warnings

    versions = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2,
                "1.3": ssl.TLSVersion.TLSv1_3}
    if details.min_version is not None:
        with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated in Python
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = versions[details.min_version]
    if details.cipher_suites is not None:
        usable = []
        for name in details.cipher_suites:
            openssl = _OPENSSL_CIPHERS.get(name)
            try:
                if openssl is not None:
                    ctx.set_ciphers(openssl)
                    usable.append(openssl)
            except ssl.SSLError:
                continue  # not in this OpenSSL, or below its security level
        if usable:
            ctx.set_ciphers(":".join(usable))
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if details.named_groups:
        _set_groups(ctx, [_OPENSSL_GROUPS[name] for name in details.named_groups])


def _set_groups(ctx: Any, groups: list[str]) -> None:
    """``SSL_CTX_set1_groups_list``, which Python's ssl module lacks: one group
    goes through ``set_ecdh_curve``; several through libssl itself (the
    context's ``SSL_CTX`` checked first)."""
    from . import log

    supported = [g for g in groups if _group_known(g)]
    for dropped in sorted(set(groups) - set(supported)):
        log.debug(f"TLS named group {dropped} is not supported by this OpenSSL; leaving it out")
    if not supported:
        raise SkopeoError(f"none of the TLS named groups {', '.join(groups)} is supported by this OpenSSL")
    if len(supported) == 1:
        ctx.set_ecdh_curve(supported[0] if supported[0] == "X25519" else _CURVE_NAMES[supported[0]])
        return
    lib, handle = _libssl_context(ctx)
    if lib.SSL_CTX_ctrl(handle, _SSL_CTRL_SET_GROUPS_LIST, 0, ":".join(supported).encode()) != 1:
        raise SkopeoError(f"setting the TLS named groups {':'.join(supported)} failed")


_CURVE_NAMES = {"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}
_SSL_CTRL_SET_GROUPS_LIST = 92


def _group_known(group: str) -> bool:
    import ssl

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ecdh_curve(group if group == "X25519" else _CURVE_NAMES[group])
    except (KeyError, ValueError, ssl.SSLError):
        return False
    return True


def _libssl_context(ctx: Any) -> tuple[Any, Any]:
    """libssl (as loaded by Python's _ssl) and the ``SSL_CTX *`` of *ctx*, which
    CPython keeps right after the object header; its options are compared with
    ``ctx.options`` before it is used."""
    import _ssl
    import ctypes
    import sys

    lib = ctypes.CDLL(_ssl.__file__)
    lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    lib.SSL_CTX_ctrl.restype = ctypes.c_long
    lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_get_options.restype = ctypes.c_uint64
    handle = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not handle or sys.implementation.name != "cpython" or lib.SSL_CTX_get_options(handle) != int(ctx.options):
        raise SkopeoError("setting several TLS named groups is not supported by this Python")
    return lib, handle
