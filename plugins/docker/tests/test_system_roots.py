"""The system's CA certificates (skopeo.systemroots): read from the hashed
lookup directory on demand where it holds the same roots as the bundle,
loaded from the bundle otherwise; a registry signed by a system root is
trusted either way, through SSL_CERT_FILE / SSL_CERT_DIR as Go reads them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from skopeo.systemroots import client_context, lookup_directory
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.registry import Registry

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _layout(tmp_path: Path, hashed: int, other: int, bundled: int | None) -> tuple[str | None, str]:
    d = tmp_path / "certs"
    d.mkdir()
    for i in range(hashed):
        (d / f"{i:08x}.{i % 2}").write_text(PEM)
    for i in range(other):
        (d / f"ca-{i}.pem").write_text(PEM)
    (d / "0a1b2c3d.r0").write_text("a CRL, not a certificate")
    bundle = None
    if bundled is not None:
        bundle = tmp_path / "bundle.crt"
        bundle.write_text(PEM * bundled)
    return (str(bundle) if bundle else None), str(d)


@pytest.mark.parametrize(("hashed", "other", "bundled", "lazy"), [
    (3, 3, 3, True),     # the same roots both ways: the directory alone
    (2, 0, None, True),  # no bundle: the directory is all there is
    (2, 2, 3, False),    # the bundle has a root the directory lacks
    (3, 0, 2, False),
    (0, 3, 3, False),    # certificates without hash links: OpenSSL cannot look them up
])
def test_when_the_directory_is_enough(tmp_path: Path, hashed: int, other: int, bundled: int | None,
                                      lazy: bool) -> None:
    cafile, capath = _layout(tmp_path, hashed, other, bundled)
    assert lookup_directory(cafile, capath) == (capath if lazy else None)


def test_no_directory_or_unreadable_bundle(tmp_path: Path) -> None:
    assert lookup_directory(None, None) is None
    assert lookup_directory(None, str(tmp_path / "missing")) is None
    _, capath = _layout(tmp_path, 2, 0, None)
    assert lookup_directory(str(tmp_path / "gone.crt"), capath) is None


def _system_roots(tmp_path: Path, ca: Path, hashed: bool) -> dict[str, str]:
    """A bundle and a lookup directory holding *ca*, hash-linked or not; the
    environment that makes them the system's roots."""
    bundle = tmp_path / "roots.crt"
    shutil.copy(ca, bundle)
    d = tmp_path / "roots"
    d.mkdir()
    shutil.copy(ca, d / "test-ca.pem")
    if hashed:
        name = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(ca)], capture_output=True,
                              text=True, check=True).stdout.strip()
        (d / f"{name}.0").symlink_to("test-ca.pem")
    return {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": str(d)}


@pytest.mark.parametrize("hashed", [True, False])
def test_a_registry_signed_by_a_system_root(tls_registry: Registry, oci_image: str, skopeo: Any, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, hashed: bool) -> None:
    assert tls_registry.ca is not None
    env = _system_roots(tmp_path, tls_registry.ca.cert, hashed)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ctx = client_context()
    # Read on demand from the directory, or loaded from the bundle up front.
    assert ctx.cert_store_stats()["x509"] == (0 if hashed else 1)
    dest = f"docker://{tls_registry.host}/roots/demo:v1"
    proc = skopeo("copy", oci_image, dest, env=env)
    assert proc.returncode == 0, proc.stderr
    assert skopeo("inspect", dest, env=env).returncode == 0
    # Without it among the system roots, the registry is not trusted.
    proc = skopeo("inspect", dest, env={"SSL_CERT_FILE": str(tmp_path / "none.crt"),
                                        "SSL_CERT_DIR": str(tmp_path / "none")})
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).endswith("x509: certificate signed by unknown authority")
