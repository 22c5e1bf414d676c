"""``registries.conf`` (v2 TOML, and the legacy v1 form in the main file):
lookup and drop-ins, ``[[registry]]`` prefix matching and location rewriting,
``insecure``, ``blocked``, mirrors, and the global ``credential-helpers``.

skopeo never resolves short names, so ``unqualified-search-registries``,
``[aliases]`` and ``short-name-mode`` are only validated."""

from __future__ import annotations

import functools
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from skopeo import log
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.reference import DockerReference

SYSTEM_CONF = "/etc/containers/registries.conf"
SYSTEM_CONF_DIR = "/etc/containers/registries.conf.d"
AUTH_FILE_HELPER = "containers-auth.json"

MIRROR_ALL = "all"
MIRROR_DIGEST_ONLY = "digest-only"
MIRROR_TAG_ONLY = "tag-only"

@functools.cache
def _domain_re() -> re.Pattern[str]:
    # Compiled on first use (~1.5 ms): only unqualified-search-registries needs it.
    return re.compile(
        r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
        r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$"
    )


class InvalidRegistriesError(SkopeoError):
    pass


class Endpoint(NamedTuple):
    location: str = ""
    insecure: bool = False
    pull_from_mirror: str = ""

    def rewrite(self, ref: str, prefix: str) -> str:
        """*ref* (``host/repo[:tag|@digest]``) with *prefix* replaced by the location."""
        n = ref_matching_prefix(ref, prefix)
        if n == -1:
            raise SkopeoError(f"invalid prefix '{prefix}' for reference '{ref}'")
        if not self.location:
            return ref
        return self.location + ref[n:]


class Registry(NamedTuple):
    prefix: str
    endpoint: Endpoint
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[Endpoint, ...] = ()

    @property
    def location(self) -> str:
        return self.endpoint.location

    @property
    def insecure(self) -> bool:
        return self.endpoint.insecure

    def pull_sources(self, ref: DockerReference) -> list[tuple[Endpoint, str]]:
        """(endpoint, rewritten reference string) to try for a pull, mirrors first."""
        digested = ref.digest is not None
        endpoints: list[Endpoint] = []
        if self.mirror_by_digest_only:
            if digested:
                endpoints.extend(self.mirrors)
        else:
            for m in self.mirrors:
                if m.pull_from_mirror == MIRROR_DIGEST_ONLY and not digested:
                    continue
                if m.pull_from_mirror == MIRROR_TAG_ONLY and digested:
                    continue
                endpoints.append(m)
        endpoints.append(self.endpoint)
        return [(ep, ep.rewrite(str(ref), self.prefix)) for ep in endpoints]


@dataclass
class RegistriesConf:
    """``registries.conf`` with its drop-ins merged."""

    registries: list[Registry] = field(default_factory=list)
    unqualified_search_registries: list[str] | None = None
    credential_helpers: list[str] = field(default_factory=lambda: [AUTH_FILE_HELPER])
    short_name_mode: str = ""
    additional_layer_store_auth_helper: str = ""
    config_path: str = ""
    config_dir_path: str = ""

    def find_registry(self, ref: str) -> Registry | None:
        """The entry with the longest prefix matching *ref* (a host, repository
        or full reference string), or None."""
        best: Registry | None = None
        best_len = 0
        for r in self.registries:
            if ref_matching_prefix(ref, r.prefix) != -1 and len(r.prefix) > best_len:
                best, best_len = r, len(r.prefix)
        return best

    def blocked_error(self, reg: Registry) -> SkopeoError:
        return SkopeoError(f"registry {reg.prefix} is blocked in {self.config_path} or {self.config_dir_path}")


def _ref_matching_subdomain_prefix(ref: str, prefix: str) -> int:
    index = ref.find(prefix[1:])
    if index == -1 or "/" in ref[:index]:
        return -1
    index += len(prefix) - 1
    if index == len(ref):
        return index
    return index if ref[index] in ":/@" else -1


