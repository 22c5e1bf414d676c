"""GnuPG fixtures: two fresh keys (A and B) in a private GNUPGHOME per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from skopeo.testing.require import require_tool


@dataclass(frozen=True)
class Key:
    fingerprint: str
    public_file: Path  # armored public key


@dataclass(frozen=True)
class GPGHome:
    home: Path
    a: Key
    b: Key
    c: Key  # protected by c_passphrase
    c_passphrase: str


PASSPHRASE = "s3cret phrase"


def _gen(home: Path, uid: str, out: Path, passphrase: str = "") -> Key:
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase, "--quick-gen-key", uid,
                    "default", "default", "never"], env=env, check=True, capture_output=True)
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys", uid], env=env, check=True,
                             capture_output=True, text=True).stdout
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    pub = subprocess.run(["gpg", "--batch", "--armor", "--export", fpr], env=env, check=True, capture_output=True).stdout
    out.write_bytes(pub)
    return Key(fpr, out)


@pytest.fixture(scope="session")
def _gpg_session() -> Iterator[GPGHome]:
    require_tool("gpg")
    # A short path: gpg-agent sockets live in the home and have a length limit.
    base = Path(tempfile.mkdtemp(prefix="sk-gpg-"))
    home = base / "h"
    home.mkdir(mode=0o700)
    a = _gen(home, "Signer A <a@example.com>", base / "a.asc")
    b = _gen(home, "Signer B <b@example.com>", base / "b.asc")
    c = _gen(home, "Signer C <c@example.com>", base / "c.asc", PASSPHRASE)
    yield GPGHome(home, a, b, c, PASSPHRASE)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def gpg(_gpg_session: GPGHome, monkeypatch: pytest.MonkeyPatch) -> GPGHome:
    """The session's keys, with GNUPGHOME pointing at them for us and the oracle."""
    monkeypatch.setenv("GNUPGHOME", str(_gpg_session.home))
    return _gpg_session
