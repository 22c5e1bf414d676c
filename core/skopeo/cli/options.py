"""Flag groups shared by several commands (upstream's Group D, I, R, C) and the
conversion of parsed flags into :class:`~skopeo.context.SystemContext`,
policy and retry settings."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..context import SystemContext
from ..errors import UsageError
from .app import BOOL, DURATION, INT, OPTBOOL, STR, Flag, Options

if TYPE_CHECKING:
    from ..policy import PolicyContext


def registry_flags(prefix: str = "", creds_alias: str = "") -> list[Flag]:
    """Group D (upstream's dockerImageFlags): registry access, with ``src-``/``dest-``
    prefixes for copy/sync, whose old ``--screds``/``--dcreds`` are *creds_alias*."""
    flags = []
    if prefix:  # the unprefixed --authfile is authfile_flag()
        flags.append(Flag(f"{prefix}authfile", STR, AUTHFILE_HELP))
    flags += [
        Flag(f"{prefix}creds", STR, "Use `USERNAME[:PASSWORD]` for accessing the registry"),
        Flag(f"{prefix}username", STR, "Username for accessing the registry"),
        Flag(f"{prefix}password", STR, "Password for accessing the registry"),
    ]
    if creds_alias:
        flags.append(Flag(creds_alias, STR, "Use `USERNAME[:PASSWORD]` for accessing the registry", hidden=True))
    return [
        *flags,
        Flag(f"{prefix}registry-token", STR, "Provide a Bearer token for accessing the registry"),
        Flag(f"{prefix}cert-dir", STR, "use certificates at `PATH` (*.crt, *.cert, *.key) to connect to the registry or daemon"),
        Flag(f"{prefix}tls-verify", OPTBOOL, "require HTTPS and verify certificates when talking to the container registry or daemon"),
        Flag(f"{prefix}no-creds", BOOL, "Access the registry anonymously"),
    ]


AUTHFILE_HELP = "path of the registry credentials file. Default is ${XDG_RUNTIME_DIR}/containers/auth.json"


def authfile_flag() -> Flag:
    return Flag("authfile", STR, AUTHFILE_HELP, default=os.environ.get("REGISTRY_AUTH_FILE") or None)


def deprecated_tls_verify_flag() -> Flag:
    """The per-command ``--tls-verify`` copy and sync still accept (hidden)."""
    return Flag("tls-verify", OPTBOOL, "require HTTPS and verify certificates when accessing the container registry",
                hidden=True)


def image_flags(prefix: str = "") -> list[Flag]:
    """Group I: local image storage options."""
    return [
        Flag(f"{prefix}shared-blob-dir", STR, "`DIRECTORY` to use to share blobs across OCI repositories"),
        Flag(f"{prefix}daemon-host", STR, "use docker daemon host at `HOST` (docker-daemon: only)"),
    ]


def retry_flags() -> list[Flag]:
    return [
        Flag("retry-times", INT, "the number of times to possibly retry", default=0),
        Flag("retry-delay", DURATION, "Fixed delay between retries. If not set, retry uses an exponential backoff delay."),
    ]


def _credentials(opts: Options, prefix: str) -> tuple[str | None, str | None]:
    d = prefix.replace("-", "_")
    creds = opts.get(f"{d}creds")
    username = opts.get(f"{d}username")
    password = opts.get(f"{d}password")
    no_creds = opts.get(f"{d}no_creds")
    if creds is not None and no_creds:
        raise UsageError("creds and no-creds cannot be specified at the same time")
    if username is not None and no_creds:
        raise UsageError("username and no-creds cannot be specified at the same time")
    if creds is not None and username is not None:
        raise UsageError("creds and username cannot be specified at the same time")
    if username is not None and password is None:
        raise UsageError("password must be specified when username is specified")
    if password is not None and username is None:
        raise UsageError("username must be specified when password is specified")
    if creds is not None:
        if creds == "":
            raise UsageError("credentials can't be empty")
        user, _, pw = creds.partition(":")
        if user == "":
            raise UsageError("username can't be empty")
        return user, pw
    return username, password


def system_context(opts: Options, prefix: str = "") -> SystemContext:
    """A SystemContext for one side (prefix ``""``, ``src-`` or ``dest-``)."""
    d = prefix.replace("-", "_")
    g = opts.globals
    tls_details = None
    if g.get("tls_details"):  # read first, as upstream's global newSystemContext does
        from ..tlsdetails import load

        tls_details = load(g.tls_details)
    username, password = _credentials(opts, prefix)
    tls_verify = opts.get(f"{d}tls_verify")
    if tls_verify is None and g.get("tls_verify") is not None:
        tls_verify = g.tls_verify
    agent = "skopeo/" + _version()
    if g.get("user_agent_prefix"):
        agent = f"{g.user_agent_prefix} {agent}"
    return SystemContext(
        auth_file=opts.get(f"{d}authfile") or opts.get("authfile"),
        username=username,
        password=password,
        no_creds=bool(opts.get(f"{d}no_creds")),
        registry_token=opts.get(f"{d}registry_token"),
        cert_dir=opts.get(f"{d}cert_dir"),
        tls_verify=tls_verify,
        tls_details=tls_details,
        registries_conf=g.get("registries_conf"),
        registries_d=g.get("registries_d"),
        user_agent=agent,
        shared_blob_dir=opts.get(f"{d}shared_blob_dir"),
        daemon_host=opts.get(f"{d}daemon_host"),
        tmpdir=g.get("tmpdir"),
        override_os=g.get("override_os"),
        override_arch=g.get("override_arch"),
        override_variant=g.get("override_variant"),
    )


def _version() -> str:
    from .. import __version__

    return __version__


def policy_context(opts: Options) -> PolicyContext:
    from ..policy import Policy, PolicyContext, load

    g = opts.globals
    if g.insecure_policy and g.require_signed:
        raise UsageError("--insecure-policy and --require-signed are mutually exclusive")
    if g.insecure_policy:
        policy = Policy.accept_anything()
    else:
        try:
            if not g.policy and g.get("tls_details"):
                # Upstream builds a SystemContext (reading --tls-details) to find the default policy.
                from ..tlsdetails import load as load_tls_details

                load_tls_details(g.tls_details)
            policy = load(g.policy)
        except Exception as e:
            from ..errors import PolicyError, SkopeoError

            if isinstance(e, SkopeoError):
                raise PolicyError(f"Error loading trust policy: {e.message}") from None
            raise
    return PolicyContext(policy, require_signed=bool(g.require_signed))


def retry_settings(opts: Options) -> tuple[int, float]:
    times = max(opts.get("retry_times") or 0, 0)  # as upstream, a negative count means no retries
    return times, opts.get("retry_delay") or 0.0
