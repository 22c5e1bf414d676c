"""Running the differential table (``cli_table_cases``): one workspace of input
files, one private output directory per run, a controlled environment, and the
normalisation of what legitimately differs between two runs (log timestamps,
temporary paths).  Shared by the test and by ``dev/record-cli-table``, which
records upstream's outputs with exactly the same code."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
RECORDED = HERE / "recorded.json"
ORACLE_193 = "/usr/bin/skopeo"
# A build of upstream main, as skopeo.testing.require finds it.
UPSTREAM_ENV = "SKOPEO_UPSTREAM"
# Transports upstream main registers.
UPSTREAM_TRANSPORTS = ("containers-storage", "dir", "docker", "docker-archive", "docker-daemon", "oci", "oci-archive",
                       "sif", "tarball")
# An older file time for the workspace's inputs (a tarball: image's config records it).
INPUT_MTIME = 1577836800  # 2020-01-01T00:00:00Z


class Case(NamedTuple):
    """One command line, run in its own copy of the workspace: ``$WS`` (the
    working directory), ``$OUT`` a path there that does not exist yet; *env*
    overrides the environment (None removes a variable)."""

    id: str
    argv: tuple[str, ...]
    env: dict[str, str | None] = {}
    stdin: str = ""
    # Whose output is expected: upstream main, or 1.9.3 where main's binary cannot
    # show the real behaviour (it is built without GnuPG: gpgme texts come from 1.9.3).
    reference: str = "main"
    # A deliberate difference from the reference, and why (the run must differ).
    differs: str = ""
    # Both programs need root for it (a containers-storage store; recorded as root).
    needs_root: bool = False

    @property
    def transports(self) -> set[str]:
        """Upstream transports the case's image names use (a case needs them)."""
        return {t for a in self.argv for t in UPSTREAM_TRANSPORTS if a.startswith(t + ":")}


class Result(NamedTuple):
    rc: int
    stdout: str
    stderr: str


# --- the workspace ---------------------------------------------------------------------
def make_workspace(root: Path) -> Path:
    """Input files every case may read (never written: outputs go to $OUT)."""
    ws = root / "ws"
    ws.mkdir(parents=True)
    layout = ws / "hello-oci"
    shutil.copytree(REPO_ROOT / "samples" / "hello-oci", layout)
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    (ws / "manifest.json").write_bytes((layout / "blobs" / "sha256" / manifest_digest.split(":")[1]).read_bytes())
    dirimg = ws / "dirimg"  # the sample image in the dir: layout
    dirimg.mkdir()
    (dirimg / "manifest.json").write_bytes((ws / "manifest.json").read_bytes())
    (dirimg / "version").write_text("Directory Transport Version: 1.1\n")
    for blob in (layout / "blobs" / "sha256").iterdir():
        if blob.name != manifest_digest.split(":")[1]:
            shutil.copyfile(blob, dirimg / blob.name)
    (ws / "policy.json").write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    (ws / "reject.json").write_text('{"default":[{"type":"reject"}]}')
    (ws / "badpolicy.json").write_text('{"default":[{"type":"nosuch"}]}')
    (ws / "garbage").write_text("this is not json\n")
    (ws / "empty").mkdir()
    (ws / "emptyfile").write_text("")
    (ws / "passphrase").write_text("secret\n")
    for name in ("home", "run", "tmp", "cache"):
        (ws / name).mkdir()
    gnupg = ws / "gnupg"
    gnupg.mkdir(mode=0o700)
    (ws / "sync-empty.yaml").write_text("")
    (ws / "sync-bad.yaml").write_text("registry.example.com:\n  images: [\n")
    (ws / "sync-noimages.yaml").write_text("127.0.0.1:9:\n  tls-verify: false\n")
    (ws / "sync-list.yaml").write_text("- a\n- b\n")
    (ws / "sync-unreachable.yaml").write_text(
        "127.0.0.1:9:\n  tls-verify: false\n  images:\n    library/busybox: [latest]\n")
    (ws / "sync-badtag.yaml").write_text(
        "127.0.0.1:9:\n  tls-verify: false\n  images:\n    library/busybox: ['bad tag']\n")
    (ws / "sync-regex.yaml").write_text(
        "127.0.0.1:9:\n  tls-verify: false\n  images-by-tag-regex:\n    library/busybox: '['\n")
    (ws / "sync-semver.yaml").write_text(
        "127.0.0.1:9:\n  tls-verify: false\n  images-by-semver:\n    library/busybox: 'not a constraint'\n")
    (ws / "sync-upper.yaml").write_text("127.0.0.1:9:\n  images:\n    Upper/Repo: [latest]\n")
    # A layer file for tarball: (the sample's layer, as gzip and plain tar).
    layer = json.loads((ws / "manifest.json").read_text())["layers"][0]["digest"].split(":")[1]
    shutil.copyfile(layout / "blobs" / "sha256" / layer, ws / "layer.tar.gz")
    (ws / "layer.tar").write_bytes(gzip.decompress((ws / "layer.tar.gz").read_bytes()))
    # --tls-details files.
    (ws / "tls.yaml").write_text('minVersion: "1.3"\n')
    (ws / "tls-bad.yaml").write_text('minVersion: "9.9"\n')
    (ws / "tls-unknown.yaml").write_text("nosuch: 1\n")
    # A containers-storage graph root holding an overlay driver's directory
    # (another program's state): upstream says it uses that driver.
    (ws / "storage-prior" / "root" / "overlay").mkdir(parents=True)
    for path in ws.rglob("*"):
        os.utime(path, (INPUT_MTIME, INPUT_MTIME), follow_symlinks=False)
    return ws


