"""``skopeo login`` and ``skopeo logout``, declared with typer (skopeo's core
runs them with pflag's grammar and cobra's texts; see the core's
``skopeo.cli.typer_bridge``).  The work is in :mod:`.login`; flags, help and
usage are upstream's."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from skopeo.cli.invocation import Invocation

app = typer.Typer()

AUTHFILE_HELP = "path of the authentication file. Use REGISTRY_AUTH_FILE environment variable to override"
COMPAT_AUTH_FILE_HELP = "path of a Docker-compatible config file to update instead"
TLS_VERIFY_HELP = "require HTTPS and verify certificates when accessing the registry"

# Upstream checks the number of registries itself ("please provide a registry …").
Registries = Annotated[list[str] | None, typer.Argument(metavar="REGISTRY")]
AuthFile = Annotated[str | None, typer.Option(help=AUTHFILE_HELP)]
CompatAuthFile = Annotated[str | None, typer.Option(help=COMPAT_AUTH_FILE_HELP)]
TlsVerify = Annotated[bool | None, typer.Option(help=TLS_VERIFY_HELP)]


@app.command("login", short_help="Login to a container registry",
             help="Login to a container registry on a specified server.", epilog="skopeo login quay.io")
def login_command(
    ctx: typer.Context,
    registry: Registries = None,
    authfile: AuthFile = None,
    compat_auth_file: CompatAuthFile = None,
    cert_dir: Annotated[str | None, typer.Option(
        help="use certificates at the specified path to access the registry")] = None,
    tls_verify: TlsVerify = None,
    get_login: Annotated[bool, typer.Option(help="Return the current login user for the registry")] = False,
    password: Annotated[str | None, typer.Option("--password", "-p", help="Password for registry")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Take the password from stdin")] = False,
    username: Annotated[str | None, typer.Option("--username", "-u", help="Username for registry")] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Write more detailed information to stdout")] = False,
) -> None:
    from . import login

    invocation: Invocation = ctx.obj
    # --username/--password are what to store, not credentials to log in with.
    sys_ctx = invocation.system_context(authfile=authfile, cert_dir=cert_dir, tls_verify=tls_verify)
    options = login.LoginOptions(username=username or "", password=password or "", password_stdin=password_stdin,
                                 get_login=get_login, verbose=verbose, compat_auth_file=compat_auth_file or "")
    login.login(sys_ctx, registry or [], options, sys.stdin, sys.stdout)
    sys.stdout.flush()


@app.command("logout", short_help="Logout of a container registry",
             help="Logout of a container registry on a specified server.", epilog="skopeo logout quay.io")
def logout_command(
    ctx: typer.Context,
    registry: Registries = None,
    authfile: AuthFile = None,
    compat_auth_file: CompatAuthFile = None,
    all_registries: Annotated[bool, typer.Option(
        "--all", "-a", help="Remove the cached credentials for all registries in the auth file")] = False,
    tls_verify: TlsVerify = None,
) -> None:
    from . import login

    invocation: Invocation = ctx.obj
    sys_ctx = invocation.system_context(authfile=authfile, tls_verify=tls_verify)
    login.logout(sys_ctx, registry or [], all_registries, sys.stdout, compat_auth_file or "")
    sys.stdout.flush()
