"""``standalone-sign``, ``standalone-verify`` and the hidden
``untrusted-signature-dump-without-verification``: debugging tools around
simple-signing blobs, declared with typer (skopeo's core runs them with
pflag's grammar and cobra's texts), each a layer over its :mod:`skopeo.api`
call (reading and writing the files).  Upstream checks the argument count of
each itself, so each takes its arguments as one list; flags, help, usage and
messages are upstream's."""

from __future__ import annotations

from typing import Annotated

import typer

from skopeo import api
from skopeo.cli.invocation import Invocation
from skopeo.errors import SkopeoError
from skopeo.golang.oserror import path_error_text

app = typer.Typer()
# Upstream's use lines of these two show no "[command options]".
bare_app = typer.Typer(options_metavar="")


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SkopeoError(f"Error reading {what}{path}: {path_error_text('open', path, e)}") from None


@app.command("standalone-sign", short_help="Create a signature using local files", help="")
def standalone_sign_command(
    args: Annotated[list[str] | None, typer.Argument(
        metavar="MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT --output|-o SIGNATURE")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="output the signature to `SIGNATURE`")] = None,
    passphrase_file: Annotated[str | None, typer.Option(
        help="file that contains a passphrase for the --sign-by key")] = None,
) -> None:
    from skopeo.fsutil import write_file
    from skopeo.signature import read_passphrase_file

    if args is None or len(args) != 3 or not output:
        raise SkopeoError("Usage: skopeo standalone-sign manifest docker-reference key-fingerprint -o signature")
    manifest_path, reference, fingerprint = args
    manifest = read_file(manifest_path, "")
    signature = api.standalone_sign(manifest, reference, fingerprint, passphrase=read_passphrase_file(passphrase_file))
    try:
        write_file(output, signature)
    except SkopeoError as e:
        raise e.wrap(f"Error writing signature to {output}") from None


@bare_app.command("standalone-verify", short_help="Verify a signature using local files",
             help="Verify a signature using local files\n\nKEY-FINGERPRINTS can be a comma separated list of "
                  "fingerprints, or \"any\" if you trust all the keys in the public key file.")
def standalone_verify_command(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(
        metavar="MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE")] = None,
    public_key_file: Annotated[str | None, typer.Option(
        help="File containing public keys. If not specified, will use local GPG keys.")] = None,
) -> None:
    from .standalone import check_fingerprints

    if args is None or len(args) != 4:
        raise SkopeoError("Usage: skopeo standalone-verify manifest docker-reference key-fingerprint signature")
    manifest_path, reference, fingerprints, signature_path = args
    expected = fingerprints.split(",")
    check_fingerprints(expected, bool(public_key_file))  # before any file is read, as upstream
    manifest = read_file(manifest_path, "manifest from ")
    signature = read_file(signature_path, "signature from ")
    keys = read_file(public_key_file, "public keys from ") if public_key_file else None
    verified = api.standalone_verify(manifest, reference, expected, signature, public_keys=keys)
    invocation: Invocation = ctx.obj
    invocation.write(f"Signature verified using fingerprint {verified.fingerprint}, digest {verified.digest}\n")


@bare_app.command("untrusted-signature-dump-without-verification", hidden=True, help="",
             short_help="Dump contents of a signature WITHOUT VERIFYING IT")
def untrusted_signature_dump_command(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(metavar="SIGNATURE")] = None,
) -> None:
    from skopeo.golang import gojson

    if args is None or len(args) != 1:
        raise SkopeoError("Usage: skopeo untrusted-signature-dump-without-verification signature")
    blob = read_file(args[0], "untrusted signature from ")
    invocation: Invocation = ctx.obj
    invocation.write(gojson.marshal_indent(api.untrusted_signature_dump(blob)))