def ref_matching_prefix(ref: str, prefix: str) -> int:
    """Length of *prefix* if it matches the start of *ref* at a component boundary
    (``*.example.com`` matches any subdomain), else -1."""
    if prefix.startswith("*."):
        return _ref_matching_subdomain_prefix(ref, prefix)
    if len(ref) < len(prefix):
        return -1
    if len(ref) == len(prefix):
        return len(prefix) if ref == prefix else -1
    if not ref.startswith(prefix):
        return -1
    # Like upstream, "example.com:5000" matches "example.com" here.
    return len(prefix) if ref[len(prefix)] in ":/@" else -1


# --- loading ------------------------------------------------------------------
def _paths(ctx: SystemContext | None) -> tuple[str, list[str], str]:
    """(main file, drop-in directories, directory named in "blocked" errors).

    An explicit file (``--registries-conf`` / ``$CONTAINERS_REGISTRIES_CONF``) is
    used alone, as upstream's newer loader does, so a test or a user can pin the
    whole configuration."""
    home = os.path.expanduser("~")
    user_file = os.path.join(home, ".config", "containers", "registries.conf")
    user_dir = os.path.join(home, ".config", "containers", "registries.conf.d")
    explicit = (ctx.registries_conf if ctx is not None else None) or os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if explicit:
        return explicit, [], SYSTEM_CONF_DIR
    if os.path.exists(user_file):
        return user_file, [user_dir], user_dir
    return SYSTEM_CONF, [SYSTEM_CONF_DIR, user_dir], user_dir


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidRegistriesError(
            f"toml: {what}: incompatible types: TOML value has type {type(value).__name__}; destination has type string"
        )
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRegistriesError(
            f"toml: {what}: incompatible types: TOML value has type {type(value).__name__}; destination has type bool"
        )
    return value


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidRegistriesError(
            f"toml: {what}: incompatible types: TOML value has type {type(value).__name__}; destination has type slice"
        )
    return [_str(v, what) for v in value]


def parse_location(value: str) -> str:
    trimmed = value.rstrip("/")
    if trimmed.startswith(("http://", "https://")):
        raise InvalidRegistriesError(f"invalid location '{value}': URI schemes are not supported")
    return trimmed


@dataclass
class _Partial:
    """What one file sets (None: left to the files before it)."""

    registries: list[Registry] | None = None
    unqualified: list[str] | None = None
    helpers: list[str] | None = None
    short_name_mode: str = ""
    layer_store_helper: str = ""


def _endpoint(table: dict[str, Any], what: str) -> Endpoint:
    return Endpoint(
        location=parse_location(_str(table.get("location", ""), f"{what}.location")),
        insecure=_bool(table.get("insecure", False), f"{what}.insecure"),
        pull_from_mirror=_str(table.get("pull-from-mirror", ""), f"{what}.pull-from-mirror"),
    )


