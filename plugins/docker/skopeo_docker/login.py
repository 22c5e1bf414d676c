"""``login`` and ``logout``: credential keys, the registry check, and storing or
removing credentials through the credential providers (:mod:`skopeo.auth`: a
vendor's, registries.conf ``credential-helpers``, the auth files).

Output goes to the *out* stream given by the caller (stdout in the CLI)."""

from __future__ import annotations

import getpass
import os
import sys
import urllib.parse
from dataclasses import dataclass, replace
from typing import TextIO

from skopeo import auth, authfile, log
from skopeo.auth import Credentials
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError, UsageError
from skopeo.golang.oserror import path_error_text
from skopeo.reference import parse_normalized

DOCKER_IO_COMPAT_KEY = "https://index.docker.io/v1/"


def parse_credentials_key(arg: str) -> tuple[str, str]:
    """(key, registry) for a ``login``/``logout`` argument: URLs are reduced to
    ``host[:port]``; ``host/ns/repo`` keys are validated (no tag or digest)."""
    key = arg
    if arg.startswith(("https://", "http://")):
        key = urllib.parse.urlsplit(arg).netloc
    registry = key.split("/", 1)[0]
    if registry == key:
        return key, registry
    try:
        ref = parse_normalized(key)
    except SkopeoError as e:
        raise e.wrap(f'parse reference from "{key}"') from None
    if not ref.is_name_only:
        raise SkopeoError(f'reference "{ref}" contains tag or digest')
    if ref.domain != registry:
        raise SkopeoError(f'internal error: key "{key}" registry mismatch, "{ref}" vs. "{ref.domain}"')
    return key, registry


def lookup(ctx: SystemContext, key: str) -> Credentials:
    """Stored credentials for *key* (``host`` or ``host/ns/repo``) from every source."""
    registry = key.split("/", 1)[0]
    lookup_ctx = replace(ctx, username=None, password=None, identity_token=None, no_creds=False)
    try:
        return auth.resolve(lookup_ctx, registry, key if "/" in key else None)
    except SkopeoError as e:
        raise e.wrap("get credentials") from None


def check_auth(ctx: SystemContext, registry: str, username: str, password: str) -> None:
    """Raise unless the registry accepts these credentials (``GET /v2/``)."""
    from .client import new_registry_client

    client = new_registry_client(ctx, registry, Credentials(username, password))
    client.check_auth()


@dataclass
class LoginOptions:
    username: str = ""
    password: str = ""
    password_stdin: bool = False
    get_login: bool = False
    verbose: bool = False
    compat_auth_file: str = ""


def _compat_key(key: str) -> str:
    return DOCKER_IO_COMPAT_KEY if key == "docker.io" else key


def store(ctx: SystemContext, key: str, username: str, password: str, compat_auth_file: str = "") -> str:
    """Store credentials where the credential providers say (the first that
    serves the registry; by default the primary auth file); returns where."""
    if compat_auth_file:
        authfile.store_in_file(compat_auth_file, _compat_key(key), username, password)
        return compat_auth_file
    return auth.store(ctx, key, Credentials(username, password))


def _read_password_stdin(stdin: TextIO) -> str:
    # Every line is concatenated without its newline (Go's bufio.Scanner loop).
    return "".join(line.rstrip("\r\n") for line in stdin)


def _prompt(opts: LoginOptions, password: str, stored_user: str, stdin: TextIO, out: TextIO) -> tuple[str, str]:
    username = opts.username
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
    return username.strip(), password


def login(
    ctx: SystemContext, args: list[str], opts: LoginOptions, stdin: TextIO, out: TextIO
) -> None:
    from .registry_errors import UnauthorizedForCredentialsError

    if opts.compat_auth_file and ctx.auth_file:
        raise UsageError("options for paths to the credential file and to the Docker-compatible credential file can not be set simultaneously")
    if not args:
        raise UsageError("please provide a registry to log in to")
    if len(args) > 1:
        raise UsageError("login accepts only one registry to log in to")
    key, registry = parse_credentials_key(args[0])
    lookup_ctx = replace(ctx, auth_file=opts.compat_auth_file) if opts.compat_auth_file else ctx
    stored = lookup(lookup_ctx, key)
    if opts.get_login:
        if not stored.username:
            raise SkopeoError(f"not logged into {key}")
        out.write(stored.username + "\n")
        return
    if stored.identity_token:
        raise SkopeoError("currently logged in, auth file contains an Identity token")
    password = opts.password
    if opts.password_stdin:
        if opts.password:
            raise UsageError("can't specify both --password-stdin and --password")
        if not opts.username:
            raise UsageError("must provide --username with --password-stdin")
        password = _read_password_stdin(stdin)
    if not opts.username and not password and stored.username and stored.password:
        out.write(f"Authenticating with existing credentials for {key}\n")
        try:
            check_auth(ctx, registry, stored.username, stored.password)
        except SkopeoError:
            out.write("Existing credentials are invalid, please enter valid username and password\n")
        else:
            out.write(f"Existing credentials are valid. Already logged in to {registry}\n")
            return
    username, password = _prompt(opts, password, stored.username, stdin, out)
    try:
        check_auth(ctx, registry, username, password)
    except UnauthorizedForCredentialsError as e:
        log.debug(f'error logging into "{key}": {e}')
        raise SkopeoError(f'logging into "{key}": invalid username/password') from None
    except SkopeoError as e:
        raise e.wrap(f'authenticating creds for "{key}"') from None
    where = store(ctx, key, username, password, opts.compat_auth_file)
    if opts.verbose:
        out.write(f"Used:  {where}\n")
    out.write("Login Succeeded!\n")


def logout(
    ctx: SystemContext, args: list[str], all_registries: bool, out: TextIO, compat_auth_file: str = ""
) -> None:
    if compat_auth_file and ctx.auth_file:
        raise UsageError("options for paths to the credential file and to the Docker-compatible credential file can not be set simultaneously")
    for path in (ctx.auth_file, compat_auth_file):
        if path:
            _check_auth_file(path)
    if all_registries:
        if args:
            raise UsageError("--all takes no arguments")
        if compat_auth_file:
            authfile.remove_all_from_file(compat_auth_file)
        else:
            auth.erase_all(ctx)
        out.write("Removed login credentials for all registries\n")
        return
    if not args:
        raise UsageError("please provide a registry to log out from")
    if len(args) > 1:
        raise UsageError("logout accepts only one registry to log out from")
    key, registry = parse_credentials_key(args[0])
    if compat_auth_file:
        removed = authfile.remove_from_file(compat_auth_file, _compat_key(key))
    else:
        try:
            removed = auth.erase(ctx, key)
        except SkopeoError as e:
            raise e.wrap(f'logging out of "{key}"') from None
    if removed:
        out.write(f"Removed login credentials for {key}\n")
        return
    stored = lookup(ctx, key)
    if stored.username and stored.password:
        try:
            check_auth(ctx, registry, stored.username, stored.password)
        except SkopeoError:
            pass
        else:
            out.write(
                f"Not logged into {key} with current tool. Existing credentials were established via docker login. "
                "Please use docker logout instead.\n"
            )
            return
    raise SkopeoError(f"not logged into {key}")


def _check_auth_file(path: str) -> None:
    """As upstream's logout: a credential file named explicitly must exist."""
    try:
        os.stat(path)
    except OSError as e:
        raise SkopeoError(f"credential file is not accessible: {path_error_text('faccessat', path, e)}") from None
