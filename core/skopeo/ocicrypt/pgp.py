"""The ``pgp`` key wrapper, with the ``gpg`` binary: the layer's private
options as an OpenPGP message encrypted (AES-256, no compression) to the
recipients' public keys, which ocicrypt takes from the user's GnuPG key ring
(``gpg --export``) and matches by the exact name or e-mail address of one of
their user IDs; decryption keys are GnuPG secret key rings given as files
(``gpg --export-secret-keys``), imported into a private, temporary GnuPG home.

ocicrypt does this with Go's x/crypto/openpgp, which reads and writes RSA
and ElGamal keys (not ECC ones): use RSA keys for images other tools decrypt.
gpg's output is what x/crypto/openpgp reads (a public-key encrypted session
key, then an integrity-protected data packet)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from email.utils import parseaddr

from ..errors import SkopeoError
from .config import DecryptConfig, EncryptConfig, Parameters


def _gpg() -> str | None:
    """gpg2, then gpg, as ocicrypt's GuessGPGVersion."""
    return shutil.which("gpg2") or shutil.which("gpg")


def _run(gpg: str, home: str | None, args: list[str], stdin: bytes = b"",
         pass_fds: tuple[int, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    argv = [gpg, "--batch", "--no-tty", "--no-permission-warning"]
    if home is not None:
        argv += ["--homedir", home]
    try:
        return subprocess.run(argv + args, input=stdin, capture_output=True, pass_fds=pass_fds, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SkopeoError(f"error from {gpg}: {e}") from None


def public_key_ring() -> bytes | None:
    """The user's public key ring (ReadGPGPubRingFile); None without gpg."""
    gpg = _gpg()
    if gpg is None:
        return None
    proc = _run(gpg, None, ["--export"])
    if proc.returncode != 0:
        raise SkopeoError(f"error from {gpg}: {proc.stderr.decode('utf-8', 'replace')}")
    return proc.stdout


class _Home:
    """A private GnuPG home holding *keyring*; its agent is stopped on exit."""

    def __init__(self, gpg: str, keyring: bytes) -> None:
        self.gpg = gpg
        self.path = tempfile.mkdtemp(prefix="skopeo-ocicrypt-")
        proc = _run(gpg, self.path, ["--import"], keyring)
        if proc.returncode not in (0, 2):  # 2: some keys were not imported (e.g. duplicates)
            self.close()
            raise SkopeoError(f"unable to parse private keys: {proc.stderr.decode('utf-8', 'replace').strip()}")

    def close(self) -> None:
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None:
            subprocess.run([gpgconf, "--homedir", self.path, "--kill", "gpg-agent"], capture_output=True, check=False,
                           timeout=30)
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> _Home:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _identities(home: _Home) -> list[tuple[str, list[str]]]:
    """(fingerprint, user IDs) of each key in *home*."""
    proc = _run(home.gpg, home.path, ["--with-colons", "--fixed-list-mode", "--list-keys"])
    keys: list[tuple[str, list[str]]] = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            keys.append(("", []))
        elif fields[0] == "fpr" and keys and not keys[-1][0]:
            keys[-1] = (fields[9], keys[-1][1])
        elif fields[0] == "uid" and keys:
            keys[-1][1].append(fields[9].replace("\\x3a", ":"))
    return keys


class PGPKeyWrapper:
    annotation_id = "org.opencontainers.image.enc.keys.pgp"

    def wrap_keys(self, ec: EncryptConfig, opts: bytes) -> bytes | None:
        ring = ec.parameters.get("gpg-pubkeyringfile", [])
        recipients = [r.decode() for r in ec.parameters.get("gpg-recipients", [])]
        gpg = _gpg()
        if not ring or not recipients or gpg is None:
            return None
        with _Home(gpg, ring[0]) as home:
            found: dict[str, int] = dict.fromkeys(recipients, 0)
            chosen: list[str] = []
            for fingerprint, uids in _identities(home):
                for uid in uids:
                    name, address = parseaddr(uid)
                    for r in recipients:
                        if r in (name, address):
                            found[r] += 1
                            if fingerprint not in chosen:
                                chosen.append(fingerprint)
            missing = [r for r, n in found.items() if n == 0]
            if missing:
                raise SkopeoError("unable to create entity list: PGP: No key found for the following recipients: "
                                  + ", ".join(missing))
            args = ["--trust-model", "always", "--cipher-algo", "AES256", "--compress-algo", "none", "--encrypt"]
            for fingerprint in chosen:
                args += ["--recipient", fingerprint + "!"]
            proc = _run(gpg, home.path, args, opts)
            if proc.returncode != 0 or not proc.stdout:
                raise SkopeoError(proc.stderr.decode("utf-8", "replace").strip() or "gpg --encrypt failed")
            return proc.stdout

    def unwrap_key(self, dc: DecryptConfig, packet: bytes) -> bytes:
        rings = self.private_keys(dc.parameters)
        if not rings:
            raise SkopeoError("GPG: Missing private key parameter")
        passwords = dc.parameters.get("gpg-privatekeys-passwords", [])
        gpg = _gpg()
        if gpg is None:
            raise SkopeoError("PGP: No suitable key found to unwrap key")
        for i, ring in enumerate(rings):
            password = passwords[i] if i < len(passwords) else b""
            with _Home(gpg, ring) as home:
                read_fd, write_fd = os.pipe()
                try:
                    os.write(write_fd, password + b"\n")
                    os.close(write_fd)
                    write_fd = -1
                    proc = _run(gpg, home.path, ["--pinentry-mode", "loopback", "--passphrase-fd", str(read_fd),
                                                 "--decrypt"], packet, (read_fd,))
                finally:
                    os.close(read_fd)
                    if write_fd >= 0:
                        os.close(write_fd)
                if proc.returncode == 0:
                    return proc.stdout
        raise SkopeoError("PGP: No suitable key found to unwrap key")

    def no_possible_keys(self, params: Parameters) -> bool:
        return not self.private_keys(params)

    def private_keys(self, params: Parameters) -> list[bytes]:
        return params.get("gpg-privatekeys", [])
