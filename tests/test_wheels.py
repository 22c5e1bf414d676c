"""Packaging, as a user meets it: wheels of the core, every first-party plugin,
the example plugin and a plugin built here (tests/packages/skopeo-kitdemo),
installed into fresh, non-editable virtual environments without network:

* ``skopeo[all]`` gives the whole tool: a copy through the installed CLI;
* ``skopeo`` alone is a CLI with no transports, which names the package to
  install;
* the built plugin passes the conformance suite there, with the test kit as
  it ships in the skopeo wheel (no path into this repository), and its auth
  backend and typer command work through the installed CLI;
* every distribution carries the metadata a package index expects.

The installs never reach a package index (``--no-index``, and
``$PIP_CONFIG_FILE`` emptied so no configuration adds one): our wheels come
from the directory they were built into, third-party ones from a wheel
directory filled first by ``pip download`` through pip's usual configuration
(the way the development install got them; when that cannot reach a package
index the test is skipped, or failed under ``$SKOPEO_TESTS_REQUIRE``)."""

from __future__ import annotations

import email.parser
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from samples import REPO_ROOT
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import write_sample_layout
from skopeo.testing.require import skip_or_fail

pytestmark = pytest.mark.slow

KITDEMO = REPO_ROOT / "tests" / "packages" / "skopeo-kitdemo"
# Every distribution this repository publishes, by source directory.
DISTRIBUTIONS = {
    "skopeo": REPO_ROOT,
    **{f"skopeo-{p.name}": p for p in sorted((REPO_ROOT / "plugins").iterdir()) if (p / "pyproject.toml").exists()},
    "skopeo-zip": REPO_ROOT / "docs" / "examples" / "skopeo-zip",
}
_IGNORE = shutil.ignore_patterns("tests", "build", "dist", "*.egg-info", "__pycache__", ".*")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without pip's settings, with no configuration file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def _third_party_requirements(wheels: Path) -> list[str]:
    """What our wheels require from elsewhere: every Requires-Dist that is not
    one of ours, with no extra (the "all" extra names only our plugins)."""
    found: list[str] = []
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as z:
            info = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            meta = email.parser.Parser().parsestr(z.read(info).decode())
        for req in meta.get_all("Requires-Dist") or []:
            if "extra ==" not in req and not req.lower().startswith("skopeo"):
                found.append(req.replace(" ", ""))
    return sorted(set(found))


@dataclass
class Built:
    wheels: Path
    third_party: Path  # wheels of what ours require
    full: Path  # a venv with skopeo[all], skopeo-kitdemo and pytest
    work: Path


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, cwd=cwd, env=env or _clean_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _install(python: Path, built: Built, *requirements: str, cwd: Path) -> None:
    """pip (of this session's interpreter) installs into *python*'s
    environment from the two wheel directories alone."""
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-cache-dir", "--no-index",
          "--find-links", str(built.wheels), "--find-links", str(built.third_party), *requirements], cwd=cwd)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    work = tmp_path_factory.mktemp("wheels")
    # Built from copies: a source tree's build/ or egg-info must not leak in.
    copies = []
    for name, src in [*DISTRIBUTIONS.items(), ("skopeo-kitdemo", KITDEMO)]:
        dest = work / "src" / name
        if name == "skopeo":
            dest.mkdir(parents=True)
            shutil.copy(src / "pyproject.toml", dest)
            shutil.copy(src / "README.md", dest)
            shutil.copytree(src / "core", dest / "core", ignore=_IGNORE)
        else:
            shutil.copytree(src, dest, ignore=_IGNORE)
        copies.append(str(dest))
    wheels = work / "wheels"
    # Build isolation takes setuptools through pip's usual configuration.
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), *copies], cwd=work,
         env=dict(os.environ), timeout=600)
    third_party = work / "third-party"
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "-d", str(third_party),
                           *_third_party_requirements(wheels), "pytest"], cwd=work, capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        skip_or_fail("package-index", f"pip cannot download the third-party wheels here: {proc.stderr[-2000:]}")
    built = Built(wheels, third_party, work / "full", work)
    venv.create(built.full, with_pip=False)
    _install(built.full / "bin" / "python", built, "skopeo[all]", "skopeo-kitdemo", "pytest", cwd=work)
    yield built


def test_every_distribution_has_index_metadata(built: Built) -> None:
    wheels = {w.name.split("-")[0].replace("_", "-"): w for w in built.wheels.glob("*.whl")}
    assert set(wheels) == {*DISTRIBUTIONS, "skopeo-kitdemo"}
    for name in DISTRIBUTIONS:
        with zipfile.ZipFile(wheels[name]) as z:
            info = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            meta = email.parser.Parser().parsestr(z.read(info).decode())
            entry_points = z.read(info.replace("METADATA", "entry_points.txt")).decode()
        assert meta["Name"] == name
        assert meta["License"] == "Apache-2.0" or "Apache-2.0" in (meta["License-Expression"] or ""), name
        classifiers = meta.get_all("Classifier") or []
        assert "License :: OSI Approved :: Apache Software License" in classifiers, name
        assert any(c.startswith("Programming Language :: Python :: 3.11") for c in classifiers), name
        assert any(u.startswith("Upstream, https://github.com/containers/skopeo") for u in meta.get_all("Project-URL") or []), name
        assert meta["Description-Content-Type"] == "text/markdown" and len(meta.get_payload()) > 200, f"{name}: no README"
        if name == "skopeo":
            assert "[console_scripts]\nskopeo = skopeo.cli:entry" in entry_points
            extras = meta.get_all("Provides-Extra") or []
            assert {"all", "docker", "oci", "dir", "archive", "daemon", "storage", "ostree", "sif", "tarball"} <= set(extras)
            # The core alone requires no plugin; the extras name them.
            plain = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
            assert not [r for r in plain if r.startswith("skopeo-")], plain
        else:
            assert "[skopeo.plugins]" in entry_points, name


