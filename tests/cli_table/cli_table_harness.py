"""Running the differential table (``cli_table_cases``): one workspace of input
files, one private output directory per run, a controlled environment, and the
normalisation of what legitimately differs between two runs (log timestamps,
temporary paths).  Shared by the test and by ``dev/record-cli-table``, which
records upstream's outputs with exactly the same code."""

from __future__ import annotations

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
DEFAULT_UPSTREAM = "/tmp/skopeo-main"
UPSTREAM_ENV = "SKOPEO_UPSTREAM"
# Transports upstream main registers; ours may not have all of them yet.
UPSTREAM_TRANSPORTS = ("containers-storage", "dir", "docker", "docker-archive", "docker-daemon", "oci", "oci-archive",
                       "sif", "tarball")


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
    return ws


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
    }
    return env


# --- running ----------------------------------------------------------------------------------
def our_command() -> list[str]:
    return [sys.executable, "-m", "skopeo"]


def our_env() -> dict[str, str]:
    """Our first-party plugins only (the docs' example plugin adds a zip: transport)."""
    from skopeo import plugins

    names = sorted({ep.name for ep in plugins.installed_entry_points()} - {"zip"})
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
    if case.reference == "1.9.3":
        return [ORACLE_193] if os.path.exists(ORACLE_193) else None
    upstream = os.environ.get(UPSTREAM_ENV) or DEFAULT_UPSTREAM
    return [upstream] if os.path.exists(upstream) else None


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


# --- what ours does not have yet ------------------------------------------------------------------
def pending_adjustments() -> tuple[list[str], bool]:
    """Upstream features other work adds to ours (other plugins, --tls-details):
    until they exist here, the expected output is read without them.  Returns
    (missing transports, whether --tls-details is missing)."""
    from skopeo.cli.app import GLOBAL_FLAGS

    probe = "from skopeo import plugins; print(' '.join(plugins.transports()))"
    env = dict(os.environ, **our_env())
    ours = set(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                              check=True).stdout.split())
    missing = [t for t in UPSTREAM_TRANSPORTS if t not in ours]
    return missing, not any(f.name == "tls-details" for f in GLOBAL_FLAGS)


def adjust_expected(expected: Result, missing_transports: Sequence[str], no_tls_details: bool) -> Result:
    def fix(text: str) -> str:
        if no_tls_details:
            text = re.sub(r"(?m)^(      --tls-details string .*\n|--tls-details\t.*\n|--tls-details\n)", "", text)
        for name in missing_transports:
            text = re.sub(rf"(?m)^{re.escape(name)}:\n", "", text)  # completion candidates
            text = re.sub(rf"(?m)^(.*, )?{re.escape(name)}(, .*)?$", _drop(name), text)
        return text

    return Result(expected.rc, fix(expected.stdout), fix(expected.stderr))


# skopeo-py's own lines, allowed only after upstream's last one (see the README).
_OUR_ADDITIONS = re.compile(r'(?m)^time="TIME" level=info msg="Summary: [0-9]+ copied, [0-9]+ skipped, [0-9]+ failed, '
                            r'[0-9]+ bytes in [0-9.]+s"\n\Z')


def without_our_additions(ours: Result) -> Result:
    """Our output without what we add after upstream's last line (sync's summary);
    anywhere else it is a difference."""
    return Result(ours.rc, ours.stdout, _OUR_ADDITIONS.sub("", ours.stderr))


def _drop(name: str) -> Callable[[re.Match[str]], str]:
    """Remove *name* from a ", "-separated transports line."""
    def replace(m: re.Match[str]) -> str:
        parts = m.group(0).split(", ")
        return ", ".join(p for p in parts if p != name) if name in parts else m.group(0)

    return replace
