"""``--sign-by-sigstore`` parameter files (containers-sigstore-signing-params.yaml):
read and checked as containers/image's ``pkg/cli/sigstore`` does, before
anything is copied, with its error texts.

The YAML is decoded the way go-yaml v3 decodes it into the Go struct: the
first document only, unknown and repeated keys and wrong node kinds collected
as ``yaml: unmarshal errors:`` with their lines.  PyYAML words syntax errors
a little differently from go-yaml; the ``yaml: line N:`` frame is go-yaml's.

Signing with a private key works as upstream.  A Fulcio certificate needs an
OIDC login and the Fulcio server, and ``rekorURL`` an upload to a Rekor
server: with those configured (and valid as far as upstream checks them
offline), we stop with a clear error before copying, where upstream would go
to the network (and, for Rekor, fail only after the copy)."""

from __future__ import annotations

from typing import Any

from skopeo.errors import SkopeoError

_TOP = "params.SigningParameterFile"
_FULCIO = "params.SigningParameterFileFulcio"
_TOP_FIELDS = {"privateKeyFile": "string", "privateKeyPassphraseFile": "string", "fulcio": _FULCIO, "rekorURL": "string"}
_FULCIO_FIELDS = {"fulcioURL": "string", "oidcMode": "params.OIDCMode", "oidcIDToken": "string",
                  "oidcIssuerURL": "string", "oidcClientID": "string", "oidcClientSecret": "string"}
_OIDC_MODES = ("staticToken", "deviceGrant", "interactive")
NO_NETWORK = "this implementation works offline and cannot reach"


class ParamsError(SkopeoError):
    pass


def _tag(node: Any) -> str:
    tag = str(node.tag)
    return "!!" + tag.rsplit(":", 1)[1] if tag.startswith("tag:yaml.org,2002:") else tag


def _is_null(node: Any) -> bool:
    return _tag(node) == "!!null"


def _kind_error(node: Any, go_type: str) -> str:
    import yaml

    value = ""
    if isinstance(node, yaml.ScalarNode):
        text = str(node.value)
        value = f" `{text[:7]}...`" if len(text) > 10 else f" `{text}`"
    return f"line {node.start_mark.line + 1}: cannot unmarshal {_tag(node)}{value} into {go_type}"


def _decode_struct(node: Any, go_type: str, fields: dict[str, str], errors: list[str]) -> dict[str, Any] | None:
    """A mapping node decoded into a Go struct; None for null."""
    import yaml

    if _is_null(node):
        return None
    if not isinstance(node, yaml.MappingNode):
        errors.append(_kind_error(node, go_type))
        return {}
    out: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in seen:
            errors.append(f'line {line}: mapping key "{key}" already defined at line {seen[key]}')
            continue
        seen[key] = line
        if key not in fields:
            errors.append(f"line {line}: field {key} not found in type {go_type}")
            continue
        if fields[key] == _FULCIO:
            out[key] = _decode_struct(value_node, _FULCIO, _FULCIO_FIELDS, errors)
        elif isinstance(value_node, yaml.ScalarNode):
            out[key] = "" if _is_null(value_node) else str(value_node.value)
        else:
            errors.append(_kind_error(value_node, fields[key]))
    return out


def _libyaml_problem(e: Any) -> str:
    """PyYAML's words for a problem, in libyaml's (which go-yaml uses)."""
    import re

    problem = str(e.problem or "unknown problem parsing YAML content")
    if problem == "mapping values are not allowed here":
        return "mapping values are not allowed in this context"
    if re.fullmatch(r"found character .* that cannot start any token", problem):
        return "found character that cannot start any token"
    expected = {"while parsing a block mapping": "did not find expected key",
                "while parsing a block collection": "did not find expected '-' indicator",
                "while parsing a flow sequence": "did not find expected ',' or ']'",
                "while parsing a flow mapping": "did not find expected ',' or '}'"}
    if problem.startswith("expected ") and e.context in expected:
        return expected[e.context]
    return problem


def _syntax_error(e: Any) -> str:
    import yaml

    mark = e.context_mark if e.context_mark is not None and e.context_mark.line else e.problem_mark
    line = mark.line if mark is not None else 0
    if line and isinstance(e, yaml.scanner.ScannerError):
        line += 1  # go-yaml counts scanner lines from one, parser lines from zero
    where = f"line {line}: " if line else ""
    return f"yaml: {where}{_libyaml_problem(e)}"


