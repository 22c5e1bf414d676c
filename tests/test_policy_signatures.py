"""policy.json signature requirements and identity matchers, the signature blob
format, and a third-party signature kind added through the plugin hook alone."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skopeo import api, plugins, policy, signature
from skopeo.context import SystemContext
from skopeo.errors import PolicyError
from skopeo.hookspecs import hookimpl
from skopeo.reference import DockerReference, parse_normalized
from skopeo.signature import Signature, SignatureHandler, VerificationResult
from skopeo.transport import ImageDestination, ImageReference, ImageSource, Transport

KEY = base64.b64encode(b"key").decode()


def _parse(req: dict[str, Any]) -> policy.Policy:
    return policy.parse(json.dumps({"default": [req]}).encode())


def _signed_by(**kw: Any) -> dict[str, Any]:
    return {"type": "signedBy", "keyType": "GPGKeys", "keyData": KEY, **kw}


def _sigstore(**kw: Any) -> dict[str, Any]:
    return {"type": "sigstoreSigned", **kw}


@pytest.mark.parametrize(
    ("req", "message"),
    [
        ({"type": "signedBy", "keyType": "GPGKeys"}, "Exactly one of keyPath, keyPaths and keyData must be specified, none of them present"),
        (_signed_by(keyPath="/k"), "Exactly one of keyPath, keyPaths and keyData must be specified, more than one present"),
        (_signed_by(keyType="bogus"), 'invalid keyType "bogus"'),
        ({"type": "signedBy", "keyData": KEY}, 'invalid keyType ""'),
        (_signed_by(extra=1), 'Unknown key "extra"'),
        (_signed_by(keyData="!!"), "illegal base64 data at input byte 0"),
        (_signed_by(keyData=5), "json: cannot unmarshal number into Go value of type []uint8"),
        ({"type": "signedBy", "keyType": "GPGKeys", "keyPaths": "/k"}, "json: cannot unmarshal string into Go value of type []string"),
        (_signed_by(signedIdentity={"type": "nope"}), 'Unknown policy reference match type "nope"'),
        (_signed_by(signedIdentity={"type": "matchExact", "x": 1}), 'Unknown key "x"'),
        (_signed_by(signedIdentity={"type": "exactReference"}), 'Key "dockerReference" missing in a JSON object'),
        (_signed_by(signedIdentity={"type": "exactReference", "dockerReference": "busybox"}),
         "dockerReference busybox contains neither a tag nor digest"),
        (_signed_by(signedIdentity={"type": "exactReference", "dockerReference": "UPPER:x"}),
         "Invalid format of dockerReference UPPER:x: invalid reference format: repository name must be lowercase"),
        (_signed_by(signedIdentity={"type": "exactRepository", "dockerRepository": "a b"}), "Invalid format of dockerRepository a b"),
        (_signed_by(signedIdentity={"type": "remapIdentity", "prefix": "example.com", "signedPrefix": "-bad-"}),
         'Invalid prefix "-bad-"'),
        (_signed_by(signedIdentity={"type": "remapIdentity", "prefix": "example.com"}), 'Key "signedPrefix" missing'),
        (_sigstore(), "exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified"),
        (_sigstore(keyPath="/a", keyData=KEY), "exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki"),
        (_sigstore(keyPaths=[]), "\"keyPaths\" contains no entries"),
        (_sigstore(keyDatas=[]), "\"keyDatas\" contains no entries"),
        (_sigstore(keyPath="/a", rekorPublicKeyPaths=[]), "\"rekorPublickeyPaths\" contains no entries"),
        (_sigstore(keyPath="/a", rekorPublicKeyDatas=[]), "\"rekorPublickeyDatas\" contains no entries"),
        (_sigstore(keyPath="/a", rekorPublicKeyPath="/r", rekorPublicKeyData=KEY), "at most one of rekorPublickeyPath"),
        (_sigstore(fulcio={"caData": KEY, "oidcIssuer": "i", "subjectEmail": "e"}), "must be specified if fulcio is used"),
        (_sigstore(fulcio={"caPath": "/c", "caData": KEY, "oidcIssuer": "i", "subjectEmail": "e"}, rekorPublicKeyPath="/r"),
         "caPath and caData cannot be used simultaneously"),
        (_sigstore(fulcio={"caPath": "/c", "subjectEmail": "e"}, rekorPublicKeyPath="/r"), "oidcIssuer not specified"),
        (_sigstore(fulcio={"caPath": "/c", "oidcIssuer": "i"}, rekorPublicKeyPath="/r"), "subjectEmail not specified"),
        (_sigstore(pki={"caRootsPath": "/c"}), "At least one of subjectEmail, subjectHostname must be specified"),
        (_sigstore(pki={"subjectEmail": "e"}), "At least one of caRootsPath and caRootsData must be specified"),
        (_sigstore(pki={"caRootsPath": "/c", "subjectEmail": "e"}, rekorPublicKeyPath="/r"), "are not supported for pki"),
        (_sigstore(keyPath="/a", bogus=True), 'Unknown key "bogus"'),
        ({"type": "signedBaseLayer"}, 'Key "baseLayerIdentity" missing in a JSON object'),
        ({"type": "signedBaseLayer", "baseLayerIdentity": {"type": "x"}}, 'Unknown policy reference match type "x"'),
        ({"type": 3}, "json: cannot unmarshal number"),
    ],
)
def test_invalid_signature_requirements(req: dict[str, Any], message: str) -> None:
    with pytest.raises(policy._InvalidPolicy, match=message.replace("[", r"\[").replace("]", r"\]")):
        _parse(req)


@pytest.mark.parametrize(
    "req",
    [
        _signed_by(),
        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"},
        {"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a", "/b"]},
        _signed_by(keyType="X509Certificates"),
        _signed_by(signedIdentity={"type": "matchExact"}),
        _signed_by(signedIdentity={"type": "matchRepoDigestOrExact"}),
        _signed_by(signedIdentity={"type": "matchRepository"}),
        _signed_by(signedIdentity={"type": "exactReference", "dockerReference": "busybox:latest"}),
        _signed_by(signedIdentity={"type": "exactRepository", "dockerRepository": "quay.io/x/y"}),
        _signed_by(signedIdentity={"type": "remapIdentity", "prefix": "mirror.example:5000/ns", "signedPrefix": "docker.io"}),
        _sigstore(keyPath="/a"),
        _sigstore(keyDatas=[KEY, KEY], rekorPublicKeyDatas=[KEY]),
        _sigstore(fulcio={"caPath": "/c", "oidcIssuer": "i", "subjectEmail": "e"}, rekorPublicKeyPath="/r"),
        _sigstore(pki={"caRootsData": KEY, "caIntermediatesPath": "/i", "subjectHostname": "h"}),
        {"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchRepository"}},
    ],
)
def test_valid_signature_requirements(req: dict[str, Any]) -> None:
    assert _parse(req).default == [req]


def test_malformed_policy_via_cli(run_skopeo, sample_layout: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}))
    p = run_skopeo("--policy", str(bad), "copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path / 'o'}", policy=False)
    assert p.returncode == 1
    assert (f'Error loading trust policy: invalid policy in \\"{bad}\\": Exactly one of keyPath, keyPaths and keyData '
            "must be specified, none of them present") in p.stderr
    assert not (tmp_path / "o").exists()


def test_policy_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "xdg" / "containers" / "policy.json"
    user.parent.mkdir(parents=True)
    user.write_text("{}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CONTAINERS_POLICY_JSON", raising=False)
    assert policy.default_policy_path() == str(user)
    monkeypatch.setenv("CONTAINERS_POLICY_JSON", str(tmp_path / "env.json"))
    assert policy.default_policy_path() == str(tmp_path / "env.json")


# --- identity matchers ------------------------------------------------------------------
class _Ref(ImageReference):
    """A reference with a docker identity, as docker: images have."""

    def __init__(self, ref: str | None, sigs: list[bytes] | None = None, manifest: bytes = b"{}") -> None:
        super().__init__(_FakeTransport())
        self._ref = parse_normalized(ref) if ref else None
        self.sigs = sigs or []
        self.manifest = manifest

    def string_within_transport(self) -> str:
        return str(self._ref)

    def docker_reference(self) -> DockerReference | None:
        return self._ref

    def policy_configuration_identity(self) -> str:
        return str(self._ref)

    def policy_configuration_namespaces(self) -> list[str]:
        return []

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return _Source(self)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        raise NotImplementedError


class _FakeTransport(Transport):
    name = "fake"

    def parse_reference(self, text: str) -> ImageReference:
        return _Ref(text)


class _Source(ImageSource):
    reference: _Ref

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        return self.reference.manifest, ""

    def get_blob(self, info: Any) -> Any:
        raise NotImplementedError

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        return self.reference.sigs


DIGEST = "sha256:" + "a" * 64
MATCHER_CASES = [
    # (matcher, image, signed identity, accepted)
    ({"type": "matchExact"}, "busybox:latest", "docker.io/library/busybox:latest", True),
    ({"type": "matchExact"}, "busybox:latest", "busybox:1", False),
    ({"type": "matchExact"}, f"busybox@{DIGEST}", f"busybox@{DIGEST}", True),
    ({"type": "matchExact"}, "busybox:latest", "busybox", False),
    (None, "busybox:latest", "busybox:latest", True),
    (None, "busybox:latest", "busybox:other", False),
    ({"type": "matchRepoDigestOrExact"}, f"busybox@{DIGEST}", "busybox:anytag", True),
    ({"type": "matchRepoDigestOrExact"}, f"busybox@{DIGEST}", "other:anytag", False),
    ({"type": "matchRepoDigestOrExact"}, f"busybox@{DIGEST}", "busybox", False),
    ({"type": "matchRepository"}, "busybox:latest", "busybox:other", True),
    ({"type": "matchRepository"}, "busybox:latest", "busybox", True),
    ({"type": "matchRepository"}, "busybox:latest", "quay.io/busybox:latest", False),
    ({"type": "exactReference", "dockerReference": "quay.io/a/b:v1"}, "busybox:latest", "quay.io/a/b:v1", True),
    ({"type": "exactReference", "dockerReference": "quay.io/a/b:v1"}, "busybox:latest", "quay.io/a/b:v2", False),
    ({"type": "exactReference", "dockerReference": "quay.io/a/b:v1"}, None, "quay.io/a/b:v1", True),
    ({"type": "exactRepository", "dockerRepository": "quay.io/a/b"}, None, "quay.io/a/b:any", True),
    ({"type": "exactRepository", "dockerRepository": "quay.io/a/b"}, None, "quay.io/a/c:any", False),
    ({"type": "matchRepository"}, None, "busybox:latest", False),  # no docker identity
    ({"type": "remapIdentity", "prefix": "mirror.example/ns", "signedPrefix": "docker.io/library"},
     "mirror.example/ns/busybox:1", "docker.io/library/busybox:1", True),
    ({"type": "remapIdentity", "prefix": "mirror.example/ns", "signedPrefix": "docker.io/library"},
     "mirror.example/ns/busybox:1", "mirror.example/ns/busybox:1", False),
    ({"type": "remapIdentity", "prefix": "mirror.example/ns", "signedPrefix": "docker.io/library"},
     "mirror.example/nsx/busybox:1", "mirror.example/nsx/busybox:1", True),  # prefix must end at a "/"
    ({"type": "matchExact"}, "busybox:latest", "NOT A REF", False),
]


@pytest.mark.parametrize(("matcher", "image", "signed", "accepted"), MATCHER_CASES)
def test_identity_matchers(matcher: dict[str, Any] | None, image: str | None, signed: str, accepted: bool) -> None:
    if matcher is not None:
        _parse(_signed_by(signedIdentity=matcher))  # every case is a valid policy
    assert policy.identity_matches(matcher, _Ref(image), signed) is accepted


def test_signed_base_layer_rejects() -> None:
    pol = _parse({"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchRepository"}})
    with pytest.raises(PolicyError, match="signedBaseLayer not implemented yet!"):
        policy.PolicyContext(pol).check(_Source(_Ref("busybox:latest")), b"{}")


# --- the storage blob format ------------------------------------------------------------
def test_signature_blob_format() -> None:
    simple = b"\xa3\x01rest"
    assert signature.decode(simple) == Signature("simple-signing", simple)
    assert signature.encode(Signature("simple-signing", simple)) == simple
    sig = Signature("sigstore", b'{"mimeType":"x"}')
    assert sig.blob == b'\x00sigstore-json\n{"mimeType":"x"}'
    assert signature.decode(sig.blob) == sig
    assert signature.decode(b"\x00my-kind\ndata") == Signature("my-kind", b"data")
    with pytest.raises(signature.InvalidSignatureError, match="unrecognized signature format, starting with binary 0x41"):
        signature.decode(b"ABC")
    with pytest.raises(signature.InvalidSignatureError, match="missing newline"):
        signature.decode(b"\x00nonewline")
    with pytest.raises(signature.InvalidSignatureError, match="empty signature blob"):
        signature.decode(b"")


def test_payload_parsing_is_strict_for_critical() -> None:
    good = signature.make_payload(DIGEST, "docker.io/library/busybox:latest", signature.SIMPLE_SIGNING_TYPE, "me")
    obj = json.loads(good)
    assert list(obj["critical"]) == ["identity", "image", "type"] and list(obj["optional"]) == ["creator", "timestamp"]
    parsed = signature.parse_payload(good, signature.SIMPLE_SIGNING_TYPE)
    assert parsed.docker_manifest_digest == DIGEST and parsed.creator_id == "me"
    obj["critical"]["extra"] = 1
    with pytest.raises(signature.InvalidSignatureError, match='Unknown key "extra"'):
        signature.parse_payload(json.dumps(obj).encode(), signature.SIMPLE_SIGNING_TYPE)
    del obj["critical"]["extra"]
    obj["optional"]["whatever"] = {"ignored": True}
    obj["optional"]["timestamp"] = 1.5
    with pytest.raises(signature.InvalidSignatureError, match=r"optional\.timestamp"):
        signature.parse_payload(json.dumps(obj).encode(), signature.SIMPLE_SIGNING_TYPE)
    with pytest.raises(signature.InvalidSignatureError, match="Unrecognized signature type"):
        signature.parse_payload(good, signature.SIGSTORE_TYPE)
    obj["optional"] = None
    assert signature.parse_payload(json.dumps(obj).encode(), signature.SIGSTORE_TYPE.replace("cosign container image", "atomic container"),
                                   optional_may_be_null=True).creator_id is None


# --- a third-party signature kind ------------------------------------------------------------
class TotallySigned(SignatureHandler):
    """Accepts images with a "stamp" signature naming the manifest digest."""

    kind = "stamp"
    requirement_types = ("stampSigned",)

    def validate_requirement(self, requirement: dict[str, Any]) -> None:
        if set(requirement) != {"type", "stamper"}:
            raise ValueError("stampSigned needs exactly a stamper")

    def verify(self, requirement: dict[str, Any], signatures: list[bytes], manifest: bytes,
               image_reference: Any) -> VerificationResult:
        from skopeo import manifest as mf

        mine, _ = signature.split_by_kind(signatures, self.kind)
        expected = f"{requirement['stamper']}:{mf.manifest_digest(manifest)}".encode()
        if any(s.data == expected for s in mine):
            return VerificationResult(True)
        return VerificationResult(False, "no valid stamp")

    def sign(self, manifest: bytes, identity: str, options: dict[str, Any]) -> bytes:
        from skopeo import manifest as mf

        return signature.encode(Signature(self.kind, f"{options['stamper']}:{mf.manifest_digest(manifest)}".encode()))


@pytest.fixture
def stamp_plugin() -> Iterator[None]:
    class Plugin:
        @hookimpl
        def register_signature_handlers(self, register: Callable[[SignatureHandler], None]) -> None:
            register(TotallySigned())

    pm = plugins.new_manager()
    pm.register(Plugin(), name="stamp")
    plugins.set_manager(pm)
    yield
    plugins.set_manager(None)


def test_third_party_signature_kind(stamp_plugin: None, sample_layout: Path, tmp_path: Path) -> None:
    from skopeo.copy import CopyOptions

    handler = plugins.signature_handlers()["stamp"]
    signed = tmp_path / "signed"
    opts = CopyOptions(signers=[lambda m, ref: handler.sign(m, "", {"stamper": "alice"})])
    api.copy(f"oci:{sample_layout}:hello", f"dir:{signed}", opts, policy.PolicyContext(policy.Policy.accept_anything()))
    assert (signed / "signature-1").read_bytes().startswith(b"\x00stamp\nalice:sha256:")

    def check(stamper: str, require_signed: bool = False) -> None:
        pol = policy.parse(json.dumps({"default": [{"type": "stampSigned", "stamper": stamper}]}).encode())
        api.copy(f"dir:{signed}", f"dir:{tmp_path / 'out'}", None, policy.PolicyContext(pol, require_signed))

    check("alice", require_signed=True)
    assert (tmp_path / "out" / "signature-1").exists()
    with pytest.raises(PolicyError, match="Source image rejected: no valid stamp"):
        check("mallory")
    with pytest.raises(policy._InvalidPolicy, match="stampSigned needs exactly a stamper"):
        policy.parse(json.dumps({"default": [{"type": "stampSigned"}]}).encode())


def test_unknown_plugin_requirement_without_plugin() -> None:
    with pytest.raises(policy._InvalidPolicy, match='Unknown policy requirement type "stampSigned"'):
        policy.parse(json.dumps({"default": [{"type": "stampSigned", "stamper": "x"}]}).encode())


def test_require_signed_cli(run_skopeo, sample_layout: Path, tmp_path: Path) -> None:
    p = run_skopeo("--require-signed", "copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path / 'x'}")
    assert p.returncode == 1 and f"No signature verification policy found for image oci:{sample_layout}" in p.stderr
    assert isinstance(p, subprocess.CompletedProcess)
