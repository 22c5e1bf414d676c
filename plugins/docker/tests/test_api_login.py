"""``skopeo.api.login``/``get_login``/``logout`` and their Session methods,
against a real htpasswd registry (HTTPS, Basic auth) and real auth files."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from skopeo import api
from skopeo.context import SystemContext
from skopeo.errors import InvalidCredentialsError, NotLoggedInError, SkopeoError, UsageError
from skopeo.results import LoginResult, LogoutResult
from skopeo.session import Session
from skopeo.testing.registry import Registry

from .test_auth_tls import ca_dir, push

USER, PASSWORD = "testuser", "testpassword"


@pytest.fixture
def ctx(basic_auth_registry: Registry, tmp_path: Path) -> SystemContext:
    return SystemContext(auth_file=str(tmp_path / "auth.json"), cert_dir=str(ca_dir(basic_auth_registry, tmp_path)))


def test_login_get_login_logout(basic_auth_registry: Registry, ctx: SystemContext, oci_image: str) -> None:
    host = basic_auth_registry.host
    with pytest.raises(InvalidCredentialsError, match=f'logging into "{host}": invalid username/password'):
        api.login(host, USER, "wrong", ctx=ctx)
    assert not Path(str(ctx.auth_file)).exists()
    result = api.login(f"https://{host}", USER, PASSWORD, ctx=ctx)
    assert result == LoginResult(host, host, USER, str(ctx.auth_file))
    auths = json.loads(Path(str(ctx.auth_file)).read_text())["auths"]
    assert auths == {host: {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}}
    assert api.get_login(host, ctx=ctx) == USER
    # No credentials given: the stored ones are checked and reused; the lines go to *report*.
    report = io.StringIO()
    assert api.login(host, ctx=ctx, report=report).reused
    assert report.getvalue() == (f"Authenticating with existing credentials for {host}\n"
                                 f"Existing credentials are valid. Already logged in to {host}\n")
    # Other calls use them.
    push(oci_image, f"docker://{host}/team/app:v1", ctx)
    assert api.list_tags(f"docker://{host}/team/app", ctx).tags == ["v1"]
    assert api.logout(host, ctx=ctx) == LogoutResult(host)
    with pytest.raises(NotLoggedInError, match=f"not logged into {host}"):
        api.logout(host, ctx=ctx)
    with pytest.raises(NotLoggedInError):
        api.get_login(host, ctx=ctx)


def test_login_asks_the_prompt_for_what_is_missing(basic_auth_registry: Registry, ctx: SystemContext) -> None:
    host = basic_auth_registry.host
    with pytest.raises(SkopeoError, match="no username and password given, and no valid stored credentials"):
        api.login(host, ctx=ctx)
    asked: list[tuple[str, str, str]] = []

    def prompt(username: str, password: str, stored_username: str) -> tuple[str, str]:
        asked.append((username, password, stored_username))
        return f" {USER} ", PASSWORD  # the user name is stripped, as the command does

    assert api.login(f"{host}/ns/repo", USER, ctx=ctx, prompt=prompt).key == f"{host}/ns/repo"
    assert asked == [(USER, "", "")]
    assert api.login(host, ctx=ctx, prompt=prompt).username == USER
    assert asked[-1] == ("", "", "")
    assert api.logout(all_registries=True, ctx=ctx) == LogoutResult(None)
    assert json.loads(Path(str(ctx.auth_file)).read_text())["auths"] == {}


def test_argument_errors(tmp_path: Path) -> None:
    ctx = SystemContext(auth_file=str(tmp_path / "auth.json"))
    with pytest.raises(UsageError, match="can not be set simultaneously"):
        api.login("x.example", "u", "p", ctx=ctx, compat_auth_file=str(tmp_path / "c.json"))
    with pytest.raises(SkopeoError, match=r'reference "x\.example/a:tag" contains tag or digest'):
        api.login("x.example/a:tag", "u", "p", ctx=ctx)
    with pytest.raises(SkopeoError, match="credential file is not accessible"):
        api.logout("x.example", ctx=ctx)
    Path(str(ctx.auth_file)).write_text("{}")
    with pytest.raises(UsageError, match="--all takes no arguments"):
        api.logout("x.example", all_registries=True, ctx=ctx)
    with pytest.raises(UsageError, match="please provide a registry to log out from"):
        api.logout(ctx=ctx)


def test_session_login_replaces_remembered_credentials(basic_auth_registry: Registry, ctx: SystemContext,
                                                       oci_image: str) -> None:
    """A session remembers what the providers answered; its login and logout forget it."""
    host = basic_auth_registry.host
    push(oci_image, f"docker://{host}/team/app:v1", SystemContext(
        cert_dir=ctx.cert_dir, username=USER, password=PASSWORD))
    with Session(ctx) as session:
        with pytest.raises(SkopeoError):  # anonymous: refused
            session.list_tags(f"docker://{host}/team/app")
        assert session.login(host, USER, PASSWORD).stored_in == ctx.auth_file
        assert session.get_login(host) == USER
        assert session.list_tags(f"docker://{host}/team/app").tags == ["v1"]
        assert session.logout(host).removed
        with pytest.raises(SkopeoError):
            session.list_tags(f"docker://{host}/team/app")
