"""Sigstore keys, signing into dir:, and sigstoreSigned policies.  Debian's
skopeo 1.9.3 has sigstore disabled, so these check the formats against what
cosign and containers/image define rather than against the oracle."""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from skopeo import signature
from skopeo_sigstore import keys

IDENTITY = "docker.io/library/busybox:latest"


def _msg(proc: subprocess.CompletedProcess[str]) -> str:
    m = re.search(r'level=fatal msg="((?:[^"\\]|\\.)*)"', proc.stderr)
    assert m, proc.stderr
    return m.group(1).replace('\\"', '"')


@pytest.fixture
def keypair(run_skopeo, tmp_path: Path) -> tuple[Path, Path, Path]:
    pp = tmp_path / "pass"
    pp.write_text("s3cret\nignored second line\n")
    p = run_skopeo("generate-sigstore-key", "--output-prefix", str(tmp_path / "key"), "--passphrase-file", str(pp),
                   check=True)
    assert p.stdout == f'Key written to "{tmp_path}/key.private" and "{tmp_path}/key.pub"\n'
    return tmp_path / "key.private", tmp_path / "key.pub", pp


def test_generated_key_format(keypair: tuple[Path, Path, Path]) -> None:
    private, public, _ = keypair
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and stat.S_IMODE(public.stat().st_mode) == 0o644
    text = private.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    body = "".join(text.splitlines()[1:-1])
    envelope = json.loads(base64.b64decode(body))
    assert list(envelope) == ["kdf", "cipher", "ciphertext"]
    assert envelope["kdf"]["name"] == "scrypt" and envelope["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 32
    assert envelope["cipher"]["name"] == "nacl/secretbox" and len(base64.b64decode(envelope["cipher"]["nonce"])) == 24
    key = keys.load_private_key(private.read_bytes(), "s3cret")  # first line of the file only
    assert key.curve.name == "secp256r1"
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    with pytest.raises(keys.KeyError_, match="decrypt: encrypted: decryption failed"):
        keys.load_private_key(private.read_bytes(), "wrong")


def test_cosign_pem_type_accepted(tmp_path: Path) -> None:
    private, _ = keys.generate_key_pair("pw")
    legacy = private.replace(b"SIGSTORE", b"COSIGN")
    assert keys.load_private_key(legacy, "pw") is not None
    with pytest.raises(keys.KeyError_, match="unsupported pem type: PRIVATE KEY"):
        keys.load_private_key(private.replace(b"ENCRYPTED SIGSTORE ", b""), "pw")


def test_generate_refuses_overwrite_and_needs_tty(keypair: tuple[Path, Path, Path], run_skopeo, tmp_path: Path) -> None:
    p = run_skopeo("generate-sigstore-key", "--output-prefix", str(tmp_path / "key"), "--passphrase-file", str(keypair[2]))
    assert p.returncode == 1 and _msg(p) == f'Refusing to overwrite existing "{tmp_path}/key.pub"'
    p = run_skopeo("generate-sigstore-key", "--output-prefix", str(tmp_path / "new"), input="")
    assert _msg(p) == f"Cannot prompt for a passphrase for key {tmp_path}/new.private, standard input is not a TTY"
    p = run_skopeo("generate-sigstore-key")
    assert _msg(p) == "Usage: generate-sigstore-key --output-prefix PREFIX"
    missing = tmp_path / "no-dir" / "k.private"
    p = run_skopeo("generate-sigstore-key", "--output-prefix", str(tmp_path / "no-dir" / "k"), "--passphrase-file",
                   str(keypair[2]))
    assert _msg(p) == f'Error writing private key to "{missing}": open {missing}: no such file or directory'


def _policy(tmp_path: Path, name: str, **req: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"default": [{"type": "reject"}],
                                "transports": {"dir": {"": [{"type": "sigstoreSigned", **req}]}}}))
    return path


