"""X.509 certificates parsed and chains verified as Go's ``crypto/x509`` does it
(``ParseCertificate``, ``CertPool``, ``Certificate.Verify``, ``VerifyHostname``).

A Go port, hand-written on purpose: containers/image hands certificates to Go's
verifier and users read its decisions and its error texts ("x509: certificate
signed by unknown authority (possibly because of …)", "x509: certificate has
expired or is not yet valid: current time … is after …").  cryptography's own
verifier follows the Web PKI profile and words its errors differently, so it
cannot stand in; cryptography parses the DER and checks each signature.

Ported: chain building (roots, then intermediates, candidates ordered by key
identifiers, loops and the signature-check limit), ``isValid`` (unhandled
critical extensions, issuer/subject bytes, validity at the given time, the
requested extended key usage at every level, name constraints, CA flag, path
length), ``CheckSignatureFrom`` (CA flag, keyCertSign, insecure algorithms)
and ``VerifyHostname``.  Not ported: Go's own DER parser.  A certificate
cryptography cannot parse gets Go's text for its first unreadable top-level
field (``x509: malformed serial number``…), or ``x509: malformed
certificate`` where Go would give a deeper detail."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from . import x509names

OID_SAN = "2.5.29.17"
OID_NAME_CONSTRAINTS = "2.5.29.30"
EKU_ANY = "2.5.29.37.0"
EKU_CODE_SIGNING = "1.3.6.1.5.5.7.3.3"
# Extensions Go's parser understands; any other one marked critical is "unhandled".
_HANDLED_EXTENSIONS = frozenset(
    "2.5.29." + n for n in ("14", "15", "17", "19", "30", "31", "32", "33", "35", "36", "37", "54")
) | {"1.3.6.1.5.5.7.1.1"}
_MAX_SIGNATURE_CHECKS = 100
# Go's names of signature algorithms (x509.SignatureAlgorithm.String()), by OID.
_ALGORITHM_NAMES = {
    "1.2.840.113549.1.1.2": "MD2-RSA", "1.2.840.113549.1.1.4": "MD5-RSA", "1.2.840.113549.1.1.5": "SHA1-RSA",
    "1.2.840.113549.1.1.11": "SHA256-RSA", "1.2.840.113549.1.1.12": "SHA384-RSA",
    "1.2.840.113549.1.1.13": "SHA512-RSA", "1.2.840.113549.1.1.10": "RSAPSS",
    "1.2.840.10040.4.3": "DSA-SHA1", "2.16.840.1.101.3.4.3.2": "DSA-SHA256",
    "1.2.840.10045.4.1": "ECDSA-SHA1", "1.2.840.10045.4.3.2": "ECDSA-SHA256",
    "1.2.840.10045.4.3.3": "ECDSA-SHA384", "1.2.840.10045.4.3.4": "ECDSA-SHA512", "1.3.101.112": "Ed25519",
}
_INSECURE = frozenset({"MD2-RSA", "MD5-RSA", "SHA1-RSA", "DSA-SHA1", "DSA-SHA256", "ECDSA-SHA1"})


class X509Error(Exception):
    """A Go x509 error; str() is Go's text."""


# --- parsing ------------------------------------------------------------------
def _der_item(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end) of the DER element at *pos*."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return tag, pos, pos + length


def _read(data: bytes, pos: int, tag: int) -> tuple[int, int] | None:
    """(contents start, end) of a DER element of *tag* at *pos*, or None."""
    if pos + 2 > len(data) or data[pos] != tag:
        return None
    try:
        _, start, end = _der_item(data, pos)
    except IndexError:
        return None
    return (start, end) if end <= len(data) else None


def _structure_error(der: bytes) -> str:
    """Go's ParseCertificate text for the first top-level field it cannot read
    (cryptography failed to parse *der*; anything deeper is "malformed certificate")."""
    seq, integer, version_tag = 0x30, 0x02, 0xA0
    outer = _read(der, 0, seq)
    if outer is None:
        return "x509: malformed certificate"
    tbs = _read(der, outer[0], seq)
    if tbs is None:
        return "x509: malformed tbs certificate"
    pos = tbs[0]
    if pos < tbs[1] and der[pos] == version_tag:
        version = _read(der, pos, version_tag)
        if version is None or _read(der, version[0], integer) is None:
            return "x509: malformed version"
        pos = version[1]
    steps = ((integer, "serial number"), (seq, "signature algorithm identifier"), (seq, "issuer"),
             (seq, "validity"), (seq, "subject"), (seq, "spki"))
    for tag, what in steps:
        item = _read(der[: tbs[1]], pos, tag)
        if item is None:
            return f"x509: malformed {what}"
        pos = item[1]
    return "x509: malformed certificate"


