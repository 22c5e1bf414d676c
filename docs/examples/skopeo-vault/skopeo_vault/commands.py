"""``skopeo vault-serve`` and ``skopeo vault-list``, declared with typer.  The
core runs them with skopeo's flag grammar (``--json``, ``--json=false``,
global flags after the command) and prints cobra's help and errors."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from skopeo.cli.invocation import Invocation
from skopeo.errors import SkopeoError

from .vault import Vault

app = typer.Typer()


@app.command("vault-serve", short_help="Make the vault serve registries",
             epilog="skopeo vault-serve 'registry.example.com' '*.ecr.example.com'")
def vault_serve(
    ctx: typer.Context,
    patterns: Annotated[list[str], typer.Argument(metavar="PATTERN...", help="host[:port] glob patterns")],
    remove: Annotated[bool, typer.Option("--remove", "-r", help="Stop serving these patterns")] = False,
) -> None:
    """Make the vault serve registries: skopeo login stores credentials for
    them in the vault, and every command finds them there."""
    vault = Vault()
    if remove:
        if vault.stop_serving(patterns) != len(patterns):
            raise SkopeoError(f"the vault does not serve all of {', '.join(patterns)}")
    else:
        vault.serve(patterns)
    invocation: Invocation = ctx.obj
    invocation.write(f"Vault {vault.path} serves: {' '.join(vault.patterns()) or '(nothing)'}\n")


@app.command("vault-list", short_help="List what the vault serves and holds")
def vault_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object")] = False,
) -> None:
    """List the registry patterns the vault serves and the keys it holds
    credentials for, with their user names (never the secrets)."""
    vault = Vault()
    invocation: Invocation = ctx.obj
    logins = {entry.key: entry.username for entry in vault.entries()}
    if as_json:
        invocation.write(json.dumps({"serves": vault.patterns(), "logins": logins}, indent=2) + "\n")
        return
    lines = [f"serves {pattern}" for pattern in vault.patterns()]
    lines += [f"login {key} {username}" for key, username in logins.items()]
    invocation.write("".join(line + "\n" for line in lines))
