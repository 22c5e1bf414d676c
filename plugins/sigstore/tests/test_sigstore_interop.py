"""Sigstore against real components: keyless signatures stored as attachments in
a real registry (written by us or by upstream main, verified by both), and
signatures made from ``--sign-by-sigstore`` parameter files and keys by one
implementation and verified by the other.  Parameter-file mistakes get
upstream main's texts, before the destination is created."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import sigstore_material as m
from sigstore_workshop import UPSTREAM_MAIN, Workshop, upstream_main_available

from skopeo.testing.fixtures import fatal_message, skopeo_command
from skopeo.testing.require import upstream_main

pytestmark = pytest.mark.slow

IDENTITY = "docker.io/library/hello:latest"


def _skopeo(*args: str, upstream: bool = False, input: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [UPSTREAM_MAIN, *args] if upstream else [*skopeo_command(), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, input=input)


def _implementations() -> list[bool]:
    return [False, True] if upstream_main_available() else [False]


def test_keyless_signatures_through_registry_attachments(shop: Workshop, registry: Any, tmp_path: Path) -> None:
    regd = tmp_path / "registries.d"
    regd.mkdir()
    (regd / "reg.yaml").write_text(f"docker:\n  {registry.host}:\n    use-sigstore-attachments: true\n")
    insecure = tmp_path / "insecure.json"
    insecure.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    image = shop.image(shop.fulcio())
    accept = shop.policy(shop.fulcio_requirement())
    wrong_email = shop.policy(shop.fulcio_requirement(
        fulcio={"caPath": str(shop.root_pem), "oidcIssuer": "https://oidc.example.com", "subjectEmail": "x@y.z"}))
    for writer in _implementations():
        repo = f"{registry.host}/{'main' if writer else 'ours'}/hello:v1"
        p = _skopeo("--registries.d", str(regd), "--policy", str(insecure), "copy", "-q", "--dest-tls-verify=false",
                    f"dir:{image}", f"docker://{repo}", upstream=writer)
        assert p.returncode == 0, p.stderr
        # The attachment holds the payload with every annotation cosign writes.
        http = httpx.Client(base_url=registry.url)
        attachment = http.get(f"/v2/{repo.split('/', 1)[1].rsplit(':', 1)[0]}/manifests/{shop.digest.replace(':', '-')}.sig",
                              headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
        [layer] = attachment["layers"]
        assert layer["mediaType"] == m.SIG_MIME
        assert set(layer["annotations"]) == {m.SIGNATURE, m.CERTIFICATE, m.CHAIN, m.BUNDLE}
        for reader in _implementations():
            out = tmp_path / f"out-{writer}-{reader}"
            args = ("--registries.d", str(regd), "copy", "-q", "--src-tls-verify=false", f"docker://{repo}", f"dir:{out}")
            p = _skopeo("--policy", str(accept), *args, upstream=reader)
            assert p.returncode == 0, (writer, reader, p.stderr)
            assert (out / "signature-1").exists()
            p = _skopeo("--policy", str(wrong_email), *args[:-1], f"dir:{out}-bad", upstream=reader)
            assert p.returncode == 1
            assert fatal_message(p.stderr) == (
                'Source image rejected: Required email "x@y.z" not found (got ["signer@example.com"])')


def _keypair(tmp_path: Path, name: str, upstream: bool) -> tuple[Path, Path, Path]:
    passfile = tmp_path / f"{name}.pass"
    passfile.write_text("s3cret\n")
    prefix = tmp_path / name
    p = _skopeo("generate-sigstore-key", "--output-prefix", str(prefix), "--passphrase-file", str(passfile),
                upstream=upstream)
    assert p.returncode == 0, p.stderr
    return Path(f"{prefix}.private"), Path(f"{prefix}.pub"), passfile


@pytest.mark.parametrize("signer", [False, True], ids=["ours-signs", "main-signs"])
def test_key_and_parameter_file_signatures_verify_both_ways(shop: Workshop, tmp_path: Path, signer: bool) -> None:
    if signer:
        upstream_main()
    insecure = tmp_path / "insecure.json"
    insecure.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    # Keys made by the other implementation than the one signing.
    private, public, passfile = _keypair(tmp_path, "key", upstream=not signer and upstream_main_available())
    params = tmp_path / "params.yaml"
    params.write_text(f"privateKeyFile: {private}\nprivateKeyPassphraseFile: {passfile}\n")
    ways = {"params": ["--sign-by-sigstore", str(params)],
            "key": ["--sign-by-sigstore-private-key", str(private), "--sign-passphrase-file", str(passfile)]}
    requirement = {"type": "sigstoreSigned", "keyPath": str(public),
                   "signedIdentity": {"type": "exactRepository", "dockerRepository": "docker.io/library/hello"}}
    for way, flags in ways.items():
        signed = tmp_path / f"signed-{way}"
        p = _skopeo("--policy", str(insecure), "copy", "-q", *flags, "--sign-identity", IDENTITY,
                    f"dir:{shop.base}", f"dir:{signed}", upstream=signer)
        assert p.returncode == 0, p.stderr
        assert (signed / "signature-1").read_bytes().startswith(b"\x00sigstore-json\n")
        assert shop.check(signed, requirement) == "", way  # ours, and upstream main when here


PARAM_ERRORS: list[tuple[str, str]] = [
    ("privateKeyFile: {key}\nbogus: 1\n",
     'setting up signing using parameter file "{params}": parsing "{params}": yaml: unmarshal errors:\n'
     "  line 2: field bogus not found in type params.SigningParameterFile"),
    ("privateKeyFile: {{a: 1}}\nbogus: 2\nfulcio:\n  nope: 1\n",
     'setting up signing using parameter file "{params}": parsing "{params}": yaml: unmarshal errors:\n'
     "  line 1: cannot unmarshal !!map into string\n  line 2: field bogus not found in type params.SigningParameterFile\n"
     "  line 4: field nope not found in type params.SigningParameterFileFulcio"),
    ("5\n", 'setting up signing using parameter file "{params}": parsing "{params}": yaml: unmarshal errors:\n'
     "  line 1: cannot unmarshal !!int `5` into params.SigningParameterFile"),
    ("privateKeyFile: {key}\nprivateKeyFile: {key}\n",
     'setting up signing using parameter file "{params}": parsing "{params}": yaml: unmarshal errors:\n'
     '  line 2: mapping key "privateKeyFile" already defined at line 1'),
    ("# nothing\n", 'setting up signing using parameter file "{params}": parsing "{params}": EOF'),
    ('privateKeyFile: "unterminated\n',
     'setting up signing using parameter file "{params}": parsing "{params}": yaml: line 2: found unexpected end of stream'),
    ("a:\n b\n c: d\n", 'setting up signing using parameter file "{params}": parsing "{params}": '
     "yaml: line 3: mapping values are not allowed in this context"),
    ("privateKeyPassphraseFile: {passfile}\n",
     "no private key source provided (neither a private key nor Fulcio) when preparing to create sigstore signatures"),
    ("privateKeyFile: {tmp}/nope.private\nprivateKeyPassphraseFile: {passfile}\n",
     "reading private key from {tmp}/nope.private: open {tmp}/nope.private: no such file or directory"),
    ("privateKeyFile: {key}\nprivateKeyPassphraseFile: {tmp}/nope\n", "open {tmp}/nope: no such file or directory"),
    ("privateKeyFile: {key}\nprivateKeyPassphraseFile: {badpass}\n",
     "initializing private key: decrypt: encrypted: decryption failed"),
    ("fulcio: {{}}\n", "missing fulcioURL"),
    ('fulcio:\n  fulcioURL: "::"\n  oidcMode: staticToken\n  oidcIDToken: abc\n',
     'parsing fulcioURL "::": parse "::": missing protocol scheme'),
    ("fulcio:\n  fulcioURL: https://fulcio.example\n  oidcMode: staticToken\n", "missing oidcToken"),
    ("fulcio:\n  fulcioURL: https://fulcio.example\n  oidcMode: deviceGrant\n", "missing oidcIssuerURL"),
    ("fulcio:\n  fulcioURL: https://fulcio.example\n  oidcIssuerURL: https://oidc.example\n", "missing oidcMode"),
    ("fulcio:\n  fulcioURL: https://fulcio.example\n  oidcMode: bogus\n  oidcIssuerURL: https://oidc.example\n",
     'unknown oidcMode value "bogus"'),
    ("privateKeyFile: {key}\nprivateKeyPassphraseFile: {passfile}\nfulcio:\n  fulcioURL: https://fulcio.example\n"
     "  oidcMode: staticToken\n  oidcIDToken: abc\n",
     "multiple private key sources specified when preparing to create sigstore signatures"),
    ('privateKeyFile: {key}\nprivateKeyPassphraseFile: {passfile}\nrekorURL: "http://h:port"\n',
     'parsing rekorURL "http://h:port": parse "http://h:port": invalid port ":port" after host'),
]


@pytest.mark.parametrize(("content", "expected"), PARAM_ERRORS)
def test_parameter_file_errors(shop: Workshop, tmp_path: Path, content: str, expected: str) -> None:
    private, _, passfile = _keypair(tmp_path, "key", upstream=False)
    badpass = tmp_path / "bad.pass"
    badpass.write_text("wrong\n")
    params = tmp_path / "params.yaml"
    values = {"key": private, "passfile": passfile, "badpass": badpass, "tmp": tmp_path, "params": params}
    params.write_text(content.format(**values))
    for upstream in _implementations():
        out = tmp_path / f"out-{upstream}"
        p = _skopeo("--insecure-policy", "copy", "-q", "--sign-by-sigstore", str(params), "--sign-identity", IDENTITY,
                    f"dir:{shop.base}", f"dir:{out}", upstream=upstream)
        assert p.returncode == 1
        assert fatal_message(p.stderr).replace("\\n", "\n") == f"Error using --sign-by-sigstore: {expected.format(**values)}"
        assert not out.exists()


@pytest.mark.parametrize("content", [
    "fulcio:\n  fulcioURL: https://fulcio.example\n  oidcMode: staticToken\n  oidcIDToken: a.b.c\n",
    "fulcio:\n  fulcioURL: https://fulcio.example\n  oidcMode: interactive\n  oidcIssuerURL: https://oidc.example\n",
    "privateKeyFile: {key}\nprivateKeyPassphraseFile: {passfile}\nrekorURL: https://rekor.example\n",
])
def test_network_signing_is_refused_before_copying(shop: Workshop, run_skopeo: Any, tmp_path: Path, content: str) -> None:
    """Fulcio needs an OIDC login and the Fulcio server, Rekor an upload: both are
    network services this implementation does not use.  Upstream would try them
    (and, for Rekor, fail only after writing the image)."""
    private, _, passfile = _keypair(tmp_path, "key", upstream=False)
    params = tmp_path / "params.yaml"
    params.write_text(content.format(key=private, passfile=passfile))
    out = tmp_path / "out"
    p = run_skopeo("copy", "-q", "--sign-by-sigstore", str(params), "--sign-identity", IDENTITY, f"dir:{shop.base}",
                   f"dir:{out}")
    assert p.returncode == 1 and not out.exists()
    message = fatal_message(p.stderr)
    assert message.startswith("Error using --sign-by-sigstore: ")
    assert "this implementation works offline" in message
    assert ("Fulcio" in message) != ("Rekor" in message)


def test_parameter_file_signs_every_image_of_a_sync(shop: Workshop, run_skopeo: Any, registry: Any,
                                                      tmp_path: Path) -> None:
    """The file is read and the key decrypted once; each synced image gets a
    signature upstream main accepts."""
    private, public, passfile = _keypair(tmp_path, "key", upstream=False)
    params = tmp_path / "params.yaml"
    params.write_text(f"privateKeyFile: {private}\nprivateKeyPassphraseFile: {passfile}\n")
    regd = tmp_path / "registries.d"
    regd.mkdir()
    (regd / "reg.yaml").write_text(f"docker:\n  {registry.host}:\n    use-sigstore-attachments: true\n")
    src = tmp_path / "src"
    for name in ("a", "b"):
        shutil.copytree(shop.base, src / name)
    p = run_skopeo("--registries.d", str(regd), "sync", "--src", "dir", "--dest", "docker", "--dest-tls-verify=false",
                   "--sign-by-sigstore", str(params), str(src), f"{registry.host}/synced")
    assert p.returncode == 0, p.stderr
    requirement = {"type": "sigstoreSigned", "keyPath": str(public), "signedIdentity": {"type": "matchRepository"}}
    policy = shop.policy(requirement)
    for name in ("a", "b"):
        for upstream in _implementations():
            out = tmp_path / f"out-{name}-{upstream}"
            p = _skopeo("--registries.d", str(regd), "--policy", str(policy), "copy", "-q", "--src-tls-verify=false",
                        f"docker://{registry.host}/synced/{name}:latest", f"dir:{out}", upstream=upstream)
            assert p.returncode == 0, (name, upstream, p.stderr)
            data = json.loads((out / "signature-1").read_bytes().split(b"\n", 1)[1])
            assert data["mimeType"] == m.SIG_MIME