def _v2_registries(raw: Any) -> list[Registry]:
    if not isinstance(raw, list):
        raise InvalidRegistriesError("toml: registry: expected an array of tables")
    out: list[Registry] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise InvalidRegistriesError("toml: registry: expected an array of tables")
        ep = _endpoint(entry, "registry")
        prefix = _str(entry.get("prefix", ""), "registry.prefix")
        if not prefix:
            if not ep.location:
                raise InvalidRegistriesError("invalid condition: both location and prefix are unset")
            prefix = ep.location
        else:
            prefix = parse_location(prefix)
            if not prefix.startswith("*.") and not ep.location:
                raise InvalidRegistriesError(
                    "invalid condition: location is unset and prefix is not in the format: *.example.com"
                )
        if ep.pull_from_mirror:
            raise InvalidRegistriesError(f'pull-from-mirror must not be set for a non-mirror registry "{prefix}"')
        by_digest = _bool(entry.get("mirror-by-digest-only", False), "registry.mirror-by-digest-only")
        mirrors = []
        raw_mirrors = entry.get("mirror", [])
        if not isinstance(raw_mirrors, list):
            raise InvalidRegistriesError("toml: registry.mirror: expected an array of tables")
        for m in raw_mirrors:
            if not isinstance(m, dict):
                raise InvalidRegistriesError("toml: registry.mirror: expected an array of tables")
            mir = _endpoint(m, "registry.mirror")
            if not mir.location:
                raise InvalidRegistriesError("invalid condition: mirror location is unset")
            if by_digest and mir.pull_from_mirror:
                raise InvalidRegistriesError(
                    f'cannot set mirror usage mirror-by-digest-only for the registry ("{prefix}") '
                    f'and pull-from-mirror for per-mirror ("{mir.location}") at the same time'
                )
            if mir.pull_from_mirror not in ("", MIRROR_ALL, MIRROR_DIGEST_ONLY, MIRROR_TAG_ONLY):
                raise InvalidRegistriesError(
                    f'unsupported pull-from-mirror value "{mir.pull_from_mirror}" for mirror "{mir.location}"'
                )
            mirrors.append(mir)
        if prefix.startswith("*.") and any(c in prefix for c in "/@:"):
            raise InvalidRegistriesError(
                "Wildcarded prefix should be in the format: *.example.com. "
                f'Current prefix "{prefix}" is incorrectly formatted'
            )
        blocked = _bool(entry.get("blocked", False), "registry.blocked")
        out.append(Registry(prefix, ep, blocked, by_digest, tuple(mirrors)))
    # The same location defined twice must agree on insecure/blocked.
    by_location: dict[str, list[Registry]] = {}
    for r in out:
        by_location.setdefault(r.location or r.prefix, []).append(r)
    for r in out:
        for other in by_location[r.location or r.prefix]:
            if r.insecure != other.insecure:
                raise InvalidRegistriesError(
                    f"registry '{r.location}' is defined multiple times with conflicting 'insecure' setting"
                )
            if r.blocked != other.blocked:
                raise InvalidRegistriesError(
                    f"registry '{r.location}' is defined multiple times with conflicting 'blocked' setting"
                )
    # The first entry for a prefix wins; later duplicates are ignored.
    unique: dict[str, Registry] = {}
    for r in out:
        unique.setdefault(r.prefix, r)
    return [unique[p] for p in sorted(unique)]


def _v1_to_v2(v1: dict[str, Any]) -> _Partial:
    order: list[str] = []
    regs: dict[str, dict[str, bool]] = {}

    def get(location: str) -> dict[str, bool]:
        loc = parse_location(location)
        if loc not in regs:
            regs[loc] = {"blocked": False, "insecure": False}
            order.append(loc)
        return regs[loc]

    def names(section: str) -> list[str]:
        table = v1.get(section, {})
        if not isinstance(table, dict):
            raise InvalidRegistriesError(f"toml: registries.{section}: expected a table")
        return _str_list(table.get("registries", []), f"registries.{section}.registries")

    for loc in names("block"):
        get(loc)["blocked"] = True
    for loc in names("insecure"):
        get(loc)["insecure"] = True
    search = v1.get("search", {})
    unqualified = names("search") if isinstance(search, dict) and "registries" in search else None
    registries = [Registry(loc, Endpoint(loc, regs[loc]["insecure"]), regs[loc]["blocked"]) for loc in order]
    unique: dict[str, Registry] = {}
    for r in registries:
        unique.setdefault(r.prefix, r)
    return _Partial(registries=[unique[p] for p in sorted(unique)], unqualified=unqualified)


V2_KEYS = ("registry", "unqualified-search-registries", "credential-helpers", "short-name-mode",
           "additional-layer-store-auth-helper", "aliases")


