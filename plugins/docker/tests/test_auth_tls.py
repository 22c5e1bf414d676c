"""TLS (CA via --cert-dir and certs.d, self-signed failures, client certificates),
Basic auth (htpasswd) and Bearer token auth (real JWTs), login and logout."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from skopeo import api
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions
from skopeo.errors import SkopeoError
from skopeo.policy import Policy, PolicyContext
from skopeo.testing.registry import Registry, self_signed

from .conftest import Runner, fatal_message

ACCEPT = PolicyContext(Policy.accept_anything())


def push(src: str, dest: str, ctx: SystemContext) -> str:
    return api.copy(src, dest, options=CopyOptions(dest_ctx=ctx), policy=ACCEPT).digest


def ca_dir(reg: Registry, tmp_path: Path) -> Path:
    d = tmp_path / "certs"
    d.mkdir(exist_ok=True)
    assert reg.ca is not None
    shutil.copy(reg.ca.cert, d / "ca.crt")
    return d


# --- TLS -------------------------------------------------------------------------------
def test_tls_with_cert_dir(tls_registry: Registry, oci_image: str, tmp_path: Path) -> None:
    certs = ca_dir(tls_registry, tmp_path)
    ctx = SystemContext(cert_dir=str(certs))
    dest = f"docker://{tls_registry.host}/tls/demo:v1"
    digest = push(oci_image, dest, ctx)
    assert api.inspect(dest, ctx)["Digest"] == digest


def test_tls_certs_d_lookup_and_errors(tls_registry: Registry, oci_image: str, tmp_path: Path,
                                       isolated_home: Path) -> None:
    dest = f"docker://{tls_registry.host}/tls/demo:v1"
    with pytest.raises(SkopeoError) as e:
        push(oci_image, dest, SystemContext())
    assert e.value.message.endswith(
        f'pinging container registry {tls_registry.host}: Get "https://{tls_registry.host}/v2/": '
        "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    )
    # --tls-verify=false talks TLS without verifying.
    push(oci_image, dest, SystemContext(tls_verify=False))
    # The per-host certs.d directory under the user's config is found by host:port.
    per_host = isolated_home / ".config" / "containers" / "certs.d" / tls_registry.host
    per_host.mkdir(parents=True)
    assert tls_registry.ca is not None
    shutil.copy(tls_registry.ca.cert, per_host / "ca.crt")
    assert api.inspect(dest, SystemContext())["RepoTags"] == ["v1"]


def test_cert_dir_pair_errors(tls_registry: Registry, tmp_path: Path) -> None:
    certs = ca_dir(tls_registry, tmp_path)
    (certs / "client.cert").write_text("x")
    with pytest.raises(SkopeoError) as e:
        api.inspect(f"docker://{tls_registry.host}/x/y:v1", SystemContext(cert_dir=str(certs)))
    assert e.value.message.endswith(
        "missing key client.key for client certificate client.cert. "
        "Note that CA certificates should use the extension .crt"
    )
    (certs / "client.cert").unlink()
    (certs / "other.key").write_text("x")
    with pytest.raises(SkopeoError) as e:
        api.inspect(f"docker://{tls_registry.host}/x/y:v1", SystemContext(cert_dir=str(certs)))
    assert e.value.message.endswith("missing client certificate other.cert for key other.key")


def test_self_signed_cli_error(skopeo: Runner, registry_factory, tmp_path: Path) -> None:
    from skopeo.testing.registry import CA

    untrusted = CA.create(tmp_path / "untrusted")
    reg = registry_factory(tls=True, ca=untrusted)
    proc = skopeo("inspect", f"docker://{reg.host}/x/y:v1")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).endswith(
        "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    )
    assert self_signed  # the helper is part of the shipped test kit


@pytest.mark.oracle
def test_reference_tool_trusts_the_same_cert_dir(reference_skopeo: Runner, skopeo: Runner, tls_registry: Registry,
                                                 oci_image: str, tmp_path: Path) -> None:
    certs = ca_dir(tls_registry, tmp_path)
    dest = f"docker://{tls_registry.host}/tls/interop:v1"
    skopeo("copy", f"--dest-cert-dir={certs}", oci_image, dest, check=True)
    out = reference_skopeo("inspect", f"--cert-dir={certs}", dest, check=True)
    ours = skopeo("inspect", f"--cert-dir={certs}", dest, check=True)
    assert json.loads(out.stdout)["Digest"] == json.loads(ours.stdout)["Digest"]


# --- Basic auth --------------------------------------------------------------------------
def test_basic_auth(basic_auth_registry: Registry, oci_image: str, tmp_path: Path) -> None:
    certs = ca_dir(basic_auth_registry, tmp_path)
    dest = f"docker://{basic_auth_registry.host}/basic/demo:v1"
    good = SystemContext(cert_dir=str(certs), username="testuser", password="testpassword")
    digest = push(oci_image, dest, good)
    assert api.inspect(dest, good)["Digest"] == digest
    with pytest.raises(SkopeoError) as e:
        api.inspect(dest, SystemContext(cert_dir=str(certs), username="testuser", password="wrong"))
    assert e.value.message.endswith(f"reading manifest v1 in {basic_auth_registry.host}/basic/demo: authentication required")
    with pytest.raises(SkopeoError) as e:
        api.inspect(dest, SystemContext(cert_dir=str(certs)))
    assert e.value.exit_code == 1 and e.value.message.endswith("authentication required")


# --- Bearer tokens -----------------------------------------------------------------------
def test_token_auth_scopes_and_cache(token_registry: Registry, oci_image: str) -> None:
    ts = token_registry.token_server
    assert ts is not None
    ctx = SystemContext(tls_verify=False, username="testuser", password="testpassword")
    dest = f"docker://{token_registry.host}/tok/demo:v1"
    push(oci_image, dest, ctx)
    gets = [r for r in ts.requests if r["method"] == "GET"]
    # One token for the whole push (shared by the parallel blob threads), with the push scope.
    assert len(gets) == 1
    assert gets[0]["query"] == "account=testuser&scope=repository%3Atok%2Fdemo%3Apull%2Cpush&service=test-registry"
    assert gets[0]["user"] == "testuser"
    ts.requests.clear()
    # Anonymous pulls are allowed by this token server; pushes are not.
    anon = SystemContext(tls_verify=False)
    assert api.inspect(dest, anon)["RepoTags"] == ["v1"]
    assert [r["scopes"] for r in ts.requests] == [["repository:tok/demo:pull"], ["repository:tok/demo:pull"]]
    with pytest.raises(SkopeoError) as e:
        push(oci_image, f"docker://{token_registry.host}/tok/other:v1", anon)
    assert "authentication required" in e.value.message or "denied" in e.value.message


def test_token_wrong_password(token_registry: Registry) -> None:
    ctx = SystemContext(tls_verify=False, username="testuser", password="nope")
    with pytest.raises(SkopeoError) as e:
        api.inspect(f"docker://{token_registry.host}/tok/demo:v1", ctx)
    assert e.value.message.endswith(
        "unable to retrieve auth token: invalid username/password: unauthorized: incorrect username or password"
    )


def test_registry_token_and_identity_token(token_registry: Registry, oci_image: str, tmp_path: Path) -> None:
    ts = token_registry.token_server
    assert ts is not None
    dest = f"docker://{token_registry.host}/tok/pre:v1"
    push(oci_image, dest, SystemContext(tls_verify=False, username="testuser", password="testpassword"))
    ts.requests.clear()
    token = ts.make_token("testuser", [{"type": "repository", "name": "tok/pre", "actions": ["pull"]}])
    assert api.inspect(dest, SystemContext(tls_verify=False, registry_token=token), no_tags=True)["Name"]
    assert ts.requests == []  # --registry-token: no token-server round trip
    # An identity token in the auth file is exchanged with a form POST.
    ts.refresh_tokens["refresh-123"] = "testuser"
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {token_registry.host: {"auth": base64.b64encode(b"testuser:").decode(),
                                                                  "identitytoken": "refresh-123"}}}))
    info = api.inspect(dest, SystemContext(tls_verify=False, auth_file=str(authfile)), no_tags=True)
    assert info["Name"] == f"{token_registry.host}/tok/pre"
    posts = [r for r in ts.requests if r["method"] == "POST"]
    assert posts and posts[0]["form"]["grant_type"] == ["refresh_token"]
    assert posts[0]["form"]["client_id"] == ["containers/image"]
    assert posts[0]["form"]["scope"] == ["repository:tok/pre:pull"]


def test_denied_repository(token_registry: Registry, oci_image: str, skopeo: Runner) -> None:
    ts = token_registry.token_server
    assert ts is not None
    dest = f"docker://{token_registry.host}/tok/hidden:v1"
    push(oci_image, dest, SystemContext(tls_verify=False, username="testuser", password="testpassword"))
    ts.deny.add("tok/hidden")
    proc = skopeo("inspect", "--tls-verify=false", "--creds", "testuser:testpassword", dest)
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == (
        f'Error parsing image name "{dest}": reading manifest v1 in {token_registry.host}/tok/hidden: '
        "requested access to the resource is denied"
    )


# --- login / logout ------------------------------------------------------------------------
def read_auth(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_login_logout_cycle(skopeo: Runner, basic_auth_registry: Registry, tmp_path: Path) -> None:
    certs = ca_dir(basic_auth_registry, tmp_path)
    host = basic_auth_registry.host
    authfile = tmp_path / "cfg" / "auth.json"
    base = ["--authfile", str(authfile), "--cert-dir", str(certs)]
    proc = skopeo("login", *base, "-u", "testuser", "--password-stdin", host, input="wrong\n")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == f'logging into "{host}": invalid username/password'
    # Every stdin line is part of the password (upstream concatenates them).
    proc = skopeo("login", *base, "-u", "testuser", "--password-stdin", host, input="testpass\nword\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Login Succeeded!\n"
    text = authfile.read_text()
    expected = {"auths": {host: {"auth": base64.b64encode(b"testuser:testpassword").decode()}}}
    assert text == json.dumps(expected, indent="\t")
    assert stat.S_IMODE(os.stat(authfile).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(authfile.parent).st_mode) == 0o700
    assert skopeo("login", "--authfile", str(authfile), "--get-login", host).stdout == "testuser\n"
    # Stored credentials are re-checked when no new ones are given.
    proc = skopeo("login", *base, host, input="")
    assert proc.stdout == (
        f"Authenticating with existing credentials for {host}\nExisting credentials are valid. Already logged in to {host}\n"
    )
    # The stored credentials are used by other commands.
    proc = skopeo("inspect", "--authfile", str(authfile), "--cert-dir", str(certs), f"docker://{host}/x/y:v1")
    assert "manifest unknown" in fatal_message(proc.stderr)
    proc = skopeo("logout", "--authfile", str(authfile), host)
    assert proc.stdout == f"Removed login credentials for {host}\n"
    assert read_auth(authfile) == {"auths": {}}
    proc = skopeo("logout", "--authfile", str(authfile), host)
    assert proc.returncode == 1 and fatal_message(proc.stderr) == f"not logged into {host}"
    proc = skopeo("login", "--authfile", str(authfile), "--get-login", host)
    assert proc.returncode == 1 and fatal_message(proc.stderr) == f"not logged into {host}"


def test_login_token_registry_preserves_other_keys(skopeo: Runner, token_registry: Registry, tmp_path: Path) -> None:
    host = token_registry.host
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {"other.example": {"auth": "b3RoZXI6cHc="}}, "credHelpers": {}}))
    proc = skopeo("login", "--authfile", str(authfile), "--tls-verify=false", "-u", "testuser", "-p", "testpassword",
                  "-v", f"{host}/ns/repo")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"Used:  {authfile}\nLogin Succeeded!\n"
    data = read_auth(authfile)
    assert set(data["auths"]) == {"other.example", f"{host}/ns/repo"}  # type: ignore[arg-type]
    assert "credHelpers" in data
    proc = skopeo("logout", "--authfile", str(authfile), "--all")
    assert proc.stdout == "Removed login credentials for all registries\n"
    assert read_auth(authfile)["auths"] == {}


def test_login_argument_errors(skopeo: Runner) -> None:
    cases = [
        ([], "please provide a registry to log in to"),
        (["a.example", "b.example"], "login accepts only one registry to log in to"),
        (["a.example/ns:tag"], 'reference "a.example/ns:tag" contains tag or digest'),
        # Upstream main's wording (1.9.3 capitalized both).
        (["--password-stdin", "a.example"], "must provide --username with --password-stdin"),
        (["-u", "x", "-p", "y", "--password-stdin", "a.example"], "can't specify both --password-stdin and --password"),
    ]
    for args, message in cases:
        proc = skopeo("login", *args, input="")
        assert proc.returncode == 1, args
        assert fatal_message(proc.stderr) == message
    proc = skopeo("logout", "--all", "x.example")
    assert fatal_message(proc.stderr) == "--all takes no arguments"


@pytest.mark.oracle
def test_login_file_matches_reference(skopeo: Runner, reference_skopeo: Runner, token_registry: Registry,
                                      tmp_path: Path) -> None:
    host = token_registry.host
    ours, theirs = tmp_path / "ours" / "auth.json", tmp_path / "theirs" / "auth.json"
    skopeo("login", "--authfile", str(ours), "--tls-verify=false", "-u", "testuser", "-p", "testpassword", host,
           check=True)
    reference_skopeo("login", "--authfile", str(theirs), "--tls-verify=false", "-u", "testuser", "-p", "testpassword",
                     host, check=True)
    assert ours.read_bytes() == theirs.read_bytes()
    assert stat.S_IMODE(os.stat(ours).st_mode) == stat.S_IMODE(os.stat(theirs).st_mode)


@pytest.mark.oracle
@pytest.mark.parametrize("auth", ["!!notb64", "dXNlcjpwYXNz=", "dXNlcjpwYXN", "dXNl=jpw"])
def test_malformed_auth_entry_is_an_error(skopeo: Runner, reference_skopeo: Runner, registry: Registry,
                                          tmp_path: Path, auth: str) -> None:
    """A broken ``auth`` value is reported (Go's base64 error), not silently
    replaced by an anonymous request."""
    path = tmp_path / "garbage.json"
    path.write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))
    args = ("inspect", "--raw", "--tls-verify=false", "--authfile", str(path), f"docker://{registry.host}/a/b:c")
    ours, theirs = skopeo(*args), reference_skopeo(*args)
    assert ours.returncode == theirs.returncode == 1
    # Upstream main reports the one error as it is; 1.9.3 wrapped it in a multierror.
    wrapped = fatal_message(theirs.stderr)
    assert "getting username and password: 1 error occurred:\\n\\t* " in wrapped
    assert fatal_message(ours.stderr) == wrapped.replace("1 error occurred:\\n\\t* ", "").removesuffix("\\n\\n")
    good = base64.b64encode(b"user:pass").decode()
    path.write_text(json.dumps({"auths": {registry.host: {"auth": good}}}))
    assert "illegal base64" not in skopeo(*args).stderr


def test_logout_needs_the_named_credential_file(skopeo: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.json"
    for flag in ("--authfile", "--compat-auth-file"):
        proc = skopeo("logout", flag, str(missing), "example.com")
        assert proc.returncode == 1
        assert fatal_message(proc.stderr) == (
            f"credential file is not accessible: faccessat {missing}: no such file or directory"
        )


@pytest.mark.oracle
@pytest.mark.parametrize(("args", "stdin"), [
    (["-u", "user"], "pass\n"),
    ([], ""),
    ([], "user\n"),
    (["--password-stdin", "-u", "user"], ""),
])
def test_login_prompts_without_a_terminal(skopeo: Runner, reference_skopeo: Runner, args: list[str],
                                          stdin: str) -> None:
    """No password given and no terminal: upstream cannot read it with echo off."""
    ours = skopeo("login", *args, "localhost:1", input=stdin)
    theirs = reference_skopeo("login", *args, "localhost:1", input=stdin)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)


@pytest.mark.oracle
def test_missing_xdg_runtime_dir(skopeo: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$XDG_RUNTIME_DIR naming a directory that does not exist: writing the
    credential file fails with upstream's hint, reading only warns (upstream
    main's texts: 1.9.3 said "stat" and wrapped the error in a multierror)."""
    run = tmp_path / "no-such-run"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    hint = (f'"{run}" directory set by $XDG_RUNTIME_DIR does not exist. Either create the directory or unset '
            f"$XDG_RUNTIME_DIR.: faccessat {run}: no such file or directory")
    for args, message in ((["logout", "--all"], hint), (["logout", "localhost:1"], f'logging out of "localhost:1": {hint}'),
                          (["login", "--get-login", "localhost:1"], "not logged into localhost:1")):
        ours = skopeo(*args)
        assert ours.returncode == 1, args
        assert fatal_message(ours.stderr) == message, args
    warnings = [line.split("msg=", 1)[1] for line in skopeo("login", "--get-login", "localhost:1").stderr.splitlines()
                if "level=warning" in line]
    assert [w.replace('\\"', '"') for w in warnings] == [f'"{hint}: Trying to pull image in the event that it is a public image."']
    assert not (tmp_path / "no-such-run").exists()
