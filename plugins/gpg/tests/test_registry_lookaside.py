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


@pytest.mark.parametrize("tool_name", ["ours", "oracle"])
def test_delete_removes_lookaside_signatures(tool_name: str, gpg: Any, registry: Any, run_skopeo, oracle,
                                             sample_layout: Path, tmp_path: Path) -> None:
    """As upstream's deleteImage: after the manifest, every signature of its
    digest in the lookaside registries.d names for writing (the staging one
    when there is one), up to the first missing one."""
    staging = tmp_path / "staging"
    regd = tmp_path / "registries.d"
    regd.mkdir()
    (regd / "test.yaml").write_text(
        f"docker:\n  {registry.host}:\n    lookaside: http://127.0.0.1:1/sigs\n    lookaside-staging: file://{staging}\n")
    image = f"{registry.host}/ns/del:v1"
    run_skopeo("--registries.d", str(regd), "copy", "-q", "--dest-tls-verify=false", "--sign-by", gpg.a.fingerprint,
               f"oci:{sample_layout}:hello", f"docker://{image}", check=True)
    sig_dirs = list(staging.glob("ns/del@sha256=*"))
    assert len(sig_dirs) == 1 and (sig_dirs[0] / "signature-1").exists()
    (sig_dirs[0] / "signature-2").write_bytes((sig_dirs[0] / "signature-1").read_bytes())
    (sig_dirs[0] / "signature-4").write_bytes(b"after a gap: not reached")
    tool = run_skopeo if tool_name == "ours" else oracle
    proc = tool("--registries.d", str(regd), "delete", "--tls-verify=false", f"docker://{image}")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in sig_dirs[0].iterdir()) == ["signature-4"]
    assert run_skopeo("inspect", "--tls-verify=false", f"docker://{image}").returncode != 0


@pytest.mark.parametrize("tool_name", ["ours", "oracle"])
def test_delete_with_a_read_only_lookaside(tool_name: str, registry: Any, run_skopeo, oracle, sample_layout: Path,
                                           tmp_path: Path) -> None:
    """An http lookaside without a staging one cannot be written: the manifest
    is deleted, then the signatures cannot be, as upstream reports it."""
    regd = tmp_path / "registries.d"
    regd.mkdir()
    (regd / "test.yaml").write_text(f"docker:\n  {registry.host}:\n    lookaside: http://127.0.0.1:1/sigs\n")
    image = f"{registry.host}/ns/ro:v1"
    run_skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{sample_layout}:hello", f"docker://{image}", check=True)
    digest = json.loads(run_skopeo("inspect", "--tls-verify=false", f"docker://{image}", check=True).stdout)["Digest"]
    tool = run_skopeo if tool_name == "ours" else oracle
    proc = tool("--registries.d", str(regd), "delete", "--tls-verify=false", f"docker://{image}")
    assert proc.returncode == 1
    from skopeo.testing.fixtures import fatal_message

    assert fatal_message(proc.stderr) == (
        f"Writing directly to a http lookaside http://127.0.0.1:1/sigs/ns/ro@{digest.replace(':', '=')}/signature-1 "
        "is not supported. Configure a lookaside-staging: location")
    assert run_skopeo("inspect", "--tls-verify=false", f"docker://{image}").returncode != 0


def test_signed_list_copy_matches_upstream(gpg: Any, registry: Any, run_skopeo, oracle, tmp_path: Path) -> None:
    """copy --all --sign-by: each instance and the list get a signature, with
    upstream's lines in upstream's order (instances are copied in parallel)."""
    from skopeo.testing.images import make_multiarch

    make_multiarch(str(tmp_path / "src"), "multi")
    outputs = {}
    for name, tool in (("ours", run_skopeo), ("oracle", oracle)):
        lookaside = tmp_path / f"sigs-{name}"
        regd = tmp_path / f"regd-{name}"
        regd.mkdir()
        (regd / "test.yaml").write_text(f"docker:\n  {registry.host}:\n    lookaside: file://{lookaside}\n")
        proc = tool("--registries.d", str(regd), "copy", "--all", "--dest-tls-verify=false", "--sign-by",
                    gpg.a.fingerprint, f"oci:{tmp_path / 'src'}:multi", f"docker://{registry.host}/ns/{name}:v1")
        assert proc.returncode == 0, proc.stderr
        outputs[name] = proc.stdout.splitlines()
        sigs = sorted(p.parent.name.split("@")[1] for p in lookaside.glob("ns/*/signature-1"))
        assert len(sigs) == 4  # three instances and the list
    # 1.9.3 words two lines its own way; upstream main as we do.
    main_words = {"Copying 3 of 3 images in list": "Copying 3 images generated from 3 images in list",
                  "Signing manifest using simple signing": "Creating signature: Signing image using simple signing"}
    assert outputs["ours"] == [main_words.get(line, line) for line in outputs["oracle"]]
    assert outputs["ours"][-3:] == ["Writing manifest list to image destination",
                                    "Creating signature: Signing image using simple signing", "Storing list signatures"]
