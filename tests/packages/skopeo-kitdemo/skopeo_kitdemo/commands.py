"""``skopeo kitdemo-logins``, declared with typer: who is logged in through
the credentials file (never the passwords)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from skopeo.cli.invocation import Invocation

from .credentials import load

app = typer.Typer()


@app.command("kitdemo-logins", short_help="List the logins the kitdemo credentials file holds")
def kitdemo_logins(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object")] = False,
) -> None:
    """List the keys the kitdemo credentials file holds logins for."""
    logins = {key: entry["username"] for key, entry in load()["logins"].items()}
    invocation: Invocation = ctx.obj
    if as_json:
        invocation.write(json.dumps(logins, sort_keys=True) + "\n")
    else:
        for key, user in sorted(logins.items()):
            invocation.write(f"{key}\t{user}\n")
