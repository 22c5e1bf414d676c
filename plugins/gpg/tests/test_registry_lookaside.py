"""Simple signatures of registry images in a file:// lookaside (registries.d),
made and verified by us and by Debian's skopeo 1.9.3, against a real registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.oracle, pytest.mark.slow]


def _setup(tmp_path: Path, registry: Any, key: Path) -> tuple[Path, Path, Path]:
    lookaside = tmp_path / "sigstore"
    regd = tmp_path / "registries.d"
    regd.mkdir()
    (regd / "test.yaml").write_text(f"docker:\n  {registry.host}:\n    lookaside: file://{lookaside}\n")
    pol = tmp_path / "signed.json"
    pol.write_text(json.dumps({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"docker": {registry.host: [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(key)}]}},
    }))
    return lookaside, regd, pol


@pytest.mark.parametrize("signer", ["ours", "oracle"])
@pytest.mark.parametrize("verifier", ["ours", "oracle"])
def test_sign_into_registry_lookaside(gpg: Any, signer: str, verifier: str, registry: Any, run_skopeo, oracle,
                                      sample_layout: Path, tmp_path: Path) -> None:
    lookaside, regd, pol = _setup(tmp_path, registry, gpg.a.public_file)
    image = f"{registry.host}/ns/demo:v1"
    sign_tool = run_skopeo if signer == "ours" else oracle
    sign_tool("--registries.d", str(regd), "copy", "-q", "--dest-tls-verify=false", "--sign-by", gpg.a.fingerprint,
              f"oci:{sample_layout}:hello", f"docker://{image}", check=True)
    sigs = list(lookaside.glob("ns/demo@sha256=*/signature-1"))
    assert len(sigs) == 1
    tool = run_skopeo if verifier == "ours" else oracle
    extra = {"policy": False} if verifier == "ours" else {}
    ok = tool("--registries.d", str(regd), "--policy", str(pol), "copy", "-q", "--src-tls-verify=false",
              f"docker://{image}", f"dir:{tmp_path / 'out'}", **extra)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / "signature-1").read_bytes() == sigs[0].read_bytes()
    # The same image under another tag: the signature claims :v1, so the default
    # matchRepoDigestOrExact rule rejects it for :v2.
    run_skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{sample_layout}:hello", f"docker://{registry.host}/ns/demo:v2",
               check=True)
    bad = tool("--registries.d", str(regd), "--policy", str(pol), "copy", "-q", "--src-tls-verify=false",
               f"docker://{registry.host}/ns/demo:v2", f"dir:{tmp_path / 'bad'}", **extra)
    assert bad.returncode == 1 and "Source image rejected: Signature for identity" in bad.stderr
    assert not (tmp_path / "bad" / "manifest.json").exists()


def test_unsigned_registry_image_rejected(gpg: Any, registry: Any, run_skopeo, sample_layout: Path, tmp_path: Path) -> None:
    _, regd, pol = _setup(tmp_path, registry, gpg.a.public_file)
    run_skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{sample_layout}:hello", f"docker://{registry.host}/ns/u:v1",
               check=True)
    p = run_skopeo("--registries.d", str(regd), "--policy", str(pol), "copy", "-q", "--src-tls-verify=false",
                   f"docker://{registry.host}/ns/u:v1", f"dir:{tmp_path / 'o'}", policy=False)
    assert p.returncode == 1 and "A signature was required, but no signature exists" in p.stderr