def _raw_names(tbs: bytes) -> tuple[bytes, bytes]:
    """(RawIssuer, RawSubject): the DER of both names, as Go compares them."""
    _, pos, _ = _der_item(tbs, 0)
    fields: list[bytes] = []
    while len(fields) < 6:
        tag, _, end = _der_item(tbs, pos)
        if not (fields == [] and tag == 0xA0):  # the optional [0] version
            fields.append(tbs[pos:end])
        pos = end
    return fields[2], fields[4]  # serial, signature, issuer, validity, subject


@dataclass
class Certificate:
    """What Go's x509.Certificate holds that verification reads."""

    parsed: Any  # cryptography.x509.Certificate
    raw: bytes
    raw_issuer: bytes
    raw_subject: bytes
    not_before: datetime.datetime
    not_after: datetime.datetime
    basic_constraints_valid: bool = False
    is_ca: bool = False
    max_path_len: int = -1
    key_usage_forbids_cert_sign: bool = False
    ext_key_usage: list[str] = field(default_factory=list)
    has_ext_key_usage: bool = False
    subject_key_id: bytes = b""
    authority_key_id: bytes = b""
    dns_names: list[str] = field(default_factory=list)
    email_addresses: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    san: bytes | None = None
    san_entries: list[tuple[str, str]] = field(default_factory=list)  # (dns/email/ip/uri, name), in order
    name_constraints: x509names.Constraints | None = None
    unhandled_critical: list[str] = field(default_factory=list)
    extensions: list[tuple[str, bytes]] = field(default_factory=list)  # (OID, raw value)

    @property
    def public_key(self) -> Any:
        return self.parsed.public_key()

    @property
    def common_name(self) -> str:
        from cryptography.x509.oid import NameOID

        names = self.parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else ""

    def display_name(self) -> str:
        """The name Go's UnknownAuthorityError gives a candidate authority."""
        from cryptography.x509.oid import NameOID

        if self.common_name:
            return self.common_name
        orgs = self.parsed.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(orgs[0].value) if orgs else f"serial:{self.parsed.serial_number}"


def _read_extensions(cert: Certificate) -> None:
    from cryptography import x509

    for ext in cert.parsed.extensions:
        oid = ext.oid.dotted_string
        value = ext.value
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else value.public_bytes()
        cert.extensions.append((oid, raw))
        unhandled = oid not in _HANDLED_EXTENSIONS
        if isinstance(value, x509.BasicConstraints):
            cert.basic_constraints_valid, cert.is_ca = True, value.ca
            cert.max_path_len = -1 if value.path_length is None else value.path_length
        elif isinstance(value, x509.KeyUsage):
            cert.key_usage_forbids_cert_sign = _key_usage_set(value) and not value.key_cert_sign
        elif isinstance(value, x509.ExtendedKeyUsage):
            cert.has_ext_key_usage = True
            cert.ext_key_usage = [u.dotted_string for u in value]
        elif isinstance(value, x509.SubjectKeyIdentifier):
            cert.subject_key_id = value.digest
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            cert.authority_key_id = value.key_identifier or b""
        elif isinstance(value, x509.SubjectAlternativeName):
            cert.san = raw
            kinds: dict[type, str] = {x509.DNSName: "dns", x509.RFC822Name: "email", x509.IPAddress: "ip",
                     x509.UniformResourceIdentifier: "uri"}
            cert.san_entries = [(kinds[type(n)], str(n.value)) for n in value if type(n) in kinds]
            cert.dns_names = [v for k, v in cert.san_entries if k == "dns"]
            cert.email_addresses = [v for k, v in cert.san_entries if k == "email"]
            cert.ip_addresses = [v for k, v in cert.san_entries if k == "ip"]
            cert.uris = [v for k, v in cert.san_entries if k == "uri"]
            # Go handles a SAN only when it holds a name type it knows.
            unhandled = not (cert.dns_names or cert.email_addresses or cert.ip_addresses or cert.uris)
        elif isinstance(value, x509.NameConstraints):
            cert.name_constraints, unhandled = x509names.from_extension(value)
        if ext.critical and unhandled:
            cert.unhandled_critical.append(oid)


def _key_usage_set(ku: Any) -> bool:
    """Whether any key usage bit is set (Go ignores an extension with none)."""
    bits = [ku.digital_signature, ku.content_commitment, ku.key_encipherment, ku.data_encipherment,
            ku.key_agreement, ku.key_cert_sign, ku.crl_sign]
    if ku.key_agreement:
        bits += [ku.encipher_only, ku.decipher_only]
    return any(bits)


