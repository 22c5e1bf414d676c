"""``skopeo manifest-digest``."""

from __future__ import annotations

from ..errors import SkopeoError
from ..golang.oserror import path_error_text
from .app import Command, Options, print_stdout


def run(opts: Options) -> int:
    from .. import api

    path = opts.args[0]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError as e:  # Go opens a directory and fails to read it
        raise SkopeoError(f"Error reading manifest from {path}: {path_error_text('read', path, e)}") from None
    except OSError as e:
        raise SkopeoError(f"Error reading manifest from {path}: {path_error_text('open', path, e)}") from None
    print_stdout(api.manifest_digest(data) + "\n")
    return 0


COMMAND = Command(
    name="manifest-digest",
    short="Compute a manifest digest of a file",
    long="",
    examples="skopeo manifest-digest manifest.json",
    usage="manifest-digest MANIFEST-FILE",
    flags=[],
    run=run,
    arg_counts=(1,),
    arg_error="Usage: skopeo manifest-digest manifest",
)
