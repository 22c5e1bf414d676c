"""Signing and verification with the ``gpg`` binary (GnuPG 2), the way
containers/image's gpgme mechanism behaves: a signature is an OpenPGP signed
message (``gpg --sign``, binary, compressed); verification accepts exactly one
good signature and reports the signing key's fingerprint.  Key trust is not
GnuPG's business here: the caller decides which fingerprints it trusts.

Results are read from ``--status-fd`` (machine-readable lines), never from
gpg's localised human output."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field

from skopeo import deadline
from skopeo.errors import SkopeoError
from skopeo.fsutil import track_temporary, untrack_temporary
from skopeo.signature import InvalidSignatureError

GPG = "gpg"
_STATUS_PREFIX = "[GNUPG:] "
# Statuses that make a signature unacceptable whatever else gpg says.
_BAD = {
    "BADSIG": "bad signature",
    "EXPSIG": "the signature has expired",
    "EXPKEYSIG": "the signing key has expired",
    "REVKEYSIG": "the signing key has been revoked",
    "ERRSIG": "the signature could not be checked",
    "NO_PUBKEY": "no public key",
}


class GPGError(SkopeoError):
    pass


@dataclass
class _Result:
    returncode: int
    stdout: bytes
    status: list[list[str]] = field(default_factory=list)
    stderr: str = ""


def _binary() -> str:
    found = shutil.which(os.environ.get("SKOPEO_GPG", GPG))
    if found is None:
        raise GPGError("Error initializing GPG: the gpg binary was not found (install gnupg)")
    return found


class Mechanism:
    """A GnuPG home: the user's (``$GNUPGHOME`` or ``~/.gnupg``) or a private,
    ephemeral one holding only imported public keys."""

    def __init__(self, homedir: str | None = None, ephemeral: bool = False) -> None:
        self.homedir = homedir
        self._ephemeral = ephemeral

    @classmethod
    def ephemeral(cls, keyring: bytes) -> tuple[Mechanism, list[str]]:
        """A private home with *keyring* (binary or armored keys) imported, and
        the fingerprints of the keys it holds."""
        home = track_temporary(tempfile.mkdtemp(prefix="skopeo-gpg-"))
        mech = cls(home, ephemeral=True)
        try:
            res = mech._run(["--import"], keyring)
            fprs: list[str] = []
            for st in res.status:
                if st[0] == "IMPORT_OK" and len(st) >= 3 and st[2] not in fprs:
                    fprs.append(st[2])
            return mech, fprs
        except BaseException:
            mech.close()
            raise

    def close(self) -> None:
        if self._ephemeral and self.homedir:
            # An agent is only started for secret-key operations, which an
            # ephemeral home never does; just remove the directory.
            shutil.rmtree(self.homedir, ignore_errors=True)
            untrack_temporary(self.homedir)
            self.homedir = None

    def __enter__(self) -> Mechanism:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, args: list[str], stdin: bytes, pass_fds: tuple[int, ...] = ()) -> _Result:
        argv = [_binary(), "--batch", "--no-tty", "--status-fd", "2", "--no-auto-key-retrieve", "--no-permission-warning"]
        if self.homedir:
            argv += ["--homedir", self.homedir]
        argv += args
        try:
            proc = deadline.run(argv, 120, input=stdin, pass_fds=pass_fds, check=False)
        except OSError as e:
            raise GPGError(f"Error initializing GPG: {e}") from None
        status: list[list[str]] = []
        human: list[str] = []
        for line in proc.stderr.decode("utf-8", "replace").splitlines():
            if line.startswith(_STATUS_PREFIX):
                status.append(line[len(_STATUS_PREFIX) :].split(" "))
            elif line.strip():
                human.append(line.strip())
        return _Result(proc.returncode, proc.stdout, status, "; ".join(human))

    def check_secret_key(self, key_identity: str) -> None:
        """gpgme's GetKey(…, secret): a secret key *key_identity* names must exist."""
        res = self._run(["--with-colons", "--list-secret-keys", "--", key_identity], b"")
        if not any(line.startswith(b"sec:") for line in res.stdout.splitlines()):
            raise GPGError(_key_not_found(key_identity))

    def sign(self, payload: bytes, key_identity: str, passphrase: str | None = None) -> bytes:
        """An OpenPGP signed message of *payload* made with *key_identity*.  An
        empty passphrase is no passphrase, as upstream: the agent asks for one
        (or has it cached)."""
        args = ["--local-user", key_identity, "--sign", "--output", "-"]
        fds: tuple[int, ...] = ()
        read_fd = write_fd = -1
        if passphrase:
            # The payload goes to stdin, so the passphrase needs its own descriptor.
            read_fd, write_fd = os.pipe()
            os.write(write_fd, passphrase.encode() + b"\n")
            os.close(write_fd)
            args = ["--pinentry-mode", "loopback", "--passphrase-fd", str(read_fd), *args]
            fds = (read_fd,)
        try:
            res = self._run(args, payload, fds)
        finally:
            if read_fd >= 0:
                os.close(read_fd)
        if res.returncode != 0 or not res.stdout:
            raise GPGError(_sign_failure(res, key_identity))
        return res.stdout

    def verify(self, signature: bytes) -> tuple[bytes, str, str]:
        """(signed contents, signing key fingerprint, primary key fingerprint) of a
        signed message with exactly one valid signature; InvalidSignatureError otherwise."""
        res = self._run(["--decrypt", "--output", "-"], signature)
        count = sum(1 for st in res.status if st[0] == "NEWSIG")
        if count == 0 and any(st[0] in _BAD or st[0] in ("GOODSIG", "VALIDSIG") for st in res.status):
            count = 1  # old gpg versions do not print NEWSIG
        if count != 1:
            if count == 0 and any(st[0] == "NODATA" for st in res.status):
                raise GPGError("No data")  # no OpenPGP packets at all: gpgme's GPG_ERR_NO_DATA
            if count == 0:
                raise InvalidSignatureError(f"Invalid GPG signature: {res.stderr or 'no signature found'}")
            raise InvalidSignatureError(f"Unexpected GPG signature count {count}")
        for st in res.status:
            if st[0] in _BAD:
                detail = " ".join(st[1:3]) if len(st) > 1 else ""
                raise InvalidSignatureError(f"Invalid GPG signature: {_BAD[st[0]]} ({st[0]} {detail})".rstrip())
            if st[0] == "TRUST_NEVER":
                raise InvalidSignatureError("Invalid GPG signature: the key is explicitly distrusted")
        valid = next((st for st in res.status if st[0] == "VALIDSIG"), None)
        if valid is None or res.returncode != 0:
            raise InvalidSignatureError(f"Invalid GPG signature: {res.stderr or 'verification failed'}")
        fpr = valid[1]
        primary = valid[10] if len(valid) > 10 else fpr
        return res.stdout, fpr, primary

    def list_secret_fingerprints(self) -> list[str]:
        res = self._run(["--with-colons", "--list-secret-keys"], b"")
        return [line.split(":")[9] for line in res.stdout.decode().splitlines() if line.startswith("fpr:")]


# INV_SGNR reasons (GnuPG's doc/DETAILS) for which gpgme's key lookup finds nothing.
_KEY_NOT_FOUND = {"1", "9"}  # "No such key", "No secret key"
_SIGNING_FAILED = "gpg: signing failed: "


def _key_not_found(key_identity: str) -> str:
    from skopeo.golang.gojson import quote

    return f"key {quote(key_identity.encode('utf-8', 'surrogateescape'))} not found"


def _sign_failure(res: _Result, key_identity: str) -> str:
    """gpgme's error text for a failed signing, as upstream prints it: the key
    lookup's ``key "X" not found``, else libgpg-error's text of the failure,
    which gpg prints itself (``Bad passphrase``, ``No passphrase given``, …)."""
    for st in res.status:
        if st[0] == "INV_SGNR" and len(st) > 1 and st[1] in _KEY_NOT_FOUND:
            return _key_not_found(key_identity)
    for line in res.stderr.split("; "):
        if line.startswith(_SIGNING_FAILED):
            return line[len(_SIGNING_FAILED):]
    for st in res.status:
        if st[0] == "FAILURE":
            return " ".join(st[1:])
    return res.stderr or f"gpg exited with status {res.returncode}"