def parse_certificate(der: bytes) -> Certificate:
    """Go's ``x509.ParseCertificate`` (X509Error on failure)."""
    from cryptography import x509

    try:
        parsed = x509.load_der_x509_certificate(der)
        issuer, subject = _raw_names(parsed.tbs_certificate_bytes)
        cert = Certificate(parsed, der, issuer, subject, parsed.not_valid_before_utc, parsed.not_valid_after_utc)
        _read_extensions(cert)
        parsed.public_key()
    except x509.DuplicateExtension:
        raise X509Error("x509: certificate contains duplicate extensions") from None
    except (ValueError, IndexError, TypeError):
        raise X509Error(_structure_error(der)) from None
    except Exception as e:  # cryptography.exceptions.UnsupportedAlgorithm and friends
        raise X509Error(f"x509: malformed certificate: {e}") from None
    return cert


def certificates_from_pem(data: bytes) -> list[Certificate]:
    """sigstore's ``cryptoutils.UnmarshalCertificatesFromPEM``: every block must
    decode and parse (whatever its PEM type)."""
    from . import pem

    out: list[Certificate] = []
    rest = data.strip(b" \t\n\r\v\f")
    while rest:
        block, rest = pem.decode(rest)
        if block is None:
            raise X509Error("error during PEM decoding")
        out.append(parse_certificate(block.bytes))
    return out


class CertPool:
    """Go's ``x509.CertPool``: certificates found by subject, without duplicates."""

    def __init__(self) -> None:
        self.certs: list[Certificate] = []

    def add(self, cert: Certificate) -> None:
        if all(c.raw != cert.raw for c in self.certs):
            self.certs.append(cert)

    def append_pem(self, data: bytes) -> bool:
        """``AppendCertsFromPEM``: CERTIFICATE blocks without headers; blocks
        that do not parse are skipped.  True when one was added."""
        from . import pem

        added = False
        while data:
            block, data = pem.decode(data)
            if block is None:
                break
            if block.type != "CERTIFICATE" or block.headers:
                continue
            try:
                self.add(parse_certificate(block.bytes))
            except X509Error:
                continue
            added = True
        return added

    def copy(self) -> CertPool:
        other = CertPool()
        other.certs = list(self.certs)
        return other

    def contains(self, cert: Certificate) -> bool:
        return any(c.raw == cert.raw for c in self.certs)

    def potential_parents(self, cert: Certificate) -> list[Certificate]:
        """Certificates whose subject is *cert*'s issuer: matching key identifiers
        first, then those where one side has none, then the rest."""
        same, one, other = [], [], []
        for c in self.certs:
            if c.raw_subject != cert.raw_issuer:
                continue
            if c.subject_key_id == cert.authority_key_id:
                same.append(c)
            elif bool(c.subject_key_id) != bool(cert.authority_key_id):
                one.append(c)
            else:
                other.append(c)
        return same + one + other


# --- signatures -----------------------------------------------------------------
def check_signature_from(cert: Certificate, parent: Certificate) -> None:
    """Go's ``CheckSignatureFrom``: *parent* may sign certificates and signed *cert*."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if (parent.parsed.version.value == 2 and not parent.basic_constraints_valid) or (
            parent.basic_constraints_valid and not parent.is_ca):
        raise X509Error("x509: invalid signature: parent certificate cannot sign this kind of certificate")
    if parent.key_usage_forbids_cert_sign:
        raise X509Error("x509: invalid signature: parent certificate cannot sign this kind of certificate")
    algorithm = _ALGORITHM_NAMES.get(cert.parsed.signature_algorithm_oid.dotted_string)
    if algorithm is None:
        raise X509Error("x509: cannot verify signature: algorithm unimplemented")
    if algorithm in _INSECURE:
        raise X509Error(f"x509: cannot verify signature: insecure algorithm {algorithm}")
    key: Any = parent.public_key
    wanted = "ECDSA" if algorithm.startswith("ECDSA") else "Ed25519" if algorithm == "Ed25519" else "RSA"
    kinds: dict[str, Any] = {"ECDSA": ec.EllipticCurvePublicKey, "Ed25519": ed25519.Ed25519PublicKey, "RSA": rsa.RSAPublicKey}
    if not isinstance(key, kinds[wanted]):
        have = {rsa.RSAPublicKey: "*rsa.PublicKey", ec.EllipticCurvePublicKey: "*ecdsa.PublicKey",
                ed25519.Ed25519PublicKey: "ed25519.PublicKey"}
        go_type = next((v for k, v in have.items() if isinstance(key, k)), type(key).__name__)
        raise X509Error(f"x509: signature algorithm specifies an {wanted} public key, but have public key of type {go_type}")
    parsed = cert.parsed
    try:
        if wanted == "Ed25519":
            key.verify(parsed.signature, parsed.tbs_certificate_bytes)
        elif wanted == "ECDSA":
            key.verify(parsed.signature, parsed.tbs_certificate_bytes, parsed.signature_algorithm_parameters)
        else:
            key.verify(parsed.signature, parsed.tbs_certificate_bytes, parsed.signature_algorithm_parameters,
                       parsed.signature_hash_algorithm)
    except InvalidSignature:
        texts = {"ECDSA": "x509: ECDSA verification failure", "Ed25519": "x509: Ed25519 verification failure",
                 "RSA": "crypto/rsa: verification error"}
        raise X509Error(texts[wanted]) from None


# --- chain building (Certificate.Verify) ------------------------------------------
def rfc3339(moment: datetime.datetime) -> str:
    """Go's ``time.Format(time.RFC3339)``."""
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_LEAF, _INTERMEDIATE, _ROOT = range(3)


