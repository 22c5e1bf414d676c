"""``login`` and ``logout`` as :mod:`skopeo.api` calls (registered through
``register_api_calls``): credential keys, the registry check, and storing or
removing credentials through the credential providers (:mod:`skopeo.auth`: a
vendor's, registries.conf ``credential-helpers``, the auth files).  The
commands (:mod:`.commands`) are a layer over these calls; nothing here prints
except the lines login writes to the *report* stream it is given."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from typing import TextIO

from skopeo import auth, authfile, log
from skopeo.auth import Credentials
from skopeo.context import SystemContext
from skopeo.errors import InvalidCredentialsError, NotLoggedInError, SkopeoError, UsageError
from skopeo.golang.oserror import path_error_text
from skopeo.reference import parse_normalized
from skopeo.results import LoginResult, LogoutResult

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


def _compat_key(key: str) -> str:
    return DOCKER_IO_COMPAT_KEY if key == "docker.io" else key


def store(ctx: SystemContext, key: str, username: str, password: str, compat_auth_file: str = "") -> str:
    """Store credentials where the credential providers say (the first that
    serves the registry; by default the primary auth file); returns where."""
    if compat_auth_file:
        authfile.store_in_file(compat_auth_file, _compat_key(key), username, password)
        return compat_auth_file
    return auth.store(ctx, key, Credentials(username, password))


def check_auth_file_options(ctx: SystemContext, compat_auth_file: str) -> None:
    """The first check of both commands: --authfile and --compat-auth-file exclude each other."""
    if compat_auth_file and ctx.auth_file:
        raise UsageError("options for paths to the credential file and to the Docker-compatible credential file can not be set simultaneously")


def check_logout_files(ctx: SystemContext, compat_auth_file: str) -> None:
    """As upstream's logout: a credential file named explicitly must exist."""
    check_auth_file_options(ctx, compat_auth_file)
    for path in (ctx.auth_file, compat_auth_file):
        if path:
            _check_auth_file(path)


def _stored(ctx: SystemContext, key: str, compat_auth_file: str) -> Credentials:
    return lookup(replace(ctx, auth_file=compat_auth_file) if compat_auth_file else ctx, key)


def get_login(registry_arg: str, ctx: SystemContext, compat_auth_file: str) -> str:
    """``skopeo.api.get_login``."""
    check_auth_file_options(ctx, compat_auth_file)
    key, _ = parse_credentials_key(registry_arg)
    stored = _stored(ctx, key, compat_auth_file)
    if not stored.username:
        raise NotLoggedInError(f"not logged into {key}")
    return stored.username


Prompt = Callable[[str, str, str], tuple[str, str]]


def login(registry_arg: str, username: str, password: str, ctx: SystemContext, compat_auth_file: str,
          prompt: Prompt | None, report: TextIO | None) -> LoginResult:
    """``skopeo.api.login``, in upstream's order of checks and messages."""
    from .registry_errors import UnauthorizedForCredentialsError

    check_auth_file_options(ctx, compat_auth_file)
    key, registry = parse_credentials_key(registry_arg)
    stored = _stored(ctx, key, compat_auth_file)
    if stored.identity_token:
        raise SkopeoError("currently logged in, auth file contains an Identity token")
    if not username and not password and stored.username and stored.password:
        _say(report, f"Authenticating with existing credentials for {key}\n")
        try:
            check_auth(ctx, registry, stored.username, stored.password)
        except SkopeoError:
            _say(report, "Existing credentials are invalid, please enter valid username and password\n")
        else:
            _say(report, f"Existing credentials are valid. Already logged in to {registry}\n")
            return LoginResult(key, registry, stored.username, stored.source, reused=True)
    if not username or not password:
        if prompt is None:
            raise SkopeoError(f'logging into "{key}": no username and password given, and no valid stored credentials')
        username, password = prompt(username, password, stored.username)
    username = username.strip()
    try:
        check_auth(ctx, registry, username, password)
    except UnauthorizedForCredentialsError as e:
        log.debug(f'error logging into "{key}": {e}')
        raise InvalidCredentialsError(f'logging into "{key}": invalid username/password') from None
    except SkopeoError as e:
        raise e.wrap(f'authenticating creds for "{key}"') from None
    return LoginResult(key, registry, username, store(ctx, key, username, password, compat_auth_file))


def _say(report: TextIO | None, line: str) -> None:
    if report is not None:
        report.write(line)
        report.flush()


def logout(registry_arg: str | None, all_registries: bool, ctx: SystemContext, compat_auth_file: str) -> LogoutResult:
    """``skopeo.api.logout``, in upstream's order of checks."""
    check_logout_files(ctx, compat_auth_file)
    if all_registries:
        if registry_arg is not None:
            raise UsageError("--all takes no arguments")
        if compat_auth_file:
            authfile.remove_all_from_file(compat_auth_file)
        else:
            auth.erase_all(ctx)
        return LogoutResult(None)
    if registry_arg is None:
        raise UsageError("please provide a registry to log out from")
    key, registry = parse_credentials_key(registry_arg)
    if compat_auth_file:
        removed = authfile.remove_from_file(compat_auth_file, _compat_key(key))
    else:
        try:
            removed = auth.erase(ctx, key)
        except SkopeoError as e:
            raise e.wrap(f'logging out of "{key}"') from None
    if removed:
        return LogoutResult(key)
    stored = lookup(ctx, key)
    if stored.username and stored.password:
        try:
            check_auth(ctx, registry, stored.username, stored.password)
        except SkopeoError:
            pass
        else:
            return LogoutResult(key, removed=False)  # established by docker login
    raise NotLoggedInError(f"not logged into {key}")


def _check_auth_file(path: str) -> None:
    """As upstream's logout: a credential file named explicitly must exist."""
    try:
        os.stat(path)
    except OSError as e:
        raise SkopeoError(f"credential file is not accessible: {path_error_text('faccessat', path, e)}") from None