def test_sign_into_dir_and_verify(keypair: tuple[Path, Path, Path], run_skopeo, sample_layout: Path,
                                  tmp_path: Path) -> None:
    private, public, pp = keypair
    signed = tmp_path / "signed"
    run_skopeo("copy", "-q", "--sign-by-sigstore-private-key", str(private), "--sign-passphrase-file", str(pp),
               "--sign-identity", IDENTITY, f"oci:{sample_layout}:hello", f"dir:{signed}", check=True)
    blob = (signed / "signature-1").read_bytes()
    assert blob.startswith(b"\x00sigstore-json\n")
    sig = signature.decode(blob)
    assert sig.kind == "sigstore"
    env = json.loads(sig.data)
    assert list(env) == ["mimeType", "payload", "annotations"]
    assert env["mimeType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = json.loads(base64.b64decode(env["payload"]))
    assert payload["critical"]["type"] == "cosign container image signature"
    assert payload["critical"]["identity"] == {"docker-reference": IDENTITY}
    assert payload["optional"]["creator"].startswith("containers/image ")
    assert set(env["annotations"]) == {"dev.cosignproject.cosign/signature"}

    def copy(policy: Path, dest: str) -> subprocess.CompletedProcess[str]:
        return run_skopeo("--policy", str(policy), "copy", "-q", f"dir:{signed}", f"dir:{tmp_path / dest}", policy=False)

    repo = {"type": "exactRepository", "dockerRepository": "docker.io/library/busybox"}
    assert copy(_policy(tmp_path, "ok.json", keyPath=str(public), signedIdentity=repo), "ok").returncode == 0
    key_data = base64.b64encode(public.read_bytes()).decode()
    assert copy(_policy(tmp_path, "datas.json", keyDatas=[key_data], signedIdentity=repo), "ok2").returncode == 0
    other = {"type": "exactRepository", "dockerRepository": "docker.io/library/other"}
    p = copy(_policy(tmp_path, "other.json", keyPath=str(public), signedIdentity=other), "bad")
    assert _msg(p) == f'Source image rejected: Signature for identity "{IDENTITY}" is not accepted'
    _, other_pub = keys.generate_key_pair("x")
    (tmp_path / "other.pub").write_bytes(other_pub)
    p = copy(_policy(tmp_path, "wrongkey.json", keyPath=str(tmp_path / "other.pub"), signedIdentity=repo), "bad2")
    assert "cryptographic signature verification failed" in _msg(p)
    run_skopeo("copy", "-q", f"oci:{sample_layout}:hello", f"dir:{tmp_path / 'unsigned'}", check=True)
    p = run_skopeo("--policy", str(tmp_path / "ok.json"), "copy", "-q", f"dir:{tmp_path / 'unsigned'}",
                   f"dir:{tmp_path / 'unsigned2'}", policy=False)
    assert _msg(p) == "Source image rejected: A signature was required, but no signature exists"
    manifest = signed / "manifest.json"
    manifest.write_bytes(manifest.read_bytes() + b" ")
    p = copy(_policy(tmp_path, "ok.json", keyPath=str(public), signedIdentity=repo), "tampered")
    assert re.fullmatch(r"Source image rejected: Signature for digest sha256:[0-9a-f]{64} does not match", _msg(p))
    assert not (tmp_path / "tampered" / "manifest.json").exists()


def test_sign_by_sigstore_param_file(keypair: tuple[Path, Path, Path], run_skopeo, sample_layout: Path,
                                     tmp_path: Path) -> None:
    private, _, pp = keypair
    params = tmp_path / "params.yaml"
    params.write_text(f"privateKeyFile: {private}\nprivateKeyPassphraseFile: {pp}\n")
    run_skopeo("copy", "-q", "--sign-by-sigstore", str(params), "--sign-identity", IDENTITY,
               f"oci:{sample_layout}:hello", f"dir:{tmp_path / 's'}", check=True)
    assert (tmp_path / "s" / "signature-1").read_bytes().startswith(b"\x00sigstore-json\n")


def test_wrong_passphrase(keypair: tuple[Path, Path, Path], run_skopeo, sample_layout: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("nope\n")
    p = run_skopeo("copy", "-q", "--sign-by-sigstore-private-key", str(keypair[0]), "--sign-passphrase-file", str(bad),
                   "--sign-identity", IDENTITY, f"oci:{sample_layout}:hello", f"dir:{tmp_path / 's'}")
    assert p.returncode == 1 and "decrypt: encrypted: decryption failed" in _msg(p)
