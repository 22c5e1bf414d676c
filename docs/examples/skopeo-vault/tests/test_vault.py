"""The vault credential backend end to end, through the real CLI and a real
htpasswd registry (HTTPS, Basic auth): ``login`` stores into the vault (not the
auth file), ``copy`` and ``inspect`` authenticate with what it holds, and
``logout`` erases it.  Then the backend's own rules, in-process."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from skopeo import auth
from skopeo.auth import Credentials
from skopeo.context import SystemContext
from skopeo.testing.registry import Registry
from skopeo_vault.provider import VaultProvider
from skopeo_vault.vault import Vault, candidate_keys

Run = Callable[..., subprocess.CompletedProcess[str]]
USER, PASSWORD = "testuser", "testpassword"


def certs(registry: Registry, tmp_path: Path) -> str:
    d = tmp_path / "certs"
    d.mkdir(exist_ok=True)
    assert registry.ca is not None
    shutil.copy(registry.ca.cert, d / "ca.crt")
    return str(d)


def test_login_copy_logout_through_the_vault(run_skopeo: Run, basic_auth_registry: Registry, sample_layout: Path,
                                             vault_home: Path, tmp_path: Path) -> None:
    host, cert_dir = basic_auth_registry.host, certs(basic_auth_registry, tmp_path)
    image = f"docker://{host}/team/app:v1"
    auth_json = tmp_path / "run" / "containers" / "auth.json"  # where login writes by default
    # Not served yet: the copy has no credentials.
    proc = run_skopeo("copy", "--dest-cert-dir", cert_dir, f"oci:{sample_layout}:hello", image)
    assert proc.returncode == 1 and "authentication required" in proc.stderr
    out = run_skopeo("vault-serve", "127.0.0.1:*", check=True).stdout
    assert out == f"Vault {vault_home} serves: 127.0.0.1:*\n"
    proc = run_skopeo("login", "--cert-dir", cert_dir, "-u", USER, "-p", "wrong", host)
    assert proc.returncode == 1 and "invalid username/password" in proc.stderr
    proc = run_skopeo("login", "--cert-dir", cert_dir, "-u", USER, "-p", PASSWORD, "--verbose", host, check=True)
    assert proc.stdout == f"Used:  vault {vault_home}\nLogin Succeeded!\n"
    assert not auth_json.exists()
    listed = json.loads(run_skopeo("vault-list", "--json", check=True).stdout)
    assert listed == {"serves": ["127.0.0.1:*"], "logins": {host: USER}}
    assert run_skopeo("login", "--get-login", host, check=True).stdout == f"{USER}\n"
    # Other commands find the credentials in the vault.
    run_skopeo("copy", "--dest-cert-dir", cert_dir, f"oci:{sample_layout}:hello", image, check=True)
    inspected = run_skopeo("inspect", "--cert-dir", cert_dir, image, check=True)
    assert json.loads(inspected.stdout)["Name"] == f"{host}/team/app"
    # Without the plugin, the same command has no credentials: the vault answered.
    proc = run_skopeo("inspect", "--cert-dir", cert_dir, image, env={"SKOPEO_PLUGINS": "docker,oci,dir"})
    assert proc.returncode == 1 and "authentication required" in proc.stderr
    proc = run_skopeo("logout", host, check=True)
    assert proc.stdout == f"Removed login credentials for {host}\n"
    assert json.loads(run_skopeo("vault-list", "--json=true", check=True).stdout)["logins"] == {}
    proc = run_skopeo("inspect", "--cert-dir", cert_dir, image)
    assert proc.returncode == 1 and "authentication required" in proc.stderr
    proc = run_skopeo("logout", host)
    assert proc.returncode == 1 and f"not logged into {host}" in proc.stderr
    assert not auth_json.exists()


def test_registries_not_served_go_to_the_auth_file(run_skopeo: Run, vault_home: Path, tmp_path: Path) -> None:
    run_skopeo("vault-serve", "vault.example", check=True)
    Vault().put("vault.example", "v", "secret")
    ctx = SystemContext(auth_file=str(tmp_path / "auth.json"))
    assert auth.resolve(ctx, "vault.example") == Credentials("v", "secret", source=f"vault {vault_home}")
    assert auth.store(ctx, "other.example", Credentials("o", "pw")) == ctx.auth_file
    assert auth.resolve(ctx, "other.example").username == "o"
    assert auth.erase(ctx, "vault.example") and Vault().entries() == []
    proc = run_skopeo("vault-serve", "--remove", "nope.example")
    assert proc.returncode == 1 and "the vault does not serve all of nope.example" in proc.stderr
    run_skopeo("vault-serve", "-r", "vault.example", check=True)
    assert Vault().patterns() == []


def test_lookup_is_most_specific_first(vault_home: Path) -> None:
    assert candidate_keys("r.example", "r.example/ns/app") == ["r.example/ns/app", "r.example/ns", "r.example"]
    vault = Vault()
    provider = VaultProvider()
    ctx = SystemContext()
    # No vault file: nothing served, nothing found, nothing created.
    assert provider.registries(ctx) == [] and provider.get("r.example", None, ctx) is None
    assert not vault_home.exists()
    provider.store("r.example", Credentials("all", "1"), ctx)
    provider.store("r.example/ns", Credentials("ns", "2"), ctx)
    assert provider.get("r.example", "r.example/ns/app", ctx).username == "ns"  # type: ignore[union-attr]
    assert provider.get("r.example", "r.example/other/app", ctx).username == "all"  # type: ignore[union-attr]
    assert (vault_home.stat().st_mode & 0o777, vault_home.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    provider.erase_all(ctx)
    assert vault.entries() == []
