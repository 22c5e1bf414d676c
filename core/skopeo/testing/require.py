"""What the test suite needs from the machine, and what happens when it is missing.

Many tests start real programs: the reference skopeo (the oracle),
``docker-registry``, ``htpasswd``, ``umoci``, ``gpg``, ``podman``, ``dockerd``.
When one is missing, or a daemon cannot start here, the test cannot run.
Locally such a test is *skipped* with a reason that names the component
(``needs umoci: …``), and the end of the pytest run summarises those skips per
component.  With ``SKOPEO_TESTS_REQUIRE=all`` (set by ``.ci/run``) every such
skip becomes an *error* naming what is missing, so a CI machine without a tool
cannot pass by testing less.  ``SKOPEO_TESTS_REQUIRE`` may instead list
component names (``umoci,gpg``) to require only those.

Every "cannot run here" decision in the suite goes through :func:`skip_or_fail`
(directly, through :func:`require_tool` / :func:`reference_skopeo`, or through
the ``requires`` marker), never through ``pytest.skip``/``skipif`` directly.

The reference skopeo is found, not hard-coded: ``$SKOPEO_REFERENCE`` if set,
else the first ``skopeo`` on ``PATH`` that is not a script (our own console
script is a Python script; the reference is a Go binary).  So the oracle can be
Debian's 1.9.3 (``/usr/bin/skopeo``) or a build of upstream main
(``SKOPEO_REFERENCE=/tmp/skopeo-main``).  :func:`reference_version` lets the
few tests that encode one version's output say which."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from typing import Any, NoReturn

import pytest

ENV_REQUIRE = "SKOPEO_TESTS_REQUIRE"
ENV_REFERENCE = "SKOPEO_REFERENCE"
# A build of upstream main (../shared/tools/build-upstream-skopeo), compared with
# live where it exists; the tests that use it also check recorded outputs.
ENV_UPSTREAM = "SKOPEO_UPSTREAM"
DEFAULT_UPSTREAM = "/tmp/skopeo-main"
# Never implied by SKOPEO_TESTS_REQUIRE=all: CI has no Go build and no copy of
# the upstream repository (name them explicitly to require them).
OPTIONAL = frozenset({"upstream-main", "upstream-mirror"})
# The prefix of every skip reason written here: "needs <component>: <why>".
_SKIP_RE = re.compile(r"needs ([\w.+-]+): ")
# Failure text under SKOPEO_TESTS_REQUIRE (the summary counts these).
_FAIL_PREFIX = "required component missing: "
_FAIL_RE = re.compile(re.escape(_FAIL_PREFIX) + r"([\w.+-]+)")

# Where each program comes from, for the messages.
HINTS = {
    "reference-skopeo": f"Debian package skopeo, or ${ENV_REFERENCE}=/path/to/skopeo",
    "docker-registry": "Debian package docker-registry",
    "htpasswd": "Debian package apache2-utils",
    "umoci": "Debian package umoci",
    "gpg": "Debian package gnupg",
    "podman": "Debian package podman",
    "dockerd": "Debian package docker.io",
    "docker": "Debian package docker.io",
    "buildah": "Debian package buildah",
    "fuse-overlayfs": "Debian package fuse-overlayfs",
    "openssl": "Debian package openssl",
    "tar-split": "Debian package tar-split",
    "upstream-main": f"../shared/tools/build-upstream-skopeo, then ${ENV_UPSTREAM}=/path/to/it",
}


def required(component: str) -> bool:
    """Whether a missing *component* fails the test instead of skipping it."""
    wanted = {w.strip() for w in os.environ.get(ENV_REQUIRE, "").split(",") if w.strip()}
    return ("all" in wanted and component not in OPTIONAL) or component in wanted


def skip_or_fail(component: str, reason: str) -> NoReturn:
    """The test cannot run because *component* is missing or cannot start here:
    skip it (locally) or fail it (``$SKOPEO_TESTS_REQUIRE``), naming the component."""
    if required(component):
        pytest.fail(f"{_FAIL_PREFIX}{component}: {reason} ({ENV_REQUIRE}={os.environ.get(ENV_REQUIRE)})",
                    pytrace=False)
    pytest.skip(f"needs {component}: {reason}")


def require_tool(name: str, component: str | None = None, path: str | None = None) -> str:
    """The absolute path of program *name* (looked up on ``PATH``, or *path*),
    or skip/fail naming *component* (default: *name*)."""
    found = shutil.which(name, path=path)
    if found is None:
        component = component or name
        hint = HINTS.get(component) or HINTS.get(name)
        skip_or_fail(component, f"{name} is not installed" + (f" ({hint})" if hint else ""))
    return found


def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return True


def find_reference_skopeo() -> str | None:
    """``$SKOPEO_REFERENCE``, else the first non-script ``skopeo`` on ``PATH``
    (our console script, when a venv is on ``PATH``, is a Python script)."""
    env = os.environ.get(ENV_REFERENCE)
    if env:
        return env if os.access(env, os.X_OK) else None
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", "skopeo")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK) and not _is_script(candidate):
            return os.path.abspath(candidate)
    return None


def reference_skopeo() -> str:
    """The path of the reference skopeo, or skip/fail."""
    found = find_reference_skopeo()
    if found is None:
        env = os.environ.get(ENV_REFERENCE)
        why = (f"${ENV_REFERENCE}={env} is not an executable" if env
               else f"no skopeo binary on PATH ({HINTS['reference-skopeo']})")
        skip_or_fail("reference-skopeo", why)
    return found


def find_upstream_main() -> str | None:
    """``$SKOPEO_UPSTREAM``, else ``/tmp/skopeo-main``, if executable."""
    path = os.environ.get(ENV_UPSTREAM) or DEFAULT_UPSTREAM
    return path if os.access(path, os.X_OK) else None


def upstream_main() -> str:
    """The path of an upstream main build, or skip (fail only when
    ``upstream-main`` is named in ``$SKOPEO_TESTS_REQUIRE``)."""
    found = find_upstream_main()
    if found is None:
        skip_or_fail("upstream-main", f"no upstream main build ({HINTS['upstream-main']})")
    return found


def require_root(why: str) -> None:
    """Skip/fail unless running as root (CI runs as root)."""
    if os.geteuid() != 0:
        skip_or_fail("root", why)


@functools.cache
def _version_of(path: str) -> tuple[int, ...]:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"version (\d+)\.(\d+)\.(\d+)", out)
    if m is None:
        raise RuntimeError(f"cannot tell the version of {path} from {out!r}")
    return tuple(int(g) for g in m.groups())


def reference_version() -> tuple[int, ...]:
    """(major, minor, patch) of the reference skopeo (skip/fail if there is none)."""
    return _version_of(reference_skopeo())


# --- pytest hooks (registered by the ``skopeo`` pytest plugin, skopeo.testing.fixtures) ---
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(*components): the test needs these programs (reference-skopeo, umoci, gpg, …); "
        f"skipped when one is missing, an error under {ENV_REQUIRE}=all",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("requires"):
        for component in marker.args:
            if component == "reference-skopeo":
                reference_skopeo()
            elif component == "upstream-main":
                upstream_main()
            elif component == "root":
                require_root("the test needs root")
            else:
                require_tool(component)


def _reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


def missing_components(stats: dict[str, list[Any]]) -> tuple[dict[str, int], dict[str, int], int]:
    """(skips per missing component, errors/failures per missing component,
    other skips) from a terminal reporter's stats."""
    skipped: dict[str, int] = {}
    other = 0
    for report in stats.get("skipped", []):
        m = _SKIP_RE.search(_reason(report))
        if m is None:
            other += 1
        else:
            skipped[m.group(1)] = skipped.get(m.group(1), 0) + 1
    failed: dict[str, int] = {}
    for report in [*stats.get("error", []), *stats.get("failed", [])]:
        m = _FAIL_RE.search(str(getattr(report, "longrepr", "") or ""))
        if m is not None:
            failed[m.group(1)] = failed.get(m.group(1), 0) + 1
    return skipped, failed, other


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped, failed, other = missing_components(terminalreporter.stats)
    if not skipped and not failed:
        return
    terminalreporter.section("missing test components")
    if skipped:
        total = sum(skipped.values())
        per = ", ".join(f"{name} ({n})" for name, n in sorted(skipped.items()))
        terminalreporter.write_line(
            f"{total} tests skipped because something they need is missing: {per}; "
            f"{ENV_REQUIRE}=all (as in CI) makes them errors"
        )
    if failed:
        per = ", ".join(f"{name} ({n})" for name, n in sorted(failed.items()))
        terminalreporter.write_line(f"{sum(failed.values())} tests failed because a required component is missing: {per}")
    if other:
        terminalreporter.write_line(f"{other} tests skipped for other reasons (see the short test summary)")
