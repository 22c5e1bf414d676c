"""``skopeo generate-sigstore-key``: a cosign-compatible key pair (the key
material comes from the ``skopeo-sigstore`` plugin)."""

from __future__ import annotations

import os

from ..errors import SkopeoError
from ..golang.oserror import path_error_text
from .app import STR, Command, Flag, Options, print_stdout
from .pflag import go_quote
from .standalone import plugin_module


def _ensure_missing(path: str) -> None:
    try:
        os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise SkopeoError(f"Error checking existence of {go_quote(path)}: {path_error_text('stat', path, e)}") from None
    raise SkopeoError(f"Refusing to overwrite existing {go_quote(path)}")


def _write(path: str, data: bytes, mode: int) -> None:
    from ..fsutil import write_file

    try:
        write_file(path, data, mode)
    except SkopeoError as e:
        # Upstream says "private key" for both files.
        raise e.wrap(f"Error writing private key to {go_quote(path)}") from None


def run(opts: Options) -> int:
    from ..signature import prompt_passphrase, read_passphrase_file

    if opts.args or not opts.output_prefix:
        raise SkopeoError("Usage: generate-sigstore-key --output-prefix PREFIX")
    pub_path = opts.output_prefix + ".pub"
    private_path = opts.output_prefix + ".private"
    _ensure_missing(pub_path)
    _ensure_missing(private_path)
    sigstore = plugin_module("skopeo_sigstore.keys", "skopeo-sigstore", "generate-sigstore-key")
    passphrase = read_passphrase_file(opts.passphrase_file) if opts.passphrase_file else prompt_passphrase(private_path)
    private_pem, public_pem = sigstore.generate_key_pair(passphrase or "")
    _write(private_path, private_pem, 0o600)
    _write(pub_path, public_pem, 0o644)
    # Upstream main ends the line (1.9.3 did not).
    print_stdout(f"Key written to {go_quote(private_path)} and {go_quote(pub_path)}\n")
    return 0


COMMAND = Command(
    name="generate-sigstore-key",
    short="Generate a sigstore public/private key pair",
    long="",
    examples="skopeo generate-sigstore-key --output-prefix my-key",
    usage="generate-sigstore-key [command options] --output-prefix PREFIX",
    flags=[
        Flag("output-prefix", STR, "Write the keys to `PREFIX`.pub and `PREFIX`.private"),
        Flag("passphrase-file", STR, "Read a passphrase for the private key from `PATH`"),
    ],
    run=run,
)