def storage_conf(ws: Path) -> None:
    """This run's containers-storage configuration (absolute paths into its own
    workspace): vfs in $WS/storage, or no driver in $WS/storage-prior."""
    (ws / "storage.conf").write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{ws}/storage/root"\n'
                                     f'runroot = "{ws}/storage/run"\n')
    (ws / "storage-prior.conf").write_text(f'[storage]\ngraphroot = "{ws}/storage-prior/root"\n'
                                           f'runroot = "{ws}/storage-prior/run"\n')


def base_env(ws: Path, cache: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(ws / "home"),
        "XDG_RUNTIME_DIR": str(ws / "run"),
        "XDG_CONFIG_HOME": str(ws / "home" / ".config"),
        "XDG_CACHE_HOME": cache,
        "TMPDIR": str(ws / "tmp"),
        "GNUPGHOME": str(ws / "gnupg"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        # Never the machine's store: this run's own (see storage_conf).
        "CONTAINERS_STORAGE_CONF": str(ws / "storage.conf"),
        # Nor our machine's blob-info cache (upstream has no such setting; as
        # root it uses /var/lib/containers/cache, when recording).
        "SKOPEO_BLOB_INFO_CACHE_DIR": str(ws / "blob-info-cache"),
    }
    return env


# --- running ----------------------------------------------------------------------------------
def our_command() -> list[str]:
    return [sys.executable, "-m", "skopeo"]


# The docs' example plugins: a zip: transport; a credential backend and its commands.
EXAMPLE_PLUGINS = {"zip", "vault"}


def our_env() -> dict[str, str]:
    """Our first-party plugins only (the examples add a transport and commands)."""
    from skopeo.plugin_index import installed_entry_points

    names = sorted({ep.name for ep in installed_entry_points()} - EXAMPLE_PLUGINS)
    return {"SKOPEO_PLUGINS": ",".join(names)}


def _link_or_copy(src: str, dst: str) -> None:
    """Big files (blobs, never changed in place) are shared, small ones copied."""
    if os.path.getsize(src) > 65536:
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def run_case(case: Case, command: Sequence[str], template: Path, scratch: Path, extra_env: dict[str, str],
             cache: str) -> Result:
    # The same name in every run ("ws"): commands may print the directory's name.
    ws = scratch / hashlib.sha1(f"{case.id}{command}".encode()).hexdigest()[:12] / "ws"
    shutil.copytree(template, ws, copy_function=_link_or_copy, symlinks=True)
    storage_conf(ws)
    env = base_env(ws, cache)
    env.update(extra_env)
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value.replace("$WS", str(ws))
    paths = {"$OUT": str(ws / "out"), "$WS": str(ws)}
    argv = list(case.argv)
    for token, path in paths.items():
        argv = [a.replace(token, path) for a in argv]
    proc = subprocess.run([*command, *argv], input=case.stdin.encode(), capture_output=True, env=env, cwd=ws,
                          timeout=120, check=False)
    return Result(proc.returncode, normalize(proc.stdout, paths), normalize(proc.stderr, paths))


_TIME = re.compile(r'time="[0-9TZ:+.-]+"')
# Random names of temporary directories (Go's os.MkdirTemp: prefix + a number).
_TEMP_NAME = re.compile(r"(container_images_[a-z]+)[0-9]+")


def normalize(data: bytes, paths: dict[str, str]) -> str:
    """Only what must differ between two runs: log timestamps, the run's paths
    and random temporary names."""
    text = data.decode("utf-8", "surrogateescape")
    for token, path in paths.items():
        text = text.replace(path, token)
    text = _TEMP_NAME.sub(r"\1N", text)
    return _TIME.sub('time="TIME"', text)


def run_all(cases: Iterable[Case], command_for: Callable[[Case], Sequence[str] | None], extra_env: dict[str, str],
            workers: int | None = None) -> dict[str, Result]:
    """Run *cases* in parallel (subprocesses: the GIL is not a limit) in one
    fresh workspace; *command_for* picks the binary of each case (None skips it)."""
    cases = list(cases)
    root = Path(tempfile.mkdtemp(prefix="cli-table-"))
    try:
        ws = make_workspace(root)
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        jobs = [(case, command_for(case)) for case in cases]
        (root / "out").mkdir()
        workers = workers or max(2, min(6, (os.cpu_count() or 2) + 1))
        with ThreadPoolExecutor(workers) as pool:
            futures = {case.id: pool.submit(run_case, case, command, ws, root / "out", extra_env, cache)
                       for case, command in jobs if command is not None}
            return {cid: future.result() for cid, future in futures.items()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def reference_command(case: Case) -> list[str] | None:
    """The binary whose output *case* expects, when it is installed here."""
    from skopeo.testing.require import find_upstream_main

    if case.reference == "1.9.3":
        return [ORACLE_193] if os.path.exists(ORACLE_193) else None
    upstream = find_upstream_main()
    return [upstream] if upstream else None


# --- recordings ---------------------------------------------------------------------------------
def load_recorded() -> dict[str, Result]:
    data = json.loads(RECORDED.read_text())
    texts = data["texts"]
    return {cid: Result(r["rc"], texts[r["stdout"]], texts[r["stderr"]]) for cid, r in data["cases"].items()}


def save_recorded(results: dict[str, Result], cases: Sequence[Case], versions: dict[str, str]) -> None:
    """One JSON file; each distinct output is stored once (help pages repeat)."""
    by_id = {c.id: c for c in cases}
    texts: dict[str, str] = {}

    def key(text: str) -> str:
        k = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        texts[k] = text
        return k

    recorded = {cid: {"reference": by_id[cid].reference, "rc": r.rc, "stdout": key(r.stdout), "stderr": key(r.stderr)}
                for cid, r in sorted(results.items())}
    data = {"generated_by": "dev/record-cli-table", "references": versions, "cases": recorded,
            "texts": dict(sorted(texts.items()))}
    RECORDED.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


# skopeo-py's own lines, allowed only after upstream's last one (see the README).
_OUR_ADDITIONS = re.compile(r'(?m)^time="TIME" level=info msg="Summary: [0-9]+ copied, [0-9]+ skipped, [0-9]+ failed, '
                            r'[0-9]+ bytes in [0-9.]+s"\n\Z')


def without_our_additions(ours: Result) -> Result:
    """Our output without what we add after upstream's last line (sync's summary);
    anywhere else it is a difference."""
    return Result(ours.rc, ours.stdout, _OUR_ADDITIONS.sub("", ours.stderr))
