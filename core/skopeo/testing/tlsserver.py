"""A TLS server whose protocol versions, cipher suites and groups a test
chooses: ``openssl s_server -www`` on loopback (answers any HTTP request with a
status page), with a certificate from a test CA.  For the TLS settings the
registry itself cannot be limited to (a maximum version, one cipher)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .registry import CA, free_port, wait_for_port

OPENSSL_BINARY = "/usr/bin/openssl"


@dataclass
class TLSServer:
    port: int
    process: subprocess.Popen[bytes]
    ca: CA

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)


def available() -> bool:
    return shutil.which(OPENSSL_BINARY) is not None


def start_tls_server(directory: Path, *openssl_args: str, ca: CA | None = None, rsa: bool = False) -> TLSServer:
    """``openssl s_server`` with *openssl_args* (``-tls1_2``, ``-cipher …``,
    ``-groups …``); its certificate is for 127.0.0.1, signed by *ca* (a new CA
    by default)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = ca or CA.create(directory / "ca")
    pair = ca.issue(directory / "server", "server", rsa=rsa)
    port = free_port()
    proc = subprocess.Popen(
        [OPENSSL_BINARY, "s_server", "-quiet", "-www", "-accept", f"127.0.0.1:{port}", "-cert", str(pair.cert),
         "-key", str(pair.key), *openssl_args],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc=proc)
    except RuntimeError:
        if proc.poll() is None:
            proc.kill()
        raise
    return TLSServer(port, proc, ca)
