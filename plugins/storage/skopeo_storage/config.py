"""Where the store is and how it is set up: ``storage.conf`` found, merged and
interpreted as containers/storage (upstream main) does.

Search order (``go.podman.io/storage/pkg/configfile``): ``$CONTAINERS_STORAGE_CONF``
alone when set (it must exist; no drop-ins); otherwise the first existing of
``$XDG_CONFIG_HOME/containers/storage.conf`` (``~/.config/…``),
``/etc/containers/storage.conf`` and ``/usr/share/containers/storage.conf``, then the
``*.conf`` drop-ins of ``storage.conf.d`` beside each of them (plus
``storage.rootful.conf.d`` or ``storage.rootless.conf.d[/UID]``), and last
``$CONTAINERS_STORAGE_CONF_OVERRIDE``.  Later files override earlier ones key by
key.  ``$STORAGE_DRIVER`` and ``$STORAGE_OPTS`` override the driver and its options.
Rootless users get ``$XDG_DATA_HOME/containers/storage`` and
``$XDG_RUNTIME_DIR/containers`` unless configured otherwise.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from skopeo.errors import SkopeoError

DEFAULT_GRAPH_ROOT = "/var/lib/containers/storage"
DEFAULT_RUN_ROOT = "/run/containers/storage"
SYSTEM_CONFIG_DIR = "/usr/share/containers"
ADMIN_CONFIG_DIR = "/etc/containers"
CONF_NAME = "storage.conf"
ENV_CONF = "CONTAINERS_STORAGE_CONF"
KNOWN_DRIVERS = ("overlay", "overlay2", "btrfs", "zfs", "vfs")
# Keys whose TOML value is a configfile.Slice: an array of strings that replaces
# the earlier value unless it carries a {append = true} table.
_SLICE_KEYS = {"additionalimagestores", "additionallayerstores", "driver_priority"}


@dataclass
class StoreOptions:
    graph_root: str = ""
    run_root: str = ""
    driver: str = ""
    driver_priority: list[str] = field(default_factory=list)
    driver_options: list[str] = field(default_factory=list)
    image_store: str = ""
    transient_store: bool = False
    pull_options: dict[str, str] = field(default_factory=dict)


# --- who we are ------------------------------------------------------------------
def rootless_uid() -> int:
    env = os.environ.get("_CONTAINERS_ROOTLESS_UID")
    if env:
        try:
            return int(env)
        except ValueError:
            return 0
    return os.getuid()


def is_rootless() -> bool:
    """containers/storage's ``unshare.IsRootless``: not uid 0, inside a user
    namespace podman set up, or root without CAP_SYS_ADMIN or without the full
    ID mapping."""
    if rootless_uid() != 0 or os.environ.get("_CONTAINERS_USERNS_CONFIGURED"):
        return True
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:") and not int(line.split()[1], 16) & (1 << 21):
                    return True
        with open("/proc/self/uid_map") as f:
            mapping = f.read().split()
        if mapping and mapping[:3] != ["0", "0", "4294967295"]:
            return True
    except (OSError, ValueError):
        pass
    return False


def use_per_user_storage() -> bool:
    return is_rootless() and rootless_uid() != 0


def home_dir() -> str:
    return os.environ.get("HOME") or os.path.expanduser("~")


def data_home() -> str:
    return os.environ.get("XDG_DATA_HOME") or os.path.join(home_dir(), ".local", "share")


def runtime_dir() -> str:
    """``homedir.GetRuntimeDir``: $XDG_RUNTIME_DIR, else /run/user/UID, else
    $TMPDIR/storage-run-UID, when owned by us and writable only by us."""
    env = os.environ.get("XDG_RUNTIME_DIR")
    if env:
        return os.path.realpath(env)
    uid = rootless_uid()
    import tempfile

    for candidate in (f"/run/user/{uid}", os.path.join(tempfile.gettempdir(), f"storage-run-{uid}")):
        try:
            os.makedirs(candidate, 0o700, exist_ok=True)
        except OSError:
            pass
        try:
            st = os.lstat(candidate)
        except OSError:
            continue
        if st.st_uid == os.geteuid() and (st.st_mode & 0o722) == 0o700:
            return candidate
    raise SkopeoError(f'path "{candidate}" exists and it is not writeable only by the current user')


def user_config_dir() -> str:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg is not None:
        return os.path.join(xdg, "containers")
    return os.path.join(home_dir(), ".config", "containers")


# --- finding and merging the files -----------------------------------------------
def _drop_in_dirs_under(main: str, uid: int) -> list[str]:
    special = "rootless" if uid > 0 else "rootful"
    base = main[: -len(".conf")] if main.endswith(".conf") else main
    special_path = f"{base}.{special}.conf.d" if main.endswith(".conf") else f"{base}.{special}.d"
    paths = [main + ".d", special_path]
    if uid > 0:
        paths.append(os.path.join(special_path, str(uid)))
    return paths


def config_files(uid: int | None = None) -> tuple[list[str], bool]:
    """The files to read, in order, and whether a missing main file is an error."""
    uid = rootless_uid() if uid is None else uid
    user = os.path.join(user_config_dir(), CONF_NAME)
    admin = os.path.join(ADMIN_CONFIG_DIR, CONF_NAME)
    system = os.path.join(SYSTEM_CONFIG_DIR, CONF_NAME)
    files: list[str] = []
    explicit = os.environ.get(ENV_CONF)
    if explicit:
        files.append(explicit)
    else:
        for main in (user, admin, system):
            if os.path.exists(main):
                files.append(main)
                break
        dirs = [user + ".d", *_drop_in_dirs_under(admin, uid), *_drop_in_dirs_under(system, uid)]
        by_name: dict[str, str] = {}
        for d in reversed(dirs):  # earlier directories win for the same file name
            try:
                entries = os.scandir(d)
            except OSError:
                continue
            with entries:
                for entry in entries:
                    if entry.name.endswith(".conf") and entry.is_file(follow_symlinks=False):
                        by_name[entry.name] = entry.path
        files.extend(by_name[name] for name in sorted(by_name))
    override = os.environ.get(ENV_CONF + "_OVERRIDE")
    if override:
        files.append(override)
    return files, bool(explicit)


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif key in _SLICE_KEYS and isinstance(value, list):
            into[key] = _merge_slice(into.get(key), value)
        else:
            into[key] = value


def _merge_slice(old: Any, items: list[Any]) -> list[str]:
    strings: list[str] = []
    append = False
    for item in items:
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict) and set(item) <= {"append"} and isinstance(item.get("append", False), bool):
            append = bool(item.get("append"))
        else:
            raise SkopeoError(f"unsupported item in attributed string slice: {item}")
    if append and isinstance(old, list):
        return [*old, *strings]
    return strings


def read_config(uid: int | None = None) -> dict[str, Any]:
    import tomllib

    files, must_exist = config_files(uid)
    merged: dict[str, Any] = {}
    for i, path in enumerate(files):
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as e:
            if (i == 0 and must_exist) or path == os.environ.get(ENV_CONF + "_OVERRIDE"):
                raise SkopeoError(f"open {path}: no such file or directory") from e
            continue
        except OSError as e:
            raise SkopeoError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
        except tomllib.TOMLDecodeError as e:
            raise SkopeoError(f'decode configuration "{path}": toml: {e}') from None
        _merge(merged, data)
    return merged


# --- interpreting them -------------------------------------------------------------
def expand_env_path(path: str, uid: int) -> str:
    """``$UID`` and environment variables expanded, symlinks resolved when they can be."""
    path = path.replace("$UID", str(uid))
    path = re.sub(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)", lambda m: os.environ.get(m.group(1) or m.group(2), ""), path)
    try:
        return os.path.realpath(path, strict=True)
    except OSError:
        return os.path.normpath(path) if path else path


def _str(table: dict[str, Any], key: str) -> str:
    value = table.get(key, "")
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _driver_specific_options(opts: dict[str, Any]) -> list[str]:
    out = []
    for driver, keys in (
        ("btrfs", ("min_space", "size")),
        ("overlay", ("ignore_chown_errors", "mount_program", "mountopt", "size", "inodes", "skip_mount_home",
                     "force_mask", "use_composefs", "sync")),
        ("vfs", ("ignore_chown_errors", "sync")),
        ("zfs", ("fsname", "mountopt", "size")),
    ):
        table = opts.get(driver)
        if not isinstance(table, dict):
            continue
        for key in keys:
            value = _str(table, key)
            if value:
                out.append(f"{driver}.{key}={value}")
    return out


def load_store_options(uid: int | None = None) -> StoreOptions:
    """``types.LoadStoreOptions``: the defaults for a reference without a store
    specifier."""
    uid = rootless_uid() if uid is None else uid
    config = read_config(uid)
    storage = config.get("storage") if isinstance(config.get("storage"), dict) else {}
    assert isinstance(storage, dict)
    opts = storage.get("options") if isinstance(storage.get("options"), dict) else {}
    assert isinstance(opts, dict)
    result = StoreOptions(graph_root=DEFAULT_GRAPH_ROOT, run_root=DEFAULT_RUN_ROOT)
    per_user = use_per_user_storage()
    if per_user:
        result.graph_root = os.path.join(data_home(), "containers", "storage")
        result.run_root = os.path.join(runtime_dir(), "containers")
    if _str(storage, "driver"):
        result.driver = _str(storage, "driver")
    if os.environ.get("STORAGE_DRIVER"):
        result.driver = os.environ["STORAGE_DRIVER"]
    if result.driver == "overlay2":
        from skopeo import log

        log.warning("Switching default driver from overlay2 to the equivalent overlay driver")
        result.driver = "overlay"
    priority = storage.get("driver_priority")
    result.driver_priority = [p for p in priority if isinstance(p, str)] if isinstance(priority, list) else []
    result.image_store = _str(storage, "imagestore")
    options: list[str] = []
    for key, prefix in (("additionalimagestores", "imagestore="), ("additionallayerstores", "additionallayerstore=")):
        values = opts.get(key)
        if isinstance(values, list):
            options.extend(prefix + v for v in values if isinstance(v, str))
    for key in ("size", "mount_program", "skip_mount_home", "ignore_chown_errors"):
        if _str(opts, key):
            options.append(f"{key}={_str(opts, key)}")
    force_mask = opts.get("force_mask")
    if isinstance(force_mask, int) and not isinstance(force_mask, bool) and force_mask:
        options.append(f"force_mask={force_mask:o}")
    if _str(opts, "mountopt"):
        options.append(f"mountopt={_str(opts, 'mountopt')}")
    pull = opts.get("pull_options")
    if isinstance(pull, dict):
        result.pull_options = {str(k): _str(pull, k) for k in pull}
    result.transient_store = storage.get("transient_store") is True
    options.extend(_driver_specific_options(opts))
    if "STORAGE_OPTS" in os.environ:
        options = os.environ["STORAGE_OPTS"].split(",")
    if options == [""]:
        options = []
    result.driver_options = options
    if _str(storage, "runroot"):
        result.run_root = expand_env_path(_str(storage, "runroot"), uid)
    if not result.run_root:
        raise SkopeoError("runroot must be set")
    if _str(storage, "rootless_storage_path") and per_user:
        result.graph_root = expand_env_path(_str(storage, "rootless_storage_path"), uid)
    if _str(storage, "graphroot"):
        if _str(storage, "rootless_storage_path"):
            from skopeo import log

            log.warning("Both rootless_storage_path and graphroot are set, using graphroot setting only, "
                        "rootless_storage_path is deprecated and should be removed from the config")
        result.graph_root = expand_env_path(_str(storage, "graphroot"), uid)
    if not result.graph_root:
        raise SkopeoError("graphroot must be set")
    if result.image_store and result.image_store == result.graph_root:
        raise SkopeoError(f"imagestore {result.image_store} must either be not set or be different than graphroot")
    return result


def parse_driver_option(option: str) -> tuple[str, str, str]:
    """``driver.ParseDriverOption``: (driver or "", lower-case key, value)."""
    key, sep, value = option.partition("=")
    if not sep:
        raise SkopeoError(f"unable to parse key/value option: {option}")
    key = key.strip().lower()
    driver, dot, name = key.partition(".")
    if not dot:
        return "", driver, value.strip()
    if driver and driver not in KNOWN_DRIVERS:
        raise SkopeoError(f'unknown driver "{driver}" in option "{option}"')
    return driver, name, value.strip()
