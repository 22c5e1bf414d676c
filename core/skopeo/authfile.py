"""The built-in credential provider: containers ``auth.json`` files, Docker's
``config.json`` / ``.dockercfg`` and ``docker-credential-*`` helpers, in the
lookup order of containers/image; ``login`` writes the primary auth file (or
the helper its ``credHelpers`` names for the registry).  Registered like any
plugin (see ``plugins.DEFAULT_PLUGINS``), ``trylast``, so vendor providers
answer first."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import NamedTuple

from .auth import AuthProvider, Credentials
from .context import SystemContext
from .errors import SkopeoError
from .golang import gojson
from .golang.oserror import path_error_text
from .hookspecs import hookimpl

LEGACY_DOCKER_KEYS = (
    "https://index.docker.io/v1/", "index.docker.io/v1/", "https://index.docker.io/v1",
    "https://index.docker.io", "index.docker.io", "https://registry-1.docker.io",
)


class AuthPath(NamedTuple):
    path: str
    legacy_format: bool = False  # ~/.dockercfg: top level is the "auths" map


def primary_auth_file(ctx: SystemContext | None = None) -> str:
    """The file ``login`` writes and reads first."""
    if ctx is not None and ctx.auth_file:
        return ctx.auth_file
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        return env
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        try:
            os.stat(runtime)
        except FileNotFoundError as e:
            # Most likely a typo or a directory nobody created: say so, as upstream
            # (which checks with faccessat).
            from .golang.gojson import quote

            raise SkopeoError(
                f"{quote(runtime.encode())} directory set by $XDG_RUNTIME_DIR does not exist. Either create the "
                f"directory or unset $XDG_RUNTIME_DIR.: {path_error_text('faccessat', runtime, e)}"
            ) from None
        except OSError:
            pass  # reading or writing the file reports it
        return os.path.join(runtime, "containers", "auth.json")
    return f"/run/containers/{os.getuid()}/auth.json"


def auth_paths(ctx: SystemContext) -> list[AuthPath]:
    """Files consulted for reading, in order."""
    explicit = ctx.auth_file or os.environ.get("REGISTRY_AUTH_FILE")
    if explicit:
        return [AuthPath(explicit)]
    home = os.path.expanduser("~")
    paths = []
    try:
        paths.append(AuthPath(primary_auth_file(ctx)))
    except SkopeoError as e:  # reading goes on: the image may well be public
        from . import log

        log.warning(f"{e.message}: Trying to pull image in the event that it is a public image.")
    xdg_config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    paths.append(AuthPath(os.path.join(xdg_config, "containers", "auth.json")))
    docker_config = os.environ.get("DOCKER_CONFIG")
    paths.append(AuthPath(os.path.join(docker_config or os.path.join(home, ".docker"), "config.json")))
    paths.append(AuthPath(os.path.join(home, ".dockercfg"), legacy_format=True))
    return paths


def load_auth_file(path: str, legacy_format: bool = False) -> dict[str, object]:
    """The decoded file, ``{}`` when it does not exist; errors worded as upstream's
    ``readJSONFile`` (Go's JSON syntax and type errors included)."""
    prefix = f"reading JSON file {gojson.quote(path.encode())}"
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return {}
    except IsADirectoryError as e:  # Go opens a directory and fails to read it
        raise SkopeoError(f"{prefix}: {path_error_text('read', path, e)}") from None
    except OSError as e:
        raise SkopeoError(f"{prefix}: {path_error_text('open', path, e)}") from None
    prefix += f": unmarshaling JSON at {gojson.quote(path.encode())}"
    try:
        data = gojson.loads(raw)
    except ValueError as e:
        raise SkopeoError(f"{prefix}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        go_type = "map[string]config.dockerAuthConfig" if legacy_format else "config.dockerConfigFile"
        raise SkopeoError(f"{prefix}: {gojson.type_error(data, go_type)}")
    if not legacy_format:
        for key, go_type in (("auths", "map[string]config.dockerAuthConfig"), ("credHelpers", "map[string]string")):
            value = data.get(key)
            if value is not None and not isinstance(value, dict):
                error = gojson.type_error(value, go_type, f"dockerConfigFile.{key}")
                raise SkopeoError(f"{prefix}: {error}")
    return data


def normalize_key(key: str) -> str:
    """An auths key as a registry (or namespace) key: scheme and legacy forms removed."""
    if key in LEGACY_DOCKER_KEYS:
        return "docker.io"
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
            key = key.split("/", 1)[0]
    return key


def lookup_keys(registry: str, repository: str | None) -> list[str]:
    """``host/ns/repo``, ``host/ns``, ``host``: the most specific first."""
    keys = []
    if repository and repository.startswith(registry + "/"):
        parts = repository.split("/")
        for i in range(len(parts), 1, -1):
            keys.append("/".join(parts[:i]))
    keys.append(registry)
    return keys


def decode_auth(entry: object) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    auth = entry.get("auth")
    if not isinstance(auth, str) or not auth:
        return None
    # Go's StdEncoding: a malformed entry is an error (``illegal base64 data at
    # input byte N``), not a silent anonymous pull.
    try:
        raw = gojson.decode_base64(auth)
    except ValueError as e:
        raise SkopeoError(str(e)) from None
    decoded = raw.decode(errors="replace")
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def run_credential_helper(helper: str, registry: str) -> Credentials | None:
    """``docker-credential-<helper> get`` with the registry on stdin."""
    from . import deadline

    prog = f"docker-credential-{helper}"
    try:
        proc = deadline.run([prog, "get"], 60, input=registry.encode())
    except FileNotFoundError:
        raise SkopeoError(f'exec: "{prog}": executable file not found in $PATH') from None
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        if "credentials not found" in out.lower():
            return None
        raise SkopeoError(f"{prog} get: {out or proc.stderr.decode(errors='replace').strip()}")
    try:
        data = json.loads(out)
    except ValueError:
        raise SkopeoError(f"{prog} get: invalid JSON answer") from None
    user, secret = data.get("Username", ""), data.get("Secret", "")
    if user == "<token>":
        return Credentials(identity_token=secret, source=prog)
    return Credentials(user, secret, source=prog)


def credentials_from_files(ctx: SystemContext, registry: str, repository: str | None) -> Credentials | None:
    keys = lookup_keys(registry, repository)
    for ap in auth_paths(ctx):
        data = load_auth_file(ap.path, ap.legacy_format)
        if not data:
            continue
        helpers = data.get("credHelpers")
        if not ap.legacy_format and isinstance(helpers, dict) and isinstance(helpers.get(registry), str):
            return run_credential_helper(helpers[registry], registry)
        auths = data if ap.legacy_format else data.get("auths")
        if not isinstance(auths, dict):
            continue
        candidates = [registry] if ap.legacy_format else keys
        for key in candidates:
            entry = auths.get(key)
            if entry is None:
                # Keys written by other tools: scheme, path, legacy docker.io names.
                for raw_key, raw_entry in auths.items():
                    if normalize_key(raw_key) == key:
                        entry = raw_entry
                        break
            if entry is None:
                continue
            token = entry.get("identitytoken") if isinstance(entry, dict) else None
            pair = decode_auth(entry)
            if token:
                return Credentials(pair[0] if pair else "", identity_token=token, source=ap.path)
            if pair:
                return Credentials(pair[0], pair[1], source=ap.path)
    return None


# --- write side (login / logout) -------------------------------------------------------
def write_auth_file(path: str, data: dict[str, object]) -> None:
    """Write *data* as containers/image does: tab-indented JSON, sorted keys, no
    trailing newline, mode 0600 in a 0700 directory, replaced atomically."""
    import tempfile

    from .golang import gojson

    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, 0o700, exist_ok=True)
    except OSError as e:
        raise SkopeoError(f"creating directory {directory!r}: {e.strerror or e}") from None
    text = gojson._go_escape(json.dumps(data, ensure_ascii=False, indent="\t", sort_keys=True))
    fd, tmp = tempfile.mkstemp(prefix=".auth-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        from .fsutil import remove_quietly

        remove_quietly(tmp)
        raise


def encode_auth(username: str, password: str) -> str:
    import base64

    return base64.b64encode(f"{username}:{password}".encode()).decode()


def store_in_file(path: str, key: str, username: str, password: str) -> None:
    """Set ``auths[key]`` (replacing any identity token) and keep everything else."""
    data = load_auth_file(path)
    auths = data.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    auths[key] = {"auth": encode_auth(username, password)}
    data["auths"] = auths
    write_auth_file(path, data)


def remove_from_file(path: str, key: str) -> bool:
    """Remove ``auths[key]``; True if it was there."""
    data = load_auth_file(path)
    auths = data.get("auths")
    if not isinstance(auths, dict) or key not in auths:
        return False
    del auths[key]
    write_auth_file(path, data)
    return True


def remove_all_from_file(path: str) -> None:
    data = load_auth_file(path)
    data["auths"] = {}
    write_auth_file(path, data)


def credential_helper_in_file(path: str, registry: str) -> str | None:
    """The ``credHelpers`` entry of *path* for *registry*, if any."""
    helpers = load_auth_file(path).get("credHelpers")
    if isinstance(helpers, dict) and isinstance(helpers.get(registry), str):
        return str(helpers[registry])
    return None


def _run_helper(helper: str, action: str, payload: bytes) -> tuple[int, str]:
    """``docker-credential-<helper> <action>`` with *payload* on stdin: (status, output)."""
    from . import deadline

    prog = f"docker-credential-{helper}"
    try:
        proc = deadline.run([prog, action], 60, input=payload)
    except FileNotFoundError:
        raise SkopeoError(f'exec: "{prog}": executable file not found in $PATH') from None
    return proc.returncode, (proc.stdout or proc.stderr).decode(errors="replace").strip()


def store_with_helper(helper: str, registry: str, username: str, password: str) -> None:
    payload = json.dumps({"ServerURL": registry, "Username": username, "Secret": password}).encode()
    code, out = _run_helper(helper, "store", payload)
    if code != 0:
        raise SkopeoError(f"docker-credential-{helper} store: {out}")


def erase_with_helper(helper: str, registry: str) -> bool:
    """True if an entry was removed."""
    code, out = _run_helper(helper, "erase", registry.encode())
    if code != 0:
        if "credentials not found" in out.lower():
            return False
        raise SkopeoError(f"docker-credential-{helper} erase: {out}")
    return True


class AuthFileProvider(AuthProvider):
    """The auth files for lookups; the primary auth file (or the helper its
    ``credHelpers`` names for the registry) for ``login``/``logout``."""

    name = "auth files"
    can_store = True

    def get(self, registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
        return credentials_from_files(ctx, registry, repository)

    def store(self, key: str, credentials: Credentials, ctx: SystemContext) -> str:
        registry = key.split("/", 1)[0]
        path = primary_auth_file(ctx)
        helper = credential_helper_in_file(path, registry)
        if helper is not None:
            if key != registry:
                raise SkopeoError(f"namespaced key {key!r} is not supported by credential helper {helper}")
            store_with_helper(helper, registry, credentials.username, credentials.password)
            return f"credential helper: {helper}"
        store_in_file(path, key, credentials.username, credentials.password)
        return path

    def erase(self, key: str, ctx: SystemContext) -> bool:
        registry = key.split("/", 1)[0]
        path = primary_auth_file(ctx)
        removed = False
        helper = credential_helper_in_file(path, registry)
        if helper is not None and key == registry:
            removed = erase_with_helper(helper, registry)
        if os.path.exists(path):
            removed = remove_from_file(path, key) or removed
        return removed

    def erase_all(self, ctx: SystemContext) -> None:
        remove_all_from_file(primary_auth_file(ctx))


@hookimpl(trylast=True)
def register_auth_providers(register: Callable[[AuthProvider], None]) -> None:
    register(AuthFileProvider())