def _is_valid(cert: Certificate, kind: int, chain: list[Certificate], now: datetime.datetime) -> None:
    if cert.unhandled_critical:
        raise X509Error("x509: unhandled critical extension")
    if chain and chain[-1].raw_issuer != cert.raw_subject:
        raise X509Error("x509: issuer name does not match subject from issuing certificate")
    if now < cert.not_before:
        raise X509Error(f"x509: certificate has expired or is not yet valid: current time {rfc3339(now)} "
                        f"is before {rfc3339(cert.not_before)}")
    if now > cert.not_after:
        raise X509Error(f"x509: certificate has expired or is not yet valid: current time {rfc3339(now)} "
                        f"is after {rfc3339(cert.not_after)}")
    if cert.has_ext_key_usage and not {EKU_ANY, EKU_CODE_SIGNING} & set(cert.ext_key_usage):
        raise X509Error("x509: certificate specifies an incompatible key usage")
    if kind != _LEAF and cert.name_constraints is not None:
        for named in (chain[0], cert):
            if named.san is not None:
                x509names.check(cert.name_constraints, named)
    if kind == _INTERMEDIATE and not (cert.basic_constraints_valid and cert.is_ca):
        raise X509Error("x509: certificate is not authorized to sign other certificates")
    if cert.basic_constraints_valid and cert.max_path_len >= 0 and len(chain) - 1 > cert.max_path_len:
        raise X509Error("x509: too many intermediates for path length constraint")


def _already_in_chain(candidate: Certificate, chain: list[Certificate]) -> bool:
    for c in chain:
        if c.raw_subject == candidate.raw_subject and c.public_key == candidate.public_key:
            if c.san == candidate.san:
                return True
    return False


class _Builder:
    def __init__(self, roots: CertPool, intermediates: CertPool, now: datetime.datetime) -> None:
        self.roots, self.intermediates, self.now = roots, intermediates, now
        self.signature_checks = 0

    def chains(self, chain: list[Certificate]) -> list[list[Certificate]]:
        cert = chain[-1]
        found: list[list[Certificate]] = []
        error: X509Error | None = None
        hint: tuple[X509Error, Certificate] | None = None
        candidates = [(_ROOT, c) for c in self.roots.potential_parents(cert)]
        candidates += [(_INTERMEDIATE, c) for c in self.intermediates.potential_parents(cert)]
        for kind, candidate in candidates:
            if _already_in_chain(candidate, chain):
                continue
            self.signature_checks += 1
            if self.signature_checks > _MAX_SIGNATURE_CHECKS:
                error = X509Error("x509: signature check attempts limit reached while verifying certificate chain")
                continue
            try:
                check_signature_from(cert, candidate)
            except X509Error as e:
                hint = hint or (e, candidate)
                continue
            # As Go, the error reported is the one the last candidate set.
            try:
                error = None
                _is_valid(candidate, kind, chain, self.now)
                if kind == _ROOT:
                    found.append([*chain, candidate])
                else:
                    found.extend(self.chains([*chain, candidate]))
            except X509Error as e:
                error = e
        if found:
            return found
        if error is not None:
            raise error
        message = "x509: certificate signed by unknown authority"
        if hint is not None:
            message += (f" (possibly because of {_go_quote(str(hint[0]))} while trying to verify candidate authority "
                        f"certificate {_go_quote(hint[1].display_name())})")
        raise X509Error(message)


def _go_quote(text: str) -> str:
    from skopeo.golang import gojson

    return gojson.quote(text.encode())


def verify(cert: Certificate, roots: CertPool, intermediates: CertPool | None,
           now: datetime.datetime | None = None) -> list[list[Certificate]]:
    """Go's ``cert.Verify`` for code signing (KeyUsages: CodeSigning) at *now*
    (default: the current time); raises X509Error with Go's text."""
    moment = now or datetime.datetime.now(datetime.UTC).astimezone()
    _is_valid(cert, _LEAF, [], moment)
    if roots.contains(cert):
        return [[cert]]
    return _Builder(roots, intermediates or CertPool(), moment).chains([cert])


def verify_hostname(cert: Certificate, host: str) -> None:
    """Go's ``VerifyHostname`` (X509Error with HostnameError's text)."""
    x509names.verify_hostname(cert, host)
