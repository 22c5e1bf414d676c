"""``skopeo generate-sigstore-key``: a cosign-compatible key pair, declared
with typer (skopeo's core runs it with pflag's grammar and cobra's texts).
Flags, help, usage and messages are upstream's."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from skopeo.cli.invocation import Invocation
from skopeo.errors import SkopeoError
from skopeo.golang.gojson import quote
from skopeo.golang.oserror import path_error_text

app = typer.Typer()


def _quote(path: str) -> str:
    return quote(path.encode("utf-8", "surrogateescape"))


def _ensure_missing(path: str) -> None:
    try:
        os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise SkopeoError(f"Error checking existence of {_quote(path)}: {path_error_text('stat', path, e)}") from None
    raise SkopeoError(f"Refusing to overwrite existing {_quote(path)}")


def _write(path: str, data: bytes, mode: int) -> None:
    from skopeo.fsutil import write_file

    try:
        write_file(path, data, mode)
    except SkopeoError as e:
        # Upstream says "private key" for both files.
        raise e.wrap(f"Error writing private key to {_quote(path)}") from None


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

    from .keys import generate_key_pair

    if args or not output_prefix:
        raise SkopeoError("Usage: generate-sigstore-key --output-prefix PREFIX")
    pub_path = output_prefix + ".pub"
    private_path = output_prefix + ".private"
    _ensure_missing(pub_path)
    _ensure_missing(private_path)
    passphrase = read_passphrase_file(passphrase_file) if passphrase_file else prompt_passphrase(private_path)
    private_pem, public_pem = generate_key_pair(passphrase or "")
    _write(private_path, private_pem, 0o600)
    _write(pub_path, public_pem, 0o644)
    invocation: Invocation = ctx.obj
    # Upstream main ends the line (1.9.3 did not).
    invocation.write(f"Key written to {_quote(private_path)} and {_quote(pub_path)}\n")
