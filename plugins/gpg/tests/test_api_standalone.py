"""``skopeo.api.standalone_sign``/``standalone_verify``/``untrusted_signature_dump``
with real GnuPG keys; the reference skopeo verifies what the API signs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from skopeo import api
from skopeo.errors import SkopeoError
from skopeo.results import VerifiedSignature

IDENTITY = "docker.io/library/busybox:latest"
pytestmark = pytest.mark.oracle


def _manifest(sample_layout: Path, tmp_path: Path) -> Path:
    """The sample image's manifest, as a file."""
    index = json.loads((sample_layout / "index.json").read_text())
    out = tmp_path / "manifest.json"
    out.write_bytes((sample_layout / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    return out


def test_sign_verify_dump(gpg: Any, oracle, sample_layout: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest_file = _manifest(sample_layout, tmp_path)
    manifest = manifest_file.read_bytes()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    signature = api.standalone_sign(manifest, IDENTITY, gpg.a.fingerprint)
    (tmp_path / "sig").write_bytes(signature)
    theirs = oracle("standalone-verify", str(manifest_file), IDENTITY, gpg.a.fingerprint, str(tmp_path / "sig"),
                    check=True)
    assert theirs.stdout == f"Signature verified, digest {digest}\n"
    assert api.standalone_verify(manifest, IDENTITY, gpg.a.fingerprint, signature) == \
        VerifiedSignature(gpg.a.fingerprint, digest)
    # A list of fingerprints, or "any" key of a public key file.
    assert api.standalone_verify(manifest, IDENTITY, [gpg.b.fingerprint, gpg.a.fingerprint], signature).digest == digest
    keys = gpg.a.public_file.read_bytes()
    assert api.standalone_verify(manifest, IDENTITY, "any", signature, public_keys=keys).fingerprint == gpg.a.fingerprint
    info = api.untrusted_signature_dump(signature)
    assert info["UntrustedDockerManifestDigest"] == digest and info["UntrustedDockerReference"] == IDENTITY
    assert info["UntrustedShortKeyIdentifier"] == gpg.a.fingerprint[-16:]


def test_errors(gpg: Any, sample_layout: Path, tmp_path: Path) -> None:
    manifest = _manifest(sample_layout, tmp_path).read_bytes()
    signature = api.standalone_sign(manifest, IDENTITY, gpg.a.fingerprint)
    with pytest.raises(SkopeoError, match=r"^Cannot use any fingerprint without a public key file$"):
        api.standalone_verify(manifest, IDENTITY, "any", signature)
    with pytest.raises(SkopeoError, match=f"^Error verifying signature: Signature by {gpg.a.fingerprint} does not "
                                          f"match expected fingerprint {gpg.b.fingerprint}$"):
        api.standalone_verify(manifest, IDENTITY, gpg.b.fingerprint, signature)
    with pytest.raises(SkopeoError, match=r"^Error verifying signature: Docker reference"):
        api.standalone_verify(manifest, "docker.io/library/other:latest", gpg.a.fingerprint, signature)
    with pytest.raises(SkopeoError, match=r"^Error creating signature: "):
        api.standalone_sign(manifest, IDENTITY, "0" * 40)
    with pytest.raises(SkopeoError, match=r"^Error decoding untrusted signature: "):
        api.untrusted_signature_dump(b"\xa3\x01garbage")
