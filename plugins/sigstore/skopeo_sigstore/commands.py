"""``skopeo generate-sigstore-key``, declared with typer (skopeo's core runs it
with pflag's grammar and cobra's texts): a layer over
:func:`skopeo.api.generate_sigstore_key` that asks for the passphrase.  Flags,
help, usage and messages are upstream's."""

from __future__ import annotations

from typing import Annotated

import typer

from skopeo import api
from skopeo.cli.invocation import Invocation
from skopeo.errors import SkopeoError

app = typer.Typer()


@app.command("generate-sigstore-key", short_help="Generate a sigstore public/private key pair", help="",
             epilog="skopeo generate-sigstore-key --output-prefix my-key",
             options_metavar="[command options] --output-prefix PREFIX")
def generate_sigstore_key_command(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(metavar="")] = None,
    output_prefix: Annotated[str | None, typer.Option(help="Write the keys to `PREFIX`.pub and `PREFIX`.private")] = None,
    passphrase_file: Annotated[str | None, typer.Option(help="Read a passphrase for the private key from `PATH`")] = None,
) -> None:
    from skopeo.signature import prompt_passphrase, read_passphrase_file

    from .keygen import ensure_missing, key_paths, quoted

    if args or not output_prefix:
        raise SkopeoError("Usage: generate-sigstore-key --output-prefix PREFIX")
    paths = key_paths(output_prefix)
    ensure_missing(paths)  # before asking for a passphrase, as upstream
    passphrase = read_passphrase_file(passphrase_file) if passphrase_file else prompt_passphrase(paths.private_key)
    written = api.generate_sigstore_key(output_prefix, passphrase or "")
    invocation: Invocation = ctx.obj
    # Upstream main ends the line (1.9.3 did not).
    invocation.write(f"Key written to {quoted(written.private_key)} and {quoted(written.public_key)}\n")
