"""``skopeo.api.generate_sigstore_key``: the key pair it writes signs a copy
that the sigstoreSigned policy of the CLI then accepts."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from skopeo import api
from skopeo.errors import SkopeoError
from skopeo.results import SigstoreKeyPair


def test_generate_sign_and_verify(run_skopeo, sample_layout: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pair = api.generate_sigstore_key(str(tmp_path / "key"), "s3cret")
    assert pair == SigstoreKeyPair(str(tmp_path / "key.private"), str(tmp_path / "key.pub"))
    assert stat.S_IMODE(Path(pair.private_key).stat().st_mode) == 0o600
    (tmp_path / "pass").write_text("s3cret\n")
    run_skopeo("copy", "--sign-by-sigstore-private-key", pair.private_key, "--sign-passphrase-file",
               str(tmp_path / "pass"), "--sign-identity", "docker.io/library/busybox:latest", f"oci:{sample_layout}:hello", f"dir:{tmp_path / 'signed'}", check=True)
    policy = tmp_path / "verify.json"
    policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"dir": {"": [
        {"type": "sigstoreSigned", "keyPath": pair.public_key,
         "signedIdentity": {"type": "exactRepository", "dockerRepository": "docker.io/library/busybox"}}]}}}))
    proc = run_skopeo("--policy", str(policy), "copy", f"dir:{tmp_path / 'signed'}", f"dir:{tmp_path / 'out'}",
                      policy=False)
    assert proc.returncode == 0, proc.stderr
    # Another key's public half is refused: the check can fail.
    other = api.generate_sigstore_key(str(tmp_path / "other"), "x")
    policy.write_text(policy.read_text().replace(pair.public_key, other.public_key))
    proc = run_skopeo("--policy", str(policy), "copy", f"dir:{tmp_path / 'signed'}", f"dir:{tmp_path / 'out2'}",
                      policy=False)
    assert proc.returncode == 1 and "Source image rejected" in proc.stderr


def test_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "key.pub").write_text("mine")
    with pytest.raises(SkopeoError, match=f'^Refusing to overwrite existing "{tmp_path}/key.pub"$'):
        api.generate_sigstore_key(str(tmp_path / "key"), "pw")
    assert not (tmp_path / "key.private").exists()
