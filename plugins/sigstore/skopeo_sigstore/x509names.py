"""Names in X.509 certificates as Go's ``crypto/x509`` judges them: name
constraints of CA certificates (DNS, e-mail, IP and URI subtrees) and
``VerifyHostname``.  A Go port (see x509go), with Go's error texts."""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skopeo.golang import gojson

if TYPE_CHECKING:
    from .x509go import Certificate

_MAX_COMPARISONS = 250000
_ATEXT = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&'*+-/=?^_`{|}~.")


def _q(text: str) -> str:
    return gojson.quote(text.encode())


@dataclass
class Constraints:
    """Permitted and excluded subtrees of a NameConstraints extension, by name type."""

    permitted: dict[str, list[Any]] = field(default_factory=lambda: {"dns": [], "email": [], "ip": [], "uri": []})
    excluded: dict[str, list[Any]] = field(default_factory=lambda: {"dns": [], "email": [], "ip": [], "uri": []})


def from_extension(value: Any) -> tuple[Constraints, bool]:
    """(the constraints, whether a subtree of a type Go does not support was present)."""
    from cryptography import x509

    out = Constraints()
    unhandled = False
    for subtrees, target in ((value.permitted_subtrees, out.permitted), (value.excluded_subtrees, out.excluded)):
        for name in subtrees or ():
            if isinstance(name, x509.DNSName):
                target["dns"].append(name.value)
            elif isinstance(name, x509.RFC822Name):
                target["email"].append(name.value)
            elif isinstance(name, x509.IPAddress):
                target["ip"].append(name.value)
            elif isinstance(name, x509.UniformResourceIdentifier):
                target["uri"].append(name.value)
            else:
                unhandled = True
    return out, unhandled


# --- matching (verify.go) -------------------------------------------------------
def reverse_labels(domain: str) -> list[str] | None:
    """``domainToReverseLabels``: ["com", "example", "foo"], or None if invalid."""
    labels = domain.split(".")[::-1] if domain else []
    if labels and not labels[0]:
        return None
    for label in labels:
        if not label or any(not 33 <= ord(c) <= 126 for c in label):
            return None
    return labels


def parse_mailbox(text: str) -> tuple[str, str] | None:
    """``parseRFC2821Mailbox``: (local part, domain), or None."""
    data = text.encode("utf-8", "surrogateescape")
    local = bytearray()
    i = 0
    if not data:
        return None
    if data[0] == 0x22:  # quoted-string
        i = 1
        while True:
            if i >= len(data):
                return None
            c = data[i]
            i += 1
            if c == 0x22:
                break
            if c == 0x5C:
                if i >= len(data) or not (data[i] in (11, 12) or 1 <= data[i] <= 9 or 14 <= data[i] <= 127):
                    return None
                local.append(data[i])
                i += 1
            elif c in (11, 12, 32, 33, 127) or 1 <= c <= 8 or 14 <= c <= 31 or 35 <= c <= 91 or 93 <= c <= 126:
                local.append(c)
            else:
                return None
    else:
        while i < len(data):
            c = data[i]
            if c == 0x5C:
                i += 1
                if i >= len(data):
                    return None
            elif c not in _ATEXT:
                break
            local.append(data[i])
            i += 1
        if not local or local[0] == 0x2E or local[-1] == 0x2E or b".." in local:
            return None
    if i >= len(data) or data[i] != 0x40:
        return None
    domain = data[i + 1 :].decode("utf-8", "surrogateescape")
    if reverse_labels(domain) is None:
        return None
    return local.decode("utf-8", "surrogateescape"), domain


def _match_domain(domain: str, constraint: str) -> bool:
    if not constraint:
        return True
    labels = reverse_labels(domain)
    if labels is None:
        raise ValueError(f"x509: internal error: cannot parse domain {_q(domain)}")
    must_have_subdomains = constraint.startswith(".")
    wanted = reverse_labels(constraint[1:] if must_have_subdomains else constraint)
    if wanted is None:
        raise ValueError(f"x509: internal error: cannot parse domain {_q(constraint)}")
    if len(labels) < len(wanted) or (must_have_subdomains and len(labels) == len(wanted)):
        return False
    return all(a.lower() == b.lower() for a, b in zip(wanted, labels, strict=False))


def _match_email(mailbox: tuple[str, str], constraint: str) -> bool:
    if "@" in constraint:
        wanted = parse_mailbox(constraint)
        if wanted is None:
            raise ValueError(f"x509: internal error: cannot parse constraint {_q(constraint)}")
        return mailbox[0] == wanted[0] and mailbox[1].lower() == wanted[1].lower()
    return _match_domain(mailbox[1], constraint)


def _match_uri(uri: urllib.parse.SplitResult, constraint: str) -> bool:
    host = uri.netloc.rpartition("@")[2]
    text = urllib.parse.urlunsplit(uri)
    if not host:
        raise ValueError(f"URI with empty host ({_q(text)}) cannot be matched against constraints")
    if ":" in host and not host.endswith("]"):
        host = host.rpartition(":")[0]
    if (host.startswith("[") and host.endswith("]")) or _parse_ip(host) is not None:
        raise ValueError(f"URI with IP ({_q(text)}) cannot be matched against constraints")
    return _match_domain(host, constraint)


