"""``standalone-sign``, ``standalone-verify`` and the hidden
``untrusted-signature-dump-without-verification``: debugging tools around
simple-signing blobs.  The GnuPG work lives in the ``skopeo-gpg`` plugin."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import PluginError, SkopeoError
from ..golang.oserror import path_error_text
from .app import STR, Command, Flag, Options, print_stdout


def plugin_module(module: str, distribution: str, what: str) -> ModuleType:
    """Import a first-party plugin's helper module, or say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise PluginError(f"{what} needs the {distribution} plugin, which is not installed: pip install {distribution}") from None


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SkopeoError(f"Error reading {what}{path}: {path_error_text('open', path, e)}") from None


def run_sign(opts: Options) -> int:
    from ..signature import read_passphrase_file

    if len(opts.args) != 3 or not opts.output:
        raise SkopeoError("Usage: skopeo standalone-sign manifest docker-reference key-fingerprint -o signature")
    manifest_path, reference, fingerprint = opts.args
    manifest = read_file(manifest_path, "")
    gpg = plugin_module("skopeo_gpg.standalone", "skopeo-gpg", "standalone-sign")
    passphrase = read_passphrase_file(opts.passphrase_file)
    sig: bytes = gpg.standalone_sign(manifest, reference, fingerprint, passphrase)
    from ..fsutil import write_file

    try:
        write_file(opts.output, sig)
    except SkopeoError as e:
        raise e.wrap(f"Error writing signature to {opts.output}") from None
    return 0


def run_verify(opts: Options) -> int:
    if len(opts.args) != 4:
        raise SkopeoError("Usage: skopeo standalone-verify manifest docker-reference key-fingerprint signature")
    manifest_path, reference, fingerprints, signature_path = opts.args
    expected = fingerprints.split(",")
    if not opts.public_key_file and expected == ["any"]:
        raise SkopeoError("Cannot use any fingerprint without a public key file")
    manifest = read_file(manifest_path, "manifest from ")
    signature = read_file(signature_path, "signature from ")
    keys = read_file(opts.public_key_file, "public keys from ") if opts.public_key_file else None
    gpg = plugin_module("skopeo_gpg.standalone", "skopeo-gpg", "standalone-verify")
    fpr, digest = gpg.standalone_verify(manifest, reference, expected, signature, keys)
    print_stdout(f"Signature verified using fingerprint {fpr}, digest {digest}\n")
    return 0


def run_dump(opts: Options) -> int:
    from ..golang import gojson

    if len(opts.args) != 1:
        raise SkopeoError("Usage: skopeo untrusted-signature-dump-without-verification signature")
    blob = read_file(opts.args[0], "untrusted signature from ")
    gpg = plugin_module("skopeo_gpg.standalone", "skopeo-gpg", "untrusted-signature-dump-without-verification")
    print_stdout(gojson.marshal_indent(gpg.untrusted_info(blob)))
    return 0


SIGN = Command(
    name="standalone-sign",
    short="Create a signature using local files",
    long="",
    usage="standalone-sign [command options] MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT --output|-o SIGNATURE",
    flags=[
        Flag("output", STR, "output the signature to `SIGNATURE`", short="o"),
        Flag("passphrase-file", STR, "file that contains a passphrase for the --sign-by key"),
    ],
    run=run_sign,
)

VERIFY = Command(
    name="standalone-verify",
    short="Verify a signature using local files",
    long=(
        "Verify a signature using local files\n\n"
        "KEY-FINGERPRINTS can be a comma separated list of fingerprints, or \"any\" if you trust all the keys in the public key file."
    ),
    usage="standalone-verify MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE",
    flags=[Flag("public-key-file", STR, "File containing public keys. If not specified, will use local GPG keys.")],
    run=run_verify,
)

DUMP = Command(
    name="untrusted-signature-dump-without-verification",
    short="Dump contents of a signature WITHOUT VERIFYING IT",
    long="",
    usage="untrusted-signature-dump-without-verification SIGNATURE",
    flags=[],
    run=run_dump,
    hidden=True,
)
