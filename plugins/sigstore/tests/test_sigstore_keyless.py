"""``sigstoreSigned`` with ``fulcio`` + Rekor, public keys + Rekor, and ``pki``:
signatures made by the tests (a CA, an intermediate, Fulcio-like leaves, a
Rekor key and SETs, all from ``cryptography``), verified offline by copying a
dir: image under a policy.  Every verdict, accepted or the exact rejection
text, is also upstream main's when /tmp/skopeo-main is there (``shop.check``)."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest
import sigstore_material as m
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID
from sigstore_workshop import EMAIL, ISSUER, REF, REPO, Workshop

from skopeo import signature

Case = Callable[[Workshop], tuple[list[Any], dict[str, Any]]]
LATER = m.NOW + datetime.timedelta(hours=1)
EARLIER = m.NOW - datetime.timedelta(hours=1)


def go_time(moment: datetime.datetime) -> str:
    text = moment.astimezone().isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _fulcio(build: Callable[[Workshop], m.Signed], **requirement: Any) -> Case:
    return lambda shop: ([build(shop)], shop.fulcio_requirement(**requirement))


def _other_ca_leaf(shop: Workshop) -> m.Signed:
    other = m.intermediate("Other Intermediate", m.ca("Other Root"))
    return m.with_fulcio(m.fulcio_leaf(other), shop.digest, REF, shop.rekor, other.pem)


def _forged_leaf(shop: Workshop) -> m.Signed:
    # Names the real intermediate as issuer, but another key signed it.
    impostor = m.Cert(shop.intermediate.cert, m.ec_key())
    return shop.fulcio(m.fulcio_leaf(impostor))


def _tampered_set(shop: Workshop) -> m.Signed:
    s = shop.fulcio()
    bundle = json.loads(s.annotations[m.BUNDLE])
    bundle["Payload"]["integratedTime"] -= 1
    s.annotations[m.BUNDLE] = json.dumps(bundle)
    return s


def _without(annotation: str) -> Callable[[Workshop], m.Signed]:
    def build(shop: Workshop) -> m.Signed:
        s = shop.fulcio()
        del s.annotations[annotation]
        return s
    return build


def _critical_extension_leaf(shop: Workshop) -> m.Signed:
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00")
    return shop.fulcio(m.fulcio_leaf(shop.intermediate, extra=[(ext, True)]))


def _path_length_leaf(shop: Workshop) -> m.Signed:
    limited = m.intermediate("Limited", shop.root, path_length=0)
    below = m.intermediate("Below", limited)
    return m.with_fulcio(m.fulcio_leaf(below), shop.digest, REF, shop.rekor, below.pem + limited.pem + shop.root.pem)


def _constrained_leaf(email: str) -> Callable[[Workshop], m.Signed]:
    def build(shop: Workshop) -> m.Signed:
        nc = x509.NameConstraints(permitted_subtrees=[x509.RFC822Name("good.example")], excluded_subtrees=None)
        constrained = m.intermediate("Constrained", shop.root, extra=[(nc, True)])
        return m.with_fulcio(m.fulcio_leaf(constrained, email), shop.digest, REF, shop.rekor,
                             constrained.pem + shop.root.pem)
    return build


def _two_bad(shop: Workshop) -> tuple[list[Any], dict[str, Any]]:
    return ([shop.fulcio(m.fulcio_leaf(shop.intermediate, "x@y.z")),
             shop.fulcio(m.fulcio_leaf(shop.intermediate, issuer="https://evil"))], shop.fulcio_requirement())


FULCIO_CASES: list[tuple[str, Case, str]] = [
    ("no chain annotation", _fulcio(lambda s: s.fulcio(chain=False)),
     "veryfing leaf certificate failed: x509: certificate signed by unknown authority"),
    ("other CA", _fulcio(_other_ca_leaf), "veryfing leaf certificate failed: x509: certificate signed by unknown authority"),
    ("forged issuer signature", _fulcio(_forged_leaf),
     'veryfing leaf certificate failed: x509: certificate signed by unknown authority (possibly because of '
     '"x509: ECDSA verification failure" while trying to verify candidate authority certificate "Test Intermediate")'),
    ("wrong email", _fulcio(lambda s: s.fulcio(m.fulcio_leaf(s.intermediate, "x@y.z"))),
     'Required email "signer@example.com" not found (got ["x@y.z"])'),
    ("wrong issuer", _fulcio(lambda s: s.fulcio(m.fulcio_leaf(s.intermediate, issuer="https://evil"))),
     'Unexpected Fulcio OIDC issuer "https://evil"'),
    ("inconsistent issuers", _fulcio(lambda s: s.fulcio(m.fulcio_leaf(s.intermediate, oidc_v1="https://a"))),
     'inconsistent OIDC issuer extension values: v1 "https://a", v2 "https://oidc.example.com"'),
    ("no issuer", _fulcio(lambda s: s.fulcio(m.fulcio_leaf(s.intermediate, issuer=None))),
     "Fulcio certificate is missing the issuer extension"),
    ("logged after expiry", _fulcio(lambda s: s.fulcio(integrated_time=LATER)),
     "veryfing leaf certificate failed: x509: certificate has expired or is not yet valid: "
     f"current time {go_time(LATER)} is after {go_time(m.NOW + datetime.timedelta(minutes=10))}"),
    ("logged before issuance", _fulcio(lambda s: s.fulcio(integrated_time=EARLIER)),
     "veryfing leaf certificate failed: x509: certificate has expired or is not yet valid: "
     f"current time {go_time(EARLIER)} is before {go_time(m.NOW - datetime.timedelta(minutes=5))}"),
    ("tampered SET", _fulcio(_tampered_set), "cryptographic signature verification of Rekor SET failed"),
    ("SET by another Rekor key", _fulcio(lambda s: m.with_fulcio(s.leaf, s.digest, REF, m.ec_key(), s.chain)),
     "cryptographic signature verification of Rekor SET failed"),
    ("no certificate", _fulcio(_without(m.CERTIFICATE)), "missing dev.sigstore.cosign/certificate annotation"),
    ("no SET", _fulcio(_without(m.BUNDLE)), "missing dev.sigstore.cosign/bundle annotation"),
    ("unhandled critical extension", _fulcio(_critical_extension_leaf),
     "veryfing leaf certificate failed: x509: unhandled critical extension"),
    ("path length", _fulcio(_path_length_leaf),
     "veryfing leaf certificate failed: x509: too many intermediates for path length constraint"),
    ("name constraints", _fulcio(_constrained_leaf(EMAIL)),
     "veryfing leaf certificate failed: x509: a root or intermediate certificate is not authorized to sign for this "
     'name: email address "signer@example.com" is not permitted by any constraint'),
    ("two signatures", _two_bad,
     'None of the signatures were accepted, reasons: Required email "signer@example.com" not found (got ["x@y.z"]); '
     'Unexpected Fulcio OIDC issuer "https://evil"'),
]


@pytest.mark.parametrize(("case", "expected"), [pytest.param(c, e, id=i) for i, c, e in FULCIO_CASES])
def test_fulcio_rejections(shop: Workshop, case: Case, expected: str) -> None:
    signatures, requirement = case(shop)
    assert shop.check(shop.image(*signatures), requirement) == f"Source image rejected: {expected}"


def test_fulcio_accepted(shop: Workshop) -> None:
    image = shop.image(shop.fulcio())
    assert shop.check(image, shop.fulcio_requirement()) == ""
    # The signature travels with the image, annotations and all.
    blob = (shop.last_output / "signature-1").read_bytes()
    envelope = signature.SigstoreEnvelope.from_json(signature.decode(blob).data)
    assert set(envelope.annotations) == {m.SIGNATURE, m.CERTIFICATE, m.CHAIN, m.BUNDLE}
    # Either OIDC issuer extension alone is enough; RSA and Ed25519 leaf keys verify too.
    for leaf in (m.fulcio_leaf(shop.intermediate, oidc_v2=None), m.fulcio_leaf(shop.intermediate, oidc_v1=None),
                 m.fulcio_leaf(shop.intermediate, key=rsa.generate_private_key(65537, 2048)),
                 m.fulcio_leaf(shop.intermediate, key=ed25519.Ed25519PrivateKey.generate())):
        assert shop.check(shop.image(shop.fulcio(leaf)), shop.fulcio_requirement()) == ""
    # An identity the signature does not claim is still refused.
    other = {"type": "exactRepository", "dockerRepository": "docker.io/library/other"}
    assert shop.check(image, shop.fulcio_requirement(signedIdentity=other)) == (
        f'Source image rejected: Signature for identity "{REF}" is not accepted')
    # A name-constrained CA allows what it permits.
    good = "a@good.example"
    assert shop.check(shop.image(_constrained_leaf(good)(shop)), shop.fulcio_requirement(
        fulcio={"caPath": str(shop.root_pem), "oidcIssuer": ISSUER, "subjectEmail": good})) == ""


def test_fulcio_far_future_log_time_is_rejected_without_a_crash(shop: Workshop) -> None:
    # Go prints the real year (beyond 9999); we stop at the last moment datetime can hold.
    code, message = shop.copy(shop.image(shop.fulcio(integrated_time=2**62)), shop.policy(shop.fulcio_requirement()))
    assert code == 1
    assert message == ("Source image rejected: veryfing leaf certificate failed: x509: certificate has expired or is "
                       f"not yet valid: current time 9999-12-31T23:59:59Z is after {go_time(shop.leaf.cert.not_valid_after_utc)}")


def test_fulcio_trust_root_errors(shop: Workshop) -> None:
    image = shop.image(shop.fulcio())
    junk = base64.b64encode(b"not a certificate").decode()
    assert shop.check(image, shop.fulcio_requirement(fulcio={"caData": junk, "oidcIssuer": ISSUER, "subjectEmail": EMAIL})) \
        == "Source image rejected: error loading Fulcio CA certificates"
    missing = shop.tmp / "missing.pem"
    assert shop.check(image, shop.fulcio_requirement(fulcio={"caPath": str(missing), "oidcIssuer": ISSUER,
                                                             "subjectEmail": EMAIL})) \
        == f"Source image rejected: open {missing}: no such file or directory"
    rsa_pub = shop.file("rsa.pub", m.public_pem(rsa.generate_private_key(65537, 2048)))
    assert shop.check(image, shop.fulcio_requirement(rekorPublicKeyPath=str(rsa_pub))) \
        == "Source image rejected: Rekor public key 1 is not using ECDSA"
    bad = shop.file("bad.pub", b"no PEM here")
    assert shop.check(image, shop.fulcio_requirement(rekorPublicKeyPath=None, rekorPublicKeyPaths=[str(shop.rekor_pub), str(bad)])) \
        == "Source image rejected: parsing Rekor public key 2: PEM decoding failed"
    # Any of several Rekor keys may have signed the SET.
    assert shop.check(image, shop.fulcio_requirement(
        rekorPublicKeyPath=None, rekorPublicKeyDatas=[base64.b64encode(m.public_pem(m.ec_key())).decode(),
                                                     base64.b64encode(shop.rekor_pub.read_bytes()).decode()])) == ""


# --- public keys, with and without Rekor ----------------------------------------
def test_public_key_with_rekor(shop: Workshop) -> None:
    key = m.ec_key()
    pub = shop.file("key.pub", m.public_pem(key))
    s = m.signed(key, shop.digest, REF)
    s.annotations[m.BUNDLE] = m.rekor_set(shop.rekor, m.rekor_body(m.public_pem(key), s.signature, s.payload))
    req = {"type": "sigstoreSigned", "keyPath": str(pub), "rekorPublicKeyPath": str(shop.rekor_pub), "signedIdentity": REPO}
    assert shop.check(shop.image(s), req) == ""
    assert shop.check(shop.image(s), {**req, "rekorPublicKeyPath": str(pub)}) == (
        "Source image rejected: No public key verified against the RekorSET: "
        "cryptographic signature verification of Rekor SET failed")
    # The log time does not matter with a public key, even one Python's datetime cannot hold.
    far = m.signed(key, shop.digest, REF)
    far.annotations[m.BUNDLE] = m.rekor_set(shop.rekor, m.rekor_body(m.public_pem(key), far.signature, far.payload),
                                            integrated_time=2**62)
    assert shop.check(shop.image(far), req) == ""
    plain = m.signed(key, shop.digest, REF)
    assert shop.check(shop.image(plain), req) == "Source image rejected: missing dev.sigstore.cosign/bundle annotation"
    # The SET logs another key: with two policy keys, both failures are listed.
    other = shop.file("other.pub", m.public_pem(m.ec_key()))
    assert shop.check(shop.image(s), {**req, "keyPath": None, "keyPaths": [str(other), str(pub)]}) == ""
    s.annotations[m.BUNDLE] = m.rekor_set(shop.rekor, m.rekor_body(other.read_bytes(), s.signature, s.payload))
    assert shop.check(shop.image(s), {**req, "keyPath": None, "keyPaths": [str(pub), str(pub)]}) == (
        "Source image rejected: No public key verified against the RekorSET: publicKey in Rekor SET does not match, "
        "publicKey in Rekor SET does not match")


def test_public_key_signature_encodings_and_failures(shop: Workshop) -> None:
    k1, k2 = m.ec_key(), m.ec_key()
    paths = [str(shop.file("k1.pub", m.public_pem(k1))), str(shop.file("k2.pub", m.public_pem(k2)))]
    req = {"type": "sigstoreSigned", "keyPaths": paths, "signedIdentity": REPO}
    assert shop.check(shop.image(m.signed(m.ec_key(), shop.digest, REF)), req) == (
        "Source image rejected: cryptographic signature verification failed: invalid signature when validating ASN.1 "
        "encoded signature, invalid signature when validating ASN.1 encoded signature")
    s = m.signed(k2, shop.digest, REF)
    r, sv = utils.decode_dss_signature(s.signature)
    s.signature = r.to_bytes(32, "big") + sv.to_bytes(32, "big")  # IEEE P1363, as some signers write it
    assert shop.check(shop.image(s), req) == ""
    s.signature = b"\x01" * 63
    assert shop.check(shop.image(s), req) == (
        "Source image rejected: cryptographic signature verification failed: ecdsa: Invalid IEEE_P1363 encoded bytes, "
        "ecdsa: Invalid IEEE_P1363 encoded bytes")
    # Go's []byte also decodes from an array of numbers; a null path is the empty path.
    assert shop.check(shop.image(m.signed(k1, shop.digest, REF)),
                      {"type": "sigstoreSigned", "keyData": list(m.public_pem(k1)), "signedIdentity": REPO}) == ""
    assert shop.check(shop.image(m.signed(k1, shop.digest, REF)), {**req, "keyPaths": [paths[0], None]}) == (
        "Source image rejected: open : no such file or directory")
    cert = shop.file("cert.pub", shop.leaf.pem)
    assert shop.check(shop.image(m.signed(k1, shop.digest, REF)), {**req, "keyPaths": [paths[0], str(cert)]}) == (
        "Source image rejected: parsing public key 2: unknown Public key PEM file type: CERTIFICATE. "
        "Are you passing the correct public key?")


# --- the Rekor SET itself ------------------------------------------------------------
def _set_case(build: Callable[[Workshop, m.Signed], str]) -> Case:
    def case(shop: Workshop) -> tuple[list[Any], dict[str, Any]]:
        s = m.signed(shop.leaf.key, shop.digest, REF)
        s.annotations[m.CERTIFICATE] = shop.leaf.pem.decode()
        s.annotations[m.CHAIN] = shop.chain.decode()
        s.annotations[m.BUNDLE] = build(shop, s)
        return [s], shop.fulcio_requirement()
    return case


def _body(**changes: Any) -> Callable[[Workshop, m.Signed], str]:
    def build(shop: Workshop, s: m.Signed) -> str:
        entry = json.loads(m.rekor_body(shop.leaf.pem, s.signature, s.payload))
        for path, value in changes.items():
            target = entry
            *parents, last = path.split("__")
            for p in parents:
                target = target[p]
            target[last] = value
        return m.rekor_set(shop.rekor, json.dumps(entry).encode())
    return build


def _signed_payload(shop: Workshop, payload: dict[str, Any]) -> str:
    import hashlib

    import rfc8785
    from cryptography.hazmat.primitives import hashes

    sig = shop.rekor.sign(hashlib.sha256(rfc8785.dumps(payload)).digest(), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    return json.dumps({"SignedEntryTimestamp": m.b64(sig), "Payload": payload})


def _payload_without(field: str) -> Callable[[Workshop, m.Signed], str]:
    def build(shop: Workshop, s: m.Signed) -> str:
        payload = json.loads(m.rekor_set(shop.rekor, m.rekor_body(shop.leaf.pem, s.signature, s.payload)))["Payload"]
        del payload[field]
        return _signed_payload(shop, payload)
    return build


def _good_set(shop: Workshop, s: m.Signed) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(m.rekor_set(shop.rekor, m.rekor_body(shop.leaf.pem, s.signature, s.payload)))
    return result


SET_CASES: list[tuple[str, Case, str]] = [
    ("empty", _set_case(lambda shop, s: ""), "unexpected end of JSON input"),
    ("not JSON", _set_case(lambda shop, s: "{x"), "invalid character 'x' looking for beginning of object key string"),
    ("array", _set_case(lambda shop, s: "[]"), "JSON object expected, got 91"),
    ("unknown key", _set_case(lambda shop, s: json.dumps({**_good_set(shop, s), "extra": 1})), 'Unknown key "extra"'),
    ("missing key", _set_case(lambda shop, s: json.dumps({"Payload": _good_set(shop, s)["Payload"]})),
     'Key "SignedEntryTimestamp" missing in a JSON object'),
    ("trailing data", _set_case(lambda shop, s: json.dumps(_good_set(shop, s)) + " x"),
     "invalid character 'x' after top-level value"),
    ("bad base64", _set_case(lambda shop, s: json.dumps({**_good_set(shop, s), "SignedEntryTimestamp": "@@"})),
     "json: cannot unmarshal string into Go value of type []uint8: illegal base64 data at input byte 0"),
    ("payload field missing", _set_case(_payload_without("logIndex")),
     'parsing Rekor SET payload: Key "logIndex" missing in a JSON object'),
    ("duplicate payload key", _set_case(lambda shop, s: json.dumps(_good_set(shop, s)).replace(
        '"logIndex": 12345', '"logIndex": 12345, "logIndex": 12345')),
     "canonicalizing Rekor SET JSON: Duplicate key: logIndex"),
    ("other kind", _set_case(_body(kind="rekord")), 'decoding the body of a Rekor SET payload: invalid kind value: "rekord"'),
    ("no API version", _set_case(lambda shop, s: m.rekor_set(shop.rekor, b'{"kind": "hashedrekord", "spec": {}}')),
     "missing Rekor SET Payload API version"),
    ("no spec", _set_case(lambda shop, s: m.rekor_set(shop.rekor, b'{"kind": "hashedrekord", "apiVersion": "0.0.1"}')),
     "decoding hashedrekod spec: unexpected end of JSON input"),
    ("body not JSON", _set_case(lambda shop, s: m.rekor_set(shop.rekor, b"nope")),
     "decoding the body of a Rekor SET payload: invalid character 'o' in literal null (expecting 'u')"),
    ("other key logged", _set_case(lambda shop, s: m.rekor_set(shop.rekor, m.rekor_body(
        m.public_pem(m.ec_key()), s.signature, s.payload))), "publicKey in Rekor SET does not match"),
    ("other signature logged", _set_case(lambda shop, s: m.rekor_set(shop.rekor, m.rekor_body(
        shop.leaf.pem, b"other", s.payload))), 'signature in Rekor SET does not match: "other" vs. "…'),
    ("other payload logged", _set_case(lambda shop, s: m.rekor_set(shop.rekor, m.rekor_body(
        shop.leaf.pem, s.signature, b"other"))), "payload in Rekor SET does not match"),
    ("hash algorithm", _set_case(_body(spec__data__hash__algorithm="sha512")),
     'Unexpected "data.hash.algorithm" value "sha512"'),
    ("hash not hex", _set_case(_body(spec__data__hash__value="xyz")),
     "Invalid \"data.hash.value\" field in hashedrekord: encoding/hex: invalid byte: U+0078 'x'"),
    ("hash odd length", _set_case(_body(spec__data__hash__value="abc")),
     'Invalid "data.hash.value" field in hashedrekord: encoding/hex: odd length hex string'),
    ("algorithm type", _set_case(_body(spec__data__hash__algorithm=5)),
     "decoding hashedrekod spec: json: cannot unmarshal number into Go struct field "
     "RekorHashedrekordV001Schema.data.hash.algorithm of type string"),
    ("data type", _set_case(_body(spec__data="x")),
     "decoding hashedrekod spec: json: cannot unmarshal string into Go struct field RekorHashedrekordV001Schema.data "
     "of type internal.RekorHashedrekordV001SchemaData"),
    ("logged key not PEM", _set_case(_body(spec__signature__publicKey__content=m.b64(b"nope"))),
     "publicKey in Rekor SET is not in PEM format"),
]


@pytest.mark.parametrize(("case", "expected"), [pytest.param(c, e, id=i) for i, c, e in SET_CASES])
def test_rekor_set_rejections(shop: Workshop, case: Case, expected: str) -> None:
    signatures, requirement = case(shop)
    message = shop.check(shop.image(*signatures), requirement)
    if expected.endswith("…"):  # the rest is Go's %#v of random signature bytes
        assert message.startswith(f"Source image rejected: {expected[:-1]}")
    else:
        assert message == f"Source image rejected: {expected}"


# --- pki ------------------------------------------------------------------------------
def _pki_leaf(shop: Workshop, issuer: m.Cert | None = None, **kw: Any) -> m.Cert:
    kw.setdefault("emails", ["dev@example.com"])
    kw.setdefault("dns_names", ["signer.example.com"])
    kw.setdefault("not_after", m.NOW + datetime.timedelta(days=1))
    return m.make_cert(m.CertSpec(common_name="pki leaf", **kw), issuer or shop.intermediate)


def _pki_signed(shop: Workshop, leaf: m.Cert, chain: bytes | None = None) -> m.Signed:
    s = m.signed(leaf.key, shop.digest, REF)
    s.annotations[m.CERTIFICATE] = leaf.pem.decode()
    if chain is not None:
        s.annotations[m.CHAIN] = chain.decode()
    return s


def _pki_req(shop: Workshop, **pki: Any) -> dict[str, Any]:
    spec = {"caRootsPath": str(shop.root_pem), "caIntermediatesPath": str(shop.intermediate_pem),
            "subjectEmail": "dev@example.com", **pki}
    return {"type": "sigstoreSigned", "pki": {k: v for k, v in spec.items() if v is not None}, "signedIdentity": REPO}


def test_pki(shop: Workshop) -> None:
    leaf = _pki_leaf(shop)
    image = shop.image(_pki_signed(shop, leaf))
    assert shop.check(image, _pki_req(shop)) == ""
    assert shop.check(image, _pki_req(shop, subjectEmail=None, subjectHostname="signer.example.com")) == ""
    # Intermediates from the signature's chain annotation instead of the policy.
    assert shop.check(shop.image(_pki_signed(shop, leaf, shop.chain)), _pki_req(shop, caIntermediatesPath=None)) == ""
    rejected = {
        "no intermediates": (image, _pki_req(shop, caIntermediatesPath=None),
                             "veryfing leaf certificate failed: x509: certificate signed by unknown authority"),
        "email": (image, _pki_req(shop, subjectEmail="other@example.com"),
                  'Required email "other@example.com" not found (got ["dev@example.com"])'),
        "hostname": (image, _pki_req(shop, subjectHostname="evil.example.com"),
                     "Unexpected subject hostname: x509: certificate is valid for signer.example.com, not evil.example.com"),
        "server certificate": (
            shop.image(_pki_signed(shop, _pki_leaf(shop, eku=[ExtendedKeyUsageOID.SERVER_AUTH]))), _pki_req(shop),
            "veryfing leaf certificate failed: x509: certificate specifies an incompatible key usage"),
        "roots not certificates": (image, _pki_req(shop, caRootsPath=str(shop.rekor_pub)),
                                   "error loading PKI CA Roots certificates"),
        "intermediates not certificates": (image, _pki_req(shop, caIntermediatesPath=str(shop.rekor_pub)),
                                           "loading trusted intermediate certificates: x509: malformed serial number"),
        "no certificate": (shop.image(m.signed(leaf.key, shop.digest, REF)), _pki_req(shop),
                           "missing dev.sigstore.cosign/certificate annotation"),
    }
    for name, (img, req, expected) in rejected.items():
        assert shop.check(img, req) == f"Source image rejected: {expected}", name


def test_pki_chain_problems(shop: Workshop) -> None:
    not_ca = m.make_cert(m.CertSpec(common_name="Not a CA", eku=None, not_after=m.NOW + datetime.timedelta(days=1)),
                         shop.root)
    req = _pki_req(shop, caIntermediatesPath=str(shop.file("not-ca.pem", not_ca.pem)))
    assert shop.check(shop.image(_pki_signed(shop, _pki_leaf(shop, not_ca))), req) == (
        "Source image rejected: veryfing leaf certificate failed: x509: certificate signed by unknown authority "
        '(possibly because of "x509: invalid signature: parent certificate cannot sign this kind of certificate" '
        'while trying to verify candidate authority certificate "Not a CA")')
    old = _pki_leaf(shop, not_before=m.NOW - datetime.timedelta(days=3), not_after=m.NOW - datetime.timedelta(days=1))
    message = shop.check(shop.image(_pki_signed(shop, old)), _pki_req(shop))
    assert message.startswith("Source image rejected: veryfing leaf certificate failed: x509: certificate has expired "
                              "or is not yet valid: current time ")
    assert message.endswith(f" is after {go_time(m.NOW - datetime.timedelta(days=1))}")
    garbage = m.signed(shop.leaf.key, shop.digest, REF)
    garbage.annotations[m.CERTIFICATE] = "garbage"
    assert shop.check(shop.image(garbage), _pki_req(shop)) == (
        "Source image rejected: parsing leaf certificate: error during PEM decoding")
    two = _pki_signed(shop, _pki_leaf(shop))
    two.annotations[m.CERTIFICATE] += shop.intermediate.pem.decode()
    assert shop.check(shop.image(two), _pki_req(shop)) == (
        "Source image rejected: unexpected multiple certificates present in signature certificate data")