def parse_file(path: str) -> dict[str, Any]:
    """The parameters in *path* (ParamsError with upstream's texts)."""
    import yaml

    from skopeo.golang.oserror import path_error_text

    # upstream's NewSignerFromParameterFile frames every error of ParseFile.
    setting_up = f"setting up signing using parameter file {_q(path)}"
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        raise ParamsError(f'{setting_up}: reading {_q(path)}: {path_error_text("open", path, e)}') from None
    where = f"{setting_up}: parsing {_q(path)}"
    try:
        documents = yaml.compose_all(source.decode("utf-8", "replace"), Loader=yaml.SafeLoader)
        node = next(documents, None)
    except yaml.MarkedYAMLError as e:
        raise ParamsError(f"{where}: {_syntax_error(e)}") from None
    except yaml.YAMLError as e:
        raise ParamsError(f"{where}: yaml: {e}") from None
    if node is None:
        raise ParamsError(f"{where}: EOF")
    errors: list[str] = []
    params = _decode_struct(node, _TOP, _TOP_FIELDS, errors) or {}
    if errors:
        raise ParamsError(f"{where}: yaml: unmarshal errors:\n  " + "\n  ".join(errors))
    return params


def go_url_error(raw: str) -> str | None:
    """The error Go's ``url.Parse`` gives *raw*, for the mistakes it catches offline."""
    import re

    problem = None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return f"parse {_q(raw)}: net/url: invalid control character in URL"
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", raw)
    if raw.startswith(":"):
        problem = "missing protocol scheme"
    elif m is None and ":" in raw.split("/", 1)[0] and not raw.startswith("/"):
        problem = "first path segment in URL cannot contain colon"
    elif bad := re.search(r"%(?![0-9A-Fa-f]{2})(.{0,2})", raw):
        problem = f"invalid URL escape {_q('%' + bad.group(1))}"
    elif m is not None and raw[m.end() :].startswith("//"):
        authority = raw[m.end() + 2 :].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
        port = authority.rpartition("]")[2].partition(":")
        if port[1] and not port[2].isdigit() and port[2]:
            problem = f"invalid port {_q(':' + port[2])} after host"
    return f"parse {_q(raw)}: {problem}" if problem else None


def _q(text: str) -> str:
    from skopeo.golang import gojson

    return gojson.quote(text.encode("utf-8", "surrogateescape"))


def _check_url(value: str, name: str) -> None:
    error = go_url_error(value)
    if error is not None:
        raise ParamsError(f"parsing {name} {_q(value)}: {error}")


def check_fulcio(fulcio: dict[str, Any]) -> None:
    """upstream's ``fulcioOption`` checks (the ones it makes before any network use)."""
    if not fulcio.get("fulcioURL"):
        raise ParamsError("missing fulcioURL")
    _check_url(fulcio["fulcioURL"], "fulcioURL")
    mode = fulcio.get("oidcMode") or ""
    if mode == "staticToken":
        if not fulcio.get("oidcIDToken"):
            raise ParamsError("missing oidcToken")
        return
    if not fulcio.get("oidcIssuerURL"):
        raise ParamsError("missing oidcIssuerURL")
    _check_url(fulcio["oidcIssuerURL"], "oidcIssuerURL")
    if not mode:
        raise ParamsError("missing oidcMode")
    if mode not in _OIDC_MODES:
        raise ParamsError(f"unknown oidcMode value {_q(mode)}")


def load_private_key(key_file: str, passphrase: str) -> Any:
    """upstream's ``WithPrivateKeyFile``: the key, or its texts for a missing file
    or a wrong passphrase."""
    from skopeo.golang.oserror import path_error_text

    from . import keys

    try:
        with open(key_file, "rb") as f:
            pem_data = f.read()
    except OSError as e:
        raise SkopeoError(f"reading private key from {key_file}: {path_error_text('open', key_file, e)}") from None
    try:
        return keys.load_private_key(pem_data, passphrase)
    except SkopeoError as e:
        raise SkopeoError(f"initializing private key: {e.message}") from None


def signing_key(path: str) -> Any:
    """The private key a parameter file signs with, after upstream's steps in its
    order: parse, passphrase, Fulcio and rekorURL checks, key, combination."""
    from skopeo.signature import prompt_passphrase, read_passphrase_file

    params = parse_file(path)
    key_file = params.get("privateKeyFile") or ""
    fulcio = params.get("fulcio")
    passphrase = None
    if key_file:
        passphrase_file = params.get("privateKeyPassphraseFile")
        passphrase = read_passphrase_file(passphrase_file) if passphrase_file else prompt_passphrase(key_file)
    if fulcio is not None:
        check_fulcio(fulcio)
    if params.get("rekorURL"):
        _check_url(params["rekorURL"], "rekorURL")
    key = load_private_key(key_file, passphrase or "") if key_file else None
    if fulcio is not None:
        if key is not None:
            raise ParamsError("multiple private key sources specified when preparing to create sigstore signatures")
        raise ParamsError(f"signing with a Fulcio certificate needs an OIDC login and the Fulcio server; {NO_NETWORK} them "
                          "(sign with privateKeyFile instead)")
    if key is None:
        raise ParamsError("no private key source provided (neither a private key nor Fulcio) when preparing to create "
                          "sigstore signatures")
    if params.get("rekorURL"):
        raise ParamsError(f"uploading the signature to Rekor (rekorURL) needs the Rekor server; {NO_NETWORK} it "
                          "(remove rekorURL to sign without a Rekor log entry)")
    return key
