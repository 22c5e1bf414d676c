"""What a plugin command receives from the command line besides its own
parameters: typer's ``ctx.obj`` is an :class:`Invocation` (declare a
``ctx: typer.Context`` parameter to get it).

It holds skopeo's global flags and turns flags into settings the way skopeo's
own commands do, so a plugin command honours ``--registries-conf``,
``--tls-details``, ``--tmpdir``, ``--override-*``, ``--policy`` … without
redeclaring them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .app import Options, print_stdout

if TYPE_CHECKING:
    from ..context import SystemContext
    from ..policy import PolicyContext


class Invocation:
    def __init__(self, command_path: str, globals_: Options) -> None:
        self.command_path = command_path  # "skopeo login"
        # The global flags by name (dashes and dots as underscores): debug,
        # policy, insecure_policy, require_signed, registries_d, override_arch,
        # override_os, override_variant, command_timeout (seconds), tmpdir,
        # registries_conf, tls_details, user_agent_prefix.
        self.globals = globals_

    def system_context(self, **flags: Any) -> SystemContext:
        """A context as skopeo's commands build one from their registry flags,
        given by their names: ``authfile``, ``creds``, ``username``,
        ``password``, ``registry_token``, ``cert_dir``, ``tls_verify``,
        ``no_creds``, ``shared_blob_dir``, ``daemon_host`` (unset ones None),
        with what the global flags say (registries.conf, TLS details, tmpdir,
        platform overrides, user agent).  Raises ``UsageError`` for the flag
        combinations skopeo refuses (``--creds`` with ``--no-creds``, …)."""
        from .options import system_context

        opts = Options(flags)
        opts["globals"] = self.globals
        return system_context(opts)

    def policy_context(self) -> PolicyContext:
        """The trust policy the global flags name (``--policy``,
        ``--insecure-policy``, ``--require-signed``)."""
        from .options import policy_context

        return policy_context(Options(globals=self.globals))

    @staticmethod
    def write(text: str) -> None:
        """Write *text* to stdout as skopeo's commands do (bytes that were not
        UTF-8 in the arguments go out unchanged), flushed."""
        print_stdout(text)
