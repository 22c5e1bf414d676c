"""``skopeo.api.generate_sigstore_key`` (registered through
``register_api_calls``; the ``generate-sigstore-key`` command is a layer over
it): a cosign-compatible key pair written to ``PREFIX.private`` and
``PREFIX.pub``, never over an existing file.  Messages are upstream's."""

from __future__ import annotations

import os

from skopeo.errors import SkopeoError
from skopeo.golang.gojson import quote
from skopeo.golang.oserror import path_error_text
from skopeo.results import SigstoreKeyPair


def quoted(path: str) -> str:
    return quote(path.encode("utf-8", "surrogateescape"))


def key_paths(output_prefix: str) -> SigstoreKeyPair:
    return SigstoreKeyPair(output_prefix + ".private", output_prefix + ".pub")


def ensure_missing(paths: SigstoreKeyPair) -> None:
    """Refuse to overwrite either file (the public key is checked first, as upstream)."""
    for path in (paths.public_key, paths.private_key):
        try:
            os.stat(path)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise SkopeoError(f"Error checking existence of {quoted(path)}: {path_error_text('stat', path, e)}") from None
        raise SkopeoError(f"Refusing to overwrite existing {quoted(path)}")


def _write(path: str, data: bytes, mode: int) -> None:
    from skopeo.fsutil import write_file

    try:
        write_file(path, data, mode)
    except SkopeoError as e:
        # Upstream says "private key" for both files.
        raise e.wrap(f"Error writing private key to {quoted(path)}") from None


def generate_key_files(output_prefix: str, passphrase: str) -> SigstoreKeyPair:
    from .keys import generate_key_pair

    paths = key_paths(output_prefix)
    ensure_missing(paths)
    private_pem, public_pem = generate_key_pair(passphrase)
    _write(paths.private_key, private_pem, 0o600)
    _write(paths.public_key, public_pem, 0o644)
    return paths