def test_all_extra_gives_a_working_cli(built: Built, tmp_path: Path) -> None:
    python = built.full / "bin" / "python"
    where = _run([str(python), "-c", "import skopeo, skopeo_oci; print(skopeo.__file__); print(skopeo_oci.__file__)"],
                 cwd=tmp_path).stdout.split()
    site = str(built.full / "lib")
    assert all(w.startswith(site) for w in where), where  # installed from wheels, not the checkout
    layout = tmp_path / "layout"
    written = write_sample_layout(str(layout))
    policy = tmp_path / "policy.json"
    policy.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    skopeo = str(built.full / "bin" / "skopeo")
    _run([skopeo, "--policy", str(policy), "copy", "-q", f"oci:{layout}:hello", f"dir:{tmp_path}/copy"], cwd=tmp_path)
    info = json.loads(_run([skopeo, "inspect", f"dir:{tmp_path}/copy"], cwd=tmp_path).stdout)
    assert info["Digest"] == written.digest
    assert _run([skopeo, "--version"], cwd=tmp_path).stdout.startswith("skopeo version ")


def test_core_alone_has_no_transports(built: Built, tmp_path: Path) -> None:
    core = tmp_path / "core"
    venv.create(core, with_pip=False)
    _install(core / "bin" / "python", built, "skopeo", cwd=tmp_path)
    proc = subprocess.run([str(core / "bin" / "skopeo"), "inspect", "oci:/nowhere:x"], cwd=tmp_path, env=_clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert fatal_message(proc.stderr).endswith(
        'unknown transport "oci" (the skopeo-oci plugin is not installed: pip install skopeo-oci)')


def test_a_plugin_built_here_passes_the_conformance_suite(built: Built, tmp_path: Path) -> None:
    """The kit as it ships: pytest in the fresh venv, run outside the
    repository on a copy of the plugin's own tests."""
    tests = tmp_path / "kitdemo-tests"
    shutil.copytree(KITDEMO / "tests", tests)
    proc = subprocess.run([str(built.full / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tests)],
                          cwd=tmp_path, env=_clean_env(HOME=str(tmp_path)), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, proc.stdout


def test_a_plugin_built_here_adds_an_auth_backend_and_a_command(built: Built, tmp_path: Path,
                                                                basic_auth_registry: Any) -> None:
    """The built plugin's auth backend and typer command, through the CLI
    installed from wheels, against an HTTPS registry with htpasswd auth:
    ``login`` stores into the plugin's file (not auth.json), ``copy`` and
    ``inspect`` find the credentials there, the command lists them, and
    ``logout`` erases them (the registry then refuses)."""
    reg = basic_auth_registry
    skopeo = str(built.full / "bin" / "skopeo")
    creds = tmp_path / "kitdemo.json"
    creds.write_text(json.dumps({"serves": [reg.host]}))
    auth_json = tmp_path / "auth.json"
    env = _clean_env(HOME=str(tmp_path), KITDEMO_CREDENTIALS=str(creds), REGISTRY_AUTH_FILE=str(auth_json))
    layout = tmp_path / "layout"
    written = write_sample_layout(str(layout))
    policy = tmp_path / "policy.json"
    policy.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    image = f"docker://{reg.host}/kit/demo:v1"

    def skopeo_run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([skopeo, "--policy", str(policy), *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert (proc.returncode == 0) == ok, f"{args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    out = skopeo_run("login", "--tls-verify=false", "-u", "testuser", "-p", "testpassword", reg.host).stdout
    assert out == "Login Succeeded!\n"
    assert json.loads(creds.read_text())["logins"] == {reg.host: {"username": "testuser", "password": "testpassword"}}
    assert not auth_json.exists()
    assert json.loads(skopeo_run("kitdemo-logins", "--json").stdout) == {reg.host: "testuser"}
    assert skopeo_run("kitdemo-logins").stdout == f"{reg.host}\ttestuser\n"
    skopeo_run("copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:hello", image)
    assert json.loads(skopeo_run("inspect", "--tls-verify=false", image).stdout)["Digest"] == written.digest
    skopeo_run("logout", reg.host)
    assert json.loads(creds.read_text())["logins"] == {}
    refused = skopeo_run("inspect", "--tls-verify=false", image, ok=False)
    assert "authentication required" in fatal_message(refused.stderr), refused.stderr