def _match_ip(ip: Any, constraint: Any) -> bool:
    return bool(ip.version == constraint.version and ip in constraint)


def _parse_ip(text: str) -> Any:
    try:
        return ipaddress.ip_address(text) if "%" not in text else None
    except ValueError:
        return None


_MATCHERS: dict[str, Any] = {"email": _match_email, "dns": _match_domain, "uri": _match_uri, "ip": _match_ip}
_TYPE_NAMES = {"email": "email address", "dns": "DNS name", "uri": "URI", "ip": "IP address"}


def _check_one(constraints: Constraints, kind: str, name: str, parsed: Any, count: list[int]) -> None:
    prefix = "x509: a root or intermediate certificate is not authorized to sign for this name: "
    match = _MATCHERS[kind]
    for subtrees, excluded in ((constraints.excluded[kind], True), (constraints.permitted[kind], False)):
        count[0] += len(subtrees)
        if count[0] > _MAX_COMPARISONS:
            raise ValueError("x509: unknown error")  # Go's text for TooManyConstraints
        hit = False
        for constraint in subtrees:
            try:
                hit = match(parsed, constraint)
            except ValueError as e:
                raise ValueError(prefix + str(e)) from None
            if hit:
                break
        if excluded and hit:
            raise ValueError(f"{prefix}{_TYPE_NAMES[kind]} {_q(name)} is excluded by constraint {_q(str(constraint))}")
        if not excluded and subtrees and not hit:
            raise ValueError(f"{prefix}{_TYPE_NAMES[kind]} {_q(name)} is not permitted by any constraint")


def check(constraints: Constraints, cert: Certificate) -> None:
    """The names in *cert*'s SAN against a CA's *constraints*, in SAN order."""
    from .x509go import X509Error

    count = [0]
    try:
        for kind, name in cert.san_entries:
            parsed: Any = name
            if kind == "email":
                parsed = parse_mailbox(name)
                if parsed is None:
                    raise ValueError('x509: cannot parse rfc822Name {"" ""}')  # Go formats its empty struct
            elif kind == "dns" and reverse_labels(name) is None:
                raise ValueError(f"x509: cannot parse dnsName {_q(name)}")
            elif kind == "uri":
                try:
                    parsed = urllib.parse.urlsplit(name)
                except ValueError:
                    raise ValueError(f"x509: internal error: URI SAN {_q(name)} failed to parse") from None
            elif kind == "ip":
                parsed = ipaddress.ip_address(name)
            _check_one(constraints, kind, name, parsed, count)
    except ValueError as e:
        raise X509Error(str(e)) from None


# --- VerifyHostname ------------------------------------------------------------
def _valid_hostname(host: str, pattern: bool) -> bool:
    if not pattern:
        host = host.removesuffix(".")
    if not host:
        return False
    for i, part in enumerate(host.split(".")):
        if not part:
            return False
        if pattern and i == 0 and part == "*":
            continue
        for j, c in enumerate(part):
            if not (c.isascii() and (c.isalnum() or c == "_" or (c == "-" and j != 0))):
                return False
    return True


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


def _match_hostnames(pattern: str, host: str) -> bool:
    pattern, host = _ascii_lower(pattern), _ascii_lower(host.removesuffix("."))
    if not pattern or not host:
        return False
    p, h = pattern.split("."), host.split(".")
    return len(p) == len(h) and all((i == 0 and a == "*") or a == b for i, (a, b) in enumerate(zip(p, h, strict=True)))


def verify_hostname(cert: Certificate, host: str) -> None:
    from .x509go import X509Error

    candidate_ip = host[1:-1] if len(host) >= 3 and host[0] == "[" and host[-1] == "]" else host
    ip = _parse_ip(candidate_ip)
    if ip is not None:
        if any(_parse_ip(c) == ip for c in cert.ip_addresses):
            return
        raise X509Error(_hostname_error(cert, candidate_ip))
    name = _ascii_lower(host)
    valid_name = _valid_hostname(name, False)
    for match in cert.dns_names:
        if valid_name and _valid_hostname(match, True):
            if _match_hostnames(match, name):
                return
        elif match not in ("", ".") and name not in ("", ".") and _ascii_lower(match) == name:
            return
    raise X509Error(_hostname_error(cert, host))


def _hostname_error(cert: Certificate, host: str) -> str:
    if cert.san is None and _match_hostnames(cert.common_name, host):
        return "x509: certificate relies on legacy Common Name field, use SANs instead"
    if _parse_ip(host) is not None:
        if not cert.ip_addresses:
            return f"x509: cannot validate certificate for {host} because it doesn't contain any IP SANs"
        valid = ", ".join(cert.ip_addresses)
    else:
        valid = ", ".join(cert.dns_names)
    if not valid:
        return f"x509: certificate is not valid for any names, but wanted to match {host}"
    return f"x509: certificate is valid for {valid}, not {host}"
