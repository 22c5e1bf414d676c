"""A signed-image workshop for the sigstore tests: dir: images with hand-made
signatures, policies, our CLI and upstream main side by side.  (A module of
its own, not conftest: tests import from it by a name no other suite uses.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sigstore_material as m

from skopeo.testing.fixtures import fatal_message, skopeo_command
from skopeo.testing.require import DEFAULT_UPSTREAM, find_upstream_main

UPSTREAM_MAIN = find_upstream_main() or DEFAULT_UPSTREAM
REF = "docker.io/library/hello:latest"
REPO = {"type": "exactRepository", "dockerRepository": "docker.io/library/hello"}
ISSUER = "https://oidc.example.com"
EMAIL = "signer@example.com"


def _clock_free(message: str) -> str:
    import re

    return re.sub(r"current time \S+ is", "current time T is", message)


def upstream_main_available() -> bool:
    return find_upstream_main() is not None


class Workshop:
    """A dir: image, a CA with an intermediate, a Rekor key, and ways to sign the
    image, write policies and copy it with our skopeo and upstream main."""

    def __init__(self, tmp: Path, run_skopeo: Callable[..., subprocess.CompletedProcess[str]], sample: Path) -> None:
        self.tmp = tmp
        self.run_skopeo = run_skopeo
        self.base = tmp / "base"
        run_skopeo("copy", "-q", f"oci:{sample}:hello", f"dir:{self.base}", check=True)
        self.manifest = (self.base / "manifest.json").read_bytes()
        import hashlib

        self.digest = "sha256:" + hashlib.sha256(self.manifest).hexdigest()
        self.root = m.ca("Test Root")
        self.intermediate = m.intermediate("Test Intermediate", self.root)
        self.chain = self.intermediate.pem + self.root.pem
        self.rekor = m.ec_key()
        self.root_pem = self.file("root.pem", self.root.pem)
        self.intermediate_pem = self.file("intermediate.pem", self.intermediate.pem)
        self.rekor_pub = self.file("rekor.pub", m.public_pem(self.rekor))
        self.leaf = m.fulcio_leaf(self.intermediate, EMAIL, ISSUER)
        self.count = 0
        self.last_output = tmp  # where our last copy wrote

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def image(self, *signatures: m.Signed | bytes) -> Path:
        """A copy of the image carrying *signatures*."""
        self.count += 1
        path = self.tmp / f"image-{self.count}"
        shutil.copytree(self.base, path)
        for i, sig in enumerate(signatures, 1):
            (path / f"signature-{i}").write_bytes(sig if isinstance(sig, bytes) else sig.blob)
        return path

    def fulcio(self, leaf: m.Cert | None = None, chain: bool = True, **kw: Any) -> m.Signed:
        return m.with_fulcio(leaf or self.leaf, self.digest, REF, self.rekor, self.chain if chain else None, **kw)

    def fulcio_requirement(self, **kw: Any) -> dict[str, Any]:
        req: dict[str, Any] = {"type": "sigstoreSigned",
                               "fulcio": {"caPath": str(self.root_pem), "oidcIssuer": ISSUER, "subjectEmail": EMAIL},
                               "rekorPublicKeyPath": str(self.rekor_pub), "signedIdentity": REPO}
        req.update(kw)
        return {k: v for k, v in req.items() if v is not None}  # None: leave the key out

    def policy(self, requirement: dict[str, Any]) -> Path:
        self.count += 1
        path = self.tmp / f"policy-{self.count}.json"
        path.write_text(json.dumps({"default": [requirement]}))
        return path

    def copy(self, image: Path, policy: Path, upstream: bool = False) -> tuple[int, str]:
        """(exit code, fatal message or "") of ``copy dir:image dir:…`` under
        *policy*, by our skopeo or upstream main."""
        out = self.tmp / f"out-{self.count}-{'main' if upstream else 'ours'}"
        args = ["--policy", str(policy), "copy", "-q", f"dir:{image}", f"dir:{out}"]
        argv = [UPSTREAM_MAIN, *args] if upstream else [*skopeo_command(), *args]
        if not upstream:
            self.last_output = out
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if p.returncode == 0:
            assert (out / "manifest.json").exists()
            return 0, ""
        assert not (out / "manifest.json").exists()
        return p.returncode, fatal_message(p.stderr)

    def check(self, image: Path, requirement: dict[str, Any]) -> str:
        """Our verdict ("" = accepted), which must be upstream main's when it is here."""
        policy = self.policy(requirement)
        code, message = self.copy(image, policy)
        assert code in (0, 1)
        if upstream_main_available():
            theirs = self.copy(image, policy, upstream=True)
            # "current time …" is the clock of each run (PKI checks use the time of day).
            assert (theirs[0], _clock_free(theirs[1])) == (code, _clock_free(message))
        return message
