"""registries.conf ``credential-helpers`` (read and write side).

The reserved helper name ``containers-auth.json`` stands for the auth files the
core's provider reads (and for the primary auth file when storing); any other
name is a ``docker-credential-<name>`` program keyed by registry host."""

from __future__ import annotations

import json

from skopeo import authfile, deadline
from skopeo.auth import Credentials
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError

from . import registries_conf


def helpers(ctx: SystemContext) -> list[str]:
    return registries_conf.load(ctx).credential_helpers


def credentials_from_helpers(ctx: SystemContext, registry: str, repository: str | None) -> Credentials | None:
    names = helpers(ctx)
    if names == [registries_conf.AUTH_FILE_HELPER] or ctx.auth_file:
        return None  # the core's auth-file provider answers (an explicit --authfile is used alone)
    for name in names:
        if name == registries_conf.AUTH_FILE_HELPER:
            found = authfile.credentials_from_files(ctx, registry, repository)
        else:
            found = authfile.run_credential_helper(name, registry)
        if found is not None and not found.anonymous:
            return found
    return Credentials()


def store_with_helper(helper: str, registry: str, username: str, password: str) -> None:
    prog = f"docker-credential-{helper}"
    payload = json.dumps({"ServerURL": registry, "Username": username, "Secret": password}).encode()
    try:
        proc = deadline.run([prog, "store"], 60, input=payload)
    except FileNotFoundError:
        raise SkopeoError(f'exec: "{prog}": executable file not found in $PATH') from None
    if proc.returncode != 0:
        raise SkopeoError(f"{prog} store: {(proc.stdout or proc.stderr).decode(errors='replace').strip()}")


def erase_with_helper(helper: str, registry: str) -> bool:
    """True if an entry was removed."""
    prog = f"docker-credential-{helper}"
    try:
        proc = deadline.run([prog, "erase"], 60, input=registry.encode())
    except FileNotFoundError:
        raise SkopeoError(f'exec: "{prog}": executable file not found in $PATH') from None
    out = (proc.stdout or proc.stderr).decode(errors="replace").strip()
    if proc.returncode != 0:
        if "credentials not found" in out.lower():
            return False
        raise SkopeoError(f"{prog} erase: {out}")
    return True
