"""Simple signing with GnuPG, checked against Debian's skopeo 1.9.3 in both
directions: standalone-sign/verify, copy --sign-by into dir:, signedBy policies."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

IDENTITY = "docker.io/library/busybox:latest"
OTHER_IDENTITY = "docker.io/library/other:latest"
pytestmark = pytest.mark.oracle


def _msg(proc: subprocess.CompletedProcess[str]) -> str:
    """The text of the fatal log line (logrus quoting undone)."""
    m = re.search(r'level=fatal msg="((?:[^"\\]|\\.)*)"', proc.stderr)
    assert m, proc.stderr
    return m.group(1).replace('\\"', '"')


def _manifest(sample_layout: Path, tmp_path: Path) -> Path:
    index = json.loads((sample_layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    out = tmp_path / "manifest.json"
    out.write_bytes((sample_layout / "blobs" / "sha256" / digest).read_bytes())
    return out


def _signed_by_policy(tmp_path: Path, key: Path, identity: str = IDENTITY, name: str = "policy.json",
                      **extra: Any) -> Path:
    req: dict[str, Any] = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(key),
                           "signedIdentity": {"type": "exactReference", "dockerReference": identity}}
    req.update(extra)
    path = tmp_path / name
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"dir": {"": [req]}}}))
    return path


# --- standalone-sign / standalone-verify -----------------------------------------------
@pytest.mark.parametrize("signer", ["ours", "oracle"])
def test_standalone_sign_verifies_both_ways(gpg: Any, signer: str, run_skopeo, oracle, sample_layout: Path,
                                             tmp_path: Path) -> None:
    manifest = _manifest(sample_layout, tmp_path)
    sig = tmp_path / "sig"
    make = run_skopeo if signer == "ours" else oracle
    make("standalone-sign", str(manifest), IDENTITY, gpg.a.fingerprint, "-o", str(sig), check=True)
    assert sig.read_bytes()[:2] == b"\xa3\x01"  # binary, compressed OpenPGP message
    digest = run_skopeo("manifest-digest", str(manifest), check=True).stdout.strip()
    ours = run_skopeo("standalone-verify", str(manifest), IDENTITY, gpg.a.fingerprint, str(sig), check=True)
    assert ours.stdout == f"Signature verified using fingerprint {gpg.a.fingerprint}, digest {digest}\n"
    theirs = oracle("standalone-verify", str(manifest), IDENTITY, gpg.a.fingerprint, str(sig), check=True)
    assert theirs.stdout == f"Signature verified, digest {digest}\n"  # 1.9.3 wording (Appendix A)


def test_standalone_verify_with_public_key_file_and_any(gpg: Any, run_skopeo, oracle, sample_layout: Path,
                                                         tmp_path: Path) -> None:
    manifest = _manifest(sample_layout, tmp_path)
    sig = tmp_path / "sig"
    oracle("standalone-sign", str(manifest), IDENTITY, gpg.a.fingerprint, "-o", str(sig), check=True)
    ok = run_skopeo("standalone-verify", "--public-key-file", str(gpg.a.public_file), str(manifest), "busybox", "any",
                    str(sig), env={"GNUPGHOME": "/nonexistent"})
    assert ok.returncode == 1  # "busybox" is docker.io/library/busybox without the tag
    ok = run_skopeo("standalone-verify", "--public-key-file", str(gpg.a.public_file), str(manifest), "busybox:latest",
                    "any", str(sig), env={"GNUPGHOME": "/nonexistent"}, check=True)
    assert ok.stdout.startswith(f"Signature verified using fingerprint {gpg.a.fingerprint}, digest sha256:")
    wrong_key = run_skopeo("standalone-verify", "--public-key-file", str(gpg.b.public_file), str(manifest), IDENTITY,
                           "any", str(sig))
    assert wrong_key.returncode == 1 and "Error verifying signature: Invalid GPG signature" in _msg(wrong_key)
    no_file = run_skopeo("standalone-verify", str(manifest), IDENTITY, "any", str(sig))
    assert _msg(no_file) == "Cannot use any fingerprint without a public key file"


@pytest.mark.parametrize("case", ["identity", "fingerprint", "tampered"])
def test_standalone_verify_failures_match_oracle(case: str, gpg: Any, run_skopeo, oracle, sample_layout: Path,
                                                 tmp_path: Path) -> None:
    manifest = _manifest(sample_layout, tmp_path)
    sig = tmp_path / "sig"
    run_skopeo("standalone-sign", str(manifest), IDENTITY, gpg.a.fingerprint, "-o", str(sig), check=True)
    ref, fpr = IDENTITY, gpg.a.fingerprint
    if case == "identity":
        ref = OTHER_IDENTITY
    elif case == "fingerprint":
        fpr = gpg.b.fingerprint
    else:
        manifest.write_bytes(manifest.read_bytes() + b" ")
    ours = run_skopeo("standalone-verify", str(manifest), ref, fpr, str(sig))
    theirs = oracle("standalone-verify", str(manifest), ref, fpr, str(sig))
    assert ours.returncode == theirs.returncode == 1
    assert _msg(ours) == _msg(theirs)
    assert _msg(ours).startswith("Error verifying signature: ")


def test_standalone_usage_errors(run_skopeo, tmp_path: Path) -> None:
    p = run_skopeo("standalone-sign", "a", "b", "c")
    assert _msg(p) == "Usage: skopeo standalone-sign manifest docker-reference key-fingerprint -o signature"
    p = run_skopeo("standalone-verify", "a", "b", "c")
    assert _msg(p) == "Usage: skopeo standalone-verify manifest docker-reference key-fingerprint signature"
    p = run_skopeo("untrusted-signature-dump-without-verification")
    assert _msg(p) == "Usage: skopeo untrusted-signature-dump-without-verification signature"
    p = run_skopeo("standalone-verify", str(tmp_path / "nope"), "b", "c", "d")
    assert p.returncode == 1 and "Error reading manifest from" in _msg(p)


def test_untrusted_dump_matches_oracle(gpg: Any, run_skopeo, oracle, sample_layout: Path, tmp_path: Path) -> None:
    manifest = _manifest(sample_layout, tmp_path)
    for who, make in (("ours", run_skopeo), ("oracle", oracle)):
        sig = tmp_path / f"sig-{who}"
        make("standalone-sign", str(manifest), IDENTITY, gpg.a.fingerprint, "-o", str(sig), check=True)
        ours = run_skopeo("untrusted-signature-dump-without-verification", str(sig), check=True)
        theirs = oracle("untrusted-signature-dump-without-verification", str(sig), check=True)
        assert ours.stdout == theirs.stdout + "\n" or ours.stdout == theirs.stdout
        info = json.loads(ours.stdout)
        assert list(info) == ["UntrustedDockerManifestDigest", "UntrustedDockerReference", "UntrustedCreatorID",
                              "UntrustedTimestamp", "UntrustedShortKeyIdentifier"]
        assert info["UntrustedShortKeyIdentifier"] == gpg.a.fingerprint[-16:]
        assert info["UntrustedCreatorID"] == "atomic 5.23.1"
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\xa3\x01garbage")
    p = run_skopeo("untrusted-signature-dump-without-verification", str(garbage))
    assert p.returncode == 1 and _msg(p).startswith("Error decoding untrusted signature: ")


# --- copy --sign-by and signedBy policies ------------------------------------------------
def _copy_signed(tool, layout: Path, dest: Path, fpr: str, identity: str = IDENTITY) -> None:  # type: ignore[no-untyped-def]
    tool("copy", "-q", "--sign-by", fpr, "--sign-identity", identity, f"oci:{layout}:hello", f"dir:{dest}", check=True)


@pytest.mark.parametrize("signer", ["ours", "oracle"])
@pytest.mark.parametrize("verifier", ["ours", "oracle"])
def test_copy_sign_by_and_signed_by_policy(gpg: Any, signer: str, verifier: str, run_skopeo, oracle,
                                           sample_layout: Path, tmp_path: Path) -> None:
    signed = tmp_path / "signed"
    _copy_signed(run_skopeo if signer == "ours" else oracle, sample_layout, signed, gpg.a.fingerprint)
    assert (signed / "signature-1").exists() and not (signed / "signature-2").exists()
    tool = run_skopeo if verifier == "ours" else oracle
    extra = {"policy": False} if verifier == "ours" else {}

    def copy_with(policy: Path, dest: str) -> subprocess.CompletedProcess[str]:
        return tool("--policy", str(policy), "copy", "-q", f"dir:{signed}", f"dir:{tmp_path / dest}", **extra)

    good = copy_with(_signed_by_policy(tmp_path, gpg.a.public_file), "ok")
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "ok" / "signature-1").read_bytes() == (signed / "signature-1").read_bytes()
    # Identity A signed, identity B required.
    wrong_identity = copy_with(_signed_by_policy(tmp_path, gpg.a.public_file, OTHER_IDENTITY, "b.json"), "bad1")
    assert wrong_identity.returncode == 1
    assert "Source image rejected: Signature for identity" in wrong_identity.stderr
    assert not (tmp_path / "bad1" / "manifest.json").exists()
    # Signed by A, only B trusted.
    wrong_key = copy_with(_signed_by_policy(tmp_path, gpg.b.public_file, name="k.json"), "bad2")
    assert wrong_key.returncode == 1 and "Source image rejected:" in wrong_key.stderr
    assert not (tmp_path / "bad2" / "manifest.json").exists()


@pytest.mark.parametrize("verifier", ["ours", "oracle"])
def test_tampered_manifest_rejected(gpg: Any, verifier: str, run_skopeo, oracle, sample_layout: Path,
                                    tmp_path: Path) -> None:
    signed = tmp_path / "signed"
    _copy_signed(run_skopeo, sample_layout, signed, gpg.a.fingerprint)
    manifest = signed / "manifest.json"
    manifest.write_bytes(manifest.read_bytes() + b"\n")
    policy = _signed_by_policy(tmp_path, gpg.a.public_file)
    tool = run_skopeo if verifier == "ours" else oracle
    extra = {"policy": False} if verifier == "ours" else {}
    p = tool("--policy", str(policy), "copy", "-q", f"dir:{signed}", f"dir:{tmp_path / 'out'}", **extra)
    assert p.returncode == 1
    assert re.search(r"Source image rejected: Signature for digest sha256:[0-9a-f]{64} does not match", p.stderr)


def test_key_sources_and_key_types(gpg: Any, run_skopeo, sample_layout: Path, tmp_path: Path) -> None:
    import base64

    signed = tmp_path / "signed"
    _copy_signed(run_skopeo, sample_layout, signed, gpg.b.fingerprint)

    def attempt(name: str, **fields: Any) -> subprocess.CompletedProcess[str]:
        req = {"type": "signedBy", "keyType": "GPGKeys",
               "signedIdentity": {"type": "exactRepository", "dockerRepository": "busybox"}, **fields}
        pol = tmp_path / f"{name}.json"
        pol.write_text(json.dumps({"default": [req]}))
        return run_skopeo("--policy", str(pol), "copy", "-q", f"dir:{signed}", f"dir:{tmp_path / name}", policy=False)

    assert attempt("paths", keyPaths=[str(gpg.a.public_file), str(gpg.b.public_file)]).returncode == 0
    data = base64.b64encode(gpg.b.public_file.read_bytes()).decode()
    assert attempt("data", keyData=data).returncode == 0
    p = attempt("x509", keyType="X509Certificates", keyData=data)
    assert p.returncode == 1 and _msg(p) == 'Source image rejected: Unimplemented "keyType" value "X509Certificates"'
    p = attempt("missing", keyPath=str(tmp_path / "nope.asc"))
    assert p.returncode == 1 and "no such file or directory" in _msg(p)
    unsigned = run_skopeo("--policy", str(tmp_path / "data.json"), "copy", "-q", f"oci:{sample_layout}:hello",
                          f"dir:{tmp_path / 'u'}", policy=False)
    assert _msg(unsigned) == "Source image rejected: A signature was required, but no signature exists"


def test_signing_needs_identity_for_dir_and_signatures_carry_over(gpg: Any, run_skopeo, sample_layout: Path,
                                                                  tmp_path: Path) -> None:
    p = run_skopeo("copy", "--sign-by", gpg.a.fingerprint, f"oci:{sample_layout}:hello", f"dir:{tmp_path / 'x'}")
    assert _msg(p) == f"Cannot determine canonical Docker reference for destination dir:{tmp_path / 'x'}"
    p = run_skopeo("copy", "--sign-by", gpg.a.fingerprint, "--sign-identity", "busybox:latest",
                   f"oci:{sample_layout}:hello", f"dir:{tmp_path / 'x'}")
    assert _msg(p) == "Could not parse --sign-identity: repository name must be canonical"
    signed = tmp_path / "signed"
    _copy_signed(run_skopeo, sample_layout, signed, gpg.a.fingerprint)
    # A second signature is appended when a signed image is signed again.
    twice = tmp_path / "twice"
    run_skopeo("copy", "-q", "--sign-by", gpg.b.fingerprint, "--sign-identity", IDENTITY, f"dir:{signed}",
               f"dir:{twice}", check=True)
    assert (twice / "signature-1").read_bytes() == (signed / "signature-1").read_bytes()
    assert (twice / "signature-2").exists()
    p = run_skopeo("copy", f"dir:{signed}", f"oci:{tmp_path / 'oci'}:x")
    assert p.returncode == 1 and "Can not copy signatures to oci:" in _msg(p)
    run_skopeo("copy", "-q", "--remove-signatures", f"dir:{signed}", f"dir:{tmp_path / 'plain'}", check=True)
    assert not (tmp_path / "plain" / "signature-1").exists()


@pytest.mark.parametrize("content", [b"garbage\n", b"", b'{"critical": {'])
def test_standalone_verify_of_no_openpgp_data(content: bytes, gpg: Any, run_skopeo, oracle, sample_layout: Path,
                                              tmp_path: Path) -> None:
    """Not a signature at all: gpgme's "No data", never gpg's own stderr."""
    manifest = _manifest(sample_layout, tmp_path)
    sig = tmp_path / "sig"
    sig.write_bytes(content)
    args = ("standalone-verify", str(manifest), IDENTITY, gpg.a.fingerprint, str(sig))
    ours, theirs = run_skopeo(*args), oracle(*args)
    assert ours.returncode == theirs.returncode == 1
    assert _msg(ours) == _msg(theirs) == "Error verifying signature: No data"


def test_unsupported_signature_destinations_say_writing_signatures(gpg: Any, run_skopeo, oracle,
                                                                    sample_layout: Path, tmp_path: Path) -> None:
    for dest, reason in ((f"oci:{tmp_path}/o:x", "Pushing signatures for OCI images is not supported"),
                         (f"docker-archive:{tmp_path}/a.tar", "Storing signatures for docker tar files is not supported")):
        args = ("copy", "--sign-by", gpg.a.fingerprint, "--sign-identity", IDENTITY, f"oci:{sample_layout}:hello", dest)
        ours, theirs = run_skopeo(*args), oracle(*args)
        assert ours.returncode == theirs.returncode == 1
        assert _msg(ours) == _msg(theirs) == f"writing signatures: {reason}"


def test_standalone_sign_output_error(gpg: Any, run_skopeo, oracle, sample_layout: Path, tmp_path: Path) -> None:
    manifest = _manifest(sample_layout, tmp_path)
    args = ("standalone-sign", "-o", str(tmp_path / "no" / "sig"), str(manifest), IDENTITY, gpg.a.fingerprint)
    ours, theirs = run_skopeo(*args), oracle(*args)
    assert ours.returncode == theirs.returncode == 1
    assert _msg(ours) == _msg(theirs)


def test_signed_payload_that_is_not_json(gpg: Any, run_skopeo, oracle, sample_layout: Path, tmp_path: Path) -> None:
    """A valid signature over something that is not JSON: Go's JSON error text."""
    manifest = _manifest(sample_layout, tmp_path)
    sig = tmp_path / "sig"
    subprocess.run(["gpg", "--batch", "--yes", "-u", gpg.a.fingerprint, "--sign", "-o", str(sig)],
                   input=b"not json", check=True, capture_output=True)
    for args in (("standalone-verify", str(manifest), IDENTITY, gpg.a.fingerprint, str(sig)),
                 ("untrusted-signature-dump-without-verification", str(sig))):
        ours, theirs = run_skopeo(*args), oracle(*args)
        assert ours.returncode == theirs.returncode == 1
        assert _msg(ours) == _msg(theirs)
        assert _msg(ours).endswith("invalid character 'o' in literal null (expecting 'u')")