def load_file(path: str, force_v2: bool) -> _Partial:
    import tomllib

    log.debug(f'Loading registries configuration "{path}"')
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidRegistriesError(f"toml: {e}") from None
    has_v2 = any(k in data for k in V2_KEYS)
    if "registries" in data:
        if force_v2:
            raise InvalidRegistriesError("registry must be in v2 format but is in v1")
        if has_v2:
            raise InvalidRegistriesError("mixing sysregistry v1/v2 is not supported")
        v1 = data["registries"]
        if not isinstance(v1, dict):
            raise InvalidRegistriesError("toml: registries: expected a table")
        return _v1_to_v2(v1)
    for key in data:
        if key not in V2_KEYS and key != "registries":
            log.debug(f'Failed to decode keys ["{key}"] from "{path}"')
    part = _Partial()
    if "registry" in data:
        part.registries = _v2_registries(data["registry"])
    if "unqualified-search-registries" in data:
        part.unqualified = []
        for entry in _str_list(data["unqualified-search-registries"], "unqualified-search-registries"):
            loc = parse_location(entry)
            if not _domain_re().match(loc):
                raise InvalidRegistriesError(f'Invalid unqualified-search-registries entry "{loc}"')
            part.unqualified.append(loc)
    if "credential-helpers" in data:
        part.helpers = _str_list(data["credential-helpers"], "credential-helpers")
    if "short-name-mode" in data:
        mode = _str(data["short-name-mode"], "short-name-mode")
        if mode not in ("enforcing", "permissive", "disabled"):
            raise InvalidRegistriesError(f'invalid short-name mode: "{mode}"')
        part.short_name_mode = mode
    if "additional-layer-store-auth-helper" in data:
        part.layer_store_helper = _str(data["additional-layer-store-auth-helper"], "additional-layer-store-auth-helper")
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
        raise InvalidRegistriesError("validating short-name aliases: aliases must be a table of strings")
    return part


def _merge(base: RegistriesConf, part: _Partial) -> None:
    if part.registries is not None:
        merged = {r.prefix: r for r in base.registries}
        merged.update({r.prefix: r for r in part.registries})
        base.registries = [merged[p] for p in sorted(merged)]
    if part.unqualified is not None:
        base.unqualified_search_registries = part.unqualified
    if part.helpers is not None:
        base.credential_helpers = part.helpers
    if part.short_name_mode:
        base.short_name_mode = part.short_name_mode
    if part.layer_store_helper:
        base.additional_layer_store_auth_helper = part.layer_store_helper


def _drop_ins(dirs: list[str]) -> list[str]:
    out: list[str] = []
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:
            raise SkopeoError(f"reading registries.conf.d: {e}") from None
        out.extend(os.path.join(d, n) for n in names if n.endswith(".conf") and not os.path.isdir(os.path.join(d, n)))
    return out


def _stat_key(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return path, -1, -1
    return path, st.st_mtime_ns, st.st_size


_cache_lock = threading.Lock()
_cache: dict[tuple[Any, ...], RegistriesConf] = {}


def load(ctx: SystemContext | None = None) -> RegistriesConf:
    """The effective configuration (cached while the files do not change)."""
    main, dirs, dir_for_errors = _paths(ctx)
    drop_ins = _drop_ins(dirs)
    key = (main, tuple(dirs), _stat_key(main), *(_stat_key(p) for p in drop_ins))
    with _cache_lock:
        found = _cache.get(key)
    if found is not None:
        return found
    conf = RegistriesConf(config_path=main, config_dir_path=dir_for_errors)
    explicit = bool((ctx.registries_conf if ctx is not None else None) or os.environ.get("CONTAINERS_REGISTRIES_CONF"))
    try:
        _merge(conf, load_file(main, False))
    except FileNotFoundError:
        if explicit:
            raise SkopeoError(
                f'loading registries configuration "{main}": open {main}: no such file or directory'
            ) from None
    except InvalidRegistriesError as e:
        raise SkopeoError(f'loading registries configuration "{main}": {e}') from None
    except OSError as e:
        raise SkopeoError(f'loading registries configuration "{main}": {e.strerror or e}') from None
    for path in drop_ins:
        try:
            _merge(conf, load_file(path, True))
        except FileNotFoundError:
            continue
        except InvalidRegistriesError as e:
            raise SkopeoError(f'loading drop-in registries configuration "{path}": {e}') from None
    if not conf.credential_helpers:
        conf.credential_helpers = [AUTH_FILE_HELPER]
    with _cache_lock:
        _cache[key] = conf
    return conf
