"""``skopeo login`` and ``skopeo logout``, declared with typer (skopeo's core
runs them with pflag's grammar and cobra's texts; see the core's
``skopeo.cli.typer_bridge``).  Each is a layer over its :mod:`skopeo.api`
call (argument counts, ``--password-stdin``, the terminal prompt, the
result's lines); flags, help and usage are upstream's."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, TextIO

import typer

from skopeo import api
from skopeo.cli.invocation import Invocation
from skopeo.errors import SkopeoError, UsageError

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
    from .login import check_auth_file_options

    invocation: Invocation = ctx.obj
    # --username/--password are what to store, not credentials to log in with.
    sys_ctx = invocation.system_context(authfile=authfile, cert_dir=cert_dir, tls_verify=tls_verify)
    compat = compat_auth_file or ""
    check_auth_file_options(sys_ctx, compat)
    if not registry:
        raise UsageError("please provide a registry to log in to")
    if len(registry) > 1:
        raise UsageError("login accepts only one registry to log in to")
    out = sys.stdout
    if get_login:
        out.write(api.get_login(registry[0], ctx=sys_ctx, compat_auth_file=compat) + "\n")
        return
    if password_stdin:
        if password:
            raise UsageError("can't specify both --password-stdin and --password")
        if not username:
            raise UsageError("must provide --username with --password-stdin")
        password = _read_password_stdin(sys.stdin)

    def prompt(user: str, secret: str, stored_user: str) -> tuple[str, str]:
        return _prompt(user, secret, stored_user, sys.stdin, out)

    result = api.login(registry[0], username, password, ctx=sys_ctx, compat_auth_file=compat, prompt=prompt,
                       report=out)
    if not result.reused:
        if verbose:
            out.write(f"Used:  {result.stored_in}\n")
        out.write("Login Succeeded!\n")
    out.flush()


def _read_password_stdin(stdin: TextIO) -> str:
    # Every line is concatenated without its newline (Go's bufio.Scanner loop).
    return "".join(line.rstrip("\r\n") for line in stdin)


def _prompt(username: str, password: str, stored_user: str, stdin: TextIO, out: TextIO) -> tuple[str, str]:
    """The missing user name and password, asked on the terminal as upstream does."""
    if not username:
        out.write(f"Username ({stored_user}): " if stored_user else "Username: ")
        out.flush()
        line = stdin.readline()
        if not line:
            raise SkopeoError("getting username and password: reading username: EOF")
        username = line.strip() or stored_user
    if not password:
        out.write("Password: ")
        out.flush()
        if not stdin.isatty():
            # Upstream reads it with terminal echo off, which a pipe cannot do
            # (--password-stdin is the way to pass one).
            raise SkopeoError("getting username and password: reading password: inappropriate ioctl for device")
        password = getpass.getpass(prompt="", stream=sys.stderr)
        out.write("\n")
    return username, password


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
    from .login import check_logout_files

    invocation: Invocation = ctx.obj
    sys_ctx = invocation.system_context(authfile=authfile, tls_verify=tls_verify)
    compat = compat_auth_file or ""
    check_logout_files(sys_ctx, compat)
    if all_registries and registry:
        raise UsageError("--all takes no arguments")
    if registry and len(registry) > 1:
        raise UsageError("logout accepts only one registry to log out from")
    result = api.logout(registry[0] if registry else None, all_registries=all_registries, ctx=sys_ctx,
                        compat_auth_file=compat)
    if result.key is None:
        sys.stdout.write("Removed login credentials for all registries\n")
    elif result.removed:
        sys.stdout.write(f"Removed login credentials for {result.key}\n")
    else:
        sys.stdout.write(f"Not logged into {result.key} with current tool. Existing credentials were established "
                         "via docker login. Please use docker logout instead.\n")
    sys.stdout.flush()