def test_passphrase_and_key_failures_match_oracle(gpg: Any, run_skopeo, oracle, sample_layout: Path,
                                                   tmp_path: Path) -> None:
    """gpgme's texts, as 1.9.3 prints them: a wrong passphrase, none at all (an
    empty file: the agent would ask, and cannot without a terminal), a key that
    does not exist; then the right passphrase works for both."""
    manifest = _manifest(sample_layout, tmp_path)
    files = {"wrong": "not it\n", "empty": "", "right": gpg.c_passphrase + "\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    cases = [
        ("wrong", gpg.c.fingerprint, "Bad passphrase"),
        ("empty", gpg.c.fingerprint, "Inappropriate ioctl for device"),
        ("right", "nobody@example.com", 'key "nobody@example.com" not found'),
    ]
    for pp, key, reason in cases:
        for run in (run_skopeo, oracle):
            p = run("standalone-sign", str(manifest), IDENTITY, key, "--passphrase-file", str(tmp_path / pp),
                    "-o", str(tmp_path / "sig"))
            assert p.returncode == 1 and _msg(p) == f"Error creating signature: {reason}", (run, p.stderr)
            dest = tmp_path / f"copy-{pp}"
            p = run("copy", "-q", "--sign-by", key, "--sign-passphrase-file", str(tmp_path / pp), "--sign-identity",
                    IDENTITY, f"oci:{sample_layout}:hello", f"dir:{dest}")
            assert p.returncode == 1 and _msg(p) == f"creating signature: {reason}", (run, p.stderr)
    for run in (run_skopeo, oracle):
        run("standalone-sign", str(manifest), IDENTITY, gpg.c.fingerprint, "--passphrase-file",
            str(tmp_path / "right"), "-o", str(tmp_path / "sig"), check=True)
        run_skopeo("standalone-verify", str(manifest), IDENTITY, gpg.c.fingerprint, str(tmp_path / "sig"), check=True)
def test_unknown_signing_key(gpg: Any, run_skopeo, oracle, sample_layout: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A key GnuPG does not have: gpgme's 'key "X" not found', as upstream.  copy
    fails before anything is copied (upstream copies the image, then fails)."""
    manifest = _manifest(sample_layout, tmp_path)
    args = ("standalone-sign", str(manifest), IDENTITY, "DEADBEEF", "-o", str(tmp_path / "sig"))
    ours, theirs = run_skopeo(*args), oracle(*args)
    assert ours.returncode == theirs.returncode == 1
    assert _msg(ours) == _msg(theirs) == 'Error creating signature: key "DEADBEEF" not found'
    dest = tmp_path / "out.tar"
    args = ("copy", "--sign-by", "DEADBEEF", f"oci:{sample_layout}:hello", f"docker-archive:{dest}:{IDENTITY}")
    ours, theirs = run_skopeo(*args), oracle(*args)
    assert ours.returncode == theirs.returncode == 1
    assert _msg(ours) == _msg(theirs) == 'creating signature: key "DEADBEEF" not found'
    assert "Getting image source signatures" in theirs.stdout and ours.stdout == ""
    assert not dest.exists()
