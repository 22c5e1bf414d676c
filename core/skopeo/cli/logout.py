"""``skopeo logout``."""

from __future__ import annotations

import sys

from .app import BOOL, OPTBOOL, STR, Command, Flag, Options
from .login import FLAGS as LOGIN_FLAGS
from .login import context, login_module

FLAGS = [
    LOGIN_FLAGS[0],  # --authfile
    Flag("compat-auth-file", STR, "path of a Docker-compatible config file to update instead"),
    Flag("all", BOOL, "Remove the cached credentials for all registries in the auth file", short="a"),
    Flag("tls-verify", OPTBOOL, "require HTTPS and verify certificates when accessing the registry"),
]


def run(opts: Options) -> int:
    login = login_module()
    login.logout(context(opts), list(opts.args), bool(opts.all), sys.stdout, opts.compat_auth_file or "")
    sys.stdout.flush()
    return 0


COMMAND = Command(
    name="logout",
    short="Logout of a container registry",
    long="Logout of a container registry on a specified server.",
    usage="logout [command options] REGISTRY",
    examples="skopeo logout quay.io",
    flags=FLAGS,
    run=run,
)
