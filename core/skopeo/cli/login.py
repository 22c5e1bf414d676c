"""``skopeo login`` (the registry check and storage live in the docker plugin)."""

from __future__ import annotations

import sys
from typing import Any

from ..context import SystemContext
from ..errors import PluginError
from .app import BOOL, OPTBOOL, STR, Command, Flag, Options

FLAGS = [
    # Without a default, as upstream (REGISTRY_AUTH_FILE is read when the file is looked for).
    Flag("authfile", STR, "path of the authentication file. Use REGISTRY_AUTH_FILE environment variable to override"),
    Flag("compat-auth-file", STR, "path of a Docker-compatible config file to update instead"),
    Flag("cert-dir", STR, "use certificates at the specified path to access the registry"),
    Flag("tls-verify", OPTBOOL, "require HTTPS and verify certificates when accessing the registry"),
    Flag("get-login", BOOL, "Return the current login user for the registry"),
    Flag("password", STR, "Password for registry", short="p"),
    Flag("password-stdin", BOOL, "Take the password from stdin"),
    Flag("username", STR, "Username for registry", short="u"),
    Flag("verbose", BOOL, "Write more detailed information to stdout", short="v"),
]


def login_module() -> Any:
    import importlib

    try:
        login = importlib.import_module("skopeo_docker.login")
    except ImportError:
        raise PluginError("login needs the docker transport (pip install skopeo-docker)") from None
    return login


def context(opts: Options) -> SystemContext:
    """Only what login/logout use: auth file, TLS and registries.conf (their
    ``--username``/``--password`` are the credentials to store, not to use)."""
    from dataclasses import replace

    from .options import system_context

    bare = Options({k: v for k, v in opts.items() if k not in ("username", "password")})
    return replace(system_context(bare), no_creds=False)


def run(opts: Options) -> int:
    login = login_module()
    ctx = context(opts)
    login.login(
        ctx,
        list(opts.args),
        login.LoginOptions(
            username=opts.username or "",
            password=opts.password or "",
            password_stdin=bool(opts.password_stdin),
            get_login=bool(opts.get_login),
            verbose=bool(opts.verbose),
            compat_auth_file=opts.compat_auth_file or "",
        ),
        sys.stdin,
        sys.stdout,
    )
    sys.stdout.flush()
    return 0


COMMAND = Command(
    name="login",
    short="Login to a container registry",
    long="Login to a container registry on a specified server.",
    usage="login [command options] REGISTRY",
    examples="skopeo login quay.io",
    flags=FLAGS,
    run=run,
)
